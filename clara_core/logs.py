"""Logging as the seed did it: the console, plus ``all.log`` and ``important.log``.

Files go to ``/var/log/clara`` for root, else to
``$XDG_STATE_HOME/clara`` (``~/.local/state/clara``); ``$CLARA_LOG_DIR``
points elsewhere. A log directory that cannot be written costs a warning,
never the command. Every record goes through :class:`SecretMasker`, which
replaces each value the secret store handed out with ``****``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from pathlib import Path

_secrets: set[str] = set()
_lock = threading.Lock()
MASK = "****"


#: Credentials recognised by their shape, whoever logs them (HTTP libraries at -dd).
_CREDENTIAL_PATTERNS = re.compile(
    r"(?P<key>X-Auth-Token|Authorization|Cookie|Set-Cookie)(?P<sep>['\"]?\s*[:=]\s*['\"]?)(?P<value>[^'\"\s,}]+)",
    re.IGNORECASE,
)


def register_secret(value: str) -> None:
    """Mask ``value`` in every log record from now on (also as it appears inside JSON)."""
    if value and len(value) >= 3:
        with _lock:
            _secrets.add(value)
            escaped = json.dumps(value)[1:-1]
            if escaped != value:
                _secrets.add(escaped)


def mask(text: str) -> str:
    """``text`` with every registered secret replaced by ``****``."""
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, MASK)
    return _CREDENTIAL_PATTERNS.sub(lambda m: f"{m['key']}{m['sep']}{MASK}", text)


class SecretMasker(logging.Filter):
    """A filter that masks registered secrets in the formatted message."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = mask(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = mask(record.exc_text)
        return True


class FilesOnly(logging.Filter):
    """Keeps off the console the records logged with ``extra=FILES_ONLY`` (already shown there)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, "clara_files_only", False)


#: ``log.error(..., extra=FILES_ONLY)``: to ``all.log``/``important.log``, not the console.
FILES_ONLY = {"clara_files_only": True}


def log_dir() -> Path:
    """Where ``all.log`` and ``important.log`` go."""
    env = os.environ.get("CLARA_LOG_DIR")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/log/clara")
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "clara"


def setup_logging(debug: int = 0, quiet: bool = False) -> None:
    """Console at WARNING (DEBUG with ``-d``, for third parties too with ``-dd``;
    only errors when ``quiet``), and the two files."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_clara", False):
            root.removeHandler(handler)
    masker = SecretMasker()
    console = logging.StreamHandler()
    console.setLevel(logging.ERROR if quiet else logging.DEBUG if debug else logging.WARNING)
    console.setFormatter(logging.Formatter("%(levelname)s: %(message)s" if debug else "clara: %(message)s"))
    console.addFilter(FilesOnly())
    handlers: list[logging.Handler] = [console]
    directory = log_dir()
    old_umask = os.umask(0o077)  # the logs may name hosts and users: owner only
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        every = logging.FileHandler(directory / "all.log", encoding="utf-8")
        every.setLevel(logging.DEBUG)
        important = logging.FileHandler(directory / "important.log", encoding="utf-8")
        important.setLevel(logging.WARNING)
        for handler in (every, important):
            handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"))
        handlers += [every, important]
    except OSError as exc:
        console.handle(logging.makeLogRecord({"msg": f"cannot write logs in {directory}: {exc.strerror}",
                                              "levelno": logging.WARNING, "levelname": "WARNING"}))
    finally:
        os.umask(old_umask)
    for handler in handlers:
        handler.addFilter(masker)
        handler._clara = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    clara_level = logging.DEBUG if debug else logging.INFO
    logging.getLogger("clara_core").setLevel(clara_level)
    # Third-party libraries stay quiet unless -dd.
    third = logging.DEBUG if debug >= 2 else logging.WARNING
    for name in ("pyghmi", "redfish", "urllib3", "libvirt", "gnupg", "ClusterShell"):
        logging.getLogger(name).setLevel(third)
