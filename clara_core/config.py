"""Clara's configuration: the seed's INI files, or the same keys in TOML.

Files are read in this order, a later file overriding an earlier one key by key:

1. ``/usr/share/clara/config.ini`` (package defaults),
2. ``/etc/clara/config.ini``, then ``/etc/clara/clara.toml``,
3. or, instead of 1 and 2, the files named in ``$CLARA_CONFIG`` (separated by ``:``),
4. the file given with ``--config``.

Missing files among 1-2 are skipped; a file named by ``$CLARA_CONFIG`` or
``--config`` must exist.

Three kinds of section name:

* ``[repo]``: the plain section;
* ``[repo-calibre9]``: overrides ``[repo]`` when the command works on the
  distribution ``calibre9``, which must be in ``[common] allowed_distributions``;
* ``[ipmi:gpu[1-64]]``: overrides ``[ipmi]`` for the nodes of that node set
  (see :meth:`Config.node_settings`); ``[backends:gpu[1-64]]`` picks the
  backends of those nodes.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ClusterShell.NodeSet import NodeSet, NodeSetException

from clara_core.errors import ConfigError, UsageError

SYSTEM_FILES = (
    Path("/usr/share/clara/config.ini"),
    Path("/etc/clara/config.ini"),
    Path("/etc/clara/clara.toml"),
)

_TRUE = {"1", "yes", "true", "on"}
_FALSE = {"0", "no", "false", "off"}
_MISSING: Any = object()

Value = str | int | float | bool | list[Any]
T = TypeVar("T")


@dataclass
class ConfigFile:
    """One parsed file: its path and its sections of keys."""

    path: Path
    sections: dict[str, dict[str, Value]] = field(default_factory=dict)


def _read_ini(path: Path) -> ConfigFile:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    try:
        with path.open(encoding="utf-8") as handle:
            parser.read_file(handle)
    except configparser.DuplicateSectionError as exc:
        raise ConfigError(f"{path}: line {exc.lineno}: section [{exc.section}] appears twice") from None
    except configparser.DuplicateOptionError as exc:
        raise ConfigError(f"{path}: line {exc.lineno}: [{exc.section}] {exc.option}: key appears twice") from None
    except configparser.MissingSectionHeaderError as exc:
        raise ConfigError(f"{path}: line {exc.lineno}: a key before any [section]") from None
    except configparser.ParsingError as exc:
        lineno = exc.errors[0][0] if exc.errors else "?"
        raise ConfigError(f"{path}: line {lineno}: not a 'key = value' line") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    return ConfigFile(path, {name: dict(parser.items(name, raw=True)) for name in parser.sections()})


def _read_toml(path: Path) -> ConfigFile:
    import tomllib  # only sites with a TOML file pay for the parser

    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    sections: dict[str, dict[str, Value]] = {}
    for name, table in data.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: {name}: top-level keys must be in a [section]")
        for key, value in table.items():
            if isinstance(value, dict):
                raise ConfigError(f"{path}: [{name}] {key}: nested tables are not supported; quote the section name")
        sections[name] = {str(k).lower(): v for k, v in table.items()}
    return ConfigFile(path, sections)


def read_file(path: Path) -> ConfigFile:
    """Parse one config file, INI or TOML by its suffix."""
    return _read_toml(path) if path.suffix == ".toml" else _read_ini(path)


def config_paths(extra: str | os.PathLike[str] | None = None) -> list[tuple[Path, bool]]:
    """The files to read, in order, each with whether it must exist."""
    env = os.environ.get("CLARA_CONFIG")
    paths: list[tuple[Path, bool]] = (
        [(Path(p), True) for p in env.split(os.pathsep) if p] if env else [(p, False) for p in SYSTEM_FILES]
    )
    if extra:
        paths.append((Path(extra), True))
    return paths


class Config:
    """The merged view of every config file, with typed getters.

    Every getter takes an optional ``dist``: the value of ``[section-dist]``
    wins over ``[section]``. Errors are :class:`ConfigError` lines naming the
    file, the section and the key.
    """

    def __init__(self, files: Sequence[ConfigFile] = ()) -> None:
        self.files = list(files)

    @classmethod
    def load(cls, extra: str | os.PathLike[str] | None = None) -> Config:
        """Read the standard files (see the module doc) plus ``extra``."""
        files = []
        for path, required in config_paths(extra):
            if path.is_file():
                files.append(read_file(path))
            elif required:
                raise ConfigError(f"{path}: no such config file")
        return cls(files)

    @classmethod
    def from_dict(cls, sections: Mapping[str, Mapping[str, Value]], path: str = "<memory>") -> Config:
        """A config made in code (tests, defaults)."""
        return cls([ConfigFile(Path(path), {s: dict(k) for s, k in sections.items()})])

    # -- lookup -----------------------------------------------------------

    def _where_files(self) -> str:
        return ", ".join(str(f.path) for f in self.files) or "no config file was found"

    def _find(self, section: str, key: str) -> tuple[Value, Path] | None:
        key = key.lower()
        for cfile in reversed(self.files):
            keys = cfile.sections.get(section)
            if keys is not None and key in keys:
                return keys[key], cfile.path
        return None

    def sections(self) -> list[str]:
        """Every section name, in the order first seen."""
        seen: dict[str, None] = {}
        for cfile in self.files:
            for name in cfile.sections:
                seen.setdefault(name, None)
        return list(seen)

    def has_section(self, section: str) -> bool:
        """Whether any file has ``[section]``."""
        return any(section in f.sections for f in self.files)

    def items(self, section: str) -> dict[str, Value]:
        """Every key of ``[section]`` with the later files' values."""
        merged: dict[str, Value] = {}
        for cfile in self.files:
            merged.update(cfile.sections.get(section, {}))
        return merged

    def allowed_distributions(self) -> list[str]:
        """``[common] allowed_distributions`` (the seed's older ``distribution`` too)."""
        dists = self.get_list("common", "allowed_distributions", default=[])
        if not dists:
            dists = self.get_list("common", "distribution", default=[])
        return dists

    def check_dist(self, dist: str) -> str:
        """Return ``dist`` if allowed, else raise the seed's message as a usage error."""
        if dist not in self.allowed_distributions():
            allowed = ", ".join(self.allowed_distributions()) or "none: set [common] allowed_distributions"
            raise UsageError(f"{dist} is not a known distribution (allowed: {allowed})")
        return dist

    def lookup(self, section: str, key: str, dist: str | None = None) -> tuple[Value, Path, str] | None:
        """The raw value of ``key``, the file and the section it came from."""
        if dist:
            self.check_dist(dist)
            found = self._find(f"{section}-{dist}", key)
            if found is not None:
                return found[0], found[1], f"{section}-{dist}"
        found = self._find(section, key)
        if found is not None:
            return found[0], found[1], section
        return None

    def _missing(self, section: str, key: str, dist: str | None) -> ConfigError:
        where = f"[{section}-{dist}] or [{section}]" if dist else f"[{section}]"
        return ConfigError(f"{self._where_files()}: {where} {key}: missing")

    def _typed(self, section: str, key: str, dist: str | None, default: Any,
               convert: Callable[[Value, Path, str], T]) -> T:
        """Look ``key`` up and convert it, or return ``default`` (missing: an error)."""
        found = self.lookup(section, key, dist)
        if found is None:
            if default is _MISSING:
                raise self._missing(section, key, dist)
            return default  # type: ignore[no-any-return]
        return convert(*found)

    def get(self, section: str, key: str, dist: str | None = None, default: Any = _MISSING) -> str:
        """A value as a string (lists are joined with commas)."""

        def convert(value: Value, _path: Path, _sect: str) -> str:
            if isinstance(value, list):
                return ",".join(str(v) for v in value)
            if isinstance(value, bool):
                return "true" if value else "false"
            return str(value)

        return self._typed(section, key, dist, default, convert)

    def get_int(
        self, section: str, key: str, dist: str | None = None, default: Any = _MISSING, minimum: int | None = None
    ) -> int:
        """A whole number, at least ``minimum`` when given."""

        def convert(value: Value, path: Path, sect: str) -> int:
            try:
                if isinstance(value, bool | list | float):
                    raise ValueError
                number = int(str(value).strip())
            except ValueError:
                raise ConfigError(f"{path}: [{sect}] {key}: expected a whole number, got {value!r}") from None
            if minimum is not None and number < minimum:
                raise ConfigError(f"{path}: [{sect}] {key}: must be at least {minimum}, got {number}")
            return number

        return self._typed(section, key, dist, default, convert)

    def get_float(
        self, section: str, key: str, dist: str | None = None, default: Any = _MISSING, minimum: float = 0.0
    ) -> float:
        """A number of seconds or similar, at least ``minimum``."""

        def convert(value: Value, path: Path, sect: str) -> float:
            try:
                if isinstance(value, bool | list):
                    raise ValueError
                number = float(str(value).strip())
            except ValueError:
                raise ConfigError(f"{path}: [{sect}] {key}: expected a number, got {value!r}") from None
            if not number >= minimum or number == float("inf"):
                raise ConfigError(
                    f"{path}: [{sect}] {key}: must be a finite number of at least {minimum}, got {value!r}"
                )
            return number

        return self._typed(section, key, dist, default, convert)

    def get_bool(self, section: str, key: str, dist: str | None = None, default: Any = _MISSING) -> bool:
        """``true/false``, ``yes/no``, ``on/off`` or ``1/0``."""

        def convert(value: Value, path: Path, sect: str) -> bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ConfigError(f"{path}: [{sect}] {key}: expected true or false, got {value!r}")

        return self._typed(section, key, dist, default, convert)

    def get_list(
        self, section: str, key: str, dist: str | None = None, default: Any = _MISSING, sep: str = ","
    ) -> list[str]:
        """A comma-separated list (or a TOML array), blanks dropped."""

        def convert(value: Value, _path: Path, _sect: str) -> list[str]:
            items: Iterable[Any] = value if isinstance(value, list) else str(value).split(sep)
            return [str(item).strip() for item in items if str(item).strip()]

        found = self._typed(section, key, dist, None if default is not _MISSING else _MISSING, convert)
        return list(default) if found is None else found

    def node_settings(self, section: str) -> NodeSettings:
        """Per-node values of ``[section]`` with its ``[section:<nodeset>]`` overrides."""
        return NodeSettings(self, section)


class NodeSettings:
    """Values of one section as seen by each node.

    ``[ipmi]`` holds the site's values; ``[ipmi:gpu[1-64]]`` overrides some of
    them for those nodes. When several override sections match a node, the
    one that comes last (in file order) wins, key by key.
    """

    def __init__(self, config: Config, section: str) -> None:
        self.config = config
        self.section = section
        self.base = config.items(section)
        self.overrides: list[tuple[NodeSet, str, dict[str, Value]]] = []
        prefix = f"{section}:"
        for name in config.sections():
            if not name.startswith(prefix):
                continue
            pattern = name[len(prefix) :]
            try:
                nodes = NodeSet(pattern)
            except NodeSetException as exc:
                raise ConfigError(f"{self._file_of(name)}: [{name}]: invalid node set: {exc}") from None
            self.overrides.append((nodes, name, config.items(name)))

    def _file_of(self, name: str) -> str:
        for cfile in reversed(self.config.files):
            if name in cfile.sections:
                return str(cfile.path)
        return "<config>"

    def values(self, node: str) -> dict[str, Value]:
        """Every key for ``node``: the base section, then matching overrides."""
        merged = dict(self.base)
        for nodes, _name, keys in self.overrides:
            if node in nodes:
                merged.update(keys)
        return merged

    def source(self, node: str, key: str) -> str:
        """The section a node's value of ``key`` comes from (for error messages)."""
        found = self.section
        for nodes, name, keys in self.overrides:
            if node in nodes and key in keys:
                found = name
        return found

    def get(self, node: str, key: str, default: Any = _MISSING) -> str:
        """``key`` for ``node`` as a string."""
        values = self.values(node)
        if key not in values:
            if default is _MISSING:
                raise ConfigError(f"{self.config._where_files()}: [{self.section}] {key}: missing (node {node})")
            return default  # type: ignore[no-any-return]
        value = values[key]
        return ",".join(map(str, value)) if isinstance(value, list) else str(value)

    def get_int(self, node: str, key: str, default: Any = _MISSING) -> int:
        """``key`` for ``node`` as a whole number."""
        raw = self.get(node, key, default=None)
        if raw is None:
            if default is _MISSING:
                return int(self.get(node, key))
            return default  # type: ignore[no-any-return]
        try:
            return int(raw)
        except ValueError:
            sect = self.source(node, key)
            raise ConfigError(
                f"{self._file_of(sect)}: [{sect}] {key}: expected a whole number, got {raw!r}"
            ) from None
