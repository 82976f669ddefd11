"""A node's health over Redfish: sensors out of threshold, failed components, critical log entries.

* sensors: every reading of :mod:`clara_redfish.hw_sensors` whose level is warning or critical;
* components whose ``Status.Health`` is ``Warning`` or ``Critical``: the system, its
  chassis, processors (``Processors``, else ``ProcessorSummary``), memory (``Memory``,
  else ``MemorySummary``), power supplies and fans (``Power``/``Thermal``, and the
  ``PowerSubsystem``/``ThermalSubsystem`` of newer BMCs); one already reported as a
  sensor is not reported twice;
* the event log the ``sel`` verbs read (:func:`clara_redfish.resources.find_log`): its
  entries of ``Critical`` severity, those created at or after ``since`` when given (an
  entry whose date cannot be read is kept only without ``since``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial

from clara_core.protocols import Finding, HealthReport, SelEntry, event_finding
from clara_redfish import hw_sensors, resources
from clara_redfish.hw_common import Doc, Sources, chassis_of, get_doc, health, link, member_docs, state, text
from clara_redfish.session import BmcSession
from clara_redfish.settings import Target


def _component(label: str, doc: Doc) -> Finding | None:
    level = health(doc)
    if level is None or not level.unhealthy or state(doc) == "absent":
        return None
    return Finding(level, f"{label}: {level.value}")


def _rollup(label: str, summary: object) -> Finding | None:
    """A ``ProcessorSummary``/``MemorySummary``: its ``Status.HealthRollup``, else ``Health``."""
    if not isinstance(summary, dict) or not isinstance(summary.get("Status"), dict):
        return None
    status = summary["Status"]
    word = status.get("HealthRollup") or status.get("HealthRollUp") or status.get("Health")
    return _component(label, {"Status": {"Health": word}})


def _members(session: BmcSession, parent: Doc, name: str, sources: Sources) -> list[Doc] | None:
    path = link(parent, name)
    return sources.read(name, lambda: member_docs(session, path)) if path else None


def components(session: BmcSession, system: Doc, sources: Sources) -> list[Finding]:
    """The components the BMC reports degraded or failed."""
    found: list[Finding | None] = [_component(text(system, "Name", "Id") or "System", system)]
    for name, summary, label in (("Processors", "ProcessorSummary", "Processor"), ("Memory", "MemorySummary", "DIMM")):
        docs = _members(session, system, name, sources)
        if docs is None:
            found.append(_rollup(f"{label}s", system.get(summary)))
            continue
        found.extend(_component(f"{label} {text(doc, 'Id', 'Name')}".strip(), doc) for doc in docs)
    for chassis in chassis_of(session, system, sources):
        found.append(_component(f"Chassis {text(chassis, 'Name', 'Id')}".strip(), chassis))
        for holder, array, subsystem, collection in (
            ("Power", "PowerSupplies", "PowerSubsystem", "PowerSupplies"),
            ("Thermal", "Fans", "ThermalSubsystem", "Fans"),
        ):
            path = link(chassis, holder)
            doc = sources.read(holder, partial(get_doc, session, path)) if path else None
            items = [i for i in (doc or {}).get(array) or [] if isinstance(i, dict)]
            sub_path = link(chassis, subsystem)
            sub = sources.read(subsystem, partial(get_doc, session, sub_path)) if sub_path else None
            if sub is not None:
                items.extend(_members(session, sub, collection, sources) or [])
            found.extend(
                _component(text(item, "Name", "FanName", "Id", "MemberId") or array, item)
                for item in items if hw_sensors.for_system(item, resources.odata_id(system) or "")
            )
    return _unique([f for f in found if f is not None])


def _unique(findings: list[Finding]) -> list[Finding]:
    seen: set[str] = set()
    kept = []
    for finding in findings:
        if finding.text not in seen:
            seen.add(finding.text)
            kept.append(finding)
    return kept


def when(entry: SelEntry) -> datetime | None:
    """An entry's date, timezone-aware (UTC when the BMC gives no offset), or None."""
    try:
        created = datetime.fromisoformat(entry.timestamp.strip())
    except ValueError:
        return None
    return created if created.tzinfo else created.replace(tzinfo=UTC)


def log_findings(session: BmcSession, system: Doc, target: Target, since: datetime | None,
                 sources: Sources) -> list[Finding]:
    """The critical entries of the node's event log (those at or after ``since``)."""
    log = sources.read("event log", lambda: resources.find_log(session, system, target.log_service))
    entries = sources.read("event log", lambda: resources.log_entries(session, log)) if log else None
    limit = since if since is None or since.tzinfo else since.astimezone()
    found = []
    for entry in entries or []:
        if entry.severity.lower() != "critical":
            continue
        created = when(entry)
        if limit is not None and (created is None or created < limit):
            continue
        found.append(event_finding(entry.timestamp, entry.message))
    return found


def report(
    session: BmcSession, system: Doc, target: Target, since: datetime | None
) -> tuple[HealthReport, tuple[str, ...]]:
    """The node's health report and the sources its BMC lacked."""
    sensors = hw_sensors.scan(session, system)
    sources = Sources()
    for name in sensors.missing:
        sources.lack(name)
    findings = [finding for r in sensors.readings if (finding := r.finding()) is not None]
    flagged = {r.name for r in sensors.readings if r.level.unhealthy}
    for finding in components(session, system, sources):
        name = finding.text.rpartition(":")[0]
        if not any(sensor == name or sensor.startswith(name + " ") for sensor in flagged):
            findings.append(finding)
    findings.extend(log_findings(session, system, target, since, sources))
    return HealthReport(tuple(findings)), tuple(sources.missing)
