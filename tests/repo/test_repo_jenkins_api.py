"""clara repo jenkins through Jenkins' JSON API ([repo] jenkins_url), then installed by apt or dnf.

No Jenkins server can run here: each test serves, from a local threaded ``http.server``, a
recorded Jenkins JSON API tree (the answers below are written as Jenkins returns them to
``api/json?tree=...``: a build's ``artifacts`` with ``relativePath``/``fileName``, its
``number`` and ``url``; a matrix build's ``runs``) and the artifacts, packages built in the test.
The server checks HTTP basic auth as Jenkins does for an API token.
"""

from __future__ import annotations

import base64
import http.server
import json
import ssl
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from clara_lab.repo import make_apt_root
from repo_testlib import Packages, RepoLab
from rpm_testlib import Rpm, dnf_install, export_public_key
from test_repo_jenkins import _changes_with_files

USER, TOKEN = "builder", "11d2b0e6f0c4e1a3b5c7d9e0f1a2b3c4d5"
# Jenkins' idea of its own root URL, as it writes it in its answers; Clara must not follow it.
RECORDED_ROOT = "https://jenkins.example/"
STALL = 3  # seconds, beyond the tests' [repo] jenkins_timeout
PREFIX = "/jenkins/"  # Jenkins served under a path, as behind a reverse proxy


@dataclass
class FakeJenkins:
    """Recorded answers (path -> body) served on 127.0.0.1, and the requests received."""

    routes: dict[str, bytes] = field(default_factory=dict)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    failing: dict[str, int] = field(default_factory=dict)  # path -> HTTP status answered instead
    stalled: set[str] = field(default_factory=set)  # paths answered after STALL seconds
    auth: str | None = "Basic " + base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()
    url: str = ""

    def api(self, path: str, answer: dict[str, object]) -> None:
        """Serve ``answer`` as ``<path>api/json`` (whatever the tree asked)."""
        self.routes[PREFIX + path + "api/json"] = json.dumps(answer).encode()

    def artifacts(self, build_path: str, files: dict[str, Path]) -> list[dict[str, str]]:
        """Serve ``files`` under ``<build_path>artifact/``; return them as a build's ``artifacts``."""
        for name, path in files.items():
            self.routes[f"{PREFIX}{build_path}artifact/{name}"] = path.read_bytes()
        return [{"fileName": name.rsplit("/", 1)[-1], "relativePath": name} for name in sorted(files)]


def _handler(jenkins: FakeJenkins) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def do_GET(self) -> None:
            parts = urllib.parse.urlsplit(self.path)
            path = urllib.parse.unquote(parts.path)
            jenkins.requests.append((path, parts.query, self.headers.get("Authorization")))
            if path in jenkins.stalled:
                time.sleep(STALL)
            if path in jenkins.failing:
                self._answer(jenkins.failing[path], b"<html>Jenkins is going to shut down</html>", "text/html")
            elif jenkins.auth and self.headers.get("Authorization") != jenkins.auth:
                self._answer(401, b"<html>Invalid password/token for user</html>", "text/html")
            elif path in jenkins.routes:
                body = jenkins.routes[path]
                kind = "application/json;charset=utf-8" if path.endswith("api/json") else "application/octet-stream"
                self._answer(200, body, kind)
            else:
                self._answer(404, b"<html>Not Found</html>", "text/html")

        def _answer(self, code: int, body: bytes, kind: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@contextmanager
def _serving(jenkins: FakeJenkins, tls: ssl.SSLContext | None = None) -> Iterator[FakeJenkins]:
    """Serve ``jenkins`` on 127.0.0.1 from a threaded http.server (over TLS with ``tls``)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(jenkins))
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, name="fake-jenkins", daemon=True)
    thread.start()
    scheme = "https" if tls else "http"
    jenkins.url = f"{scheme}://127.0.0.1:{server.server_address[1]}{PREFIX}"
    try:
        yield jenkins
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def fake_jenkins() -> Iterator[FakeJenkins]:
    """A recorded Jenkins on 127.0.0.1, empty until a test fills its routes."""
    with _serving(FakeJenkins()) as jenkins:
        yield jenkins


@pytest.fixture
def api_lab(rpm_lab: RepoLab, fake_jenkins: FakeJenkins, passwd_file: Callable[..., Path]) -> RepoLab:
    """rpm_lab reading Jenkins at fake_jenkins' URL, with the API token in the secret store; an
    (empty) jenkins_dir is also set: the URL wins. Clara's temporary files go to tmp/clara-tmp."""
    (rpm_lab.tmp / "jobs").mkdir()
    (rpm_lab.tmp / "clara-tmp").mkdir()
    rpm_lab.env["TMPDIR"] = str(rpm_lab.tmp / "clara-tmp")
    rpm_lab.configure(
        common={"master_passwd_file": passwd_file(JENKINS_USER=USER, JENKINS_TOKEN=TOKEN)},
        repo={
            "jenkins_url": fake_jenkins.url,
            "jenkins_dir": rpm_lab.tmp / "jobs",
            "jenkins_user_key": "JENKINS_USER",
            "jenkins_token_key": "JENKINS_TOKEN",
        },
    )
    return rpm_lab


def _record_hello(jenkins: FakeJenkins, packages: Packages) -> None:
    """bin-hello (a free-style job), whose build 7 is its lastSuccessfulBuild, archived the hello-clara
    .changes (under an amd64 name, as a binary job makes it), its files, and a log in a subdirectory."""
    files = {**_changes_with_files(packages), "logs/build.log": packages.hello.changes}
    artifacts = jenkins.artifacts("job/bin-hello/7/", files)
    build = {
        "_class": "hudson.model.FreeStyleBuild",
        "artifacts": artifacts,
        "number": 7,
        "url": f"{RECORDED_ROOT}job/bin-hello/7/",
    }
    jenkins.api("job/bin-hello/lastSuccessfulBuild/", build)
    jenkins.api("job/bin-hello/7/", build)


def _record_matrix(jenkins: FakeJenkins, tmp: Path, other: Rpm) -> None:
    """other-binariesrpm, a matrix job whose build 3 ran the configurations architecture=x86_64 and
    aarch64 (this one archived no rpm); ppc64le's last run is build 2's, and Jenkins lists it too."""
    junk = tmp / "junk.rpm"
    junk.write_bytes(b"not an rpm\n")
    runs = []
    for axis, number, files in (
        ("x86_64", 3, {other.binary.name: other.binary, other.source.name: other.source}),
        ("aarch64", 3, {"build.log": junk}),
        ("ppc64le", 2, {"other-clara-3.0-1.ppc64le.rpm": junk}),
    ):
        path = f"job/other-binariesrpm/architecture={axis}/{number}/"
        artifacts = jenkins.artifacts(path, files)
        jenkins.api(
            path,
            {
                "_class": "hudson.matrix.MatrixRun",
                "artifacts": artifacts,
                "number": number,
                "url": RECORDED_ROOT + path,
            },
        )
        runs.append({"_class": "hudson.matrix.MatrixRun", "number": number, "url": RECORDED_ROOT + path})
    build = {
        "_class": "hudson.matrix.MatrixBuild",
        "artifacts": [],
        "number": 3,
        "url": f"{RECORDED_ROOT}job/other-binariesrpm/3/",
        "runs": runs,
    }
    jenkins.api("job/other-binariesrpm/3/", build)
    jenkins.api("job/other-binariesrpm/lastSuccessfulBuild/", build)
    jenkins.api(
        "",
        {
            "_class": "hudson.model.Hudson",
            "jobs": [{"_class": "hudson.matrix.MatrixProject", "name": "other-binariesrpm"}],
        },
    )


def _listed(lab: RepoLab, dist: str) -> list[dict[str, str]]:
    records: list[dict[str, str]] = json.loads(lab.ok("repo", "list", dist, "-o", "json"))
    return records


def test_jenkins_api_debian_job_then_apt_installs(
    api_lab: RepoLab, fake_jenkins: FakeJenkins, packages: Packages
) -> None:
    lab = api_lab
    _record_hello(fake_jenkins, packages)
    lab.ok("repo", "init", "calibre8")
    out = lab.ok("repo", "jenkins", "calibre8", "hello")
    assert "hello-clara_1.0_amd64.changes" in out and "bin-hello" in out
    assert {(r["name"], r["arch"]) for r in _listed(lab, "calibre8")} == {
        ("hello-clara", "source"),
        ("hello-clara", "amd64"),
    }

    # hello-binaries (tried first) does not exist; every request carried the token; the build was
    # asked with Jenkins' tree and its artifacts fetched by number, on our URL, not the recorded root.
    paths = [path for path, _, _ in fake_jenkins.requests]
    assert paths[:2] == [
        f"{PREFIX}job/hello-binaries/lastSuccessfulBuild/api/json",
        f"{PREFIX}job/bin-hello/lastSuccessfulBuild/api/json",
    ]
    assert f"{PREFIX}job/bin-hello/7/artifact/hello-clara_1.0_amd64.changes" in paths
    assert not any("logs/" in p for p in paths)
    assert all(auth == fake_jenkins.auth for _, _, auth in fake_jenkins.requests)
    tree = dict(urllib.parse.parse_qsl(fake_jenkins.requests[1][1]))["tree"]
    assert "artifacts[relativePath,fileName]" in tree and "runs[url,number]" in tree
    assert list((lab.tmp / "clara-tmp").iterdir()) == []  # the downloads are gone

    apt = make_apt_root(lab.tmp / "apt", f"deb [signed-by={lab.key.public_keyring}] file://{lab.outdir} calibre8 main")
    update = apt.run("update")
    assert update.returncode == 0 and "W:" not in update.stderr and "E:" not in update.stderr, update.stderr
    install = apt.run("install", "-y", "--no-install-recommends", "hello-clara")
    assert install.returncode == 0, install.stderr
    assert (apt.root / "target/usr/bin/hello-clara").is_file()


def test_jenkins_api_rpm_matrix_job_then_dnf_installs(
    api_lab: RepoLab, fake_jenkins: FakeJenkins, rpms: dict[str, Rpm]
) -> None:
    lab = api_lab
    _record_matrix(fake_jenkins, lab.tmp, rpms["other"])
    lab.ok("repo", "init", "rocky8")
    for arch in ("amd64", "aarch64", "ppc64le"):  # no such run, no rpm, a run of another build
        line = lab.fails("repo", "jenkins", "rocky8", "other", "--build=3", f"--source={arch}")
        assert "no .rpm file in build 3 of job other-binaries / bin-other" in line, line
    assert _listed(lab, "rocky8") == []
    lab.ok("repo", "jenkins", "rocky8", "other", "--source=x86_64", "--build=3")
    assert {(r["name"], r["arch"], r["version"]) for r in _listed(lab, "rocky8")} == {
        ("other-clara", "noarch", "3.1-1"),
        ("other-clara", "src", "3.1-1"),
    }

    table = lab.ok("repo", "jenkins", "list", "other", "--source=x86_64").splitlines()
    assert table[0].split() == ["Job", "|", "Path", "|", "Build", "|", "Package"]
    rows = [[cell.strip() for cell in line.split("|")] for line in table[2:]]
    assert rows == [
        ["other-binariesrpm", "architecture=x86_64", "lastSuccessfulBuild", name]
        for name in sorted([rpms["other"].binary.name, rpms["other"].source.name])
    ]

    key = export_public_key(lab.key, lab.tmp / "repo-key.asc")
    done = dnf_install(lab.tmp / "rpm" / "rocky8", lab.tmp / "root", key, "other-clara")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (lab.tmp / "root/usr/share/other-clara/version.txt").is_file()


def test_jenkins_api_list(api_lab: RepoLab, fake_jenkins: FakeJenkins, packages: Packages) -> None:
    lab = api_lab
    _record_hello(fake_jenkins, packages)
    fake_jenkins.api(
        "",
        {
            "_class": "hudson.model.Hudson",
            "jobs": [
                {"_class": "hudson.model.FreeStyleProject", "name": "bin-hello"},
                {"_class": "hudson.model.FreeStyleProject", "name": "unrelated"},
                {"_class": "com.cloudbees.hudson.plugins.folder.Folder", "name": "hello-folder"},
            ],
        },
    )
    table = lab.ok("repo", "jenkins", "list", "hello").splitlines()
    rows = [[cell.strip() for cell in line.split("|")] for line in table[2:]]
    assert ["bin-hello", ".", "lastSuccessfulBuild", "hello-clara_1.0_amd64.changes"] in rows
    assert ["bin-hello", ".", "lastSuccessfulBuild", "logs/build.log"] in rows
    assert {row[0] for row in rows} == {"bin-hello"}
    done = lab.clara("repo", "jenkins", "list", "nothing")
    assert done.returncode == 0 and "no artifact in build lastSuccessfulBuild" in done.stderr


def test_jenkins_api_errors_add_nothing(
    api_lab: RepoLab, fake_jenkins: FakeJenkins, packages: Packages, passwd_file: Callable[..., Path]
) -> None:
    lab = api_lab
    _record_hello(fake_jenkins, packages)
    lab.ok("repo", "init", "calibre8")

    line = lab.fails("repo", "jenkins", "calibre8", "nothing")
    assert "either the job does not exist" in line and "nothing-binaries / bin-nothing" in line
    assert "no amd64 .changes file in build 9" in lab.fails("repo", "jenkins", "calibre8", "hello", "--build=9")
    assert "--build='../7'" in lab.fails("repo", "jenkins", "calibre8", "hello", "--build=../7")

    fake_jenkins.routes[f"{PREFIX}job/hello-binaries/lastSuccessfulBuild/api/json"] = b"<html>maintenance</html>"
    line = lab.fails("repo", "jenkins", "calibre8", "hello")
    assert "not a Jenkins JSON answer" in line and "hello-binaries/lastSuccessfulBuild/api/json" in line
    del fake_jenkins.routes[f"{PREFIX}job/hello-binaries/lastSuccessfulBuild/api/json"]

    del fake_jenkins.routes[f"{PREFIX}job/bin-hello/7/artifact/hello-clara_1.0_amd64.changes"]
    line = lab.fails("repo", "jenkins", "calibre8", "hello")
    assert "bin-hello/7/artifact/hello-clara_1.0_amd64.changes: not found (HTTP 404)" in line

    build_json = f"{PREFIX}job/hello-binaries/lastSuccessfulBuild/api/json"
    fake_jenkins.failing[build_json] = 503
    line = lab.fails("repo", "jenkins", "calibre8", "hello")
    assert "hello-binaries/lastSuccessfulBuild/api/json?tree=" in line
    assert line.endswith(": Jenkins answered HTTP 503 Service Unavailable"), line
    del fake_jenkins.failing[build_json]
    fake_jenkins.stalled.add(build_json)
    lab.configure(repo={"jenkins_timeout": "500ms"})
    assert "Jenkins did not answer within 0.5 s" in lab.fails("repo", "jenkins", "calibre8", "hello")
    fake_jenkins.stalled.clear()

    lab.configure(common={"master_passwd_file": passwd_file(JENKINS_USER=USER, JENKINS_TOKEN="wrong")})
    line = lab.fails("repo", "jenkins", "calibre8", "hello")
    assert "Jenkins refused access (HTTP 401)" in line and "wrong" not in line

    lab.configure(repo={"jenkins_url": "http://127.0.0.1:1/"})  # nothing listens on port 1
    assert "cannot reach Jenkins at http://127.0.0.1:1/" in lab.fails("repo", "jenkins", "calibre8", "hello")
    lab.configure(repo={"jenkins_url": f"http://{USER}:{TOKEN}@127.0.0.1:1/"})
    line = lab.fails("repo", "jenkins", "calibre8", "hello")
    assert "jenkins_url holds credentials" in line and TOKEN not in line
    assert _listed(lab, "calibre8") == []
    assert list((lab.tmp / "clara-tmp").iterdir()) == []


def test_jenkins_api_over_tls(api_lab: RepoLab, packages: Packages) -> None:
    """TLS is verified: a self-signed Jenkins is refused with the system's CAs, accepted with
    [repo] jenkins_ca_bundle (its certificate, made by openssl)."""
    lab = api_lab
    cert, key = lab.tmp / "jenkins.crt", lab.tmp / "jenkins.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    with _serving(FakeJenkins(), tls) as jenkins:
        _record_hello(jenkins, packages)
        lab.ok("repo", "init", "calibre8")
        lab.configure(repo={"jenkins_url": jenkins.url})
        line = lab.fails("repo", "jenkins", "calibre8", "hello")
        assert "cannot reach Jenkins at https://127.0.0.1" in line and "CERTIFICATE_VERIFY_FAILED" in line
        assert _listed(lab, "calibre8") == []
        lab.configure(repo={"jenkins_ca_bundle": cert})
        assert "hello-clara_1.0_amd64.changes" in lab.ok("repo", "jenkins", "calibre8", "hello")
    assert {(r["name"], r["arch"]) for r in _listed(lab, "calibre8")} == {
        ("hello-clara", "source"),
        ("hello-clara", "amd64"),
    }
