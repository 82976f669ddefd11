"""Trust on first use of BMC certificates (``clara redfish trust``), against sushy emulators with
self-signed certificates, configured as a site of the original Clara would have it: the BMC names
from ``[ipmi] prefix``, nothing about TLS in ``[redfish]``.

Three emulators listen on 127.0.0.1, .2 and .3 (one port for all), so that with ``[ipmi] prefix =
127.0.0.`` the nodes ``1``, ``2`` and ``3`` each have their own BMC. They start with the same
self-signed certificate (a vendor's default one); a test renews one of them by restarting it.
"""

from __future__ import annotations

import socket
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from clara_lab.sushy import SushyFleet, Tls, start_sushy
from redfish_helpers import Rf, self_signed, sha256_of

IPS = ("127.0.0.1", "127.0.0.2", "127.0.0.3")
OTHER_LINES = ["# site comment, kept", "bmc-elsewhere.example:443 sha256:" + "ab" * 32]


@dataclass
class Bmcs:
    """Three emulators on 127.0.0.1-3 at ``port``; :meth:`renew` restarts one with another certificate."""

    directory: Path
    port: int
    tls: Tls
    fleets: list[SushyFleet] = field(default_factory=list)

    def start(self, k: int, tls: Tls) -> SushyFleet:
        return start_sushy(
            self.directory / f"bmc{k + 1}", processes=1, systems=1, tls=tls, ips=[IPS[k]], port=self.port
        )

    def renew(self, k: int, tls: Tls) -> None:
        """Restart the emulator of node ``k + 1`` with the certificate ``tls``."""
        self.fleets[k].stop()
        self.fleets[k] = self.start(k, tls)

    def stop(self) -> None:
        for fleet in self.fleets:
            fleet.stop()


@pytest.fixture(scope="module")
def bmcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bmcs]:
    """The three emulators, all with one self-signed certificate."""
    directory = tmp_path_factory.mktemp("trust")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    lab = Bmcs(directory, port, self_signed(directory / "vendor-default", IPS))
    try:
        for k in range(len(IPS)):
            lab.fleets.append(lab.start(k, lab.tls))
        yield lab
    finally:
        lab.stop()


def configure(rf: Rf, bmcs: Bmcs, **redfish: object) -> None:
    """The original's config.ini for these BMCs: ``[ipmi]`` names them; ``[redfish]`` has the port
    (the original's was always 443) and the test's known-hosts file."""
    rf.configure(
        {
            "ipmi": {"conmand": "atadmin1", "port": 7890, "parallel": 12, "prefix": "127.0.0.", "suffix": ""},
            "redfish": {"bmc_port": bmcs.port, **redfish},
        }
    )


def pinned_lines(rf: Rf) -> list[str]:
    return rf.known_hosts.read_text(encoding="utf-8").splitlines()


def test_first_use_refused_with_the_remedy_then_trusted(rf: Rf, bmcs: Bmcs) -> None:
    """Self-signed BMCs: refused with the command to run; `trust` pins them; later commands work."""
    configure(rf, bmcs)
    done = rf.clara("redfish", "status", "[1-3]")
    assert done.returncode == 1
    assert done.stdout.splitlines() == [  # one reason for the three BMCs: one line
        "[1-3]: error: certificate not trusted (self-signed certificate):"
        " run 'clara redfish trust' on these nodes to pin it, or set [redfish] ca_bundle / insecure = yes"
    ]
    assert "run 'clara redfish trust [1-3]'" in done.stderr
    assert "Traceback" not in done.stderr
    assert not rf.known_hosts.exists()

    done = rf.clara("redfish", "trust", "[1-2]")
    assert (done.returncode, done.stdout) == (0, f"[1-2]: trusted {sha256_of(bmcs.tls)}\n"), done.stderr
    lines = pinned_lines(rf)
    assert lines[1:] == [f"127.0.0.{n}:{bmcs.port} {sha256_of(bmcs.tls)}" for n in (1, 2)]
    assert lines[0].startswith("#")
    assert stat.S_IMODE(rf.known_hosts.stat().st_mode) == 0o644

    done = rf.clara("redfish", "status", "[1-3]")
    assert done.returncode == 1
    assert done.stdout.splitlines()[0] == "[1-2]: off"
    assert done.stdout.splitlines()[1].startswith("3: error: certificate not trusted")

    done = rf.clara("redfish", "trust", "[1-3]")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == ["[1-2]: already trusted", f"3: trusted {sha256_of(bmcs.tls)}"]
    done = rf.clara("redfish", "status", "[1-3]")
    assert (done.returncode, done.stdout) == (0, "[1-3]: off\n"), done.stderr
    assert len(pinned_lines(rf)) == 4


def test_changed_certificate_refused_loudly_until_replaced(rf: Rf, bmcs: Bmcs, tmp_path: Path) -> None:
    """A renewed certificate: every command refuses that BMC, `trust` too; `trust --replace` accepts it,
    rewriting that line only."""
    configure(rf, bmcs)
    rf.known_hosts.write_text("\n".join(OTHER_LINES) + "\n", encoding="utf-8")
    done = rf.clara("redfish", "trust", "[1-3]")
    assert done.returncode == 0, done.stdout + done.stderr
    before = pinned_lines(rf)
    assert before == [*OTHER_LINES, *(f"127.0.0.{n}:{bmcs.port} {sha256_of(bmcs.tls)}" for n in (1, 2, 3))]

    renewed = self_signed(tmp_path / "renewed", IPS)
    bmcs.renew(1, renewed)
    try:
        old, new = sha256_of(bmcs.tls), sha256_of(renewed)
        changed = (
            f"2: error: certificate changed ({old} pinned, {new} presented):"
            " if expected, run 'clara redfish trust --replace' on these nodes"
        )
        done = rf.clara("redfish", "status", "[1-3]")
        assert done.returncode == 1
        assert done.stdout.splitlines() == ["[1,3]: off", changed]
        assert "CHANGED for 2" in done.stderr and "clara redfish trust --replace 2" in done.stderr

        done = rf.clara("redfish", "trust", "[1-3]")
        assert done.returncode == 1
        assert done.stdout.splitlines() == [
            "[1,3]: already trusted",
            f"2: error: certificate changed ({old} pinned, {new} presented):"
            " if expected, run 'clara redfish trust --replace' on these nodes",
        ]
        assert pinned_lines(rf) == before

        done = rf.clara("redfish", "trust", "--replace", "[1-3]")
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.splitlines() == ["[1,3]: already trusted", f"2: trusted {new} (replaced {old})"]
        after = before.copy()
        after[3] = f"127.0.0.2:{bmcs.port} {new}"
        assert pinned_lines(rf) == after
        done = rf.clara("redfish", "status", "[1-3]")
        assert (done.returncode, done.stdout) == (0, "[1-3]: off\n"), done.stderr
    finally:
        bmcs.renew(1, bmcs.tls)


def test_config_keys_take_precedence_over_pins(rf: Rf, bmcs: Bmcs) -> None:
    """ca_bundle, fingerprint or insecure in config are used as before, whatever the file pins;
    `trust` still records, and says the pin is not used."""
    rf.known_hosts.write_text(f"127.0.0.1:{bmcs.port} sha256:{'00' * 32}\n", encoding="utf-8")
    configure(rf, bmcs)
    done = rf.clara("redfish", "status", "1")
    assert done.returncode == 1 and "certificate changed (sha256:0000" in done.stdout

    configure(rf, bmcs, ca_bundle=bmcs.tls.cert)  # the self-signed certificate as the site's CA
    done = rf.clara("redfish", "status", "1")
    assert (done.returncode, done.stdout) == (0, "1: off\n"), done.stdout + done.stderr

    configure(rf, bmcs, insecure="yes")
    done = rf.clara("redfish", "trust", "--replace", "[1-2]")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        f"1: trusted {sha256_of(bmcs.tls)} (replaced sha256:{'00' * 32}) (not used while [redfish] insecure is set)",
        f"2: trusted {sha256_of(bmcs.tls)} (not used while [redfish] insecure is set)",
    ]


def test_bad_known_hosts_file_is_one_line(rf: Rf, bmcs: Bmcs) -> None:
    """A malformed line stops the command before any BMC is contacted, naming the file and line."""
    rf.known_hosts.write_text("# pins\n127.0.0.1 sha256:abc\n", encoding="utf-8")
    configure(rf, bmcs)
    for args in (("status", "1"), ("trust", "1")):
        done = rf.clara("redfish", *args)
        assert (done.returncode, done.stdout) == (1, "")
        assert done.stderr.strip() == (
            f"clara: error: {rf.known_hosts}:2: expected '<bmc-host>:<port> sha256:<64 hex digits>',"
            " got '127.0.0.1 sha256:abc'"
        )


def test_trust_help_and_http(rf: Rf, bmcs: Bmcs) -> None:
    """The help says what the command does and where the file is; plain HTTP has nothing to pin."""
    done = rf.clara("redfish", "trust", "--help")
    assert done.returncode == 0
    assert "known_hosts" in done.stdout and "--replace" in done.stdout
    assert "/var/lib/clara/redfish_known_hosts" in done.stdout
    configure(rf, bmcs, scheme="http")
    done = rf.clara("redfish", "trust", "1")
    assert done.returncode == 1
    assert done.stdout == "1: error: [redfish] scheme = http: no certificate\n"
    assert not rf.known_hosts.exists()
