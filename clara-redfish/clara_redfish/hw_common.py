"""What the ``hardware`` readers share: optional sources, numbers and health words of Redfish.

A BMC lacks many of the resources ``clara sensors``/``inventory``/``health`` read
(no ``Power``, a ``Processors`` link answering 501, no ``UpdateService``). Such a
source is *missing*: the node answers from what it has and names what it lacked.
Only what means the BMC cannot be read at all fails the node: refused credentials
and transport failures (no answer, connection reset), which the fan-out may retry.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from clara_core import AuthenticationError, NodeError, TransientNodeError
from clara_core.protocols import Level
from clara_redfish import resources
from clara_redfish.session import BmcSession

T = TypeVar("T")
Doc = dict[str, Any]

log = logging.getLogger("clara_redfish")

_HEALTH = {"ok": Level.OK, "warning": Level.WARNING, "critical": Level.CRITICAL}


def fails_node(exc: NodeError) -> bool:
    """Whether ``exc`` means the BMC cannot be read at all (the node fails) rather than one
    source being absent: refused credentials, or a transport failure (a retryable error that
    is not the BMC's HTTP answer to a GET)."""
    if isinstance(exc, AuthenticationError):
        return True
    return isinstance(exc, TransientNodeError) and not str(exc).startswith("GET ")


class Sources:
    """The sources of one node's answer that the BMC lacked, in the order they were looked for."""

    def __init__(self) -> None:
        self.missing: list[str] = []

    def lack(self, name: str, why: str = "") -> None:
        """Note ``name`` as missing (once)."""
        if name not in self.missing:
            self.missing.append(name)
        if why:
            log.debug("source %s missing: %s", name, why)

    def read(self, name: str, read: Callable[[], T]) -> T | None:
        """``read()``, or None with ``name`` noted missing when the BMC lacks it; errors that
        fail the node (see :func:`fails_node`) go through."""
        try:
            return read()
        except NodeError as exc:
            if fails_node(exc):
                raise
            self.lack(name, str(exc))
            return None


def get_doc(session: BmcSession, path: str) -> Doc:
    """GET ``path`` once per command for every node behind the BMC (chassis, thermal and
    firmware documents are often shared); an HTTP failure is remembered too, so that the
    other nodes do not ask again."""
    key = f"hw-missing:{path}"
    with session.cache_lock:
        known = session.cache.get(key)
    if isinstance(known, NodeError):
        raise NodeError(str(known))
    try:
        return resources.cached_get(session, path)
    except NodeError as exc:
        if not fails_node(exc):
            with session.cache_lock:
                session.cache[key] = exc
        raise


def link(doc: Doc, name: str) -> str | None:
    """The ``@odata.id`` of ``doc[name]`` (a link object), or None."""
    return resources.odata_id(doc.get(name))


def links(doc: Any, name: str) -> list[str]:
    """The ``@odata.id`` of each link object of the list ``doc[name]``."""
    found = doc.get(name) if isinstance(doc, dict) else None
    if not isinstance(found, list):
        return []
    return [path for item in found if (path := resources.odata_id(item))]


def expand_query(session: BmcSession) -> str:
    """The query that asks the BMC for a collection with its members inlined (``$expand``, one
    level), when its service root advertises ``ProtocolFeaturesSupported.ExpandQuery``; or ""."""
    features = session.root().get("ProtocolFeaturesSupported")
    expand = features.get("ExpandQuery") if isinstance(features, dict) else None
    if not isinstance(expand, dict):
        return ""
    levels = "($levels=1)" if expand.get("Levels") is True else ""
    if expand.get("NoLinks") is True:
        return f"?$expand=.{levels}"
    if expand.get("ExpandAll") is True:
        return f"?$expand=*{levels}"
    return ""


def member_docs(session: BmcSession, path: str) -> list[Doc]:
    """Every member of the collection at ``path`` as a document, in one request where the BMC
    expands collections (:func:`expand_query`), else one per member; a member the BMC fails
    to serve is left out (logged), the collection itself must answer."""
    query = expand_query(session)
    listed: list[Doc] | None = None
    if query:
        try:
            listed = list(resources.members(session, path + query))
        except NodeError as exc:  # advertised, yet refused here: ask again without it
            if fails_node(exc):
                raise
            log.debug("%s%s refused: %s", path, query, exc)
    found: list[Doc] = []
    for member in listed if listed is not None else resources.members(session, path):
        try:
            found.append(resources.expand(session, member))
        except NodeError as exc:
            if fails_node(exc):
                raise
            log.debug("member %s left out: %s", resources.odata_id(member), exc)
    return found


def number(value: Any) -> float | None:
    """A reading as a float: JSON numbers, and strings that hold one; None otherwise
    (null, ``"N/A"``, booleans, NaN)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return None if math.isnan(result) or math.isinf(result) else result


def why_no_number(value: Any) -> str:
    """Why :func:`number` gave None for ``value``: ``no reading`` or ``not a number: N/A``."""
    if value is None:
        return "no reading"
    text = str(value).strip()
    return f"not a number: {text[:40]}" if text else "no reading"


def health(doc: Any) -> Level | None:
    """The level of a resource's ``Status.Health`` (None when it gives none)."""
    status = doc.get("Status") if isinstance(doc, dict) else None
    word = status.get("Health") if isinstance(status, dict) else None
    return _HEALTH.get(word.lower()) if isinstance(word, str) else None


def state(doc: Any) -> str:
    """``Status.State`` of a resource, lowercase (``enabled``, ``absent``...), or ""."""
    status = doc.get("Status") if isinstance(doc, dict) else None
    word = status.get("State") if isinstance(status, dict) else None
    return word.lower() if isinstance(word, str) else ""


def text(doc: Doc, *names: str) -> str:
    """The first of ``names`` that holds a non-empty string in ``doc``, stripped; or ""."""
    for name in names:
        value = doc.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def chassis_of(session: BmcSession, system: Doc, sources: Sources) -> list[Doc]:
    """The chassis documents of ``system``: its ``Links.Chassis``, else the service's only
    chassis; ``Chassis`` noted missing when there is none."""
    paths = links(system.get("Links") or {}, "Chassis")
    if not paths:
        root = link(session.root(), "Chassis")
        if root:
            found = sources.read("Chassis", lambda: [resources.odata_id(m) for m in resources.members(session, root)])
            if found and len(found) == 1 and found[0]:
                paths = [found[0]]
    docs = [doc for path in paths if (doc := sources.read("Chassis", partial(get_doc, session, path)))]
    if not docs:
        sources.lack("Chassis", "no chassis linked to the system")
    return docs
