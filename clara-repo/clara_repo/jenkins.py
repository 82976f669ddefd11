"""Finding a Jenkins job's build artifacts on disk (``clara repo jenkins``).

As the original Clara, the artifacts are read where Jenkins keeps them, under
``[repo] jenkins_dir`` (Jenkins' ``jobs/`` directory): a job's build archive is
``<job>/builds/<build>/archive/``, or, for a matrix job,
``<job>/configurations/builds/<build>/archive/`` or
``<job>/configurations/axis-architecture/<arch>/builds/<build>/archive/``.
``<build>`` is a number or one of Jenkins' links (``lastSuccessfulBuild``).
A job named ``X`` is looked for as ``X-binaries``, ``bin-X``, ``X-binariesrpm``
and ``X-binariesrpm2``, unless its name already holds ``bin-`` or ``-binaries``.
When ``[repo] jenkins_url`` is set, :mod:`clara_repo.jenkins_api` is used instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from clara_core.errors import ClaraError

DEFAULT_BUILD = "lastSuccessfulBuild"
DEFAULT_ARCH = "amd64"


def job_names(job: str) -> list[str]:
    """The job directories tried for ``job``, in order."""
    if re.search(r"bin-|-binaries", job):
        return [job]
    return [f"{job}-binaries", f"bin-{job}", f"{job}-binariesrpm", f"{job}-binariesrpm2"]


def archive_dirs(job_dir: Path, build: str, arch: str) -> list[Path]:
    """The three places of a build's archive in a job directory."""
    archive = Path("builds") / build / "archive"
    return [
        job_dir / archive,
        job_dir / "configurations" / archive,
        job_dir / "configurations" / "axis-architecture" / arch / archive,
    ]


def check_build(build: str) -> None:
    """Refuse a ``--build`` that is not one name (a number or a link): no path, no ``..``."""
    if not build or "/" in build or build in (".", ".."):
        raise ClaraError(f"--build={build!r}: a build number or a Jenkins link such as {DEFAULT_BUILD}")


def artifacts(jenkins_dir: Path, job: str, build: str, arch: str, kind: str) -> tuple[str, list[Path]]:
    """The first job (of :func:`job_names`) whose archive has packages of ``kind`` (``deb``: the
    ``*_<arch>.changes`` files; ``rpm``: every ``*.rpm``): its name and those files."""
    check_build(build)
    if not jenkins_dir.is_dir():
        raise ClaraError(f"{jenkins_dir} ([repo] jenkins_dir): no such directory")
    pattern = f"*_{arch}.changes" if kind == "deb" else "*.rpm"
    tried = job_names(job)
    for name in tried:
        for directory in archive_dirs(jenkins_dir / name, build, arch):
            found = sorted(p for p in directory.glob(pattern) if p.is_file()) if directory.is_dir() else []
            if found:
                return name, found
    what = f"{arch} .changes file" if kind == "deb" else ".rpm file"
    raise ClaraError(
        f"no {what} in build {build} of job {' / '.join(tried)} under {jenkins_dir}: "
        "either the job does not exist or it needs to be built"
    )


@dataclass(frozen=True)
class Artifact:
    """One file of a build archive (``clara repo jenkins list``)."""

    job: str
    path: str
    build: str
    name: str


def listing(jenkins_dir: Path, job: str, build: str, arch: str) -> list[Artifact]:
    """The files in the archives of ``build`` of every job whose name contains ``job``."""
    check_build(build)
    if not jenkins_dir.is_dir():
        raise ClaraError(f"{jenkins_dir} ([repo] jenkins_dir): no such directory")
    found = []
    for job_dir in sorted(p for p in jenkins_dir.iterdir() if job in p.name and p.is_dir()):
        for directory in archive_dirs(job_dir, build, arch):
            if not directory.is_dir():
                continue
            where = str(directory.relative_to(job_dir).parent.parent.parent)
            found += [
                Artifact(job_dir.name, where, build, str(f.relative_to(directory)))
                for f in sorted(directory.rglob("*"))
                if f.is_file()
            ]
    return found
