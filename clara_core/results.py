"""The per-node result that every backend yields."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class NodeResult:
    """What happened on one node.

    :param node: the node name, as the user wrote it in the node set.
    :param ok: whether the operation succeeded on that node.
    :param value: the short human answer (``on``, ``pxe``, a MAC, a log);
        identical values are folded together in the output.
    :param error: why it failed, when ``ok`` is false.
    :param data: structured details for ``-o json`` (SEL entries, MACs...).
    :param detail: how the node was reached (``address``, ``port``, ``attempts``...),
        for ``-o json`` only: the text output folds on ``value``/``error`` alone.
    :param original: the line the original Clara printed for this node, for ``-o original``
        (a plugin that knows it sets it; else ``<node> OK: <value>`` is printed).
    """

    node: str
    ok: bool
    value: str = ""
    error: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)
    original: str = ""

    @classmethod
    def success(cls, node: str, value: str = "", **data: Any) -> NodeResult:
        """A successful result, with optional structured ``data``."""
        return cls(node=node, ok=True, value=value, data=data)

    @classmethod
    def failure(cls, node: str, error: str, *, detail: dict[str, Any] | None = None, **data: Any) -> NodeResult:
        """A failed result with its reason (no node name or address in it: see ``detail``)."""
        return cls(node=node, ok=False, error=error, data=data, detail=dict(detail or {}))

    def with_original(self, line: str) -> NodeResult:
        """This result with the original Clara's line for it (see ``original``)."""
        return replace(self, original=line)

    def with_detail(self, **detail: Any) -> NodeResult:
        """This result with ``detail`` added (keys already set are kept)."""
        return replace(self, detail={**detail, **self.detail})

    @property
    def text(self) -> str:
        """The line printed for this node: its value, or ``error: <reason>``."""
        return self.value if self.ok else f"error: {self.error}"

    def as_record(self) -> dict[str, Any]:
        """The JSON record of this node for ``-o json``."""
        record: dict[str, Any] = {"node": self.node, "ok": self.ok}
        if self.ok:
            record["result"] = self.value
        else:
            record["error"] = self.error
        if self.data:
            record["data"] = self.data
        if self.detail:
            record["detail"] = self.detail
        return record
