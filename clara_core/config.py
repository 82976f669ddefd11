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

Values are read by typed getters, the same for the core and every plugin (on
:class:`Config` and per node on :class:`NodeSettings`): ``get_bool`` (the words
of :data:`BOOLEAN_WORDS`), ``get_int``, ``get_float`` (finite), ``get_duration``
(``30``, ``1.5``, ``30s``, ``500ms``, ``2m``), ``get_list``. Every error is one
line, ``<file>: [section] key: problem``.
"""

from __future__ import annotations

import ast
import configparser
import errno
import io
import math
import os
import re
import stat
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, TypeVar

from ClusterShell.NodeSet import NodeSet

from clara_core.errors import ConfigError, NodeSetError, UsageError
from clara_core.nodes import DEFAULT_MAX_NODES, MAX_NODES_CEILING, parse_nodeset

SYSTEM_FILES = (
    Path("/usr/share/clara/config.ini"),
    Path("/etc/clara/config.ini"),
    Path("/etc/clara/clara.toml"),
)

#: The words every boolean key accepts (case-insensitive, surrounding blanks ignored): those the
#: original Clara's ``strtobool`` took, ``y``/``n``/``t``/``f`` included.
BOOLEAN_WORDS: Final[Mapping[str, bool]] = MappingProxyType(
    {
        **dict.fromkeys(("1", "yes", "y", "true", "t", "on"), True),
        **dict.fromkeys(("0", "no", "n", "false", "f", "off"), False),
    }
)
_MISSING: Any = object()

Value = str | int | float | bool | list[Any]
T = TypeVar("T")

_DURATION = re.compile(r"(?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?)\s*(?P<unit>ms|s|m|h)?")
_DURATION_UNITS: Final[Mapping[str, float]] = MappingProxyType({"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0})


def parse_bool(value: object, where: str) -> bool:
    """A config value as a boolean, by :data:`BOOLEAN_WORDS` (a TOML boolean as is).

    :param value: the value as read (a string, or a TOML value).
    :param where: the start of the error message, ``<file>: [section] key``.
    :raises ConfigError: ``<where>: expected true or false, got ...`` for anything else.
    """
    if isinstance(value, bool):
        return value
    found = BOOLEAN_WORDS.get(str(value).strip().lower()) if isinstance(value, str | int) else None
    if found is None:
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    return found


def parse_duration(value: object, where: str, minimum: float | None = None, maximum: float | None = None) -> float:
    """A config value as a number of seconds: ``30``, ``1.5``, ``30s``, ``500ms``, ``2m``, ``1h``.

    :param value: the value as read (a string, or a TOML number: seconds).
    :param where: the start of the error message, ``<file>: [section] key``.
    :param minimum: the least value allowed (seconds); without it the duration must be more than 0.
    :param maximum: the largest value allowed (seconds), if any.
    :raises ConfigError: for anything else, NaN and infinities included.
    """
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        match = _DURATION.fullmatch(value.strip().lower())
        if match is not None:
            seconds = float(match["number"]) * _DURATION_UNITS[match["unit"] or "s"]
    if seconds is None:
        raise ConfigError(f"{where}: expected a duration such as 30, 1.5, 30s, 500ms or 2m, got {value!r}")
    if not math.isfinite(seconds):
        raise ConfigError(f"{where}: must be a finite duration, got {value!r}")
    if minimum is None:
        if not seconds > 0:
            raise ConfigError(f"{where}: must be more than 0 seconds, got {value!r}")
    elif seconds < minimum:
        raise ConfigError(f"{where}: must be at least {minimum:g} seconds, got {value!r}")
    if maximum is not None and seconds > maximum:
        raise ConfigError(f"{where}: must be at most {maximum:g} seconds, got {value!r}")
    return seconds


def _to_str(value: Value, _where: str) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _to_int(value: Value, where: str, minimum: int | None = None, maximum: int | None = None) -> int:
    try:
        if isinstance(value, bool | list | float):
            raise ValueError
        number = int(str(value).strip())
    except ValueError:
        raise ConfigError(f"{where}: expected a whole number, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ConfigError(f"{where}: must be at least {minimum}, got {number}")
    if maximum is not None and number > maximum:
        raise ConfigError(f"{where}: must be at most {maximum}, got {number}")
    return number


def _to_float(value: Value, where: str, minimum: float | None = 0.0, maximum: float | None = None) -> float:
    try:
        if isinstance(value, bool | list):
            raise ValueError
        number = float(str(value).strip())
    except ValueError:
        raise ConfigError(f"{where}: expected a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ConfigError(f"{where}: must be a finite number, got {value!r}")
    if minimum is not None and number < minimum:
        raise ConfigError(f"{where}: must be a finite number of at least {minimum}, got {value!r}")
    if maximum is not None and number > maximum:
        raise ConfigError(f"{where}: must be a finite number of at most {maximum}, got {value!r}")
    return number


@dataclass(frozen=True)
class WholeNumberRule:
    """The bounds of a whole-number setting, the same in config and on the command line."""

    minimum: int | None = None
    maximum: int | None = None

    def parse(self, value: Value, where: str) -> int:
        """``value`` as a whole number within bounds; :class:`ConfigError` ``<where>: problem`` otherwise."""
        return _to_int(value, where, self.minimum, self.maximum)

    def get(self, config: Config, section: str, key: str, default: int) -> int:
        """``key`` of ``[section]`` within bounds, or ``default``."""
        return config.get_int(section, key, default=default, minimum=self.minimum, maximum=self.maximum)


@dataclass(frozen=True)
class DurationRule:
    """The bounds of a duration setting in seconds (see :func:`parse_duration`), the same in
    config and on the command line: finite, more than 0 (at least ``minimum`` when given)
    and at most ``maximum``."""

    minimum: float | None = None
    maximum: float | None = None

    def parse(self, value: Value, where: str) -> float:
        """``value`` as seconds within bounds; :class:`ConfigError` ``<where>: problem`` otherwise."""
        return parse_duration(value, where, self.minimum, self.maximum)

    def get(self, config: Config, section: str, key: str, default: float) -> float:
        """``key`` of ``[section]`` within bounds, or ``default``."""
        return config.get_duration(section, key, default=default, minimum=self.minimum, maximum=self.maximum)


def _to_list(value: Value, sep: str) -> list[str]:
    items: Iterable[Any] = value if isinstance(value, list) else str(value).split(sep)
    return [str(item).strip() for item in items if str(item).strip()]


@dataclass
class ConfigFile:
    """One parsed file: its path and its sections of keys."""

    path: Path
    sections: dict[str, dict[str, Value]] = field(default_factory=dict)
    #: ``[DEFAULT]`` of an INI file: seen in every section of the merged config.
    defaults: dict[str, Value] = field(default_factory=dict)
    #: Whether values are expanded as ConfigParser's ``BasicInterpolation`` (INI files).
    interpolate: bool = False


#: The INI section whose keys every other section sees, as in ConfigParser.
DEFAULT_SECTION: Final = "DEFAULT"
#: ConfigParser's ``MAX_INTERPOLATION_DEPTH``.
MAX_INTERPOLATION_DEPTH: Final = 10
_REFERENCE = re.compile(r"%\(([^)]+)\)s")


def _unclosed_header(line: object) -> bool:
    """Whether a line ConfigParser could not read is a ``[section`` header without its ``]``."""
    text = str(line).strip()
    return text.startswith("[") and "]" not in text


def _file_problem(path: Path, required: bool) -> str | None:
    """None when ``path`` is a regular file; ``""`` when it is optional and missing (or unreadable,
    as before); else why it cannot be a config file, in one line. Looks without opening (a FIFO
    would block)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        if path.is_symlink():
            return f"{path}: no such config file (a symlink to {os.readlink(path)}, which does not exist)"
        return f"{path}: no such config file" if required else ""
    except NotADirectoryError:
        return f"{path}: no such config file (a part of the path is not a directory)" if required else ""
    except PermissionError:
        return f"{path}: cannot read: permission denied" if required else ""
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return f"{path}: a symlink loop (too many levels of symbolic links), not a config file"
        return f"{path}: cannot read: {exc.strerror}"
    if stat.S_ISREG(mode):
        return None
    return f"{path}: is {_file_kind(mode)}, not a config file"


def _file_kind(mode: int) -> str:
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    )
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def _open_regular(path: Path) -> io.BufferedReader:
    """Open ``path`` for reading, refusing anything but a regular file; never blocks on a FIFO
    put there since it was looked at (``O_NONBLOCK``, then the type checked on the open file)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise ConfigError(f"{path}: is {_file_kind(mode)}, not a config file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _read_ini(path: Path) -> ConfigFile:
    # [DEFAULT] is read as a plain section and kept apart: Config merges it over every file.
    parser = configparser.ConfigParser(interpolation=None, strict=True, default_section="\x00none")
    try:
        with _open_regular(path) as raw, io.TextIOWrapper(raw, encoding="utf-8") as handle:
            parser.read_file(handle)
    except configparser.DuplicateSectionError as exc:
        raise ConfigError(f"{path}: line {exc.lineno}: section [{exc.section}] appears twice") from None
    except configparser.DuplicateOptionError as exc:
        raise ConfigError(f"{path}: line {exc.lineno}: [{exc.section}] {exc.option}: key appears twice") from None
    except configparser.MissingSectionHeaderError as exc:
        if _unclosed_header(exc.line):
            raise ConfigError(f"{path}: line {exc.lineno}: section header {exc.line.strip()!r} lacks its ']'") from None
        raise ConfigError(f"{path}: line {exc.lineno}: a key before any [section]") from None
    except configparser.ParsingError as exc:
        lineno, shown = exc.errors[0] if exc.errors else ("?", "''")
        line = ast.literal_eval(shown) if isinstance(shown, str) and shown[:1] in "'\"" else shown  # repr(line)
        if _unclosed_header(line):
            raise ConfigError(f"{path}: line {lineno}: section header {line.strip()!r} lacks its ']'") from None
        raise ConfigError(f"{path}: line {lineno}: not a 'key = value' line") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    sections: dict[str, dict[str, Value]] = {name: dict(parser.items(name, raw=True)) for name in parser.sections()}
    defaults = sections.pop(DEFAULT_SECTION, {})
    return ConfigFile(path, sections, defaults, interpolate=True)


def _read_toml(path: Path) -> ConfigFile:
    import tomllib  # only sites with a TOML file pay for the parser

    try:
        with _open_regular(path) as handle:
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
            problem = _file_problem(path, required)
            if problem is None:
                files.append(read_file(path))
            elif problem:
                raise ConfigError(problem)
        return cls(files)

    @classmethod
    def from_dict(cls, sections: Mapping[str, Mapping[str, Value]], path: str = "<memory>") -> Config:
        """A config made in code (tests, defaults)."""
        return cls([ConfigFile(Path(path), {s: dict(k) for s, k in sections.items()})])

    # -- lookup -----------------------------------------------------------

    def _where_files(self) -> str:
        return ", ".join(str(f.path) for f in self.files) or "no config file was found"

    def _find_raw(self, section: str, key: str) -> tuple[Value, ConfigFile] | None:
        """``key`` of ``[section]`` as written, and its file: the section's own keys (the last
        file wins), else ``[DEFAULT]``'s, as ConfigParser sees several files read in turn."""
        key = key.lower()
        if not self.has_section(section):
            return None
        for cfile in reversed(self.files):
            keys = cfile.sections.get(section)
            if keys is not None and key in keys:
                return keys[key], cfile
        for cfile in reversed(self.files):
            if key in cfile.defaults:
                return cfile.defaults[key], cfile
        return None

    def _find(self, section: str, key: str) -> tuple[Value, Path] | None:
        found = self._find_raw(section, key)
        if found is None:
            return None
        value, cfile = found
        if cfile.interpolate and isinstance(value, str):
            value = self._interpolate(section, key, value, cfile.path)
        return value, cfile.path

    def _interpolate(self, section: str, key: str, value: str, path: Path) -> str:
        """``value`` with ``%(name)s`` and ``%%`` expanded as ConfigParser's ``BasicInterpolation``
        (names from ``[section]`` and ``[DEFAULT]``); a bad reference is a one-line error."""
        where = f"{path}: [{section}] {key}"

        def expand(text: str, depth: int) -> str:
            if depth > MAX_INTERPOLATION_DEPTH:
                raise ConfigError(
                    f"{where}: %(name)s references nest more than {MAX_INTERPOLATION_DEPTH} deep (a loop?): {value!r}"
                )
            out: list[str] = []
            rest = text
            while rest:
                at = rest.find("%")
                if at < 0:
                    out.append(rest)
                    break
                out.append(rest[:at])
                rest = rest[at:]
                if rest[1:2] == "%":
                    out.append("%")
                    rest = rest[2:]
                    continue
                match = _REFERENCE.match(rest)
                if rest[1:2] != "(" or match is None:
                    raise ConfigError(
                        f"{where}: a lone '%' (write '%%' for a literal %, '%(name)s' for "
                        f"another key's value): {value!r}"
                    )
                name = match.group(1).lower()
                rest = rest[match.end() :]
                found = self._find_raw(section, name)
                if found is None:
                    raise ConfigError(
                        f"{where}: %({name})s: no key {name!r} in [{section}] or "
                        f"[{DEFAULT_SECTION}] (write '%%' for a literal %): {value!r}"
                    )
                ref, ref_file = found
                if isinstance(ref, str) and ref_file.interpolate and "%" in ref:
                    out.append(expand(ref, depth + 1))
                else:
                    out.append(_to_str(ref, where))
            return "".join(out)

        return expand(value, 1)

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
        """Every key of ``[section]`` with the later files' values, ``[DEFAULT]``'s included
        (INI values interpolated; an absent section has no keys, as in ConfigParser)."""
        if not self.has_section(section):
            return {}
        names: dict[str, None] = {}
        for cfile in self.files:
            names.update(dict.fromkeys(cfile.defaults))
        for cfile in self.files:
            names.update(dict.fromkeys(cfile.sections.get(section, {})))
        merged: dict[str, Value] = {}
        for name in names:
            found = self._find(section, name)
            if found is not None:
                merged[name] = found[0]
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

    def max_nodes(self) -> int:
        """``[common] max_nodes``: the largest node set a command accepts (see :mod:`clara_core.nodes`)."""
        return self.get_int("common", "max_nodes", default=DEFAULT_MAX_NODES, minimum=1, maximum=MAX_NODES_CEILING)

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

    def where(self, section: str, key: str, dist: str | None = None) -> str:
        """``<file>: [section] key`` where ``key`` is set (the section it came from, for a
        distribution's key), or ``[section] key`` when it is not: how a message names a key."""
        found = self.lookup(section, key, dist)
        if found is None:
            return f"[{section}-{dist}] or [{section}] {key}" if dist else f"[{section}] {key}"
        return f"{found[1]}: [{found[2]}] {key}"

    def _missing(self, section: str, key: str, dist: str | None) -> ConfigError:
        where = f"[{section}-{dist}] or [{section}]" if dist else f"[{section}]"
        return ConfigError(f"{self._where_files()}: {where} {key}: missing")

    def _typed(self, section: str, key: str, dist: str | None, default: Any, convert: Callable[[Value, str], T]) -> T:
        """Look ``key`` up and convert it, or return ``default`` (missing: an error).

        ``convert`` gets the value and ``<file>: [section] key`` for its errors.
        """
        found = self.lookup(section, key, dist)
        if found is None:
            if default is _MISSING:
                raise self._missing(section, key, dist)
            return default  # type: ignore[no-any-return]
        value, path, sect = found
        return convert(value, f"{path}: [{sect}] {key}")

    def get(self, section: str, key: str, dist: str | None = None, default: Any = _MISSING) -> str:
        """A value as a string (lists are joined with commas)."""
        return self._typed(section, key, dist, default, _to_str)

    def get_int(
        self,
        section: str,
        key: str,
        dist: str | None = None,
        default: Any = _MISSING,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> int:
        """A whole number, at least ``minimum`` and at most ``maximum`` when given."""
        return self._typed(section, key, dist, default, lambda v, w: _to_int(v, w, minimum, maximum))

    def get_float(
        self,
        section: str,
        key: str,
        dist: str | None = None,
        default: Any = _MISSING,
        minimum: float | None = 0.0,
        maximum: float | None = None,
    ) -> float:
        """A finite number, at least ``minimum`` (0 unless told; ``None``: no floor) and at most ``maximum``.

        NaN and infinities are refused.
        """
        return self._typed(section, key, dist, default, lambda v, w: _to_float(v, w, minimum, maximum))

    def get_duration(
        self,
        section: str,
        key: str,
        dist: str | None = None,
        default: Any = _MISSING,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> float:
        """A duration in seconds: ``30``, ``1.5``, ``30s``, ``500ms``, ``2m`` or ``1h`` (see :func:`parse_duration`).

        It must be finite and more than 0, or at least ``minimum`` when given
        (``minimum=0`` allows 0); at most ``maximum`` when given.
        """
        return self._typed(section, key, dist, default, lambda v, w: parse_duration(v, w, minimum, maximum))

    def get_bool(self, section: str, key: str, dist: str | None = None, default: Any = _MISSING) -> bool:
        """``true/false``, ``yes/no``, ``on/off``, ``1/0`` or ``y/n``, ``t/f`` (:data:`BOOLEAN_WORDS`)."""
        return self._typed(section, key, dist, default, parse_bool)

    def get_list(
        self, section: str, key: str, dist: str | None = None, default: Any = _MISSING, sep: str = ","
    ) -> list[str]:
        """A comma-separated list (or a TOML array), blanks dropped."""
        found = self._typed(
            section, key, dist, None if default is not _MISSING else _MISSING, lambda v, _w: _to_list(v, sep)
        )
        return list(default) if found is None else found

    def node_settings(self, section: str) -> NodeSettings:
        """Per-node values of ``[section]`` with its ``[section:<nodeset>]`` overrides."""
        return NodeSettings(self, section)


#: Override sections of at most this many nodes are indexed by node (see NodeSettings._matching).
_INDEXED_NODES = 4096


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
                nodes = parse_nodeset(pattern, config.max_nodes(), allow_empty=True)
            except NodeSetError as exc:
                raise ConfigError(f"{self._file_of(name)}: [{name}]: {exc}") from None
            self.overrides.append((nodes, name, config.items(name)))
        self._index: dict[str, list[int]] | None = None
        self._wide: list[int] = []

    def _matching(self, node: str) -> list[tuple[NodeSet, str, dict[str, Value]]]:
        """The override sections that match ``node``, in file order.

        Sections of a few nodes (a site with one ``[redfish:nodeNNN]`` per node) are
        indexed by node once, so a node visits only its own sections, not every one.
        """
        if self._index is None:
            self._index = {}
            for position, (nodes, _name, _keys) in enumerate(self.overrides):
                if len(nodes) <= _INDEXED_NODES:
                    for member in nodes:
                        self._index.setdefault(member, []).append(position)
                else:
                    self._wide.append(position)
        positions = self._index.get(node, [])
        wide = [p for p in self._wide if node in self.overrides[p][0]]
        if wide:
            positions = sorted(positions + wide)
        return [self.overrides[p] for p in positions]

    def _file_of(self, name: str, key: str | None = None) -> str:
        """The last file with section ``name`` (holding ``key`` when given, maybe in ``[DEFAULT]``)."""
        found = self.config._find_raw(name, key) if key is not None else None
        if found is not None:
            return str(found[1].path)
        for cfile in reversed(self.config.files):
            keys = cfile.sections.get(name)
            if keys is not None and (key is None or key in keys):
                return str(cfile.path)
        return "<config>"

    def values(self, node: str) -> dict[str, Value]:
        """Every key for ``node``: the base section, then matching overrides."""
        merged = dict(self.base)
        for _nodes, _name, keys in self._matching(node):
            merged.update(keys)
        return merged

    def source(self, node: str, key: str) -> str:
        """The section a node's value of ``key`` comes from (for error messages)."""
        found = self.section
        for _nodes, name, keys in self._matching(node):
            if key in keys:
                found = name
        return found

    def where(self, node: str, key: str) -> str:
        """``<file>: [section] key`` of a node's value of ``key``: how config errors start."""
        sect = self.source(node, key)
        return f"{self._file_of(sect, key)}: [{sect}] {key}"

    def lookup(self, node: str, key: str) -> tuple[Value, str] | None:
        """A node's raw value of ``key`` and :meth:`where` it comes from, or None."""
        found: tuple[Value, str] | None = (self.base[key], self.section) if key in self.base else None
        for _nodes, name, keys in self._matching(node):
            if key in keys:
                found = keys[key], name
        if found is None:
            return None
        value, sect = found
        return value, f"{self._file_of(sect, key)}: [{sect}] {key}"

    def _typed(self, node: str, key: str, default: Any, convert: Callable[[Value, str], T]) -> T:
        found = self.lookup(node, key)
        if found is None:
            if default is _MISSING:
                raise ConfigError(f"{self.config._where_files()}: [{self.section}] {key}: missing (node {node})")
            return default  # type: ignore[no-any-return]
        return convert(*found)

    def get(self, node: str, key: str, default: Any = _MISSING) -> str:
        """``key`` for ``node`` as a string (lists are joined with commas)."""

        def convert(value: Value, _where: str) -> str:
            return ",".join(map(str, value)) if isinstance(value, list) else str(value)

        return self._typed(node, key, default, convert)

    def get_int(
        self, node: str, key: str, default: Any = _MISSING, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        """``key`` for ``node`` as a whole number, at least ``minimum`` and at most ``maximum`` when given."""
        return self._typed(node, key, default, lambda v, w: _to_int(v, w, minimum, maximum))

    def get_float(
        self, node: str, key: str, default: Any = _MISSING, minimum: float | None = 0.0, maximum: float | None = None
    ) -> float:
        """``key`` for ``node`` as a finite number (as :meth:`Config.get_float`)."""
        return self._typed(node, key, default, lambda v, w: _to_float(v, w, minimum, maximum))

    def get_duration(
        self, node: str, key: str, default: Any = _MISSING, minimum: float | None = None, maximum: float | None = None
    ) -> float:
        """``key`` for ``node`` as seconds (as :meth:`Config.get_duration`)."""
        return self._typed(node, key, default, lambda v, w: parse_duration(v, w, minimum, maximum))

    def get_bool(self, node: str, key: str, default: Any = _MISSING) -> bool:
        """``key`` for ``node`` as a boolean (:data:`BOOLEAN_WORDS`)."""
        return self._typed(node, key, default, parse_bool)

    def get_list(self, node: str, key: str, default: Any = _MISSING, sep: str = ",") -> list[str]:
        """``key`` for ``node`` as a list (comma-separated, or a TOML array), blanks dropped."""
        found = self._typed(node, key, None if default is not _MISSING else _MISSING, lambda v, _w: _to_list(v, sep))
        return list(default) if found is None else found
