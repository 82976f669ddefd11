"""A fleet of 1,000+ BMCs of both kinds on one machine: ipmi_sim BMCs and sushy-tools systems.

:func:`start_fleet` starts ``ipmi`` simulated IPMI BMCs (one ``ipmi_sim``
process each, through :func:`clara_lab.ipmisim.start_bmcs`: a process holds
about 0.7 MB of its own memory, so 1,000 of them take under 1 GB and start in
a few seconds) and ``redfish`` Redfish systems (sushy-tools emulators over
HTTPS, :func:`clara_lab.sushy.start_sushy`, ``per_emulator`` systems behind
each process, as a chassis manager serves several nodes). It returns a
:class:`Fleet` that names the nodes, writes a Clara config reaching all of
them and stops every process it started (:meth:`Fleet.stop`, also on
``with`` exit and when starting fails half-way).

Node names: IPMI nodes ``bmc0000``... (each mapped to its loopback address
by an ``[ipmi:<node>]`` section), Redfish nodes ``node000``... (the
emulators' system names; ``[backends:<those nodes>]`` sends them to the
``redfish`` backend). Build node sets with :meth:`Fleet.nodeset`, which folds
names of mixed widths correctly (``node[000-999],node1000``).

``python -m clara_lab.fleet DIR [--ipmi N] [--redfish N]`` starts a fleet,
prints the command to try and keeps it until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from clara_lab.ipmisim import BmcLab, start_bmcs, write_ini
from clara_lab.sushy import PASSWORD, USER, SushyFleet, Tls, make_tls, start_sushy

#: Systems behind one emulator process by default (a process serves about 200 requests/s).
PER_EMULATOR = 128
#: Name format of the IPMI nodes.
IPMI_NAMES = "bmc{:04d}"
_BACKENDS = ("power", "boot_device", "sel")


def fold(names: list[str]) -> str:
    """The folded node set of ``names`` (``bmc[0000-0999]``)."""
    from ClusterShell.NodeSet import NodeSet

    return str(NodeSet.fromlist(names))


@dataclass
class Fleet:
    """The BMCs started by :func:`start_fleet`, their credentials and a way to stop them."""

    root: Path
    ipmi: BmcLab | None
    redfish: SushyFleet | None
    tls: Tls | None
    user: str = USER
    password: str = PASSWORD
    _stopped: bool = field(default=False, repr=False)

    @property
    def ipmi_nodes(self) -> list[str]:
        """IPMI node names, in order (``bmc0000``...)."""
        return self.ipmi.names if self.ipmi else []

    @property
    def redfish_nodes(self) -> list[str]:
        """Redfish node names, in order (``node000``...)."""
        if self.redfish is None:
            return []
        return [name for emu in self.redfish.emulators for name in emu.names()]

    @staticmethod
    def nodeset(names: list[str]) -> str:
        """``names`` folded into one node set string."""
        return fold(names)

    def secrets(self) -> Path:
        """The 0600 secrets file (``IMMUSER``/``IMMPASSWORD``) under the fleet's folder."""
        path = self.root / "master_passwd"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(f"IMMUSER={self.user}\nIMMPASSWORD={self.password}\n")
        return path

    def sections(self) -> dict[str, dict[str, str]]:
        """Config sections reaching every node: secrets, backends per kind, addresses.

        ``[ipmi]`` carries the shared UDP port, ``[ipmi:<node>]`` each BMC's address;
        ``[redfish]`` the CA and host, ``[redfish:<nodes>]`` each emulator's port; the
        Redfish nodes get the ``redfish`` backend for power, boot device and event log.
        """
        sections: dict[str, dict[str, str]] = {"common": {"master_passwd_file": str(self.secrets())}}
        if self.ipmi is not None:
            for name, keys in self.ipmi.config_sections().items():
                sections[name] = dict(keys)
        if self.redfish is not None and self.redfish.emulators:
            sections["backends:" + fold(self.redfish_nodes)] = dict.fromkeys(_BACKENDS, "redfish")
            first = self.redfish.emulators[0]
            base = {"bmc_host": first.ip}
            if self.tls is not None:
                base["ca_bundle"] = str(self.tls.ca)
            sections["redfish"] = base
            for emu in self.redfish.emulators:
                sections[f"redfish:{fold(emu.names())}"] = {"bmc_host": emu.ip, "bmc_port": str(emu.port)}
        return sections

    def write_config(self, path: Path | None = None, extra: Mapping[str, Mapping[str, str]] | None = None) -> Path:
        """Write :meth:`sections` (updated key by key with ``extra``) as an INI file; return its path."""
        sections = self.sections()
        for name, keys in (extra or {}).items():
            sections.setdefault(name, {}).update(keys)
        return write_ini(path or self.root / "clara.ini", sections)

    def stop(self) -> None:
        """Stop every process of the fleet (ipmi_sim and emulators, by their PIDs); idempotent."""
        if self._stopped:
            return
        self._stopped = True
        try:
            if self.ipmi is not None:
                self.ipmi.stop()
        finally:
            if self.redfish is not None:
                self.redfish.stop()

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def start_fleet(
    root: str | os.PathLike[str],
    ipmi: int = 1000,
    redfish: int = 1000,
    *,
    per_emulator: int = PER_EMULATOR,
    ready_timeout: float = 300.0,
) -> Fleet:
    """Start ``ipmi`` ipmi_sim BMCs and ``redfish`` Redfish systems under ``root``.

    Redfish systems are served by ``ceil(redfish / per_emulator)`` sushy-tools processes
    over HTTPS (a CA made here, :attr:`Fleet.tls`), shared out evenly (the last
    process's systems beyond ``redfish``, if any, are not nodes of the fleet). Either
    count may be 0. Returns once every BMC answers; on any failure, whatever started is
    stopped before the error propagates.
    """
    root_path = Path(root)
    root_path.mkdir(parents=True, exist_ok=True)
    fleet = Fleet(root_path, None, None, None)
    try:
        if ipmi:
            fleet.ipmi = _start_ipmi(root_path, ipmi, ready_timeout)
        if redfish:
            fleet.tls = make_tls(root_path / "tls", ["127.0.0.1", "localhost"])
            processes = -(-redfish // per_emulator)
            systems = -(-redfish // processes)  # as even as can be: 1,000 is 8 x 125
            fleet.redfish = start_sushy(root_path / "redfish", processes=processes, systems=systems,
                                        tls=fleet.tls, timeout=ready_timeout)
            _trim(fleet.redfish, redfish)
    except BaseException:
        fleet.stop()
        raise
    return fleet


def _start_ipmi(root: Path, count: int, ready_timeout: float, attempts: int = 3) -> BmcLab:
    """Start the IPMI BMCs, in a fresh folder up to ``attempts`` times.

    Other labs on the machine pick loopback addresses and ports too: one may take an address
    between the moment it was found free and the moment a simulator binds it, and that
    simulator exits at start (``start_bmcs`` then stops the others and raises).
    """
    error: RuntimeError | None = None
    for attempt in range(attempts):
        try:
            return start_bmcs(root / f"ipmi{attempt or ''}", count, name_format=IPMI_NAMES, user=USER,
                              password=PASSWORD, ready_timeout=ready_timeout)
        except RuntimeError as exc:
            error = exc
    assert error is not None
    raise error


def _trim(fleet: SushyFleet, count: int) -> None:
    """Serve ``count`` systems in all: the last emulator's extra systems are not counted as nodes."""
    for emu in fleet.emulators:
        emu.systems = max(0, min(emu.systems, count - emu.offset))


def main(argv: list[str] | None = None) -> int:
    """``python -m clara_lab.fleet DIR [--ipmi N] [--redfish N]``: start a fleet, print how to
    reach it, keep it until Ctrl-C or SIGTERM, then stop every process."""
    parser = argparse.ArgumentParser(prog="python -m clara_lab.fleet", description=main.__doc__)
    parser.add_argument("directory", help="where the BMCs' folders, config and secrets go")
    parser.add_argument("--ipmi", type=int, default=1000, help="ipmi_sim BMCs (default 1000)")
    parser.add_argument("--redfish", type=int, default=1000, help="Redfish systems (default 1000)")
    parser.add_argument("--per-emulator", type=int, default=PER_EMULATOR, help="systems per sushy-tools process")
    args = parser.parse_args(argv)
    started = time.monotonic()
    fleet = start_fleet(args.directory, args.ipmi, args.redfish, per_emulator=args.per_emulator)
    try:
        config = fleet.write_config()
        nodes = fold(fleet.ipmi_nodes + fleet.redfish_nodes)
        print(f"{len(fleet.ipmi_nodes)} IPMI BMCs and {len(fleet.redfish_nodes)} Redfish systems up in "
              f"{time.monotonic() - started:.1f}s; try:\n  CLARA_CONFIG={config} clara power status '{nodes}'",
              flush=True)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        signal.pause()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        fleet.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
