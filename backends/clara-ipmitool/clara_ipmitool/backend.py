"""The ``ipmitool`` backend: one ``ipmitool -I lanplus`` process per node and step,
under the core's fan-out with the ``[ipmi]`` policy. Honours PowerBackend,
BootDeviceBackend and SelBackend."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator

from ClusterShell.NodeSet import NodeSet

from clara_core import ClaraError, NodeError, NodeResult
from clara_core.context import Context
from clara_core.fanout_engine import current_attempt, protocol_policy
from clara_core.protocols import BootDevice, PowerAction, SelEntry
from clara_ipmitool.runner import Ipmitool
from clara_ipmitool.settings import DEFAULT_TIMEOUT, SECTION, Target, resolve

_POWER_ARGS = {PowerAction.ON: "on", PowerAction.OFF: "off", PowerAction.SOFT: "soft", PowerAction.REBOOT: "reset"}
_BOOT_ARGS = {BootDevice.PXE: "pxe", BootDevice.DISK: "disk", BootDevice.BIOS: "bios", BootDevice.DEFAULT: "none"}
_POWER_STATE = re.compile(r"Chassis Power is (on|off)", re.IGNORECASE)


def parse_sel(output: str) -> list[SelEntry]:
    """``ipmitool sel list`` lines (``id | date | time | sensor | event | direction``) as entries."""
    entries: list[SelEntry] = []
    for line in output.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) < 4 or not parts[0]:
            continue
        try:
            record = str(int(parts[0], 16))
        except ValueError:
            continue
        if len(parts) >= 6:
            stamp, message = f"{parts[1]} {parts[2]}".strip(), " ".join(parts[3:])
        else:
            stamp, message = parts[1], " ".join(parts[2:])
        severity = "critical" if re.search(r"critical|uncorrectable|fail", message, re.I) else "info"
        entries.append(SelEntry(id=record, timestamp=stamp, severity=severity, message=message))
    return entries


class IpmitoolBackend:
    """Drives BMCs by running ipmitool (for BMCs pyghmi cannot drive)."""

    name = "ipmitool"

    def __init__(self, ctx: Context, program: str) -> None:
        self.ctx = ctx
        self.program = program

    def _run(self, nodes: NodeSet, step: Callable[[Ipmitool, Target], NodeResult | str]) -> Iterator[NodeResult]:
        targets = resolve(self.ctx.config, nodes)
        policy = protocol_policy(self.ctx.policy(SECTION), self.ctx.config, SECTION, self.ctx.options.timeout,
                                 DEFAULT_TIMEOUT)
        tool = Ipmitool(self.program, self.ctx.secret("IMMUSER"), self.ctx.secret("IMMPASSWORD"),
                        timeout=policy.timeout)

        def one(node: str) -> NodeResult | str:
            attempt = current_attempt()
            if attempt is not None:
                attempt.detail.update(targets[node].detail)
            return step(tool, targets[node])

        return self.ctx.fanout(list(nodes), one, section=SECTION, timeout=policy.timeout)

    def power(self, nodes: NodeSet, action: PowerAction) -> Iterator[NodeResult]:
        """``ipmitool power status|on|off|soft|reset``."""
        action = PowerAction(action)

        def step(tool: Ipmitool, target: Target) -> str:
            if action is PowerAction.STATUS:
                out = tool.run(target, "power", "status")
                match = _POWER_STATE.search(out)
                if match is None:
                    raise NodeError(f"unexpected answer {out.strip()[:60]!r}", detail=target.detail)
                return match.group(1).lower()
            tool.run(target, "power", _POWER_ARGS[action], once=True)  # never sent twice
            return action.value

        return self._run(nodes, step)

    def set_boot_device(self, nodes: NodeSet, device: BootDevice, persistent: bool = False) -> Iterator[NodeResult]:
        """``ipmitool chassis bootdev pxe|disk|bios|none [options=persistent]``."""
        device = BootDevice(device)

        def step(tool: Ipmitool, target: Target) -> str:
            extra = ["options=persistent"] if persistent else []
            tool.run(target, "chassis", "bootdev", _BOOT_ARGS[device], *extra, changes_state=True)
            return device.value

        return self._run(nodes, step)

    def sel_list(self, nodes: NodeSet) -> Iterator[NodeResult]:
        """``ipmitool sel list``, parsed."""

        def step(tool: Ipmitool, target: Target) -> NodeResult:
            entries = parse_sel(tool.run(target, "sel", "list", verbose=False))
            text = "\n".join(e.line() for e in entries) if entries else "(empty)"
            return NodeResult.success(target.node, text, entries=[e.__dict__ for e in entries])

        return self._run(nodes, step)

    def sel_clear(self, nodes: NodeSet) -> Iterator[NodeResult]:
        """``ipmitool sel clear``."""

        def step(tool: Ipmitool, target: Target) -> str:
            tool.run(target, "sel", "clear", changes_state=True)
            return "cleared"

        return self._run(nodes, step)


def make_backend(ctx: Context) -> IpmitoolBackend:
    """The factory: a ClaraError when ipmitool is not installed."""
    program = shutil.which("ipmitool")
    if program is None:
        raise ClaraError("the ipmitool backend needs the ipmitool program (Debian package ipmitool)")
    return IpmitoolBackend(ctx, program)
