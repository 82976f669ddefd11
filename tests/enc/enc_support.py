"""Helpers of the clara-enc tests (imported as ``enc_support``): the real
``openssl`` CLI (password through ``-pass file:``, never argv), a throwaway
GnuPG home with a passphrase-less key, and editor/pager scripts that watch for leaks."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

PASSWORD = "correct-horse-battery-staple-4242"
OTHER_PASSWORD = "another-long-password-for-rekey-99"
CLARA = shutil.which("clara", path=str(Path(sys.executable).parent)) or "clara"


def need(program: str) -> str:
    """The path of ``program``, or skip the test when it is not installed."""
    found = shutil.which(program)
    if found is None:
        pytest.skip(f"{program} is not installed")
    return found


@dataclass
class Site:
    """A test site: its config, master file and the openssl CLI helpers."""

    root: Path
    config: Path
    master: Path
    pass_file: Path
    digest: str = "sha256"

    def openssl(self, *args: str, data: bytes, pass_file: Path | None = None, digest: str | None = None) -> bytes:
        """Run ``openssl enc -aes-256-cbc -md D -pbkdf2 -iter 100000 ARGS`` on ``data``."""
        cmd = [
            need("openssl"),
            "enc",
            "-aes-256-cbc",
            "-md",
            digest or self.digest,
            "-pbkdf2",
            "-iter",
            "100000",
            "-pass",
            f"file:{pass_file or self.pass_file}",
            *args,
        ]
        done = subprocess.run(cmd, input=data, capture_output=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        return done.stdout

    def openssl_encrypt(self, data: bytes, **kw: Path | str | None) -> bytes:
        """Encrypt with the openssl CLI."""
        return self.openssl("-salt", data=data, **kw)  # type: ignore[arg-type]

    def openssl_decrypt(self, data: bytes, **kw: Path | str | None) -> bytes:
        """Decrypt with the openssl CLI."""
        return self.openssl("-d", data=data, **kw)  # type: ignore[arg-type]


def write_pass_file(path: Path, password: str) -> Path:
    """A 0600 file holding ``password`` for ``openssl -pass file:``."""
    path.write_text(password + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


@dataclass
class GpgHome:
    """A throwaway GnuPG home with one passphrase-less key."""

    home: Path
    fingerprint: str

    def run(self, *args: str, data: bytes = b"") -> subprocess.CompletedProcess[bytes]:
        """Run the real ``gpg`` on this home."""
        return subprocess.run(
            [need("gpg"), "--homedir", str(self.home), "--batch", "--yes", *args],
            input=data,
            capture_output=True,
            timeout=60,
            check=False,
        )


@contextmanager
def new_gpg_home() -> Iterator[GpgHome]:
    """A throwaway GnuPG home with a passphrase-less key; its agent is stopped and the home removed after."""
    need("gpg")
    # A short path: gpg-agent's socket lives in it and socket paths are limited to ~100 bytes.
    home = Path(tempfile.mkdtemp(prefix="cg", dir="/tmp"))
    home.chmod(0o700)
    try:
        gen = subprocess.run(
            [
                "gpg",
                "--homedir",
                str(home),
                "--batch",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
                "--quick-gen-key",
                "Clara Test <clara-test@example.org>",
                "default",
                "default",
                "never",
            ],
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert gen.returncode == 0, gen.stderr.decode(errors="replace")
        listing = subprocess.run(
            ["gpg", "--homedir", str(home), "--batch", "--with-colons", "--list-secret-keys"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        fpr = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))
        yield GpgHome(home, fpr)
    finally:
        subprocess.run(
            ["gpgconf", "--homedir", str(home), "--kill", "all"], capture_output=True, timeout=60, check=False
        )
        shutil.rmtree(home, ignore_errors=True)


class Watch:
    """One watched run: the marker in the plaintext, the watcher's environment and report."""

    def __init__(self, site: Site, watcher: Path, mode: str, as_pager: bool = False) -> None:
        self.site = site
        self.watcher = watcher
        self.marker = f"PLAINTEXT-MARKER-{uuid.uuid4().hex}"
        self.report_path = site.root / f"report-{uuid.uuid4().hex}.json"
        self.since = time.time() - 1
        scan = ["/tmp", "/var/tmp", str(site.root), os.environ.get("TMPDIR", "")]
        self.env = {
            "PAGER" if as_pager else "EDITOR": str(watcher),
            "ENC_MODE": mode,
            "ENC_MARKER": self.marker,
            "ENC_SECRET": PASSWORD,
            "ENC_SINCE": str(self.since),
            "ENC_REPORT": str(self.report_path),
            "ENC_SCAN": os.pathsep.join(p for p in scan if p),
        }

    def plaintext(self) -> bytes:
        """The secret text the test starts from."""
        return f"user: root\npassword: {self.marker}\n".encode()

    def report(self) -> dict[str, Any]:
        """What the watcher saw."""
        data: dict[str, Any] = json.loads(self.report_path.read_text())
        return data

    def wait_ready(self, proc: subprocess.Popen[str], timeout: float = 60) -> None:
        """Wait until the watcher (in a waiting mode) has written its report."""
        ready = Path(f"{self.report_path}.ready")
        deadline = time.monotonic() + timeout
        while not ready.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the editor never started"
            time.sleep(0.05)

    def leaks_now(self) -> list[str]:
        """Files written since the start that hold the plaintext (after the command): the watcher's scan."""
        report = Path(f"{self.report_path}.after")
        env = {**os.environ, **self.env, "ENC_MODE": "scan", "ENC_REPORT": str(report)}
        subprocess.run([str(self.watcher)], env=env, timeout=120, check=True)
        leaks: list[str] = json.loads(report.read_text())["leaks"]
        return leaks

    def assert_clean(self) -> None:
        """No leak seen during the run, none left after, and the memory workspace is gone."""
        report = self.report()
        assert report["leaks"] == [], report
        assert report["cmdline_leaks"] == [], report
        if "file" in report:
            assert not Path(report["file"]).parent.exists(), "the plaintext workspace was left behind"
        assert self.leaks_now() == []


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """Start the real clara in its own process group (so a test can send it Ctrl-C)."""
    return subprocess.Popen(
        [CLARA, *args],
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def finish(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """Wait for ``proc`` (60 s at most, then kill its process group); its stdout and stderr."""
    try:
        return proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists."""
    return Path(f"/proc/{pid}").exists()


def gone(pid: int, timeout: float = 10) -> bool:
    """Wait up to ``timeout`` s for process ``pid`` to end; whether it did."""
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


WATCHER = textwrap.dedent(
    '''
    """Editor/pager used by the tests: checks for leaks, then acts as told by ENC_MODE."""
    import json, os, signal, stat, sys, time

    signal.signal(signal.SIGINT, signal.SIG_DFL)  # die of Ctrl-C as a plain program does
    marker = os.environ["ENC_MARKER"].encode()
    secret = os.environ["ENC_SECRET"].encode()
    since = float(os.environ["ENC_SINCE"])
    report = {"argv": sys.argv[1:], "leaks": [], "cmdline_leaks": []}
    budget = time.monotonic() + 60


    def scan(top):
        # Our plaintexts are small: only look at small, non-empty regular files written since the
        # test started, on the same file system (other engineers' chroots may hold /proc mounts).
        try:
            device = os.stat(top).st_dev
        except OSError:
            return
        for root, dirs, files in os.walk(top, onerror=lambda e: None):
            if time.monotonic() > budget:  # never hang a test on a huge /tmp: note it and stop
                report["scan_truncated"] = True
                return
            kept = []
            for name in dirs:
                try:
                    if os.lstat(os.path.join(root, name)).st_dev == device:
                        kept.append(name)
                except OSError:
                    pass
            dirs[:] = kept
            for name in files:
                path = os.path.join(root, name)
                try:
                    st = os.lstat(path)
                    if not stat.S_ISREG(st.st_mode) or st.st_mtime < since or not 0 < st.st_size <= 1 << 20:
                        continue
                    with open(path, "rb") as handle:
                        if marker in handle.read():
                            report["leaks"].append(path)
                except OSError:
                    pass


    def scan_cmdlines():
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as handle:
                        line = handle.read()
                except OSError:
                    continue
                if secret in line or marker in line:
                    report["cmdline_leaks"].append(pid)


    for top in filter(None, os.environ.get("ENC_SCAN", "").split(os.pathsep)):
        scan(top)
    scan_cmdlines()
    mode = os.environ.get("ENC_MODE", "noop")
    report["pid"] = os.getpid()
    if mode == "scan":
        pass
    elif mode == "pager":
        text = sys.stdin.buffer.read()
        report["stdin_has_marker"] = marker in text
        report["stdin_size"] = len(text)
    else:
        path = sys.argv[-1]
        st = os.stat(path)
        parent = os.stat(os.path.dirname(path))
        report["file"] = path
        report["file_mode"] = stat.S_IMODE(st.st_mode)
        report["dir_mode"] = stat.S_IMODE(parent.st_mode)
        report["tmpdir"] = os.environ.get("TMPDIR", "")
        with open(path, "rb") as handle:
            report["has_marker"] = marker in handle.read()
        if mode in ("modify", "fail", "kill", "sleep", "modify-slow"):
            with open(path, "ab") as handle:
                handle.write(os.environ.get("ENC_ADD", "added by the editor\\n").encode())
    with open(os.environ["ENC_REPORT"], "w") as out:
        json.dump(report, out)
    if mode == "fail":
        sys.exit(3)
    if mode == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if mode in ("sleep", "modify-slow"):
        open(os.environ["ENC_REPORT"] + ".ready", "w").close()
        deadline = time.time() + float(os.environ.get("ENC_SLEEP", "60"))
        while time.time() < deadline and not os.path.exists(os.environ["ENC_REPORT"] + ".go"):
            time.sleep(0.002)
    '''
)
