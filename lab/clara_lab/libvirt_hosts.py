"""Two (or more) libvirt "hypervisor hosts" on one machine, for ``clara virt``.

Each host is an unprivileged (session) ``libvirtd`` with its own socket under a
directory; Clara reaches it as ``test+unix:///default?socket=<dir>/run/libvirt/libvirt-sock``,
libvirt's test driver served by a real daemon. The test driver keeps its state
only while a connection is open, so the handle holds one "keeper" connection
per host until :meth:`LibvirtHosts.stop`.

As root, libvirtd would run privileged (and die on the missing ``libvirt-qemu``
user): the daemons run as a plain user, created when missing
(``useradd --system``, default name ``clara-libvirt``). The directory must sit
where that user can traverse (``/tmp/...``), which :func:`start_hosts` checks.

A host can be filled from a libvirt test-driver host description file (the
``<node>`` format of ``test:///path/host.xml``): its networks, pools with
volumes and domains are created in the daemon, domains started unless they
carry ``<test:runstate>5</test:runstate>``.

Used by the tests of ``clara-virt`` and by the demo; no pytest here::

    hosts = start_hosts(Path("/tmp/lab-virt"), ["hv1", "hv2"])
    hosts["hv1"].load_description(Path("host1.xml"))
    ...
    hosts.stop()
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_USER = "clara-libvirt"
TEST_NS = "http://libvirt.org/schemas/domain/test/1.0"
_SHUTOFF = "5"


class LabError(RuntimeError):
    """A lab peer could not be started or set up."""


def ensure_user(name: str = DEFAULT_USER) -> pwd.struct_passwd:
    """Return the account ``name``, creating a system user without a home when missing (root only)."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    if os.geteuid() != 0:
        raise LabError(f"user {name} does not exist and only root can create it")
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                   check=True, capture_output=True)
    return pwd.getpwnam(name)


@dataclass
class LibvirtHost:
    """One session libvirtd standing for one hypervisor host."""

    name: str
    directory: Path
    process: subprocess.Popen[bytes] | None = None
    keeper: Any = None  # the libvirt connection that keeps the test driver's state alive

    @property
    def socket(self) -> Path:
        """The daemon's UNIX socket."""
        return self.directory / "run" / "libvirt" / "libvirt-sock"

    @property
    def uri(self) -> str:
        """The libvirt URI Clara uses for this host."""
        return f"test+unix:///default?socket={self.socket}"

    @property
    def running(self) -> bool:
        """Whether the daemon is alive."""
        return self.process is not None and self.process.poll() is None

    def connect(self) -> Any:
        """A new libvirt connection to this host (libvirt-python imported here)."""
        import libvirt

        libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
        return libvirt.open(self.uri)

    def reset(self) -> None:
        """Remove every domain and every volume (the test driver's sample ``test``
        domain included), leaving an empty host with its pools and networks."""
        conn = self.keeper
        for dom in conn.listAllDomains():
            if dom.isActive():
                dom.destroy()
            dom.undefine()
        for pool in conn.listAllStoragePools():
            if pool.isActive():
                for vol in pool.listAllVolumes():
                    vol.delete(0)

    def load_description(self, path: Path) -> None:
        """Create the networks, pools, volumes and domains of a test-driver host file."""
        root = ET.parse(path).getroot()
        conn = self.keeper
        existing_nets = {n.name() for n in conn.listAllNetworks()}
        for net in root.findall("network"):
            name = net.findtext("name", "")
            if name in existing_nets:
                continue
            conn.networkDefineXML(ET.tostring(net, encoding="unicode")).create()
        existing_pools = {p.name() for p in conn.listAllStoragePools()}
        for pool in root.findall("pool"):
            volumes = pool.findall("volume")
            for vol in volumes:
                pool.remove(vol)
            name = pool.findtext("name", "")
            if name not in existing_pools:
                handle = conn.storagePoolDefineXML(ET.tostring(pool, encoding="unicode"), 0)
                handle.create(0)
            handle = conn.storagePoolLookupByName(name)
            for vol in volumes:
                handle.createXML(ET.tostring(vol, encoding="unicode"), 0)
        for dom in root.findall("domain"):
            runstate = dom.find(f"{{{TEST_NS}}}runstate")
            shutoff = runstate is not None and (runstate.text or "").strip() == _SHUTOFF
            if runstate is not None:
                dom.remove(runstate)
            handle = conn.defineXML(ET.tostring(dom, encoding="unicode"))
            if not shutoff:
                handle.create()

    def start(self, user: str | None) -> None:
        """Start the daemon (as ``user`` when given) and open the keeper connection."""
        run = self.directory / "run"
        for sub in ("run", "home", "config", "cache"):
            (self.directory / sub).mkdir(parents=True, exist_ok=True)
        uid = gid = None
        if user is not None:
            account = ensure_user(user)
            uid, gid = account.pw_uid, account.pw_gid
            for path in [self.directory, *self.directory.rglob("*")]:
                os.chown(path, uid, gid)
        env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "HOME": str(self.directory / "home"),
            "XDG_RUNTIME_DIR": str(run),
            "XDG_CONFIG_HOME": str(self.directory / "config"),
            "XDG_CACHE_HOME": str(self.directory / "cache"),
        }
        daemon = shutil.which("libvirtd") or shutil.which("libvirtd", path="/usr/sbin:/sbin")
        if daemon is None:
            raise LabError("libvirtd is not installed (Debian package libvirt-daemon)")
        with (self.directory / "libvirtd.log").open("wb") as log:
            self.process = subprocess.Popen(
                [daemon], env=env, cwd=self.directory, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True, user=uid, group=gid,
                extra_groups=[] if uid is not None else None,
            )
        deadline = time.monotonic() + 20
        while not self.socket.exists():
            if not self.running:
                raise LabError(f"libvirtd for {self.name} exited; see {self.directory / 'libvirtd.log'}")
            if time.monotonic() > deadline:
                raise LabError(f"libvirtd for {self.name} did not create {self.socket}")
            time.sleep(0.02)
        self.keeper = self._first_connection(deadline)
        self.reset()

    def _first_connection(self, deadline: float) -> Any:
        """Connect, retrying while the daemon finishes starting its drivers (the socket
        appears before they are ready)."""
        while True:
            try:
                return self.connect()
            except Exception as exc:
                if not self.running or time.monotonic() > deadline:
                    raise LabError(f"cannot connect to libvirtd of {self.name} at {self.uri}: {exc}; "
                                   f"see {self.directory / 'libvirtd.log'}") from exc
                time.sleep(0.05)

    def stop(self) -> None:
        """Close the keeper connection and stop the daemon (SIGTERM, then SIGKILL)."""
        if self.keeper is not None:
            with contextlib.suppress(Exception):
                self.keeper.close()
            self.keeper = None
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@dataclass
class LibvirtHosts:
    """The started hosts, by name."""

    hosts: dict[str, LibvirtHost] = field(default_factory=dict)

    def __getitem__(self, name: str) -> LibvirtHost:
        return self.hosts[name]

    def __iter__(self) -> Iterator[LibvirtHost]:
        return iter(self.hosts.values())

    def stop(self) -> None:
        """Stop every host's daemon."""
        for host in self.hosts.values():
            host.stop()

    def __enter__(self) -> LibvirtHosts:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _check_traversable(directory: Path) -> None:
    for parent in directory.resolve().parents:
        if not os.stat(parent).st_mode & 0o001:
            raise LabError(f"{parent} is not traversable by other users; put the lab directory under /tmp")


def start_hosts(directory: Path, names: Sequence[str], user: str | None = DEFAULT_USER) -> LibvirtHosts:
    """Start one session libvirtd per name under ``directory/<name>``.

    :param user: the plain user the daemons run as when we are root (ignored
        otherwise: a non-root caller's daemons run as itself).
    """
    if os.geteuid() != 0:
        user = None
    directory.mkdir(parents=True, exist_ok=True)
    if user is not None:
        _check_traversable(directory)
        account = ensure_user(user)
        os.chown(directory, account.pw_uid, account.pw_gid)
    started = LibvirtHosts()
    try:
        for name in names:
            host = LibvirtHost(name, directory / name)
            started.hosts[name] = host
            host.start(user)
    except BaseException:
        started.stop()
        raise
    return started


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m clara_lab.libvirt_hosts DIR NAME=HOSTFILE ...``: start the hosts, load
    their description files, print ``name uri`` lines, and run until interrupted."""
    import argparse

    parser = argparse.ArgumentParser(description="Start session libvirtd 'hypervisor hosts' for clara virt.")
    parser.add_argument("directory", type=Path)
    parser.add_argument("hosts", nargs="+", metavar="NAME[=HOSTFILE]")
    args = parser.parse_args(argv)
    names = [spec.split("=", 1)[0] for spec in args.hosts]
    with start_hosts(args.directory, names) as hosts:
        for spec in args.hosts:
            name, _, path = spec.partition("=")
            if path:
                hosts[name].load_description(Path(path))
            print(name, hosts[name].uri, flush=True)

        def interrupt(_signum: int, _frame: object) -> None:
            """Turn SIGTERM into a clean stop."""
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, interrupt)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
