"""The lines the original ``clara ipmi`` printed, for ``-o original``.

The original ran ``ipmitool -H <bmc> ...`` per node and printed
``<bmc> OK: <ipmitool's output>`` (``ERROR:`` when ipmitool failed), where
``<bmc>`` is the BMC's name (``[ipmi] prefix`` + node + ``suffix``) or the
node's IP address. Scripts parsed those words, so ``-o original`` gives them
back: ipmitool's own message for each verb (as ipmitool 1.8.19 prints it),
our reason on failure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from clara_core.bmc import BmcResolver
from clara_core.context import Context
from clara_core.output import original_lines
from clara_core.results import NodeResult

#: ipmitool's message for a verb that succeeded, from our result's value.
MESSAGES: dict[str, Callable[[str], str]] = {
    "status": lambda value: f"Chassis Power is {value}",
    "on": lambda _value: "Chassis Power Control: Up/On",
    "off": lambda _value: "Chassis Power Control: Down/Off",
    "soft": lambda _value: "Chassis Power Control: Soft",
    "reboot": lambda _value: "Chassis Power Control: Reset",
    "pxe": lambda _value: "Set Boot Device to pxe",
    "disk": lambda _value: "Set Boot Device to disk",
    "bios": lambda _value: "Set Boot Device to force_bios",
    "selclear": lambda _value: "Clearing SEL.  Please allow a few seconds to erase.",
    "reset": lambda _value: "Sent cold reset command to MC",
    "setpwd": lambda _value: "Set User Password command successful (user 2)",
    "immdhcp": lambda _value: "",
    "deconnect": lambda _value: "",
}


def with_original_lines(ctx: Context, verb: str, results: Iterator[NodeResult],
                        message: Callable[[str], str] | None = None) -> Iterator[NodeResult]:
    """``results`` with the original's line set on each (``message``: ipmitool's words
    for a success of ``verb``, from our value; default :data:`MESSAGES`, else our value)."""
    words = message or MESSAGES.get(verb, lambda value: value)
    resolver = BmcResolver(ctx.config.node_settings("ipmi"), 623)
    return original_lines(results, resolver.host, words)
