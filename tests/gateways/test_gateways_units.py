"""The pieces of the gateway path without namespaces: topology routing (ClusterShell),
the rebuilt command line, the protocol, and ``clara gateway-serve`` run here over real
ipmi_sim BMCs with its request on standard input."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from clara_lab.ipmisim import BmcLab, start_bmcs, write_ini
from click.testing import CliRunner
from ClusterShell.NodeSet import NodeSet
from conftest import CLARA, free_udp_port

from clara_core.cli.nodecmd import NodeGroup, node_options
from clara_core.context import Context
from clara_core.errors import ConfigError
from clara_core.gateways.cmdline import command_words, is_read_only
from clara_core.gateways.protocol import Request, clara_version, parse_line, result_line
from clara_core.gateways.topology import Topology
from clara_core.results import NodeResult


def topology(tmp_path: Path, *routes: str, head: str = "admin") -> Topology:
    """A topology read by ClusterShell from a file of ``routes``."""
    path = tmp_path / "topology.conf"
    path.write_text("[routes]\n" + "\n".join(routes) + "\n", encoding="utf-8")
    return Topology(path, head)


def test_nodes_are_split_by_gateway_and_the_rest_stay_local(tmp_path: Path) -> None:
    topo = topology(tmp_path, "admin: gw[1-2]", "gw1: bmc[1-4]", "gw2: bmc[5-8]")
    plan = topo.plan(NodeSet("bmc[3-6],n[1-2]"))
    assert str(plan.local) == "n[1-2]"
    assert {gw: str(ns) for gw, ns in plan.by_gateway.items()} == {"gw1": "bmc[3-4]", "gw2": "bmc[5-6]"}
    assert str(topo.gateways) == "gw[1-2]"


def test_twin_gateways_share_nodes_and_a_down_one_is_avoided(tmp_path: Path) -> None:
    topo = topology(tmp_path, "admin: gw[1-2]", "gw[1-2]: bmc[1-8]")
    plan = topo.plan(NodeSet("bmc[1-8]"))
    assert sorted(len(ns) for ns in plan.by_gateway.values()) == [4, 4]
    assert str(topo.alternatives("bmc3")) == "gw[1-2]"
    topo.mark_down("gw1")
    assert {gw: str(ns) for gw, ns in topo.plan(NodeSet("bmc[1-8]")).by_gateway.items()} == {"gw2": "bmc[1-8]"}
    topo.mark_down("gw2")
    assert {gw: str(ns) for gw, ns in topo.plan(NodeSet("bmc1")).by_gateway.items()} == {"": "bmc1"}


def test_a_second_hop_goes_to_the_first_gateway(tmp_path: Path) -> None:
    topo = topology(tmp_path, "admin: gw1", "gw1: sub[1-2]", "sub1: bmc[1-4]", "sub2: bmc[5-8]")
    assert {gw: str(ns) for gw, ns in topo.plan(NodeSet("bmc[1-8]")).by_gateway.items()} == {"gw1": "bmc[1-8]"}
    below = topology(tmp_path, "admin: gw1", "gw1: sub[1-2]", "sub1: bmc[1-4]", "sub2: bmc[5-8]", head="gw1")
    assert {gw: str(ns) for gw, ns in below.plan(NodeSet("bmc[1-8]")).by_gateway.items()} == {
        "sub1": "bmc[1-4]", "sub2": "bmc[5-8]"}


@pytest.mark.parametrize(
    ("routes", "expected"),
    [
        (["admin gw1"], "not a topology file"),
        (["[other]"], "No route found"),
        (["admin: gw1", "gw1: gw2", "gw2: gw1"], "Loop detected"),
        (["admin: n[1-2]", "n1: x[1-2]", "n2: x[1-2]"], "Convergent path"),
        (["x: gw1", "gw1: bmc1"], "this host (admin) is the source of no route"),
    ],
)
def test_a_bad_topology_is_one_config_error(tmp_path: Path, routes: list[str], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        topology(tmp_path, *routes)
    assert expected in str(caught.value) and "\n" not in str(caught.value)


def _capture(args: list[str]) -> list[str | None]:
    seen: list[list[str | None]] = []

    @click.group(cls=NodeGroup)
    def grp() -> None:
        """A group."""

    @grp.command(name="set")  # type: ignore[untyped-decorator]
    @click.option("--persistent", is_flag=True)
    @click.option("--tag", multiple=True)
    @click.option("--level", type=int, default=None)
    @click.option("--color/--no-color", default=True)
    @node_options()  # type: ignore[untyped-decorator]
    def cmd(ctx: Context, nodes: NodeSet, **_params: object) -> None:
        seen.append(command_words(click.get_current_context()))

    @click.group()
    def root() -> None:
        """The root."""

    root.add_command(grp)
    result = CliRunner().invoke(root, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return seen[0]


def test_the_command_is_rebuilt_without_what_the_head_decides() -> None:
    words = _capture(["grp", "n[1-4]", "set", "--persistent", "--tag", "a b", "--tag", "c", "--level", "3",
                      "--no-color", "--p", "7", "--timeout", "5", "-o", "json", "--yes"])
    assert words == ["grp", "set", "--persistent", "--tag", "a b", "--tag", "c", "--level", "3", "--no-color",
                     "--", None]


def test_only_reading_verbs_may_be_retried() -> None:
    @click.command(name="status")
    def status() -> None:
        """Status."""

    @click.command(name="reboot")
    def reboot() -> None:
        """Reboot."""

    assert is_read_only(click.Context(status, info_name="status"))
    assert not is_read_only(click.Context(reboot, info_name="reboot"))


def test_requests_and_results_survive_the_trip() -> None:
    request = Request(argv=["power", "status", "--", None], nodes="bmc[1-4]", root="gw1")
    again = Request.decode(request.encode().decode())
    assert again == request and again.clara == clara_version()
    result = NodeResult.failure("bmc1", "timeout", detail={"attempts": 2}, code=3).with_original("bmc1 ERROR")
    assert parse_line(result_line(result)) == ("result", result)
    assert parse_line("Welcome to gw1!") == ("noise", "Welcome to gw1!")
    assert parse_line('{"end": 0}') == ("end", 0)
    with pytest.raises(ValueError):
        Request.decode('{"argv": [1, 2]}')


@pytest.fixture
def local_bmcs(tmp_path: Path) -> Iterator[tuple[BmcLab, Path]]:
    """Two real ipmi_sim BMCs here and a config (with secrets) that reaches them."""
    lab = start_bmcs(tmp_path / "bmcs", 2, name_format="srv{:03d}", port=free_udp_port())
    secrets = tmp_path / "passwd"
    secrets.write_text("IMMUSER=admin\nIMMPASSWORD=password\n")
    secrets.chmod(0o600)
    sections: dict[str, dict[str, str]] = {"common": {"master_passwd_file": str(secrets)}}
    sections.update(lab.config_sections())
    try:
        yield lab, write_ini(tmp_path / "config.ini", sections)
    finally:
        lab.stop()


def serve(config: Path, request: str) -> list[tuple[str, object]]:
    """Run ``clara gateway-serve`` here with ``request`` on standard input; its lines, parsed."""
    done = subprocess.run([CLARA, "gateway-serve"], input=request, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "CLARA_CONFIG": str(config)})
    return [parse_line(line) for line in done.stdout.splitlines()]


def test_gateway_serve_runs_the_command_and_streams_one_line_per_node(local_bmcs: tuple[BmcLab, Path]) -> None:
    _lab, config = local_bmcs
    request = Request(argv=["power", "status", "--yes", "-o", "json", "--", None], nodes="srv[000-001]", root="gw1")
    lines = serve(config, request.encode().decode())
    kinds = [kind for kind, _ in lines]
    assert kinds[0] == "accepted" and kinds[-1] == "end" and kinds.count("result") == 2, lines
    results = {value.node: value for kind, value in lines if isinstance(value, NodeResult)}
    assert {n: (r.ok, r.value) for n, r in results.items()} == {"srv000": (True, "off"), "srv001": (True, "off")}
    assert lines[-1] == ("end", 0)


@pytest.mark.parametrize(
    ("request_text", "refusal"),
    [
        ("not json\n", "bad request"),
        (json.dumps({"protocol": 99, "clara": clara_version(), "argv": [None], "nodes": "x"}) + "\n",
         "gateway protocol 99"),
        (json.dumps({"protocol": 1, "clara": "0.0.1", "argv": ["power", "status", "--", None], "nodes": "x"}) + "\n",
         f"clara {clara_version()} here, 0.0.1 on the head"),
        (json.dumps({"protocol": 1, "clara": clara_version(), "argv": ["power", "status"], "nodes": "x"}) + "\n",
         "names no node set"),
    ],
)
def test_gateway_serve_refuses_a_bad_request_before_anything(local_bmcs: tuple[BmcLab, Path], request_text: str,
                                                             refusal: str) -> None:
    lab, config = local_bmcs
    lines = serve(config, request_text)
    assert lines[0][0] == "refused" and refusal in str(lines[0][1]) and lines[-1] == ("end", 2), lines
    assert all(not bmc.actions() for bmc in lab.bmcs)


def test_gateway_serve_reports_a_command_error_as_one_line(local_bmcs: tuple[BmcLab, Path]) -> None:
    _lab, config = local_bmcs
    request = Request(argv=["power", "status", "--yes", "-o", "json", "--", None], nodes="srv[", root="gw1")
    lines = serve(config, request.encode().decode())
    assert lines[0][0] == "accepted" and lines[1][0] == "error" and "srv[" in str(lines[1][1]), lines
    assert lines[-1] == ("end", 2)
