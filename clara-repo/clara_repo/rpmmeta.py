"""What an RPM repository and an .rpm file hold: ``repodata/`` (createrepo_c's primary
index) read with the standard library, a package's header read with ``rpm``."""

from __future__ import annotations

import bz2
import gzip
import lzma
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

from clara_core.errors import ClaraError, UsageError
from clara_repo.runner import run

_REPO = "{http://linux.duke.edu/metadata/repo}"
_COMMON = "{http://linux.duke.edu/metadata/common}"
_RPM = "{http://linux.duke.edu/metadata/rpm}"
_QUERY = "%{NAME}|%{EPOCHNUM}|%{VERSION}|%{RELEASE}|%{ARCH}|%{SOURCERPM}|%{SOURCEPACKAGE}\\n"


@dataclass(frozen=True)
class RpmPackage:
    """One package: its NEVRA, its file (relative to the repository) and its source name."""

    name: str
    epoch: str
    version: str
    release: str
    arch: str
    href: str
    source: str

    @property
    def evr(self) -> str:
        """``[epoch:]version-release``."""
        prefix = f"{self.epoch}:" if self.epoch not in ("", "0") else ""
        return f"{prefix}{self.version}-{self.release}"


def source_name(sourcerpm: str) -> str:
    """The name of ``N-V-R.src.rpm``."""
    return sourcerpm.rsplit("-", 2)[0] if sourcerpm.count("-") >= 2 else ""


def read_header(path: Path) -> RpmPackage:
    """The header of an .rpm file, after checking its digests; a corrupt file is a
    :class:`UsageError` naming it. Source packages have the arch ``src``."""
    try:
        run(["rpm", "--checksig", "--nosignature", str(path)], what=f"checking {path.name}")
        out = run(
            ["rpm", "--query", "--package", "--nosignature", "--queryformat", _QUERY, str(path)],
            what=f"reading {path.name}",
        ).stdout.decode("utf-8", "replace")
    except ClaraError as exc:
        if "command not found" in str(exc):
            raise
        raise UsageError(f"{path}: not a valid .rpm file ({exc})") from None
    fields = out.strip().splitlines()[-1].split("|") if out.strip() else []
    if len(fields) != 7:
        raise UsageError(f"{path}: not a valid .rpm file (unreadable header)")
    name, epoch, version, release, arch, sourcerpm, is_source = fields
    if is_source == "1":
        arch, sourcerpm = "src", f"{name}-{version}-{release}.src.rpm"
    return RpmPackage(name, epoch, version, release, arch, path.name, source_name(sourcerpm))


#: The header tags that carry a package signature (RSA/DSA header, PGP/GPG payload).
_SIGNATURES = "%{RSAHEADER:pgpsig}|%{DSAHEADER:pgpsig}|%{SIGPGP:pgpsig}|%{SIGGPG:pgpsig}"


def is_signed(path: Path) -> bool:
    """Whether the .rpm at ``path`` carries a signature (not whether it verifies: the
    client checks it against the key it trusts)."""
    out = run(["rpm", "--query", "--package", "--nosignature", "--queryformat", _SIGNATURES, str(path)],
              what=f"reading {path.name}").stdout.decode("utf-8", "replace")
    return any(field.strip() not in ("", "(none)") for field in out.strip().split("|"))


def _open(path: Path) -> IO[bytes]:
    if path.suffix == ".gz":
        return cast(IO[bytes], gzip.open(path, "rb"))
    if path.suffix == ".xz":
        return lzma.open(path, "rb")
    if path.suffix == ".bz2":
        return bz2.open(path, "rb")
    if path.suffix == ".zst":
        raise ClaraError(f"{path}: zstd metadata is not read by clara: rebuild with 'clara repo init --force'")
    return path.open("rb")


def primary_file(repo: Path) -> Path:
    """The primary index that ``repodata/repomd.xml`` names."""
    repomd = repo / "repodata" / "repomd.xml"
    try:
        root = ET.parse(repomd).getroot()
    except (OSError, ET.ParseError) as exc:
        raise ClaraError(f"{repomd}: unreadable repository index ({exc})") from None
    for data in root.iter(f"{_REPO}data"):
        location = data.find(f"{_REPO}location")
        if data.get("type") == "primary" and location is not None:
            return repo / str(location.get("href"))
    raise ClaraError(f"{repomd}: no primary index")


def packages(repo: Path) -> Iterator[RpmPackage]:
    """Every package of the repository in ``repo``, from its primary index."""
    path = primary_file(repo)
    try:
        with _open(path) as handle:
            for _event, elem in ET.iterparse(handle):
                if elem.tag != f"{_COMMON}package":
                    continue
                version = elem.find(f"{_COMMON}version")
                location = elem.find(f"{_COMMON}location")
                sourcerpm = elem.findtext(f"{_COMMON}format/{_RPM}sourcerpm") or ""
                arch = elem.findtext(f"{_COMMON}arch") or ""
                name = elem.findtext(f"{_COMMON}name") or ""
                if version is None or location is None:
                    continue
                yield RpmPackage(
                    name,
                    version.get("epoch", "0"),
                    version.get("ver", ""),
                    version.get("rel", ""),
                    arch,
                    str(location.get("href")),
                    name if arch == "src" else source_name(sourcerpm),
                )
                elem.clear()
    except (OSError, EOFError, lzma.LZMAError, ET.ParseError) as exc:
        raise ClaraError(f"{path}: unreadable repository index ({exc})") from None
