"""Peers for Clara's package repositories: a throwaway GnuPG home and key, a
loopback HTTP server, and tiny Debian packages built without debhelper.

Used by ``tests/repo/`` and by the demo lab; nothing here imports pytest.

* :func:`make_gnupg_home` creates a GNUPGHOME with one signing key (with or
  without a passphrase) and exports its public key as a keyring file.
* :func:`serve_directory` serves a directory on ``127.0.0.1`` from a thread.
* :func:`build_binary_deb` builds a ``.deb`` with ``dpkg-deb``;
  :func:`build_source_package` builds a native source package (``.dsc``),
  its binary and a ``.changes`` with ``dpkg-source``/``dpkg-genchanges``.
"""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

_CHANGELOG_DATE = "Mon, 01 Jan 2024 00:00:00 +0000"
MAINTAINER = "Clara Test <repo@clara.test>"


@dataclass
class GpgKey:
    """A signing key in its own GNUPGHOME.

    :param home: the GNUPGHOME directory (mode 0700).
    :param fingerprint: the key's fingerprint.
    :param public_keyring: a binary keyring file with the public key (for gpgv, apt, debmirror).
    :param passphrase: the key's passphrase ("" when it has none).
    """

    home: Path
    fingerprint: str
    public_keyring: Path
    passphrase: str = ""
    email: str = "repo@clara.test"

    def env(self) -> dict[str, str]:
        """The environment variables that make gpg use this home."""
        return {"GNUPGHOME": str(self.home)}

    def export_secret(self) -> bytes:
        """The armored secret key (as ``clara repo key`` expects it, before encryption)."""
        args = ["gpg", "--batch", "--armor", "--pinentry-mode", "loopback"]
        read_fd, write_fd = os.pipe()
        os.write(write_fd, self.passphrase.encode() + b"\n")
        os.close(write_fd)
        try:
            out = subprocess.run(
                [*args, "--passphrase-fd", str(read_fd), "--export-secret-keys", self.fingerprint],
                env={**os.environ, **self.env()}, capture_output=True, check=True, pass_fds=(read_fd,),
            )
        finally:
            os.close(read_fd)
        return out.stdout

    def stop_agent(self) -> None:
        """Stop the gpg-agent (and dirmngr) started for this home, if any."""
        for component in ("gpg-agent", "dirmngr"):
            subprocess.run(["gpgconf", "--kill", component], env={**os.environ, **self.env()},
                           capture_output=True, check=False)


def make_gnupg_home(directory: Path, passphrase: str = "", name: str = "Clara Test Repo",
                    email: str = "repo@clara.test") -> GpgKey:
    """Create ``directory`` as a GNUPGHOME holding a new ed25519 signing key.

    The passphrase goes to gpg through a pipe, never the command line.
    """
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)
    env = {**os.environ, "GNUPGHOME": str(directory)}
    read_fd, write_fd = os.pipe()
    os.write(write_fd, passphrase.encode() + b"\n")
    os.close(write_fd)
    try:
        subprocess.run(
            ["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase-fd", str(read_fd),
             "--quick-gen-key", f"{name} <{email}>", "ed25519", "sign", "never"],
            env=env, capture_output=True, check=True, pass_fds=(read_fd,),
        )
    finally:
        os.close(read_fd)
    listing = subprocess.run(["gpg", "--batch", "--with-colons", "--list-secret-keys", email],
                             env=env, capture_output=True, text=True, check=True).stdout
    fingerprint = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))
    keyring = directory.parent / f"{directory.name}-public.gpg"
    exported = subprocess.run(["gpg", "--batch", "--export", fingerprint], env=env, capture_output=True,
                              check=True).stdout
    keyring.write_bytes(exported)
    return GpgKey(directory, fingerprint, keyring, passphrase, email)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return


@dataclass
class HttpServer:
    """A directory served over HTTP on loopback; :meth:`stop` ends it."""

    directory: Path
    port: int
    _server: http.server.ThreadingHTTPServer = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT`` (debmirror's ``--host``)."""
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve_directory(directory: Path, port: int = 0) -> HttpServer:
    """Serve ``directory`` on ``127.0.0.1`` (a free port when ``port`` is 0) from a daemon thread."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name=f"http-{directory.name}", daemon=True)
    thread.start()
    return HttpServer(directory, server.server_address[1], server, thread)


def build_binary_deb(directory: Path, name: str = "clara-tool", version: str = "2.0-1",
                     arch: str = "amd64", description: str = "test package for clara") -> Path:
    """Build ``name_version_arch.deb`` (one README) in ``directory`` with ``dpkg-deb``."""
    root = directory / f"{name}-{version}-root"
    (root / "DEBIAN").mkdir(parents=True, exist_ok=True)
    doc = root / "usr" / "share" / "doc" / name
    doc.mkdir(parents=True, exist_ok=True)
    (doc / "README").write_text(f"{name} {version}\n", encoding="utf-8")
    (root / "DEBIAN" / "control").write_text(
        f"Package: {name}\nVersion: {version}\nArchitecture: {arch}\nMaintainer: {MAINTAINER}\n"
        f"Section: admin\nPriority: optional\nDescription: {description}\n", encoding="utf-8")
    deb = directory / f"{name}_{version}_{arch}.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(root), str(deb)],
                   capture_output=True, check=True)
    return deb


@dataclass
class SourcePackage:
    """The files of a tiny native source package and of its binary build."""

    name: str
    version: str
    dsc: Path
    deb: Path
    changes: Path


def write_source_tree(directory: Path, name: str = "hello-clara", version: str = "1.0",
                      dist: str = "bookworm") -> Path:
    """Write an unpacked native source package whose ``debian/rules`` needs no
    debhelper (so a builder's chroot needs nothing beyond build-essential)."""
    tree = directory / f"{name}-{version}"
    (tree / "debian" / "source").mkdir(parents=True, exist_ok=True)
    (tree / "debian" / "source" / "format").write_text("3.0 (native)\n", encoding="utf-8")
    (tree / "hello.sh").write_text(f"#!/bin/sh\necho hello from {name}\n", encoding="utf-8")
    (tree / "debian" / "control").write_text(
        f"Source: {name}\nSection: admin\nPriority: optional\nMaintainer: {MAINTAINER}\n"
        f"Standards-Version: 4.6.2\nRules-Requires-Root: no\n\n"
        f"Package: {name}\nArchitecture: all\nDescription: tiny test package for clara\n Says hello.\n",
        encoding="utf-8")
    (tree / "debian" / "changelog").write_text(
        f"{name} ({version}) {dist}; urgency=medium\n\n  * Initial release.\n\n -- {MAINTAINER}  {_CHANGELOG_DATE}\n",
        encoding="utf-8")
    pkgdir = f"debian/{name}"
    rules = (
        "#!/usr/bin/make -f\n"
        "build build-arch build-indep:\n\t@true\n"
        "clean:\n\trm -rf debian/" + name + " debian/files\n"
        "binary-arch:\n\t@true\n"
        "binary binary-indep:\n"
        f"\trm -rf {pkgdir}\n"
        f"\tinstall -d {pkgdir}/DEBIAN {pkgdir}/usr/bin\n"
        f"\tinstall -m 0755 hello.sh {pkgdir}/usr/bin/{name}\n"
        f"\tdpkg-gencontrol -p{name} -P{pkgdir}\n"
        f"\tdpkg-deb --root-owner-group --build {pkgdir} ..\n"
        ".PHONY: build build-arch build-indep clean binary binary-arch binary-indep\n"
    )
    rules_path = tree / "debian" / "rules"
    rules_path.write_text(rules, encoding="utf-8")
    rules_path.chmod(0o755)
    return tree


def build_source_package(directory: Path, name: str = "hello-clara", version: str = "1.0",
                         dist: str = "bookworm") -> SourcePackage:
    """Build a native source package, its ``all`` binary and a full ``.changes``
    (``Distribution: dist``) in ``directory``, without a chroot."""
    directory.mkdir(parents=True, exist_ok=True)
    tree = write_source_tree(directory, name, version, dist)
    subprocess.run(["dpkg-source", "-b", tree.name], cwd=directory, capture_output=True, check=True)
    subprocess.run(["fakeroot", "debian/rules", "binary"], cwd=tree, capture_output=True, check=True)
    changes = directory / f"{name}_{version}_all.changes"
    out = subprocess.run(["dpkg-genchanges", "-sa"], cwd=tree, capture_output=True, check=True).stdout
    changes.write_bytes(out)
    return SourcePackage(name, version, directory / f"{name}_{version}.dsc",
                         directory / f"{name}_{version}_all.deb", changes)


@dataclass
class AptRoot:
    """A private apt configuration and state under one directory: apt-get runs
    against it with ``-o Dir::...`` options, never touching the machine's own."""

    root: Path

    def options(self) -> list[str]:
        """The ``-o`` options that point apt at this root."""
        r = self.root
        return [
            "-o", f"Dir::Etc={r}/etc/apt", "-o", f"Dir::State={r}/var/lib/apt",
            "-o", f"Dir::Cache={r}/var/cache/apt", "-o", f"Dir::State::status={r}/var/lib/dpkg/status",
            "-o", "Debug::NoLocking=1", "-o", "APT::Sandbox::User=root",
            "-o", f"DPkg::Options::=--root={r}/target", "-o", f"DPkg::Options::=--admindir={r}/var/lib/dpkg",
            "-o", "DPkg::Options::=--force-script-chrootless", "-o", "DPkg::Options::=--force-not-root",
            "-o", "DPkg::Options::=--log=/dev/null", "-o", "DPkg::Chroot-Directory=/",
            "-o", "Dir::Log=" + str(r / "log"),
        ]

    def run(self, *args: str, program: str = "apt-get") -> subprocess.CompletedProcess[str]:
        """Run ``apt-get`` (or ``apt-cache``) with this root's options; no exception on failure."""
        return subprocess.run([program, *self.options(), *args], capture_output=True, text=True, check=False,
                              stdin=subprocess.DEVNULL)


def make_apt_root(directory: Path, sources: str) -> AptRoot:
    """Create an apt root in ``directory`` whose ``sources.list`` is ``sources``."""
    for sub in ("etc/apt/sources.list.d", "etc/apt/preferences.d", "etc/apt/apt.conf.d", "etc/apt/trusted.gpg.d",
                "var/lib/apt/lists/partial", "var/cache/apt/archives/partial", "var/lib/dpkg/updates",
                "var/lib/dpkg/info", "target", "log"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    (directory / "var/lib/dpkg/status").touch()
    (directory / "etc/apt/sources.list").write_text(sources.rstrip("\n") + "\n", encoding="utf-8")
    return AptRoot(directory)
