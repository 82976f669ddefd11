"""What ``clara p2p`` does: torrent files for images, and the trackers and seeders that serve them.

``[p2p]`` keys (the original's):

* ``trackers``: ``<nodeset>:<torrent>`` pairs separated by ``;``: the
  torrent file made for the trackers of the node set (a bare node set: the
  torrent is ``<image>.torrent``);
* ``seeders``: the same form; the node sets seed, and receive every torrent;
* ``trackers_port``, ``trackers_schema``: the announce URLs
  ``<schema>://<tracker>:<port>/announce``;
* ``init_status``, ``init_start``, ``init_stop``: commands run on the nodes,
  ``{0}`` replaced by ``tracking_service`` (default ``opentracker``) or
  ``seeding_service`` (default ``ctorrent``);
* ``sftp_user``, ``sftp_private_key``, ``sftp_passphrase``: when
  ``sftp_user`` is set, each torrent is copied to every seeder, into the
  directory of its path.

Clara's additions: ``clush_worker`` (``ssh``, the default, or ``exec``: run
the command locally once per node, ``%h`` replaced by the node name; for a
boot server that is the local host, and for tests), ``clush_timeout``
(seconds, default 60), ``sftp_options`` and ``sftp_passphrase_secret`` (as
in ``[images]``); without ``[p2p] sftp_user``, the torrents go to
``[images] hosts``.

The image is hashed once, in-process (torf); each torrent is written
through a temporary file renamed into place.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from ClusterShell.NodeSet import NodeSet

from clara_core.config import Config
from clara_core.errors import ClaraError, ConfigError, NodeSetError
from clara_core.logs import register_secret
from clara_core.nodes import parse_nodeset
from clara_images.procs import step
from clara_images.squashfs import remove_stale, temp_beside


@dataclass(frozen=True)
class Assignment:
    """Nodes serving one torrent (``torrent`` None: every torrent)."""

    nodes: NodeSet
    torrent: str | None


def parse_assignments(value: str, key: str) -> list[Assignment]:
    """``nodeset`` or ``nodeset:torrent;nodeset:torrent`` to assignments."""
    found = []
    for part in value.split(";"):
        part = part.strip()
        if not part:
            continue
        nodes, sep, torrent = part.partition(":")
        try:
            nodeset = parse_nodeset(nodes.strip(), allow_empty=True)
        except NodeSetError as exc:
            raise ConfigError(f"[p2p] {key}: {nodes.strip()!r}: invalid node set: {exc}") from None
        if len(nodeset) == 0:
            raise ConfigError(f"[p2p] {key}: an entry has no node")
        found.append(Assignment(nodeset, torrent.strip() if sep and torrent.strip() else None))
    return found


def nodes_for(assignments: list[Assignment], torrent: Path | None = None) -> NodeSet:
    """The nodes of every assignment, or only of those naming ``torrent`` (all when none does)."""
    every = NodeSet.fromlist([str(a.nodes) for a in assignments]) if assignments else NodeSet()
    if torrent is None:
        return every
    matching = [str(a.nodes) for a in assignments if a.torrent and Path(a.torrent) == torrent]
    return NodeSet.fromlist(matching) if matching else every


@dataclass
class P2pSettings:
    """The ``[p2p]`` section (with ``[p2p-<dist>]`` overrides when a dist is given)."""

    trackers: list[Assignment]
    seeders: list[Assignment]
    trackers_port: int
    trackers_schema: str
    init_status: str
    init_start: str
    init_stop: str
    tracking_service: str
    seeding_service: str
    worker: str
    timeout: float
    sftp_user: str = ""
    sftp_private_key: str = ""
    sftp_passphrase: str = field(default="", repr=False)
    sftp_passphrase_secret: str = ""
    sftp_options: list[str] = field(default_factory=list)

    def torrents(self, image: Path) -> dict[Path, list[str]]:
        """Each torrent file to write, with its announce URLs.

        A ``trackers`` entry naming a torrent gets that file, announcing its
        own trackers; the entries without one share ``<image>.torrent``.
        """
        found: dict[Path, list[str]] = {}
        for entry in self.trackers:
            path = Path(entry.torrent) if entry.torrent else image.with_name(image.name + ".torrent")
            urls = found.setdefault(path, [])
            urls += [url for url in self.announce(entry.nodes) if url not in urls]
        return found

    def announce(self, nodes: NodeSet) -> list[str]:
        """The announce URLs of the trackers ``nodes``."""
        return [f"{self.trackers_schema}://{node}:{self.trackers_port}/announce" for node in nodes]


def load_p2p(config: Config, dist: str | None = None) -> P2pSettings:
    """Read ``[p2p]``; missing keys are clear config errors."""

    def text(key: str, default: Any = None) -> str:
        if default is None:
            return config.get("p2p", key, dist).strip()
        return config.get("p2p", key, dist, default=default).strip()

    passphrase = text("sftp_passphrase", "")
    register_secret(passphrase)
    worker = text("clush_worker", "ssh").lower()
    if worker not in ("ssh", "exec"):
        raise ConfigError(f"[p2p] clush_worker: {worker!r}: expected ssh or exec")
    return P2pSettings(
        trackers=parse_assignments(text("trackers", ""), "trackers"),
        seeders=parse_assignments(text("seeders", ""), "seeders"),
        trackers_port=config.get_int("p2p", "trackers_port", dist, default=6881, minimum=1),
        trackers_schema=text("trackers_schema", "http"),
        init_status=text("init_status", "service {0} status"),
        init_start=text("init_start", "service {0} start"),
        init_stop=text("init_stop", "service {0} stop"),
        tracking_service=text("tracking_service", "opentracker"),
        seeding_service=text("seeding_service", "ctorrent"),
        worker=worker,
        timeout=config.get_float("p2p", "clush_timeout", dist, default=60.0, minimum=1.0),
        sftp_user=text("sftp_user", ""),
        sftp_private_key=text("sftp_private_key", ""),
        sftp_passphrase=passphrase,
        sftp_passphrase_secret=text("sftp_passphrase_secret", ""),
        sftp_options=config.get_list("p2p", "sftp_options", dist, default=[]),
    )


@dataclass(frozen=True)
class RemoteResult:
    """The folded outcome of one command on some nodes."""

    nodes: NodeSet
    code: int | None  # None: timed out
    output: str


def clush(nodes: NodeSet, command: str, worker: str = "ssh", timeout: float = 60.0) -> list[RemoteResult]:
    """Run ``command`` on ``nodes`` through ClusterShell; results folded by (exit code, output)."""
    if len(nodes) == 0:
        return []
    from ClusterShell.Task import task_self
    from ClusterShell.Worker.Exec import ExecWorker
    from ClusterShell.Worker.Ssh import WorkerSsh

    task = task_self()
    cls = ExecWorker if worker == "exec" else WorkerSsh
    task.schedule(cls(nodes=NodeSet(nodes), handler=None, timeout=timeout, command=command, stderr=False))
    task.resume()
    outputs: dict[str, str] = {}
    for buf, keys in task.iter_buffers():
        for key in keys:
            outputs[str(key)] = bytes(buf).decode("utf-8", errors="replace")
    groups: dict[tuple[int | None, str], list[str]] = {}
    for code, keys in task.iter_retcodes():
        for key in keys:
            groups.setdefault((code, outputs.get(str(key), "")), []).append(str(key))
    for key in task.iter_keys_timeout():
        groups.setdefault((None, "timed out"), []).append(str(key))
    return [RemoteResult(NodeSet.fromlist(members), code, out) for (code, out), members in groups.items()]


def report(label: str, results: list[RemoteResult]) -> bool:
    """Print ``nodes (label): output`` per group, folded like clubak; True when every node exited 0."""
    ok = True
    for result in sorted(results, key=lambda r: str(r.nodes)):
        state = "" if result.code == 0 else f" [exit {result.code}]" if result.code is not None else " [timeout]"
        ok = ok and result.code == 0
        lines = result.output.strip().splitlines() or ["(no output)"]
        prefix = f"{result.nodes} ({label}){state}:"
        if len(lines) == 1:
            click.echo(f"{prefix} {lines[0]}")
        else:
            click.echo(prefix)
            for line in lines:
                click.echo(f"    {line}")
    return ok


def _command(settings: P2pSettings, action: str, kind: str, torrent: Path | None = None) -> tuple[NodeSet, str, str]:
    """The nodes, service and ``init_<action>`` command for the trackers or the seeders; bad templates refused."""
    template = {"status": settings.init_status, "start": settings.init_start, "stop": settings.init_stop}[action]
    if kind == "tracker":
        nodes, service = nodes_for(settings.trackers, torrent), settings.tracking_service
    else:
        nodes, service = nodes_for(settings.seeders, torrent), settings.seeding_service
    try:
        command = template.format(service)
    except (IndexError, KeyError, ValueError):
        raise ConfigError(f"[p2p] init_{action}: {template!r}: use {{0}} for the service name") from None
    return nodes, service, command


def _service(settings: P2pSettings, action: str, kind: str, torrent: Path | None = None) -> bool:
    """Run ``init_<action>`` for the trackers or the seeders; True when every node succeeded."""
    nodes, service, command = _command(settings, action, kind, torrent)
    if len(nodes) == 0:
        return True
    return report(f"{service} {action}", clush(nodes, command, settings.worker, settings.timeout))


def _check_cycle(settings: P2pSettings, torrent: Path | None = None) -> None:
    """Refuse (config error) a stop or start command that cannot be made, before anything is stopped."""
    for action in ("stop", "start"):
        for kind in ("tracker", "seeder"):
            _command(settings, action, kind, torrent)


def _cycle(settings: P2pSettings, torrent: Path | None = None) -> bool:
    """Stop the seeders then the trackers, start the trackers then the seeders; True when all succeeded.

    The commands are checked before anything is stopped, and whatever
    happens while stopping, the services are started again.
    """
    _check_cycle(settings, torrent)
    stopped = started = True
    try:
        stopped = _service(settings, "stop", "seeder", torrent)
        stopped = _service(settings, "stop", "tracker", torrent) and stopped
    finally:
        try:
            started = _service(settings, "start", "tracker", torrent)
        finally:
            started = _service(settings, "start", "seeder", torrent) and started
    return stopped and started


def status(config: Config) -> bool:
    """Status of every tracker and seeder; True when all are fine."""
    settings = load_p2p(config)
    if not settings.trackers and not settings.seeders:
        raise ConfigError("[p2p] trackers and seeders: missing (no node to ask)")
    trackers_ok = _service(settings, "status", "tracker")
    return _service(settings, "status", "seeder") and trackers_ok


def restart(config: Config, torrent: Path | None = None, dist: str | None = None) -> bool:
    """Stop the seeders then the trackers, start the trackers then the seeders."""
    settings = load_p2p(config, dist)
    if not settings.trackers and not settings.seeders:
        raise ConfigError("[p2p] trackers and seeders: missing (no node to restart)")
    return _cycle(settings, torrent)


def hash_image(image: Path, comment: str = "") -> Any:
    """The torrent metadata of ``image`` (pieces hashed on every core), without trackers yet."""
    import torf

    if not image.is_file():
        raise ClaraError(f"The file {image} doesn't exist")
    meta = torf.Torrent(path=image, created_by="clara", comment=comment or None)
    progress = sys.stderr.isatty()

    def show(_t: Any, _path: str, done: int, total: int) -> None:
        click.echo(f"\rclara: hashing {image.name}: {100 * done // max(total, 1)}%", err=True, nl=False)

    step(f"hashing {image} ({image.stat().st_size // (1 << 20)} MiB)")
    try:
        meta.generate(threads=os.cpu_count() or 1, callback=show if progress else None, interval=0.5)
    except torf.TorfError as exc:
        raise ClaraError(f"{image}: cannot make the torrent: {exc}") from None
    if progress:
        click.echo("", err=True)
    return meta


def write_torrent(meta: Any, torrent: Path, announce: list[str]) -> Path:
    """Write ``meta`` announcing ``announce`` (one tier) to ``torrent`` atomically, mode 0644."""
    import torf

    if not announce:
        raise ConfigError("[p2p] trackers: missing (the torrent needs at least one tracker)")
    meta.trackers = [announce]  # one tier: clients pick any tracker of it
    remove_stale(torrent)
    tmp = temp_beside(torrent)
    try:
        meta.write(tmp, overwrite=True)
        tmp.chmod(0o644)
        os.replace(tmp, torrent)
    except (OSError, torf.TorfError) as exc:
        raise ClaraError(f"{torrent}: cannot write: {exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    step(f"torrent {torrent} (info hash {meta.infohash})")
    return torrent


def make_torrent(image: Path, torrent: Path, announce: list[str], comment: str = "") -> Path:
    """Hash ``image`` and write ``torrent`` atomically; every tracker in one tier."""
    if not announce:
        raise ConfigError("[p2p] trackers: missing (the torrent needs at least one tracker)")
    return write_torrent(hash_image(image, comment), torrent, announce)


def _by_dir(files: list[Path]) -> dict[Path, list[Path]]:
    groups: dict[Path, list[Path]] = {}
    for path in files:
        groups.setdefault(path.parent, []).append(path)
    return groups


def copy_torrents(
    settings: P2pSettings, images: Any, torrents: list[Path], secret: Callable[[str], str] | None
) -> None:
    """Copy the torrents: to every seeder with ``[p2p] sftp_*`` (the original's way), else to ``[images] hosts``."""
    from clara_images import sftp

    if settings.sftp_user:
        hosts = list(nodes_for(settings.seeders))
        if not hosts:
            raise ConfigError("[p2p] seeders: missing (sftp_user is set: the torrents go to the seeders)")
        key = sftp.passphrase(settings.sftp_passphrase, settings.sftp_passphrase_secret, secret, "p2p")
        for directory, files in _by_dir(torrents).items():
            sftp.upload(
                hosts,
                settings.sftp_user,
                settings.sftp_private_key,
                files,
                str(directory),
                0o644,
                "p2p",
                settings.sftp_options,
                key,
            )
    elif images.hosts:
        for files in _by_dir(torrents).values():
            images.upload(files, 0o644, secret)


def mktorrent(
    config: Config, dist: str, image: Path | None, secret: Callable[[str], str] | None = None
) -> tuple[list[Path], bool]:
    """Make the torrents of ``dist``'s image (and copy them), then restart its trackers and seeders.

    Nothing is stopped before the torrents are written and copied: a bad
    config or a failed write leaves the seeders serving the previous torrents.

    :param secret: reads a secret from the store (``sftp_passphrase_secret``).
    Returns the torrents and whether every tracker/seeder command succeeded.
    """
    from clara_images.settings import load_settings

    images = load_settings(config, "images", dist)
    path = Path(image) if image else images.image
    if not path.is_file():
        raise ClaraError(f"The file {path} doesn't exist")
    settings = load_p2p(config, dist)
    wanted = settings.torrents(path)
    if not wanted:
        raise ConfigError("[p2p] trackers: missing (the torrent needs at least one tracker)")
    # everything that can fail (config, hashing, writing, copying) before a service is stopped
    _check_cycle(settings)
    meta = hash_image(path, comment=f"clara image {dist}")
    written = [write_torrent(meta, torrent, announce) for torrent, announce in wanted.items()]
    copy_torrents(settings, images, written, secret)
    return written, _cycle(settings)
