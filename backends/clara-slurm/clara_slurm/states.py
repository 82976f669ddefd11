"""SLURM node states as ``sinfo --json`` reports them, and what Clara asks of them.

A node's state is a base state (``idle``, ``allocated``, ``down``...) plus
flags (``DRAIN``, ``FAIL``, ``POWERED_DOWN``, ``NOT_RESPONDING``...).
:data:`TARGETS` maps each state a user can ask for (the
:class:`~clara_core.protocols.SchedulerBackend` names) to ``scontrol``'s
``State=`` value, whether it needs a reason, and how to tell that a node is
in it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

_POWERED_DOWN = frozenset({"POWER_DOWN", "POWERING_DOWN", "POWERED_DOWN"})


@dataclass(frozen=True)
class SlurmNode:
    """One node's record from ``sinfo --json``.

    :param name: the node name.
    :param state: the base state, lower case (``idle``, ``down``...).
    :param flags: the state flags, upper case (``DRAIN``, ``FAIL``...).
    :param reason: why an administrator drained, failed or downed it.
    :param reason_user: who set the reason.
    :param reason_time: when (seconds since the epoch, 0 when unset).
    """

    name: str
    state: str
    flags: tuple[str, ...] = ()
    reason: str = ""
    reason_user: str = ""
    reason_time: int = 0
    partitions: tuple[str, ...] = field(default=())

    @classmethod
    def from_json(cls, record: Mapping[str, Any]) -> SlurmNode:
        """Build from one element of ``sinfo --json``'s ``nodes`` (tolerates missing keys)."""
        return cls(
            name=str(record.get("name", "")),
            state=str(record.get("state") or "unknown").lower(),
            flags=tuple(str(f).upper() for f in record.get("state_flags") or ()),
            reason=str(record.get("reason") or ""),
            reason_user=str(record.get("reason_set_by_user") or ""),
            reason_time=int(record.get("reason_changed_at") or 0),
            partitions=tuple(str(p) for p in record.get("partitions") or ()),
        )

    @property
    def text(self) -> str:
        """The state as ``scontrol`` writes it: ``IDLE+DRAIN``."""
        return "+".join([self.state.upper(), *self.flags])

    @property
    def drained(self) -> bool:
        """Draining or drained."""
        return "DRAIN" in self.flags

    @property
    def failing(self) -> bool:
        """Set to FAIL by an administrator."""
        return "FAIL" in self.flags

    @property
    def down(self) -> bool:
        """Base state down (set by hand, or not responding)."""
        return self.state == "down"

    @property
    def powered_down(self) -> bool:
        """Asked to power down, powering down or powered down."""
        return bool(_POWERED_DOWN.intersection(self.flags))

    def describe(self) -> str:
        """The state and, when set, the reason: ``IDLE+DRAIN: disk broken``."""
        return f"{self.text}: {self.reason}" if self.reason else self.text

    def as_data(self) -> dict[str, Any]:
        """The structured record for ``-o json``."""
        data: dict[str, Any] = {"state": self.state, "flags": list(self.flags)}
        if self.reason:
            data.update(reason=self.reason, reason_user=self.reason_user, reason_time=self.reason_time)
        return data


@dataclass(frozen=True)
class Target:
    """A state a user can put nodes in.

    :param scontrol: the value of ``scontrol update ... State=``.
    :param needs_reason: SLURM refuses the change without ``Reason=``.
    :param reached: whether a node is in that state already.
    """

    scontrol: str
    needs_reason: bool
    reached: Callable[[SlurmNode], bool]


#: Every state of :meth:`SchedulerBackend.set_state <clara_core.protocols.SchedulerBackend.set_state>`.
TARGETS: dict[str, Target] = {
    "resume": Target("RESUME", False, lambda n: not (n.drained or n.failing or n.down)),
    "drain": Target("DRAIN", True, lambda n: n.drained),
    "undrain": Target("UNDRAIN", False, lambda n: not n.drained),
    "fail": Target("FAIL", True, lambda n: n.failing),
    "down": Target("DOWN", True, lambda n: n.down),
    "power_up": Target("POWER_UP", False, lambda n: not n.powered_down),
    "power_down": Target("POWER_DOWN", False, lambda n: n.powered_down),
}

#: Which nodes each listing shows (``clara slurm drain``, ``fail``, ``down`` without a node set).
LISTINGS: dict[str, Callable[[SlurmNode], bool]] = {
    "drain": lambda n: n.drained,
    "fail": lambda n: n.failing,
    "down": lambda n: n.down,
}
