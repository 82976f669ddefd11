"""``-o original`` (and ``[common] output = original``): the original Clara's lines,
``<bmc> OK: <ipmitool's words>``, checked against what the real ipmitool prints for the
same verb on the same simulated BMC."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # not imported at run time: run with tests/redfish, "conftest" may be the other one
    from conftest import IpmiEnv

Run = Callable[..., subprocess.CompletedProcess[str]]

#: clara ipmi verb -> the ipmitool command the original ran for it.
VERBS = {
    "status": ["power", "status"],
    "on": ["power", "on"],
    "off": ["power", "off"],
    "reboot": ["chassis", "power", "reset"],
    "pxe": ["chassis", "bootdev", "pxe"],
    "disk": ["chassis", "bootdev", "disk"],
    "bios": ["chassis", "bootparam", "set", "bootflag", "force_bios"],
    "selclear": ["sel", "clear"],
}


def ipmitool_words(env: IpmiEnv, node: str, args: list[str]) -> str:
    """What ipmitool prints for ``args``, without the simulator's cipher-suite complaint."""
    done = env.ipmitool(node, *args)
    assert done.returncode == 0, done.stderr
    lines = (done.stdout + done.stderr).splitlines()
    return "\n".join(line for line in lines if "Cipher Suites" not in line).strip()


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_each_verb_prints_ipmitools_words(ipmi_env: IpmiEnv, run_clara: Run, verb: str) -> None:
    node = "node000"
    host = ipmi_env.bmc(node).host
    if verb == "status":
        ipmi_env.ipmitool(node, "power", "on")
    result = run_clara("ipmi", verb, "-o", "original", node)
    assert result.returncode == 0, result.stderr
    expected = f"{host} OK: {ipmitool_words(ipmi_env, node, VERBS[verb])}"
    assert result.stdout.splitlines() == [expected]


def test_config_key_gives_the_original_lines_and_exit_status(ipmi_env: IpmiEnv, run_clara: Run) -> None:
    """``[common] output = original``: a script that parsed the original's lines needs no change; a
    dead BMC is an ERROR line and the exit status is 0, as in the original; ``-o text`` still folds."""
    ipmi_env.configure(common={"output": "original"}, ipmi={"timeout": 2})
    for node in ("node000", "node001"):
        ipmi_env.ipmitool(node, "power", "off")
    result = run_clara("ipmi", "status", "node[000-001],dead")
    assert result.returncode == 0
    lines = result.stdout.splitlines()  # one per node, in node order (dead < node000 < node001)
    assert lines[0].startswith("127.0.0.77 ERROR: ")
    assert lines[1:] == [f"{ipmi_env.bmc(n).host} OK: Chassis Power is off" for n in ("node000", "node001")]
    folded = run_clara("ipmi", "status", "-o", "text", "node[000-001],dead")
    assert folded.returncode == 1 and "node[000-001]: off" in folded.stdout


def test_a_wrong_output_key_is_one_line(ipmi_env: IpmiEnv, run_clara: Run) -> None:
    ipmi_env.configure(common={"output": "yaml"})
    result = run_clara("ipmi", "status", "node000")
    assert result.returncode == 1
    assert result.stderr.strip() == "clara: error: [common] output: expected one of text, json, original, got 'yaml'"
