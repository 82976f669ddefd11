"""Finding a node's resources through the Redfish collections, and acting on them.

Nothing is assumed about paths: systems come from the service root's
``Systems`` collection, event logs from the ``LogServices`` collections of the
system and of the managers that manage it, the BMC from the system's
``ManagedBy`` link, reset and clear targets from the resources' ``Actions``.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from clara_core import NodeError, TransientNodeError, UnsupportedError
from clara_core.protocols import BootDevice, PowerAction, SelEntry
from clara_redfish.faults import error_message
from clara_redfish.session import BmcSession
from clara_redfish.settings import Target

T = TypeVar("T")

Doc = dict[str, Any]

#: Reset types to try for each power action, in order of preference.
RESET_TYPES: dict[PowerAction, tuple[str, ...]] = {
    PowerAction.ON: ("On", "ForceOn"),
    PowerAction.OFF: ("ForceOff",),
    PowerAction.SOFT: ("GracefulShutdown",),
    PowerAction.REBOOT: ("ForceRestart", "PowerCycle"),
}

#: Redfish boot targets of Clara's boot devices.
BOOT_TARGETS: dict[BootDevice, str] = {
    BootDevice.PXE: "Pxe",
    BootDevice.DISK: "Hdd",
    BootDevice.BIOS: "BiosSetup",
    BootDevice.DEFAULT: "None",
}

#: Reset types to try for a BMC reset (``mc_reset``), in order of preference.
MANAGER_RESET_TYPES: tuple[str, ...] = ("GracefulRestart", "ForceRestart")

_POWER_STATES = {"on": "on", "off": "off", "poweringon": "powering on", "poweringoff": "powering off"}


def odata_id(link: Any) -> str | None:
    """The ``@odata.id`` of a link object, or None."""
    if isinstance(link, dict):
        value = link.get("@odata.id")
        return str(value) if value else None
    return None


def members(session: BmcSession, path: str) -> Iterator[Doc]:
    """The members of a collection, following ``Members@odata.nextLink`` pages.

    A member given only as a link is yielded as ``{"@odata.id": ...}``.
    """
    next_path: str | None = path
    seen: set[str] = set()
    while next_path and next_path not in seen:
        seen.add(next_path)
        page = session.get(next_path)
        for member in page.get("Members", []) or []:
            if isinstance(member, dict):
                yield member
        next_path = page.get("Members@odata.nextLink")


def expand(session: BmcSession, member: Doc) -> Doc:
    """A collection member as a full document (fetched when only a link was given)."""
    path = odata_id(member)
    if path and set(member) <= {"@odata.id", "@odata.type", "@odata.etag"}:
        return session.get(path)
    return member


def _systems(session: BmcSession) -> list[Doc]:
    """Every system behind the BMC as ``{"@odata.id": ...}`` links (cached per session)."""
    with session.cache_lock:
        cached = session.cache.get("systems")
        if cached is None:
            root_systems = odata_id(session.root().get("Systems"))
            if not root_systems:
                raise NodeError("no Systems collection in the service root")
            cached = list(members(session, root_systems))
            session.cache["systems"] = cached
        return list(cached)


class _Once(Generic[T]):
    """A value computed once, by the first thread that asks; the others wait for it.

    :param share_failure: keep a failure and raise it again to every caller (an action
        such as a BMC reset is never repeated); otherwise a failure is not kept.
    """

    def __init__(self, share_failure: bool = False) -> None:
        self.lock = threading.Lock()
        self.share_failure = share_failure
        self.done = False
        self.value: T | None = None
        self.error: NodeError | None = None

    def get(self, compute: Callable[[], T]) -> T:
        """The value, computing it now if nobody has yet."""
        with self.lock:
            if not self.done:
                try:
                    self.value = compute()
                except Exception as exc:
                    if not self.share_failure:
                        raise
                    self.error = exc if isinstance(exc, NodeError) else NodeError(f"{type(exc).__name__}: {exc}")
                self.done = True
            if self.error is not None:
                raise type(self.error)(str(self.error), retryable=self.error.retryable)
            return self.value  # type: ignore[return-value]


def _once(session: BmcSession, key: str, share_failure: bool = False) -> _Once[Any]:
    with session.cache_lock:
        once: _Once[Any] = session.cache.setdefault(key, _Once(share_failure))
    return once


def once_per_session(session: BmcSession, key: str, act: Callable[[], str]) -> str:
    """Do ``act`` once per session (a command) for ``key``: the nodes behind one BMC share its outcome."""
    result: str = _once(session, f"action:{key}", share_failure=True).get(act)
    return result


def cached_get(session: BmcSession, path: str) -> Doc:
    """GET ``path`` once per session (a command): nodes behind one BMC share what was read."""
    doc: Doc = _once(session, f"doc:{path}").get(lambda: session.get(path))
    return doc


def _matches(doc: Doc, wanted: str) -> bool:
    wanted = wanted.lower()
    names = [doc.get("Id"), doc.get("Name"), doc.get("HostName"), doc.get("UUID"), odata_id(doc)]
    return any(isinstance(n, str) and (n.lower() == wanted or n.lower().rstrip("/") == wanted) for n in names)


def find_system(session: BmcSession, target: Target) -> Doc:
    """The system document of ``target``'s node, fresh from the BMC.

    ``system`` in config names it (Id, Name, UUID or path); otherwise the
    BMC's only system, or the one whose Id, Name or HostName is the node.
    """
    wanted = target.system
    if wanted and wanted.startswith("/"):
        return session.get(wanted)
    links = _systems(session)
    if not links:
        raise NodeError("the Systems collection is empty")
    if wanted is None and len(links) == 1:
        path = odata_id(links[0])
        return session.get(path) if path else links[0]
    name = wanted or target.node
    for link in links:  # cheap first: a path ending in the name
        path = odata_id(link) or ""
        if path.rstrip("/").rsplit("/", 1)[-1].lower() == name.lower():
            return session.get(path)
    # Read the systems to find the one named so; each node starts at its own place in the
    # list, so the nodes behind one BMC read different systems at the same time.
    start = zlib.crc32(name.encode()) % len(links)
    for link in links[start:] + links[:start]:
        path = odata_id(link)
        doc = cached_get(session, path) if path else link
        if _matches(doc, name):
            return doc
    hint = f"'system = {wanted}' matches none" if wanted else "none is named after the node: set 'system'"
    raise NodeError(f"the BMC has {len(links)} systems and {hint} in [redfish:<node>]")


def power_state(system: Doc) -> str:
    """``on``, ``off``, ``powering on``... from a system document."""
    state = system.get("PowerState")
    if not isinstance(state, str) or not state:
        raise NodeError("the BMC reports no PowerState for this system")
    return _POWER_STATES.get(state.lower(), state.lower())


def _check(session: BmcSession, response: Any, what: str) -> None:
    if response.status in (200, 201, 202, 204):
        return
    detail = error_message(response)
    error = TransientNodeError if response.status >= 500 else NodeError
    raise error(f"{what} refused: HTTP {response.status}{': ' + detail if detail else ''}")


def _reset_type(session: BmcSession, reset_action: Doc, choices: tuple[str, ...]) -> str:
    """The first of ``choices`` the action allows (its ``ResetType@Redfish.AllowableValues``,
    else its ActionInfo); the first choice when the BMC lists none."""
    allowed = reset_action.get("ResetType@Redfish.AllowableValues")
    info = odata_id({"@odata.id": reset_action.get("@Redfish.ActionInfo")}) if not allowed else None
    if info:
        for parameter in session.get(info).get("Parameters", []) or []:
            if isinstance(parameter, dict) and parameter.get("Name") == "ResetType":
                allowed = parameter.get("AllowableValues")
    if isinstance(allowed, list) and allowed:
        usable = [c for c in choices if c in allowed]
        if not usable:
            raise UnsupportedError(
                f"the BMC offers no {'/'.join(choices)} reset (offers: {', '.join(map(str, allowed))})"
            )
        return usable[0]
    return choices[0]


def reset(session: BmcSession, system: Doc, action: PowerAction) -> str:
    """Apply ``action`` (not STATUS) to ``system``; return the action's name."""
    state = power_state(system) if "PowerState" in system else ""
    if (action is PowerAction.ON and state == "on") or (action is PowerAction.OFF and state == "off"):
        return action.value  # already there: many BMCs answer 409 to a useless reset
    reset_action = (system.get("Actions") or {}).get("#ComputerSystem.Reset")
    if not isinstance(reset_action, dict) or not reset_action.get("target"):
        raise UnsupportedError("this system has no ComputerSystem.Reset action")
    reset_type = _reset_type(session, reset_action, RESET_TYPES[action])
    response = session.request("POST", str(reset_action["target"]), {"ResetType": reset_type})
    _check(session, response, f"reset {reset_type}")
    return action.value


def _indicator_body(doc: Doc, on: bool) -> Doc | None:
    """The PATCH that turns ``doc``'s identify light on or off: ``LocationIndicatorActive``
    (Redfish 2020.3 and later) where it has it, else ``IndicatorLED`` (Blinking, or Lit where
    the BMC does not offer Blinking); None when it has neither."""
    if "LocationIndicatorActive" in doc:
        return {"LocationIndicatorActive": on}
    if "IndicatorLED" not in doc:
        return None
    if not on:
        return {"IndicatorLED": "Off"}
    allowed = doc.get("IndicatorLED@Redfish.AllowableValues")
    if isinstance(allowed, list) and allowed and "Blinking" not in allowed and "Lit" in allowed:
        return {"IndicatorLED": "Lit"}
    return {"IndicatorLED": "Blinking"}


def set_identify(session: BmcSession, system: Doc, on: bool) -> None:
    """Turn the identify light of ``system`` on or off: the system's own, else that of
    the chassis it links to; :class:`UnsupportedError` where neither has one."""
    holders: list[Doc] = [system]
    found = _indicator_body(system, on)
    if found is None:
        for link in (system.get("Links") or {}).get("Chassis", []) or []:
            path = odata_id(link)
            if path:
                chassis = session.get(path)
                found = _indicator_body(chassis, on)
                if found is not None:
                    holders = [chassis]
                    break
    if found is None:
        raise UnsupportedError(
            "no identify light: neither the system nor its chassis has LocationIndicatorActive or IndicatorLED"
        )
    path = odata_id(holders[0]) or ""
    response = session.request("PATCH", path, found)
    _check(session, response, f"identify light ({', '.join(f'{k}={v}' for k, v in found.items())})")


def find_manager(session: BmcSession, system: Doc) -> Doc:
    """The BMC (Manager) of ``system``: its first ``ManagedBy`` link, else the service's only manager."""
    for link in (system.get("Links") or {}).get("ManagedBy", []) or []:
        path = odata_id(link)
        if path:
            return cached_get(session, path)
    root_managers = odata_id(session.root().get("Managers"))
    links = list(members(session, root_managers)) if root_managers else []
    if len(links) == 1:
        return expand(session, links[0])
    raise UnsupportedError(
        "no manager linked to this system (Links.ManagedBy)"
        + (f" among {len(links)}" if links else "")
    )


def reset_manager(session: BmcSession, manager: Doc) -> str:
    """Restart the BMC itself (``#Manager.Reset``, GracefulRestart where allowed, else ForceRestart)
    once per command; return the reset type. No answer to the request is a final failure: the
    BMC may be restarting, and is never reset twice."""
    path = odata_id(manager) or str(manager.get("Id") or "")

    def act() -> str:
        action = (manager.get("Actions") or {}).get("#Manager.Reset")
        if not isinstance(action, dict) or not action.get("target"):
            raise UnsupportedError(f"the BMC's manager {manager.get('Id') or path} has no Manager.Reset action")
        reset_type = _reset_type(session, action, MANAGER_RESET_TYPES)
        try:
            response = session.request("POST", str(action["target"]), {"ResetType": reset_type})
        except TransientNodeError as exc:
            session.forget()
            raise NodeError(
                f"{exc}: no answer to the BMC reset {reset_type}, it may be restarting (not sent again)",
                retryable=False,
            ) from None
        try:
            _check(session, response, f"BMC reset {reset_type}")
        except TransientNodeError as exc:  # refused by a busy BMC: still never sent twice in a command
            raise NodeError(str(exc), retryable=False) from None
        session.forget()  # restarting: the session dies with it
        return reset_type

    return once_per_session(session, f"manager-reset:{path}", act)


def set_boot(session: BmcSession, system: Doc, device: BootDevice, persistent: bool, mode: str | None) -> str:
    """Set the boot override of ``system``; return the device name."""
    boot = system.get("Boot")
    if not isinstance(boot, dict):
        raise UnsupportedError("this system has no boot override (no Boot property)")
    redfish_target = BOOT_TARGETS[device]
    allowed = boot.get("BootSourceOverrideTarget@Redfish.AllowableValues")
    body: Doc
    if device is BootDevice.DEFAULT:
        body = {"BootSourceOverrideEnabled": "Disabled"}
        if not isinstance(allowed, list) or "None" in allowed:
            body["BootSourceOverrideTarget"] = "None"
    else:
        if isinstance(allowed, list) and allowed and redfish_target not in allowed:
            raise UnsupportedError(
                f"the BMC offers no {redfish_target} boot target (offers: {', '.join(map(str, allowed))})"
            )
        enabled = "Continuous" if persistent else "Once"
        allowed_enabled = boot.get("BootSourceOverrideEnabled@Redfish.AllowableValues")
        if isinstance(allowed_enabled, list) and allowed_enabled and enabled not in allowed_enabled:
            raise UnsupportedError(f"the BMC offers no {enabled} boot override (offers: {', '.join(allowed_enabled)})")
        body = {"BootSourceOverrideTarget": redfish_target, "BootSourceOverrideEnabled": enabled}
    if mode:
        body["BootSourceOverrideMode"] = mode
    path = odata_id(system) or ""
    response = session.request("PATCH", path, {"Boot": body})
    if response.status == 400 and "BootSourceOverrideMode" in str(response.text) and not mode:
        # Some BMCs (Supermicro) want the mode in every override: send the current one.
        body["BootSourceOverrideMode"] = str(boot.get("BootSourceOverrideMode") or "UEFI")
        response = session.request("PATCH", path, {"Boot": body})
    _check(session, response, f"boot override {redfish_target}")
    return device.value


def mac_addresses(session: BmcSession, system: Doc) -> dict[str, str]:
    """Interface Id -> MAC (lowercase, colon-separated) of the system's Ethernet interfaces."""
    path = odata_id(system.get("EthernetInterfaces"))
    if not path:
        raise UnsupportedError("this system lists no EthernetInterfaces")
    found: dict[str, str] = {}
    for member in members(session, path):
        doc = expand(session, member)
        mac = doc.get("MACAddress") or doc.get("PermanentMACAddress")
        if isinstance(mac, str) and mac:
            found[str(doc.get("Id") or len(found))] = mac.replace("-", ":").lower()
    return found


def _log_rank(doc: Doc) -> int | None:
    """How likely a log service is the hardware event log (lower is better); None: not one."""
    ident = str(doc.get("Id") or "").lower()
    name = str(doc.get("Name") or "").lower()
    if doc.get("LogEntryType") == "SEL" or ident in ("sel", "ipmisel") or name in ("sel", "sel log", "ipmi sel"):
        return 0
    if ident in ("iml", "eventlog", "event log"):
        return 1
    if ident in ("log", "log1"):
        return 2
    if ident == "bios":
        return 3
    return None


def log_services(session: BmcSession, system: Doc) -> list[Doc]:
    """Every log service of the system, then of its managers."""
    collections = [odata_id(system.get("LogServices"))]
    for manager in (system.get("Links") or {}).get("ManagedBy", []) or []:
        path = odata_id(manager)
        if path:
            collections.append(odata_id(session.get(path).get("LogServices")))
    found: list[Doc] = []
    for collection in collections:
        if collection:
            found.extend(expand(session, member) for member in members(session, collection))
    return found


def find_log(session: BmcSession, system: Doc, wanted: str | None = None) -> Doc:
    """The event log of the node: ``wanted`` (``log_service`` in config), else the best-named one."""
    services = log_services(session, system)
    if wanted:
        for doc in services:
            if wanted.lower() in (str(doc.get("Id", "")).lower(), str(odata_id(doc) or "").lower()):
                return doc
        raise NodeError(f"no log service {wanted!r} (found: {', '.join(str(d.get('Id')) for d in services) or 'none'})")
    ranked = [(rank, i, doc) for i, doc in enumerate(services) if (rank := _log_rank(doc)) is not None]
    if not ranked:
        names = ", ".join(str(d.get("Id")) for d in services) or "none"
        raise UnsupportedError(f"no system event log among the BMC's log services (found: {names})")
    return min(ranked, key=lambda item: (item[0], item[1]))[2]


def log_entries(session: BmcSession, log_service: Doc) -> list[SelEntry]:
    """Every entry of a log service, oldest first as the BMC lists them."""
    path = odata_id(log_service.get("Entries"))
    if not path:
        raise UnsupportedError(f"log service {log_service.get('Id')} has no Entries")
    entries = []
    for member in members(session, path):
        doc = expand(session, member)
        message = str(doc.get("Message") or "").strip()
        sensor = doc.get("SensorType")
        if isinstance(sensor, str) and sensor and sensor.lower() not in message.lower():
            message = f"{sensor}: {message}" if message else sensor
        entries.append(
            SelEntry(
                id=str(doc.get("Id") or ""),
                timestamp=str(doc.get("Created") or ""),
                severity=str(doc.get("Severity") or doc.get("EntryType") or ""),
                message=message,
            )
        )
    return entries


def clear_log(session: BmcSession, log_service: Doc) -> None:
    """POST the log service's ClearLog action; :class:`UnsupportedError` where there is none."""
    action = (log_service.get("Actions") or {}).get("#LogService.ClearLog")
    if not isinstance(action, dict) or not action.get("target"):
        raise UnsupportedError(f"the BMC offers no ClearLog action for its event log ({log_service.get('Id')})")
    response = session.request("POST", str(action["target"]), {})
    _check(session, response, "ClearLog")
