"""The ``ipmi`` backend: power, boot device and event log through pyghmi, plus the
BMC itself (the ``bmc`` capability: identify, MACs, users, DHCP, BMC reset, SOL).

Every public method takes a node set and returns an iterator of one
:class:`~clara_core.NodeResult` per node, under the ``[ipmi]`` policy
(``parallel``, ``timeout``, ``retries``...): power and boot device on the
batched event loop of :mod:`clara_ipmi.batch` (``[ipmi] engine = batch``, the
default), everything else through pyghmi and the core's fan-out. Each node
gets one session that serves every step of the verb and is closed at the end.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from ClusterShell.NodeSet import NodeSet

from clara_core import ClaraError, ConfigError, NodeError, NodeResult, UnsupportedError
from clara_core.context import Context
from clara_core.fanout_engine import current_attempt
from clara_core.protocols import BootDevice, PowerAction, SelEntry
from clara_ipmi import fru
from clara_ipmi.batch import Job, Step
from clara_ipmi.session import UNSURE, ipmi_session
from clara_ipmi.session import send_once as session_send_once
from clara_ipmi.settings import SECTION, BmcTarget, Targets, ipmi_policy

#: Chassis Control (netfn 0, cmd 2) data byte per action.
_CHASSIS_CONTROL = {PowerAction.OFF: 0, PowerAction.ON: 1, PowerAction.REBOOT: 3, PowerAction.SOFT: 5}
#: pyghmi boot device names.
_BOOT_DEVICES = {BootDevice.PXE: "network", BootDevice.DISK: "hd", BootDevice.BIOS: "setup",
                 BootDevice.DEFAULT: "default"}
#: Boot device selector (parameter 5, data 2, bits 5:2) per device.
_BOOT_SELECTORS = {BootDevice.PXE: 0x04, BootDevice.DISK: 0x08, BootDevice.BIOS: 0x18, BootDevice.DEFAULT: 0x00}


def severity_word(severity: int) -> str:
    """pyghmi's event severity, a bit mask (``pyghmi.constants.Health``: Warning 1, Critical 2,
    Failed 4), as the word ``clara sel list`` shows: the worst bit set."""
    if severity & 6:
        return "critical"
    return "warning" if severity & 1 else "ok"


#: What one node's work does with its session: ``op(cmd, target)``.
Operation = Callable[[Any, BmcTarget], "NodeResult | str"]


def _raw(cmd: Any) -> fru.RawCall:
    def call(netfn: int, command: int, data: bytes) -> bytes:
        return bytes(cmd.xraw_command(netfn=netfn, command=command, data=data)["data"])

    return call


class IpmiBackend:
    """IPMI 2.0 lanplus through pyghmi; honours PowerBackend, BootDeviceBackend, SelBackend and BmcBackend."""

    name = "ipmi"

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.targets = Targets(ctx.config, SECTION)

    # -- plumbing -----------------------------------------------------------

    def credentials(self) -> tuple[str, str]:
        """``IMMUSER`` and ``IMMPASSWORD`` from the secret store (a ClaraError when missing)."""
        return self.ctx.secret("IMMUSER"), self.ctx.secret("IMMPASSWORD")

    def run(self, nodes: NodeSet, op: Operation, credentials: tuple[str, str] | None = None,
            changes_state: bool = False) -> Iterator[NodeResult]:
        """Open a session on each node's BMC, apply ``op``, close it; results as they come.

        ``changes_state``: ``op`` changes the BMC's state (boot device, event log...); once
        the session is up the node is never tried again (pyghmi may still resend a request
        within the session: the BMC drops duplicates by sequence number). A non-idempotent
        command goes through :func:`send_once`, which also forbids the resend.
        """
        targets = self.targets.resolve(nodes)
        user, password = credentials or self.credentials()

        def one(node: str) -> NodeResult | str:
            target = targets[node]
            attempt = current_attempt()
            if attempt is not None:
                attempt.detail.update(target.detail)
                attempt.awaiting()  # a dead BMC gives its parallel slot to the next node
            with ipmi_session(target, user, password) as cmd:
                if attempt is not None:
                    attempt.answer()
                    if changes_state:
                        attempt.commit()
                outcome = op(cmd, target)
            if isinstance(outcome, NodeResult):
                return NodeResult(node, outcome.ok, outcome.value, outcome.error, outcome.data)
            return outcome

        return self.ctx.fanout(list(nodes), one, section=SECTION, timeout=ipmi_policy(self.ctx).timeout)

    # -- power --------------------------------------------------------------

    def engine(self) -> str:
        """``[ipmi] engine``: ``batch`` (default: power and boot verbs on the batched event
        loop) or ``pyghmi`` (every verb through pyghmi sessions and the core's fan-out)."""
        engine = self.ctx.config.get(SECTION, "engine", default="batch").strip().lower()
        if engine not in ("batch", "pyghmi"):
            raise ConfigError(f"[{SECTION}] engine: expected batch or pyghmi, got {engine!r}")
        return engine

    def run_batch(self, nodes: NodeSet, job: Job) -> Iterator[NodeResult]:
        """Run ``job`` on every node's BMC with the batched event loop."""
        from clara_ipmi.batch import BatchRunner

        targets = self.targets.resolve(nodes)
        user, password = self.credentials()
        return BatchRunner(user, password, ipmi_policy(self.ctx)).run(list(targets.values()), job)

    def power(self, nodes: NodeSet, action: PowerAction) -> Iterator[NodeResult]:
        """Chassis power: ``status`` answers ``on``/``off``; other actions answer their name."""
        action = PowerAction(action)
        if self.engine() == "batch":
            if action is PowerAction.STATUS:
                return self.run_batch(nodes, Job(((0, 1, b""),), lambda answers: "on" if answers[0][0] & 1 else "off"))
            chassis_control = (0, 2, bytes([_CHASSIS_CONTROL[action]]))
            return self.run_batch(nodes, Job((chassis_control,), lambda _answers: action.value, raise_privilege=True,
                                             once=True))

        def op(cmd: Any, target: BmcTarget) -> str:
            if action is PowerAction.STATUS:
                data = cmd.xraw_command(netfn=0, command=1)["data"]
                return "on" if data[0] & 1 else "off"
            send_once(cmd, target, 0, 2, [_CHASSIS_CONTROL[action]])
            return action.value

        return self.run(nodes, op)

    # -- boot device ----------------------------------------------------------

    def set_boot_device(self, nodes: NodeSet, device: BootDevice, persistent: bool = False) -> Iterator[NodeResult]:
        """Boot from ``device`` next (every boot when ``persistent``)."""
        device = BootDevice(device)
        if self.engine() == "batch":
            return self.run_batch(nodes, Job(boot_steps(device, persistent), lambda _answers: device.value,
                                             raise_privilege=True, changes_state=True))

        def op(cmd: Any, target: BmcTarget) -> str:
            cmd.set_bootdev(_BOOT_DEVICES[device], persist=persistent)
            return device.value

        return self.run(nodes, op, changes_state=True)

    # -- event log ------------------------------------------------------------

    def sel_list(self, nodes: NodeSet) -> Iterator[NodeResult]:
        """Every SEL record; value one line per record, ``data["entries"]`` as dicts."""

        def op(cmd: Any, target: BmcTarget) -> NodeResult:
            entries = [sel_entry(event) for event in cmd.get_event_log()]
            text = "\n".join(e.line() for e in entries) if entries else "(empty)"
            return NodeResult.success(target.node, text, entries=[e.__dict__ for e in entries])

        return self.run(nodes, op)

    def sel_clear(self, nodes: NodeSet) -> Iterator[NodeResult]:
        """Clear the SEL (Reserve SEL, then Clear SEL with the reservation)."""

        def op(cmd: Any, target: BmcTarget) -> str:
            reservation = cmd.xraw_command(netfn=0x0A, command=0x42)["data"]
            data = [reservation[0], reservation[1], 0x43, 0x4C, 0x52, 0xAA]  # 'C' 'L' 'R', initiate erase
            cmd.xraw_command(netfn=0x0A, command=0x47, data=data)
            return "cleared"

        return self.run(nodes, op, changes_state=True)

    # -- the BMC itself (BmcBackend: the other verbs of ``clara ipmi``) --------

    def identify(self, nodes: NodeSet, seconds: int | None) -> Iterator[NodeResult]:
        """Blink the chassis identify light for ``seconds`` (0: off; None: until turned off)."""

        def op(cmd: Any, target: BmcTarget) -> str:
            if seconds is None:
                cmd.xraw_command(netfn=0, command=4, data=[0, 1])
                return "identify on"
            cmd.xraw_command(netfn=0, command=4, data=[min(255, max(0, seconds))])
            return "identify off" if seconds == 0 else f"identify on for {min(255, seconds)}s"

        return self.run(nodes, op)

    def macs(self, nodes: NodeSet) -> Iterator[NodeResult]:
        """The node's MAC addresses, read from FRU 0: value ``eth0 AA:..., eth1 BB:...``,
        ``data["macs"]`` the list."""

        def op(cmd: Any, target: BmcTarget) -> NodeResult:
            try:
                image = fru.read_fru(_raw(cmd))
                macs = fru.macs_from_fields(fru.custom_fields(image))
            except ValueError as exc:
                raise NodeError(f"unreadable FRU: {exc}") from None
            if not macs:
                raise UnsupportedError("no MAC address in FRU 0")
            return NodeResult.success(target.node, fru.format_macs(macs), macs=macs)

        return self.run(nodes, op)

    def set_password(self, nodes: NodeSet, user_id: int, login: tuple[str, str]) -> Iterator[NodeResult]:
        """Set user ``user_id``'s name and password to ``IMMUSER``/``IMMPASSWORD``,
        logging in with ``login`` (the device's current credentials)."""
        name, password = self.credentials()

        def op(cmd: Any, target: BmcTarget) -> str:
            cmd.set_user_name(user_id, name)
            cmd.set_user_password(user_id, password=password)
            return f"user {user_id} set"

        return self.run(nodes, op, credentials=login)

    def lan_dhcp(self, nodes: NodeSet, channel: int | None) -> Iterator[NodeResult]:
        """Make the BMC's LAN channel (its own when ``channel`` is None) take its address from DHCP."""

        def op(cmd: Any, target: BmcTarget) -> str:
            cmd.set_net_configuration(ipv4_configuration="DHCP", channel=channel)
            return "dhcp"

        return self.run(nodes, op)

    def mc_reset(self, nodes: NodeSet) -> Iterator[NodeResult]:
        """Cold reset of the BMC itself; never retried (a BMC that restarts before answering
        is reported, not reset twice)."""

        def op(cmd: Any, target: BmcTarget) -> str:
            try:
                send_once(cmd, target, 6, 2, [])
            except NodeError as exc:
                if str(exc).endswith(UNSURE):
                    raise NodeError("no answer to the cold reset (the BMC may be restarting)", retryable=False,
                                    detail=target.detail) from None
                raise
            return "BMC cold reset"

        return self.run(nodes, op)

    def sol_deactivate(self, nodes: NodeSet) -> Iterator[NodeResult]:
        """End any serial-over-LAN session open on the BMC (Deactivate Payload, SOL instance 1)."""

        def op(cmd: Any, target: BmcTarget) -> str:
            answer = cmd.raw_command(netfn=6, command=0x49, data=[1, 1, 0, 0, 0, 0])
            code = answer.get("code", 0)
            if code in (0, 0x80):  # 0x80: payload already deactivated
                return "deconnected"
            raise NodeError(f"BMC error: {answer.get('error', f'completion code {code:#x}')}", detail=target.detail)

        return self.run(nodes, op)


def send_once(cmd: Any, target: BmcTarget, netfn: int, command: int, data: list[int]) -> bytes:
    """Send a non-idempotent command once, by the node's deadline (the fan-out's attempt is
    committed: never tried again)."""
    attempt = current_attempt()
    deadline = attempt.deadline if attempt is not None else time.monotonic() + 10
    return session_send_once(cmd, target, netfn, command, data, deadline)


def boot_steps(device: BootDevice, persistent: bool) -> tuple[Step, ...]:
    """Set System Boot Options (netfn 0, cmd 8): keep the valid bit across a watchdog
    timeout (parameter 3), then the boot flags (parameter 5: valid, persistent, device)."""
    selector = _BOOT_SELECTORS[device]
    flags = 0 if device is BootDevice.DEFAULT else 0x80 | (0x40 if persistent else 0)
    return ((0, 8, bytes([3, 8])), (0, 8, bytes([5, flags, selector, 0, 0, 0])))


def sel_entry(event: dict[str, Any]) -> SelEntry:
    """A pyghmi event-log record as a :class:`SelEntry`."""
    parts = [str(event.get(k)) for k in ("component_type", "component", "event") if event.get(k)]
    if event.get("deassertion"):
        parts.append("deasserted")
    severity = event.get("severity")
    return SelEntry(
        id=str(event.get("record_id", "")),
        timestamp=str(event.get("timestamp") or event.get("timecode") or ""),
        severity=severity_word(severity) if isinstance(severity, int) else str(severity or ""),
        message=" ".join(parts) or "event",
    )


def make_backend(ctx: Context) -> IpmiBackend:
    """The factory registered for ``power``, ``boot_device``, ``sel`` and ``bmc``."""
    try:
        import pyghmi  # noqa: F401
    except ImportError:
        raise ClaraError("the ipmi backend needs pyghmi: pip install pyghmi") from None
    return IpmiBackend(ctx)
