"""Software names as the original took them: ``<name>/<version>``, ``<name>-<version>``,
with an optional ``.eb`` suffix; a version starting with a dot is a hidden module."""

from __future__ import annotations

import re
from dataclasses import dataclass

from clara_core.errors import UsageError

_SAFE = re.compile(r"^[A-Za-z0-9_.+-]+$")


@dataclass(frozen=True)
class Software:
    """One piece of software: its module name and version (``version`` empty when not given)."""

    name: str
    version: str = ""

    @classmethod
    def parse(cls, text: str) -> Software:
        """Read ``name/version``, ``name-version`` or ``name``; ``.eb`` is dropped."""
        text = text.strip().removesuffix(".eb")
        if "/" in text:
            name, version = text.split("/", 1)
        elif "-" in text:
            name, version = text.split("-", 1)
        else:
            name, version = text, ""
        for part in (name, *version.split("/")):
            if part and (not _SAFE.match(part) or part in (".", "..")):
                raise UsageError(f"bad software name {text!r}: use <name>/<version> or <name>-<version>")
        if not name:
            raise UsageError(f"bad software name {text!r}: use <name>/<version> or <name>-<version>")
        return cls(name, version)

    def require_version(self) -> Software:
        """This software, or a usage error when it has no version."""
        if not self.version:
            raise UsageError(f"bad software name {self.name!r}: use <name>/<version> or <name>-<version>")
        return self

    @property
    def module(self) -> str:
        """The module name: ``name/version``, or ``name`` alone."""
        return f"{self.name}/{self.version}" if self.version else self.name

    @property
    def visible_version(self) -> str:
        """The version without the dot of a hidden module."""
        return self.version.lstrip(".")

    @property
    def easyconfig(self) -> str:
        """The easyconfig file name, ``name-version.eb``."""
        return f"{self.name}-{self.visible_version}.eb"

    @property
    def label(self) -> str:
        """The base name of its backup tarball, ``name-version`` (hidden or not)."""
        return f"{self.name}-{self.visible_version.replace('/', '-')}"

    def matches(self, module: str) -> bool:
        """Whether an available module (``name/version``) is this software."""
        name, _, version = module.partition("/")
        if name != self.name:
            return False
        return not self.version or version.lstrip(".") == self.visible_version
