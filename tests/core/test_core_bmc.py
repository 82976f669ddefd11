"""BMC addresses: one resolver for every BMC protocol (clara_core.bmc)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import clara_core
from clara_core import BmcEndpoint, BmcResolver, ConfigError
from clara_core.bmc import bmc_address, bmc_host, is_ip_address
from clara_core.config import Config, read_file


def resolver(sections: dict[str, dict[str, str]], section: str = "ipmi", port: int = 623,
             fallback: str | None = None) -> BmcResolver:
    return BmcResolver(Config.from_dict(sections).node_settings(section), port, fallback=fallback)


def test_prefix_suffix_and_ip_addresses() -> None:
    r = resolver({"ipmi": {"prefix": "imm", "suffix": ".adm"}})
    assert r.endpoint("cn1") == BmcEndpoint("cn1", "immcn1.adm", 623)
    assert r.endpoint("10.1.2.3").host == "10.1.2.3"  # an address is its own BMC
    assert r.endpoint("fe80::1").host == "fe80::1"
    assert r.endpoint("cn1").address == "immcn1.adm:623"


def test_no_keys_is_the_node_itself() -> None:
    assert resolver({}).resolve(["cn1", "cn2"]) == {
        "cn1": BmcEndpoint("cn1", "cn1", 623), "cn2": BmcEndpoint("cn2", "cn2", 623)}


def test_per_node_overrides() -> None:
    r = resolver({
        "ipmi": {"prefix": "imm", "bmc_port": "6230"},
        "ipmi:cn[1-4]": {"suffix": "-b"},
        "ipmi:cn2": {"bmc_host": "10.0.0.2", "bmc_port": "9002"},
        "ipmi:gpu[1-2]": {"bmc_host": "chassis1"},  # two nodes behind one BMC
    })
    assert r.endpoint("cn1") == BmcEndpoint("cn1", "immcn1-b", 6230)
    assert r.endpoint("cn2") == BmcEndpoint("cn2", "10.0.0.2", 9002)
    assert r.endpoint("cn5") == BmcEndpoint("cn5", "immcn5", 6230)
    assert {r.endpoint(n).host for n in ("gpu1", "gpu2")} == {"chassis1"}


def test_empty_bmc_host_means_the_name_rule() -> None:
    r = resolver({"ipmi": {"bmc_host": "10.0.0.9"}, "ipmi:cn1": {"bmc_host": " ", "prefix": "x-"}})
    assert r.endpoint("cn1").host == "x-cn1"
    assert r.endpoint("cn2").host == "10.0.0.9"


@pytest.mark.parametrize(
    ("keys", "host"),
    [
        ({"prefix": "bmc-", "sufix": ".adm"}, "bmc-n1.adm"),  # the seed's spelling
        ({"sufix": ".adm", "suffix": ".mgmt"}, "n1.mgmt"),  # the right spelling wins
        ({"sufix": ".adm", "bmc_host": "10.1.1.3"}, "10.1.1.3"),
    ],
)
def test_sufix(keys: dict[str, str], host: str) -> None:
    assert resolver({"ipmi:n1": keys}).endpoint("n1").host == host


def test_sufix_on_an_ip_node_is_ignored() -> None:
    assert resolver({"ipmi": {"sufix": ".adm"}}).endpoint("10.2.0.4").host == "10.2.0.4"


def test_fallback_section_gives_the_name() -> None:
    sections = {
        "ipmi": {"prefix": "imm", "bmc_port": "6230"},
        "ipmi:gpu2": {"sufix": ".adm"},
        "redfish:gpu3": {"bmc_host": "10.9.9.3"},
        "redfish:gpu4": {"prefix": ""},  # an empty address key stops the fallback too
    }
    r = resolver(sections, "redfish", 443, fallback="ipmi")
    assert r.endpoint("gpu1") == BmcEndpoint("gpu1", "immgpu1", 443)  # the port does not fall back
    assert r.endpoint("gpu2").host == "immgpu2.adm"
    assert r.endpoint("gpu3").host == "10.9.9.3"
    assert r.endpoint("gpu4").host == "gpu4"
    assert r.endpoint("gpu1", default_port=80).port == 80


def test_any_address_key_in_the_section_stops_the_fallback() -> None:
    r = resolver({"ipmi": {"prefix": "imm"}, "redfish": {"suffix": "-rf"}}, "redfish", 443, fallback="ipmi")
    assert r.endpoint("gpu1").host == "gpu1-rf"


def test_fallback_bmc_host_is_not_taken() -> None:
    r = resolver({"ipmi": {"bmc_host": "10.0.0.1"}}, "redfish", 443, fallback="ipmi")
    assert r.endpoint("gpu1").host == "gpu1"


def test_without_fallback_other_sections_are_ignored() -> None:
    assert resolver({"ipmi": {"prefix": "imm"}}, "redfish", 443).endpoint("gpu1").host == "gpu1"


@pytest.mark.parametrize("port", ["0", "65536", "-1", "100000"])
def test_bad_port_is_one_line_naming_file_and_section(tmp_path: Path, port: str) -> None:
    path = tmp_path / "config.ini"
    path.write_text(f"[ipmi]\nprefix=imm\n[ipmi:cn[1-2]]\nbmc_port={port}\n")
    r = BmcResolver(Config([read_file(path)]).node_settings("ipmi"), 623)
    assert r.endpoint("cn3").port == 623
    with pytest.raises(ConfigError) as err:
        r.endpoint("cn1")
    assert str(err.value) == f"{path}: [ipmi:cn[1-2]] bmc_port: {port} is not a port number (1-65535)"


def test_port_that_is_not_a_number(tmp_path: Path) -> None:
    path = tmp_path / "config.ini"
    path.write_text("[redfish]\nbmc_port=https\n")
    r = BmcResolver(Config([read_file(path)]).node_settings("redfish"), 443)
    with pytest.raises(ConfigError) as err:
        r.resolve(["n1"])
    assert str(err.value) == f"{path}: [redfish] bmc_port: expected a whole number, got 'https'"


def test_port_bounds_are_ports() -> None:
    assert resolver({"ipmi": {"bmc_port": "1"}}).endpoint("a").port == 1
    assert resolver({"ipmi": {"bmc_port": "65535"}}).endpoint("a").port == 65535


def test_toml_port_and_keys(tmp_path: Path) -> None:
    path = tmp_path / "clara.toml"
    path.write_text('[ipmi]\nprefix = "imm"\nbmc_port = 624\n["ipmi:cn1"]\nbmc_host = "10.0.0.1"\n')
    r = BmcResolver(Config([read_file(path)]).node_settings("ipmi"), 623)
    assert r.endpoint("cn1") == BmcEndpoint("cn1", "10.0.0.1", 624)
    assert r.endpoint("cn2") == BmcEndpoint("cn2", "immcn2", 624)


def test_compatibility_names() -> None:
    from clara_core import nodes

    assert nodes.bmc_host is bmc_host and nodes.bmc_address is bmc_address
    assert nodes.is_ip_address is is_ip_address
    assert clara_core.bmc_host is bmc_host and clara_core.bmc_address is bmc_address
    assert clara_core.is_ip_address is is_ip_address
    settings = Config.from_dict({"ipmi": {"prefix": "imm"}, "ipmi:cn1": {"sufix": "-b"}}).node_settings("ipmi")
    assert bmc_address("cn1", settings, 623) == ("immcn1-b", 623)


def test_exports_are_listed() -> None:
    for name in ("BmcEndpoint", "BmcResolver", "BOOLEAN_WORDS", "parse_bool", "parse_duration"):
        assert name in clara_core.__all__
        assert getattr(clara_core, name) is not None


_LABEL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-.", min_size=0, max_size=8)


@given(prefix=_LABEL, suffix=_LABEL, number=st.integers(min_value=0, max_value=999),
       port=st.integers(min_value=1, max_value=65535))
def test_name_rule_holds(prefix: str, suffix: str, number: int, port: int) -> None:
    node = f"cn{number}"
    r = resolver({"ipmi": {"prefix": prefix, "suffix": suffix, "bmc_port": str(port)}})
    assert r.endpoint(node) == BmcEndpoint(node, f"{prefix}{node}{suffix}", port)


@given(st.integers().filter(lambda p: not 0 < p < 65536))
def test_every_out_of_range_port_is_refused(port: int) -> None:
    with pytest.raises(ConfigError, match="is not a port number"):
        resolver({"ipmi": {"bmc_port": str(port)}}).endpoint("cn1")


def test_every_bmc_plugin_reads_addresses_the_same_way() -> None:
    """clara-ipmi, clara-ipmitool and clara-redfish use this resolver (skipped where not installed)."""
    sections = {
        "ipmi": {"prefix": "imm", "sufix": ".adm"},
        "ipmi:cn2": {"bmc_host": "10.0.0.2", "bmc_port": "6230"},
        "redfish:cn3": {"bmc_host": "10.0.0.3"},
    }
    config = Config.from_dict(sections)
    expected_ipmi = BmcResolver(config.node_settings("ipmi"), 623).resolve(["cn1", "cn2"])
    assert expected_ipmi == {"cn1": BmcEndpoint("cn1", "immcn1.adm", 623), "cn2": BmcEndpoint("cn2", "10.0.0.2", 6230)}
    ipmi = pytest.importorskip("clara_ipmi.settings")
    for node, endpoint in expected_ipmi.items():
        target = ipmi.Targets(config).target(node)
        assert (target.node, target.host, target.port) == (endpoint.node, endpoint.host, endpoint.port)
    with pytest.raises(ConfigError, match=r"\[ipmi:cn2\] bmc_port: 0 is not a port number"):
        ipmi.Targets(Config.from_dict({"ipmi:cn2": {"bmc_port": "0"}})).target("cn2")
    ipmitool = pytest.importorskip("clara_ipmitool.settings")
    for node, target in ipmitool.resolve(config, ["cn1", "cn2"]).items():
        assert (target.host, target.port) == (expected_ipmi[node].host, expected_ipmi[node].port)
    redfish = pytest.importorskip("clara_redfish.settings")
    settings = config.node_settings("redfish")
    found = {node: redfish.target(settings, node) for node in ("cn1", "cn2", "cn3")}
    assert [(t.host, t.port) for t in found.values()] == [("immcn1.adm", 443), ("immcn2.adm", 443), ("10.0.0.3", 443)]
    with pytest.raises(ConfigError, match=r"\[redfish\] bmc_port: 70000 is not a port number"):
        redfish.target(Config.from_dict({"redfish": {"bmc_port": "70000"}}).node_settings("redfish"), "cn1")


# -- names resolved concurrently, under a deadline (issue 20 item 9) ------------------------------


def test_resolve_addresses_reads_literals_and_names() -> None:
    import socket
    import time

    from clara_core.bmc import resolve_addresses

    found = resolve_addresses([("127.0.0.1", 623), ("::0001", 623), ("localhost", 6230),
                               ("no-such-bmc.clara-test.invalid", 623)], time.monotonic() + 10)
    assert found[("127.0.0.1", 623)] == (socket.AF_INET, ("127.0.0.1", 623))
    assert found[("::0001", 623)] == (socket.AF_INET6, ("::1", 623, 0, 0))
    local = found[("localhost", 6230)]
    assert not isinstance(local, str) and local[1][1] == 6230
    failure = found[("no-such-bmc.clara-test.invalid", 623)]
    assert isinstance(failure, str) and failure.startswith("cannot resolve BMC host (")
    assert "invalid" not in failure  # the host is in the node's detail, not in the reason (folding)


def test_resolve_addresses_looks_names_up_concurrently() -> None:
    """20 look-ups that only finish once all 20 run at the same time: done one after the other,
    the barrier would break and every name fail."""
    import threading
    import time
    from typing import Any

    from clara_core.bmc import resolve_addresses

    barrier = threading.Barrier(20, timeout=10)

    def resolver(host: str, port: int, *_args: Any) -> list[tuple[Any, ...]]:
        barrier.wait()
        return [(2, 2, 17, "", ("10.0.0.1", port))]

    found = resolve_addresses([(f"bmc{i}", 623) for i in range(20)], time.monotonic() + 30, resolver=resolver)
    assert all(not isinstance(value, str) for value in found.values()), found


def test_resolve_addresses_gives_up_at_the_deadline() -> None:
    import threading
    import time
    from typing import Any

    from clara_core.bmc import resolve_addresses

    never = threading.Event()

    def resolver(host: str, port: int, *_args: Any) -> list[tuple[Any, ...]]:
        if host == "hang":
            never.wait(30)
        return [(2, 2, 17, "", ("10.0.0.2", port))]

    try:
        found = resolve_addresses([("hang", 623), ("fine", 623)], time.monotonic() + 0.3, resolver=resolver)
    finally:
        never.set()
    assert found[("hang", 623)] == "cannot resolve BMC host (no answer from the resolver in time)"
    assert found[("fine", 623)] == (2, ("10.0.0.2", 623))
