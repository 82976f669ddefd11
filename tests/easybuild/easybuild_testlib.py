"""Helpers for the clara-easybuild tests: a configure/make toy with its easyconfigs, tree
snapshots, and Lmod asked directly (as a user's shell would)."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import subprocess
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

LMOD = os.environ.get("LMOD_CMD") or "/usr/share/lmod/lmod/libexec/lmod"

HELLO_C = '#include <stdio.h>\nint main(void) { puts("hello from clara %s"); return 0; }\n'

#: A hand-written ./configure: writes the Makefile for the given --prefix (what ConfigureMake runs).
CONFIGURE = """#!/bin/sh
prefix=/usr/local
for arg in "$@"; do case "$arg" in --prefix=*) prefix="${arg#--prefix=}";; esac; done
%s
printf 'PREFIX = %%s\\nall: hello\\nhello: hello.c\\n\\t$(CC) -o hello hello.c\\ninstall: hello\\n' "$prefix" > Makefile
printf '\\tmkdir -p $(PREFIX)/bin $(PREFIX)/share\\n\\tcp hello $(PREFIX)/bin/hello\\n' >> Makefile
printf '\\tln -sf hello $(PREFIX)/bin/hi\\n\\tln -sf %%s/bin/hello $(PREFIX)/bin/hello-abs\\n' "$prefix" >> Makefile
printf '\\tprintf secret > $(PREFIX)/share/private\\n\\tchmod 600 $(PREFIX)/share/private\\n' >> Makefile
"""

EASYCONFIG = """easyblock = 'ConfigureMake'
name = '{name}'
version = '{version}'
homepage = 'https://example.invalid/hello'
description = "A configure/make toy for Clara's tests"
toolchain = SYSTEM
sources = ['{name}-%(version)s.tar.gz']
sanity_check_paths = {{'files': ['bin/hello'], 'dirs': []}}
moduleclass = 'tools'
{dependencies}"""


def make_source(sources: Path, name: str, version: str, broken: bool = False) -> Path:
    """``<sources>/<name>-<version>.tar.gz`` of the toy; a broken one fails in ./configure."""
    sources.mkdir(parents=True, exist_ok=True)
    tarball = sources / f"{name}-{version}.tar.gz"
    files = {
        "hello.c": (HELLO_C % version).encode(),
        "configure": (
            CONFIGURE % ("echo 'configure: error: no compiler today' >&2; exit 1" if broken else "")
        ).encode(),
    }
    with tarfile.open(tarball, "w:gz") as archive:
        for filename, data in files.items():
            info = tarfile.TarInfo(f"{name}-{version}/{filename}")
            info.size = len(data)
            info.mode = 0o755 if filename == "configure" else 0o644
            archive.addfile(info, io.BytesIO(data))
    return tarball


def write_easyconfig(basedir: Path, name: str, version: str, depends: tuple[tuple[str, str], ...] = ()) -> Path:
    """``<basedir>/<letter>/<name>/<name>-<version>.eb``, needing the ``(name, version)`` in ``depends``."""
    path = basedir / name[0].lower() / name / f"{name}-{version}.eb"
    path.parent.mkdir(parents=True, exist_ok=True)
    dependencies = f"dependencies = {list(depends)!r}\n" if depends else ""
    path.write_text(EASYCONFIG.format(name=name, version=version, dependencies=dependencies))
    return path


def snapshot(root: Path, skip: str | None = None) -> dict[str, tuple[str, int, str]]:
    """Every entry under ``root``: kind, mode, and content hash or link target (``skip``: a subtree)."""
    found: dict[str, tuple[str, int, str]] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if skip and (rel == skip or rel.startswith(f"{skip}/")):
            continue
        info = path.lstat()
        mode = stat.S_IMODE(info.st_mode)
        if stat.S_ISLNK(info.st_mode):
            found[rel] = ("link", 0, os.readlink(path))
        elif stat.S_ISDIR(info.st_mode):
            found[rel] = ("dir", mode, "")
        else:
            found[rel] = ("file", mode, hashlib.sha256(path.read_bytes()).hexdigest())
    return found


def module_dirs(prefix: Path) -> list[Path]:
    """The original's MODULEPATH: the class directories, then ``all``."""
    modules = prefix / "modules"
    if not modules.is_dir():
        return []
    classes = sorted(p for p in modules.iterdir() if p.is_dir() and p.name != "all")
    return [*classes, modules / "all"]


def lmod(prefix: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Lmod's ``bash`` mode with the prefix's modules (its messages are on stderr)."""
    env = {**os.environ, "MODULEPATH": ":".join(str(d) for d in module_dirs(prefix)), "LMOD_IGNORE_CACHE": "1"}
    env.pop("LOADEDMODULES", None)
    env.pop("_ModuleTable001_", None)
    return subprocess.run([LMOD, "bash", *args], capture_output=True, text=True, env=env, check=False)


def visible(prefix: Path, name: str, hidden: bool = False) -> list[str]:
    """The modules ``module avail`` lists for ``name`` (with ``--show_hidden`` when ``hidden``)."""
    args = ["--terse", *(["--show_hidden"] if hidden else []), "avail", name]
    lines = lmod(prefix, *args).stderr.splitlines()
    return sorted({line.strip() for line in lines if line.strip() and not line.strip().endswith(":")})


def loaded_root(prefix: Path, module: str) -> str:
    """The EBROOT a ``module load <module>`` sets, read from Lmod's shell code."""
    out = lmod(prefix, "load", module).stdout
    for statement in out.split(";"):
        statement = statement.strip()
        if statement.startswith("EBROOT") and "=" in statement:
            return statement.split("=", 1)[1].strip("'\"")
    raise AssertionError(f"module load {module} set no EBROOT: {out[:500]}")


@dataclass
class EbLab:
    """A basedir of easyconfigs, a directory of sources (served to eb by file:// URL) and a prefix."""

    base: Path
    basedir: Path
    sources: Path
    prefix: Path
    eb: Path
    clara: Callable[..., subprocess.CompletedProcess[str]]

    def run(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        """``clara easybuild <args>``; with ``ok``, it must succeed."""
        done = self.clara("easybuild", *args, timeout=300)
        if ok:
            assert done.returncode == 0, done.stderr + done.stdout
        return done

    def install(self, software: str = "hello/1.0") -> None:
        """Install ``software`` through Clara."""
        self.run("install", software)
