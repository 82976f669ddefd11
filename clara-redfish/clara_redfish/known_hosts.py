"""The file of pinned BMC certificates (trust on first use, like ssh's ``known_hosts``).

One line per BMC: its ``host:port`` (``[v6addr]:port`` for IPv6), then the
SHA-256 of its certificate; blank lines and ``#`` comments are kept::

    # written by clara redfish trust
    bmc-node1:443 sha256:5f1c...e2
    10.0.0.12:443 sha256:9ab0...41

``clara redfish trust`` adds lines (and replaces one with ``--replace``);
commands then verify each BMC's certificate against its line. The file is
``[redfish] known_hosts`` (default :data:`DEFAULT_PATH`), rewritten whole
(temporary file then rename, mode 0644) under :func:`clara_core.exclusive`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from clara_core import ClaraError, ConfigError, exclusive
from clara_core.config import Config

DEFAULT_PATH = "/var/lib/clara/redfish_known_hosts"
KEY = "known_hosts"
HASH = "sha256"
#: How long ``trust`` waits for another ``trust`` writing the file.
LOCK_WAIT = 10.0
_HEX_DIGITS = frozenset("0123456789abcdef")
_CACHE: dict[tuple[str, int, int], dict[str, str]] = {}
HEADER = f"# BMC certificates pinned by 'clara redfish trust': <bmc-host>:<port> {HASH}:<hex>"
#: Given the pins read, returns the pins to write (bmc key -> hex digest).
Decide = Callable[[dict[str, str]], Mapping[str, str]]


def path_of(config: Config, section: str = "redfish") -> Path:
    """The known-hosts file of ``config``: ``[redfish] known_hosts``, else :data:`DEFAULT_PATH`."""
    value = config.get(section, KEY, default="").strip()
    return Path(value or DEFAULT_PATH)


def bmc_key(host: str, port: int) -> str:
    """How a BMC is written in the file: ``host:port``, ``[addr]:port`` for IPv6, lower case."""
    host = host.lower()
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def format_fingerprint(hex_digest: str) -> str:
    """``sha256:<64 hex digits>``: how a fingerprint is written and shown."""
    return f"{HASH}:{hex_digest}"


def _parse(line: str, where: str) -> tuple[str, str] | None:
    """``(bmc key, hex digest)`` of a line, None for a blank or comment line."""
    fields = line.split("#", 1)[0].split()
    if not fields:
        return None
    digest = fields[1].lower().removeprefix(f"{HASH}:") if len(fields) >= 2 else ""
    if len(fields) != 2 or len(digest) != 64 or not set(digest) <= _HEX_DIGITS:
        raise ConfigError(f"{where}: expected '<bmc-host>:<port> {HASH}:<64 hex digits>', got {line.strip()!r}")
    return fields[0].lower(), digest


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ClaraError(f"cannot read {path}: {reason}") from None


def _pins_of(path: Path, lines: list[str]) -> dict[str, str]:
    pins: dict[str, str] = {}
    for number, line in enumerate(lines, 1):
        found = _parse(line, f"{path}:{number}")
        if found is None:
            continue
        key, digest = found
        if pins.get(key, digest) != digest:
            raise ConfigError(f"{path}:{number}: {key} is listed twice with different certificates")
        pins[key] = digest
    return pins


def load(path: Path) -> dict[str, str]:
    """Every pin of the file: bmc key -> hex digest ({} when the file does not exist).
    Read once per command (the result is kept while the file is unchanged)."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ClaraError(f"cannot read {path}: {exc.strerror or exc}") from None
    cache_key = (str(path), stat.st_mtime_ns, stat.st_size)
    if cache_key not in _CACHE:
        _CACHE.clear()
        _CACHE[cache_key] = _pins_of(path, _read_lines(path))
    return dict(_CACHE[cache_key])


def update(path: Path, decide: Decide) -> dict[str, str]:
    """Read the file, let ``decide(current pins)`` return the pins to write (bmc key ->
    hex digest), and write them, all under the file's lock. Returns the pins read.

    A changed line is rewritten in place, a new one appended; other lines are kept.
    """
    try:
        path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    except OSError as exc:
        raise ClaraError(f"cannot create {path.parent}: {exc.strerror or exc}") from None
    with exclusive(path, "updated", wait=LOCK_WAIT):
        lines = _read_lines(path)
        current = _pins_of(path, lines)
        changes = decide(dict(current))
        if changes:
            _write(path, _merged(lines or [HEADER], changes))
    return current


def _merged(lines: list[str], changes: Mapping[str, str]) -> list[str]:
    pending = dict(changes)
    out: list[str] = []
    for line in lines:
        fields = line.split("#", 1)[0].split()
        key = fields[0].lower() if fields else None
        if key is not None and key in changes:
            if key not in pending:
                continue  # an older duplicate of a line already rewritten
            out.append(f"{key} {format_fingerprint(pending.pop(key))}")
        else:
            out.append(line)
    out.extend(f"{key} {format_fingerprint(digest)}" for key, digest in pending.items())
    return out


def _write(path: Path, lines: list[str]) -> None:
    """Replace ``path`` by ``lines`` at once: a temporary file beside it, then a rename."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise ClaraError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("".join(f"{line}\n" for line in lines))
            handle.flush()
            os.fchmod(handle.fileno(), 0o644)
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ClaraError(f"cannot write {path}: {exc.strerror or exc}") from None
