"""Node sets and BMC addresses."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clara_core.bmc import bmc_address, bmc_host
from clara_core.config import Config
from clara_core.errors import NodeSetError
from clara_core.nodes import parse_nodeset


def test_ranges_and_lists() -> None:
    assert list(parse_nodeset("node[1-3],gpu1")) == ["gpu1", "node1", "node2", "node3"]


@pytest.mark.parametrize("text", ["", "   ", "node[3-1]", "node[1-", "a,,b"])
def test_invalid_or_empty_is_refused(text: str) -> None:
    with pytest.raises(NodeSetError):
        parse_nodeset(text)


def test_unknown_group_is_refused_not_all_nodes() -> None:
    with pytest.raises(NodeSetError, match=r"empty \(unknown or empty group"):
        parse_nodeset("@nosuchgroup")


@given(st.text(max_size=40))
def test_garbage_never_raises_anything_else(text: str) -> None:
    try:
        nodes = parse_nodeset(text)
    except NodeSetError as exc:
        assert "\n" not in str(exc)
    else:
        assert len(nodes) > 0


def test_bmc_host_follows_the_seed() -> None:
    assert bmc_host("cn12", "imm") == "immcn12"
    assert bmc_host("cn12", "", "-bmc.example") == "cn12-bmc.example"
    assert bmc_host("10.1.2.3", "imm", "-bmc") == "10.1.2.3"
    assert bmc_host("fe80::1", "imm") == "fe80::1"


def test_bmc_address_with_per_node_overrides() -> None:
    config = Config.from_dict({"ipmi": {"prefix": "imm"}, "ipmi:cn1": {"bmc_host": "127.0.1.1", "bmc_port": "9001"}})
    settings = config.node_settings("ipmi")
    assert bmc_address("cn1", settings, 623) == ("127.0.1.1", 9001)
    assert bmc_address("cn2", settings, 623) == ("immcn2", 623)
