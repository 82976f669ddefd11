"""Finding and downloading a Jenkins job's build artifacts through Jenkins' JSON API.

The second source of ``clara repo jenkins``, used when ``[repo] jenkins_url`` is set (the
first, :mod:`clara_repo.jenkins`, reads Jenkins' jobs directory on disk). The same job names
are tried (:func:`clara_repo.jenkins.job_names`); a build is read from
``<url>/job/<job>/<build>/api/json``: its own ``artifacts``, then those of the matrix ``runs``
of the configuration ``architecture=<arch>`` (the disk's ``axis-architecture/<arch>``).
Files are downloaded from ``<url>/job/<job>/<number>/artifact/<relativePath>`` into a private
temporary directory. Credentials, when configured, come from the secret store and travel only
as an ``Authorization`` header to ``[repo] jenkins_url``'s host (never across a redirect).
"""

from __future__ import annotations

import base64
import fnmatch
import http.client
import json
import shutil
import ssl
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from clara_core.context import Context
from clara_core.errors import ClaraError, ConfigError
from clara_repo.jenkins import Artifact, check_build, job_names

BUILD_TREE = "number,url,artifacts[relativePath,fileName],runs[url,number]"
RUN_TREE = "number,url,artifacts[relativePath,fileName]"
DEFAULT_TIMEOUT = 60.0
_CHUNK = 1 << 16


class NotFound(ClaraError):
    """Jenkins answered 404: no such job or build."""


@dataclass(frozen=True)
class Jenkins:
    """A Jenkins server: its base URL (ending in ``/``), and how to talk to it."""

    url: str
    authorization: str | None = field(repr=False)
    tls: ssl.SSLContext
    timeout: float

    def _open(self, url: str) -> Any:
        request = urllib.request.Request(url, headers={"Accept": "*/*"})
        if self.authorization:
            # Unredirected: a redirect elsewhere (an artifact store) does not get the credentials.
            request.add_unredirected_header("Authorization", self.authorization)
        opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=self.tls))
        try:
            return opener.open(request, timeout=self.timeout)
        except urllib.error.HTTPError as error:
            error.close()
            if error.code == 404:
                raise NotFound(f"{url}: not found (HTTP 404)") from None
            if error.code in (401, 403):
                raise ClaraError(
                    f"{url}: Jenkins refused access (HTTP {error.code}): check the credentials "
                    "named by [repo] jenkins_user_key / jenkins_token_key"
                ) from None
            raise ClaraError(f"{url}: Jenkins answered HTTP {error.code} {error.reason}") from None
        except TimeoutError:
            raise ClaraError(f"{url}: Jenkins did not answer within {self.timeout:g} s") from None
        except urllib.error.URLError as error:
            reason = error.reason
            if isinstance(reason, TimeoutError):
                raise ClaraError(f"{url}: Jenkins did not answer within {self.timeout:g} s") from None
            raise ClaraError(f"cannot reach Jenkins at {url}: {reason}") from None
        except (OSError, http.client.HTTPException) as error:
            raise ClaraError(f"cannot reach Jenkins at {url}: {error!r}") from None

    def json(self, path: str, tree: str) -> dict[str, Any]:
        """The JSON object Jenkins answers for ``<url><path>api/json?tree=<tree>``."""
        url = f"{self.url}{path}api/json?{urllib.parse.urlencode({'tree': tree})}"
        try:
            with self._open(url) as answer:
                data = json.loads(answer.read())
        except (ValueError, UnicodeDecodeError) as error:
            raise ClaraError(f"{url}: not a Jenkins JSON answer ({error})") from None
        except TimeoutError:
            raise ClaraError(f"{url}: Jenkins did not answer within {self.timeout:g} s") from None
        except (OSError, http.client.HTTPException) as error:
            raise ClaraError(f"{url}: reading Jenkins' answer failed: {error!r}") from None
        if not isinstance(data, dict):
            raise ClaraError(f"{url}: not a Jenkins JSON answer (an object was expected)")
        return data

    def download(self, path: str, target: Path) -> None:
        """Save ``<url><path>`` as ``target``."""
        url = self.url + path
        try:
            with self._open(url) as answer, target.open("wb") as out:
                shutil.copyfileobj(answer, out, _CHUNK)
        except TimeoutError:
            raise ClaraError(f"{url}: Jenkins did not answer within {self.timeout:g} s") from None
        except (OSError, http.client.HTTPException) as error:
            raise ClaraError(f"{url}: download failed: {error!r}") from None


def connect(ctx: Context, dist: str | None) -> Jenkins | None:
    """The Jenkins of ``[repo] jenkins_url`` (of ``[repo-<dist>]`` first), or None when unset.

    Credentials are read from the secret store when ``[repo] jenkins_user_key`` and
    ``jenkins_token_key`` name secrets (both or neither); ``jenkins_ca_bundle`` replaces the
    system's CAs; ``jenkins_timeout`` (default 60 s) bounds each request.
    """
    config = ctx.config
    url = config.get("repo", "jenkins_url", dist, default="").strip()
    if not url:
        return None
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"[repo] jenkins_url = {url}: an http:// or https:// URL is expected")
    if parts.username is not None or parts.password is not None:
        raise ConfigError("[repo] jenkins_url holds credentials: name secrets in jenkins_user_key / jenkins_token_key")
    user_key = config.get("repo", "jenkins_user_key", dist, default="").strip()
    token_key = config.get("repo", "jenkins_token_key", dist, default="").strip()
    if bool(user_key) != bool(token_key):
        raise ConfigError("[repo] jenkins_user_key and jenkins_token_key go together: set both or neither")
    authorization = None
    if user_key:
        pair = f"{ctx.secret(user_key)}:{ctx.secret(token_key)}".encode()
        authorization = "Basic " + base64.b64encode(pair).decode("ascii")
    ca_bundle = config.get("repo", "jenkins_ca_bundle", dist, default="").strip()
    try:
        tls = ssl.create_default_context(cafile=ca_bundle or None)
    except (OSError, ssl.SSLError) as error:
        raise ConfigError(f"[repo] jenkins_ca_bundle = {ca_bundle}: {error}") from None
    timeout = config.get_duration("repo", "jenkins_timeout", dist, default=DEFAULT_TIMEOUT)
    return Jenkins(url.rstrip("/") + "/", authorization, tls, timeout)


@dataclass(frozen=True)
class _Archive:
    """The artifacts of one build or matrix run: where to fetch them, and their relative paths."""

    where: str
    path: str
    files: list[str]


def _job_path(job: str) -> str:
    return "job/" + urllib.parse.quote(job, safe="") + "/"


def _configuration(run_url: str) -> str:
    """The configuration part of a matrix run's URL (``architecture=amd64``), or ``""``."""
    segments = [urllib.parse.unquote(s) for s in urllib.parse.urlsplit(run_url).path.split("/")]
    return next((s for s in segments if "=" in s), "")


def _files(data: dict[str, Any], url: str) -> list[str]:
    artifacts = data.get("artifacts") or []
    if not isinstance(artifacts, list):
        raise ClaraError(f"{url}: not a Jenkins JSON answer (artifacts is not a list)")
    paths = []
    for artifact in artifacts:
        path = artifact.get("relativePath") if isinstance(artifact, dict) else None
        if not isinstance(path, str):
            raise ClaraError(f"{url}: not a Jenkins JSON answer (an artifact without relativePath)")
        parts = PurePosixPath(path).parts
        if not parts or path.startswith("/") or any(p in ("..", ".") for p in parts) or "\\" in path:
            raise ClaraError(f"{url}: refusing the artifact path {path!r}")
        paths.append(path)
    return paths


def _number(data: dict[str, Any], url: str) -> int:
    number = data.get("number")
    if not isinstance(number, int) or isinstance(number, bool):
        raise ClaraError(f"{url}: not a Jenkins JSON answer (no build number)")
    return number


def _archives(jenkins: Jenkins, job: str, build: str, arch: str) -> list[_Archive]:
    """The build's own archive, then those of its matrix runs of configuration ``architecture=<arch>``
    (as the disk's ``builds/``, then ``configurations/axis-architecture/<arch>/``). NotFound when
    the job or the build does not exist."""
    base = _job_path(job)
    data = jenkins.json(f"{base}{urllib.parse.quote(build, safe='')}/", BUILD_TREE)
    url = f"{jenkins.url}{base}{build}/api/json"
    number = _number(data, url)
    found = [_Archive(".", f"{base}{number}/", _files(data, url))]
    runs = data.get("runs") or []
    if not isinstance(runs, list):
        raise ClaraError(f"{url}: not a Jenkins JSON answer (runs is not a list)")
    for run in runs:
        if not isinstance(run, dict) or not isinstance(run.get("url"), str):
            raise ClaraError(f"{url}: not a Jenkins JSON answer (a run without url)")
        configuration = _configuration(run["url"])
        # Jenkins lists a configuration's last run even when this build did not run it.
        if run.get("number") != number or f"architecture={arch}" not in configuration.split(","):
            continue
        # Rebuilt on [repo] jenkins_url: the run's own URL uses Jenkins' idea of its root URL.
        path = f"{base}{urllib.parse.quote(configuration, safe='=,')}/{number}/"
        try:
            run_data = jenkins.json(path, RUN_TREE)
        except NotFound as error:
            raise ClaraError(str(error)) from None
        found.append(_Archive(configuration, path, _files(run_data, jenkins.url + path + "api/json")))
    return found


def _matching(files: list[str], kind: str, arch: str) -> list[str]:
    """The archive's top-level files that are added (as :func:`clara_repo.jenkins.artifacts`)."""
    pattern = f"*_{arch}.changes" if kind == "deb" else "*.rpm"
    return sorted(f for f in files if "/" not in f and fnmatch.fnmatchcase(f, pattern))


@contextmanager
def fetched(jenkins: Jenkins, job: str, build: str, arch: str, kind: str) -> Iterator[tuple[str, list[Path]]]:
    """The first job (of :func:`~clara_repo.jenkins.job_names`) whose build has packages of ``kind``:
    its name and those files, downloaded into a private temporary directory removed afterwards
    (for ``deb``, the ``.changes`` files come with the other top-level files of their archive)."""
    check_build(build)
    tried = job_names(job)
    for name in tried:
        try:
            archives = _archives(jenkins, name, build, arch)
        except NotFound:
            continue
        for archive in archives:
            chosen = _matching(archive.files, kind, arch)
            if not chosen:
                continue
            wanted = [f for f in archive.files if "/" not in f] if kind == "deb" else chosen
            with tempfile.TemporaryDirectory(prefix="clara-jenkins-") as tmp:
                directory = Path(tmp)
                directory.chmod(0o700)
                for file in wanted:
                    jenkins.download(archive.path + "artifact/" + urllib.parse.quote(file), directory / file)
                yield name, [directory / f for f in chosen]
            return
    what = f"{arch} .changes file" if kind == "deb" else ".rpm file"
    raise ClaraError(
        f"no {what} in build {build} of job {' / '.join(tried)} at {jenkins.url}: "
        "either the job does not exist or it needs to be built"
    )


def listing(jenkins: Jenkins, job: str, build: str, arch: str) -> list[Artifact]:
    """The artifacts of ``build`` of every job whose name contains ``job`` (its own, and those of its
    matrix runs of configuration ``architecture=<arch>``)."""
    check_build(build)
    data = jenkins.json("", "jobs[name]")
    jobs = data.get("jobs") or []
    if not isinstance(jobs, list) or not all(isinstance(j, dict) and isinstance(j.get("name"), str) for j in jobs):
        raise ClaraError(f"{jenkins.url}api/json: not a Jenkins JSON answer (jobs without names)")
    found = []
    for name in sorted(j["name"] for j in jobs if job in j["name"]):
        try:
            archives = _archives(jenkins, name, build, arch)
        except NotFound:
            continue
        found += [Artifact(name, a.where, build, f) for a in archives for f in sorted(a.files)]
    return found
