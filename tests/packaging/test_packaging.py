"""The Debian packages, built and installed the way a site does it (slow).

``scripts/build-debs.sh`` builds every package (lintian errors fail it), or ``$CLARA_DEBS``
names a directory that already holds them (built there first when it holds none). A fresh
Debian 12 root is made with mmdebstrap, and the packages are installed in it with apt: no venv,
no pip, only the .debs and Debian's own packages. Then, inside the root (chroot, which shares the
host's network): the version and plugin listings, a man page, bash completion, and real commands
against peers started on the host, which also prove the code works with Debian 12's versions of
its libraries (pyghmi 1.5.34, pluggy 1.0, cryptography 38, python-gnupg 0.4.9, urllib3 1.26):
``clara ipmi`` against ipmi_sim BMCs on loopback, ``clara redfish`` against the sushy-tools
emulator, ``clara enc`` with both stores.

Run as root (mmdebstrap in root mode, chroot), as CI does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from clara_lab.ipmisim import BmcLab

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = ROOT / "scripts" / "build-debs.sh"
def host_mirror(default: str = "http://deb.debian.org/debian") -> str:
    """The Debian mirror this machine's apt uses (the root is made from the same one; CI
    machines reach Debian's repositories, maybe through a mirror of their own)."""
    import re

    texts = [p.read_text(encoding="utf-8", errors="replace")
             for p in (Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*.sources")),
                       *sorted(Path("/etc/apt/sources.list.d").glob("*.list"))) if p.is_file()]
    for text in texts:
        for uri in re.findall(r"^(?:URIs:\s*|deb\s+(?:\[[^]]*\]\s+)?)(\S+)", text, re.M):
            if uri.startswith("http") and uri.rstrip("/").endswith("/debian"):
                return uri.rstrip("/")
    return default


MIRROR = host_mirror()
SUITE = "bookworm"
#: What the test needs in the root besides the packages: man for `man -w`, bash's completion
#: loader, gpg's agent for the gnupg store.
EXTRA_PACKAGES = "man-db,bash-completion,gpg-agent"
#: Every binary package of debian/control, and the library packaged for Debian 12.
PACKAGES = (
    "clara",
    "clara-core",
    "clara-enc",
    "clara-images",
    "clara-ipmi",
    "clara-ipmitool",
    "clara-redfish",
    "clara-repo",
    "clara-slurm",
    "clara-virt",
    "clara-easybuild",
)
LIBRARIES = ("python3-torf",)
#: The top-level commands each plugin package gives `clara`.
COMMANDS = (
    "boot",
    "build",
    "chroot",
    "easybuild",
    "enc",
    "images",
    "ipmi",
    "p2p",
    "plugins",
    "power",
    "redfish",
    "repo",
    "sel",
    "slurm",
    "virt",
)
PASSWORD = "Pkg-Secret-51c2"


def _need(program: str) -> None:
    if shutil.which(program) is None and shutil.which(program, path="/usr/sbin:/sbin") is None:
        pytest.skip(f"{program} not installed")


@pytest.fixture(scope="module")
def debs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory of the .deb files: ``$CLARA_DEBS`` (built there if empty) or built for the run."""
    if os.geteuid() != 0:
        pytest.skip("the packaging test runs as root (mmdebstrap root mode, chroot)")
    for program in ("dpkg-buildpackage", "mmdebstrap", "chroot", "ipmi_sim"):
        _need(program)
    given = os.environ.get("CLARA_DEBS")
    out = Path(given) if given else tmp_path_factory.mktemp("debs")
    if not list(out.glob("clara-core_*.deb")):
        done = subprocess.run([str(BUILD_SCRIPT), str(out)], capture_output=True, text=True, timeout=900, check=False)
        assert done.returncode == 0, f"build-debs.sh failed:\n{done.stdout[-4000:]}\n{done.stderr[-6000:]}"
    return out


@pytest.fixture(scope="module")
def debian_root(debs: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh Debian 12 root with the packages installed by apt inside it (removed afterwards)."""
    root = tmp_path_factory.mktemp("debian-root") / "root"
    files = sorted(str(p) for name in (*PACKAGES, *LIBRARIES) for p in debs.glob(f"{name}_*_all.deb"))
    assert len(files) == len(PACKAGES) + len(LIBRARIES), f"missing packages in {debs}: {files}"
    install = "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends " + " ".join(
        f"/tmp/debs/{Path(f).name}" for f in files
    )
    done = subprocess.run(
        [
            "mmdebstrap",
            "--mode=root",
            "--variant=apt",
            f"--include={EXTRA_PACKAGES}",
            '--customize-hook=mkdir -p "$1/tmp/debs"',
            "--customize-hook=copy-in " + " ".join(files) + " /tmp/debs",
            f'--customize-hook=chroot "$1" sh -c "{install}"',
            '--customize-hook=rm -rf "$1/tmp/debs"',
            SUITE,
            str(root),
            MIRROR,
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, f"mmdebstrap failed:\n{done.stderr[-6000:]}"
    yield root
    shutil.rmtree(root, ignore_errors=True)


def in_root(
    root: Path, *argv: str, env: Mapping[str, str] | None = None, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` inside the root as root, with a clean environment."""
    base = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": "/root",
        "LANG": "C.UTF-8",
        "TERM": "dumb",
    }
    return subprocess.run(
        ["chroot", str(root), *argv],
        env={**base, **(env or {})},
        input=input,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def write_in_root(root: Path, path: str, text: str, mode: int = 0o600) -> str:
    """Write a file inside the root; its path as seen inside."""
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    target.chmod(mode)
    return path


def ini(sections: Mapping[str, Mapping[str, object]]) -> str:
    """An INI file's text from ``{section: {key: value}}``."""
    return "".join(
        f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items()) + "\n" for name, keys in sections.items()
    )


# -- what the packages install ----------------------------------------------------------------------


def test_version_lists_every_plugin(debian_root: Path) -> None:
    """``clara --version``: the core, then each installed plugin package's version."""
    done = in_root(debian_root, "clara", "--version")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "clara 0.1.0"
    for name in PACKAGES[2:]:
        assert f"{name} 0.1.0" in lines, done.stdout


def test_plugins_load_cleanly_with_the_installed_config(debian_root: Path) -> None:
    """``clara plugins`` with the packaged /etc/clara/config.ini (all commented): every plugin,
    and not a warning (pluggy 1.0, Debian's click and ClusterShell)."""
    assert (debian_root / "etc/clara/config.ini").is_file()
    done = in_root(debian_root, "clara", "plugins")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    for plugin in ("ipmi", "ipmitool", "redfish", "slurm", "enc", "repo", "images", "virt"):
        assert plugin in done.stdout
    helped = in_root(debian_root, "clara", "--help")
    for command in COMMANDS:
        assert f"  {command} " in helped.stdout, helped.stdout


def test_conffiles_and_log_directory(debian_root: Path) -> None:
    """The /etc/clara files are conffiles of their packages; /var/log/clara is 0750 with logrotate."""
    conffiles = {
        "clara-core": ["/etc/clara/config.ini", "/etc/logrotate.d/clara"],
        "clara-repo": ["/etc/clara/repos.ini"],
        "clara-virt": [
            "/etc/clara/virt.ini",
            "/etc/clara/templates/vm/default.xml",
            "/etc/clara/templates/volume/default.xml",
        ],
    }
    for package, paths in conffiles.items():
        listed = (debian_root / f"var/lib/dpkg/info/{package}.conffiles").read_text().split()
        assert set(paths) <= set(listed), (package, listed)
    assert (debian_root / "var/log/clara").stat().st_mode & 0o777 == 0o750


def test_man_pages(debian_root: Path) -> None:
    """``man -w`` finds the core's page and each plugin's, installed by its package."""
    for page, package in (("clara", "clara-core"), ("clara-ipmi", "clara-ipmi"), ("clara-repo", "clara-repo")):
        done = in_root(debian_root, "man", "-w", page)
        assert done.returncode == 0, done.stderr
        path = done.stdout.strip()
        assert path == f"/usr/share/man/man1/{page}.1.gz"
        owner = in_root(debian_root, "dpkg", "-S", path)
        assert owner.stdout.startswith(f"{package}:"), owner.stdout
    text = in_root(debian_root, "man", "-P", "cat", "clara-ipmi", env={"MANWIDTH": "100"}).stdout
    for section in ("NAME", "SYNOPSIS", "OPTIONS", "COMMANDS", "clara ipmi status"):
        assert section in text


def test_bash_completion(debian_root: Path) -> None:
    """``clara ip<TAB>`` through bash-completion's loader and the installed script gives ``ipmi``;
    zsh and fish scripts are where those shells look."""
    script = (
        "source /usr/share/bash-completion/bash_completion\n"
        "_completion_loader clara\n"
        "complete -p clara >&2\n"
        'COMP_WORDS=(clara ip); COMP_CWORD=1; COMP_LINE="clara ip"; COMP_POINT=${#COMP_LINE}\n'
        "_clara_completion clara ip clara\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = in_root(debian_root, "bash", "-c", script)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ipmi"], (done.stdout, done.stderr)
    verbs = in_root(
        debian_root,
        "bash",
        "-c",
        script.replace("(clara ip)", "(clara ipmi st)")
        .replace("COMP_CWORD=1", "COMP_CWORD=2")
        .replace('"clara ip"', '"clara ipmi st"'),
    )
    assert verbs.stdout.split() == ["status"], (verbs.stdout, verbs.stderr)
    assert (debian_root / "usr/share/zsh/vendor-completions/_clara").is_file()
    assert (debian_root / "usr/share/fish/vendor_completions.d/clara.fish").is_file()


# -- real commands inside the root, against peers on the host -------------------------------------


@pytest.fixture(scope="module")
def bmc_lab(debian_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BmcLab]:
    """Two ipmi_sim BMCs on loopback, started on the host (the root shares its network)."""
    from clara_lab.ipmisim import start_bmcs

    lab = start_bmcs(tmp_path_factory.mktemp("bmcs"), 2, password=PASSWORD)
    yield lab
    lab.stop()


def _ipmi_config(root: Path, lab: BmcLab, name: str, **ipmi: str) -> str:
    sections: dict[str, dict[str, object]] = {
        "common": {"master_passwd_file": "/etc/clara/master_passwd"},
        "ipmi": {"timeout": 10, "retries": 0, **ipmi},
    }
    for section, keys in lab.config_sections().items():
        sections.setdefault(section, {}).update(keys)
    write_in_root(root, "/etc/clara/master_passwd", f"IMMUSER={lab.user}\nIMMPASSWORD={PASSWORD}\n")
    return write_in_root(root, f"/root/{name}.ini", ini(sections))


@pytest.mark.parametrize("engine", ["batch", "pyghmi"])
def test_ipmi_status_against_ipmi_sim(debian_root: Path, bmc_lab: BmcLab, engine: str) -> None:
    """``clara ipmi status`` inside the root answers for BMCs on the host's loopback, with the
    built-in engine and with Debian's pyghmi."""
    config = _ipmi_config(debian_root, bmc_lab, f"ipmi-{engine}", engine=engine)
    bmcs = bmc_lab.bmcs
    bmcs[0].set_power(True)
    bmcs[1].set_power(False)
    done = in_root(debian_root, "clara", f"--config={config}", "ipmi", "status", "node[000-001]")
    assert done.returncode == 0, done.stderr
    assert "node000" in done.stdout and "on" in done.stdout
    assert "node001" in done.stdout and "off" in done.stdout


def test_ipmi_getmac_through_pyghmi(debian_root: Path, bmc_lab: BmcLab) -> None:
    """``clara ipmi getmac`` (FRU read through Debian's pyghmi 1.5.34)."""
    config = _ipmi_config(debian_root, bmc_lab, "ipmi-getmac")
    done = in_root(debian_root, "clara", f"--config={config}", "ipmi", "getmac", "node000")
    assert done.returncode == 0, done.stderr
    for mac in bmc_lab.bmcs[0].macs():
        assert mac.lower() in done.stdout.lower()


def test_redfish_status_against_sushy(debian_root: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """``clara redfish status`` with Debian's urllib3 1.26, verified against a test CA, on the
    sushy-tools emulator started on the host."""
    pytest.importorskip("sushy_tools", reason="sushy-tools not installed in this venv")
    from clara_lab.sushy import PASSWORD as RF_PASSWORD
    from clara_lab.sushy import USER as RF_USER
    from clara_lab.sushy import make_tls, start_sushy

    work = tmp_path_factory.mktemp("sushy")
    tls = make_tls(work / "tls", ["127.0.0.1"])
    fleet = start_sushy(work, processes=1, systems=1, tls=tls)
    try:
        emu = fleet.emulators[0]
        write_in_root(debian_root, "/root/rf-ca.pem", tls.ca.read_text(), mode=0o644)
        write_in_root(debian_root, "/etc/clara/rf_passwd", f"IMMUSER={RF_USER}\nIMMPASSWORD={RF_PASSWORD}\n")
        config = write_in_root(
            debian_root,
            "/root/redfish.ini",
            ini(
                {
                    "common": {"master_passwd_file": "/etc/clara/rf_passwd"},
                    "redfish": {
                        "bmc_host": emu.ip,
                        "bmc_port": emu.port,
                        "ca_bundle": "/root/rf-ca.pem",
                        "known_hosts": "/root/rf_known_hosts",
                    },
                }
            ),
        )
        done = in_root(debian_root, "clara", f"--config={config}", "redfish", "status", "node000")
    finally:
        fleet.stop()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "node000" in done.stdout


def test_enc_openssl_store_round_trip(debian_root: Path) -> None:
    """``clara enc encode`` then ``decode`` with the openssl store (Debian's cryptography 38)."""
    write_in_root(debian_root, "/etc/clara/enc_passwd", "ASUPASSWD=a-long-enough-password-123\n")
    config = write_in_root(
        debian_root,
        "/root/enc.ini",
        ini(
            {
                "common": {"master_passwd_file": "/etc/clara/enc_passwd", "digest_type": "sha256"},
            }
        ),
    )
    secret = write_in_root(debian_root, "/root/enc/secret.txt", "db_password: hunter2\n")
    encoded = in_root(debian_root, "clara", f"--config={config}", "enc", "encode", secret)
    assert encoded.returncode == 0, encoded.stderr
    assert (debian_root / "root/enc/secret.txt.enc").read_bytes().startswith(b"Salted__")
    (debian_root / "root/enc/secret.txt").unlink()
    decoded = in_root(debian_root, "clara", f"--config={config}", "enc", "decode", secret + ".enc")
    assert decoded.returncode == 0, decoded.stderr
    assert (debian_root / "root/enc/secret.txt").read_text() == "db_password: hunter2\n"


def test_enc_gnupg_store_round_trip(debian_root: Path) -> None:
    """The gnupg store with Debian's python-gnupg 0.4.9 and gpg 2.2: encode then decode."""
    home = "/root/gnupg"
    (debian_root / home.lstrip("/")).mkdir(mode=0o700, exist_ok=True)
    gpg = ["gpg", "--homedir", home, "--batch"]
    try:
        made = in_root(
            debian_root,
            *gpg,
            "--passphrase",
            "",
            "--quick-gen-key",
            "clara-pkg@example.org",
            "default",
            "default",
            "never",
        )
        assert made.returncode == 0, made.stderr
        write_in_root(debian_root, "/etc/clara/gpg_passwd", "IMMUSER=admin\n")
        config = write_in_root(
            debian_root,
            "/root/gpg.ini",
            ini(
                {
                    "common": {"master_passwd_file": "/etc/clara/gpg_passwd"},
                    "backends": {"secret_store": "gnupg"},
                    "enc": {"gpg_home": home, "gpg_recipients": "clara-pkg@example.org"},
                }
            ),
        )
        secret = write_in_root(debian_root, "/root/gpg/secret.txt", "token: s3cr3t\n")
        encoded = in_root(debian_root, "clara", f"--config={config}", "enc", "encode", secret)
        assert encoded.returncode == 0, encoded.stderr
        (debian_root / "root/gpg/secret.txt").unlink()
        decoded = in_root(debian_root, "clara", f"--config={config}", "enc", "decode", secret + ".enc")
        assert decoded.returncode == 0, decoded.stderr
        assert (debian_root / "root/gpg/secret.txt").read_text() == "token: s3cr3t\n"
    finally:
        in_root(debian_root, "gpgconf", "--homedir", home, "--kill", "all")
