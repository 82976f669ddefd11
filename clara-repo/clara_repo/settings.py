"""The ``[repo]`` and ``[build]`` keys of one distribution (``[repo-<dist>]`` wins over ``[repo]``)."""

from __future__ import annotations

import shlex
import string
from dataclasses import dataclass
from pathlib import Path

from clara_core.config import Config
from clara_core.errors import ConfigError

DEFAULT_REPOS_INI = "/etc/clara/repos.ini"


def words(value: str) -> str:
    """A list written with commas or spaces, as reprepro wants it (spaces)."""
    return " ".join(value.replace(",", " ").split())


def _bad(config: Config, key: str, dist: str, problem: str) -> ConfigError:
    """``<file>: [section] key: problem`` for the ``[repo]`` key of ``dist`` (set, since it is wrong)."""
    return ConfigError(f"{config.where('repo', key, dist)}: {problem}")


def _non_empty_words(config: Config, key: str, dist: str, default: str) -> str:
    value = words(config.get("repo", key, dist, default=default))
    if not value:
        raise _bad(config, key, dist, f"empty: list at least one (default: {default})")
    return value


def _command(config: Config, key: str, dist: str) -> str:
    value = config.get("repo", key, dist, default="")
    try:
        shlex.split(value)
    except ValueError as exc:
        raise _bad(config, key, dist, f"not a valid command line ({exc}): {value}") from None
    return value


def _check_host_fields(config: Config, key: str, dist: str, command: str) -> None:
    """The original ran ``command.format(host)``: only ``{}`` and ``{0}`` (with an optional
    ``!conversion`` or ``:spec``) may appear, ``{{`` and ``}}`` being literal braces."""
    for arg in shlex.split(command):
        try:
            fields = [name for _text, name, _spec, _conv in string.Formatter().parse(arg) if name is not None]
            arg.format("host")
        except (ValueError, IndexError, KeyError, AttributeError, TypeError) as exc:
            raise _bad(config, key, dist, f"{arg!r}: not a valid {{0}} pattern ({exc}); write {{{{ and }}}} "
                                          f"for literal braces") from None
        for name in fields:
            if name not in ("", "0"):
                raise _bad(config, key, dist, f"{arg!r}: only {{}} or {{0}} (the host) may appear, got "
                                              f"{{{name}}}; write {{{{ and }}}} for literal braces")


def push_command(config: Config, dist: str) -> tuple[str, list[str]]:
    """``[repo] push`` (checked) and ``[repo] hosts`` of ``dist``."""
    push = _command(config, "push", dist)
    hosts = config.get_list("repo", "hosts", dist, default=[])
    if hosts:
        _check_host_fields(config, "push", dist, push)
    return push, hosts


def push_commands(push: str, hosts: list[str]) -> list[list[str]]:
    """``push`` as argument lists, one per host (see :meth:`RepoSettings.push_commands`)."""
    if not push:
        return []
    template = shlex.split(push)
    if not template:
        return []
    if not hosts:
        return [template]
    return [[arg.format(host) for arg in template] for host in hosts]


@dataclass(frozen=True)
class RepoSettings:
    """Where and how one distribution's reprepro repository lives.

    :param repo_dir: reprepro's base directory (``conf/``, ``db/``).
    :param outdir: the published tree (``dists/``, ``pool/``): ``mirror_local``,
        by default ``<repo_dir>/mirror`` as in the seed.
    """

    dist: str
    repo_dir: Path
    outdir: Path
    gpg_key: str
    origin: str
    clustername: str
    version: str
    architectures: str
    components: str
    udeb_components: str
    gnupg_home: str
    passphrase_secret: str
    push: str
    hosts: list[str]

    @classmethod
    def load(cls, config: Config, dist: str) -> RepoSettings:
        """Read the keys for ``dist`` (which must be an allowed distribution); a malformed
        ``components``, ``architectures`` or ``push`` is a :class:`ConfigError` at once."""
        config.check_dist(dist)
        repo_dir = Path(config.get("repo", "repo_dir", dist))
        if not repo_dir.is_absolute():
            raise _bad(config, "repo_dir", dist, f"must be an absolute path, got {str(repo_dir)!r}")
        mirror_local = config.get("repo", "mirror_local", dist, default="")
        origin = config.get("repo", "origin", dist, default="") or config.get("common", "origin", dist, default="Clara")
        push, hosts = push_command(config, dist)
        return cls(
            dist=dist,
            repo_dir=repo_dir,
            outdir=Path(mirror_local) if mirror_local else repo_dir / "mirror",
            gpg_key=config.get("repo", "gpg_key", dist, default=""),
            origin=origin,
            clustername=config.get("repo", "clustername", dist, default=dist),
            version=config.get("repo", "version", dist, default=""),
            architectures=_non_empty_words(config, "architectures", dist, "amd64 source"),
            components=_non_empty_words(config, "components", dist, "main contrib non-free"),
            udeb_components=config.get("repo", "udeb_components", dist, default="main"),
            gnupg_home=config.get("repo", "gnupg_home", dist, default=""),
            passphrase_secret=config.get("repo", "gpg_passphrase", dist, default=""),
            push=push,
            hosts=hosts,
        )

    def gpg_env(self) -> dict[str, str]:
        """Environment for gpg and reprepro: ``GNUPGHOME`` when ``[repo] gnupg_home`` is set."""
        return {"GNUPGHOME": self.gnupg_home} if self.gnupg_home else {}

    def push_commands(self) -> list[list[str]]:
        """The ``[repo] push`` command as argument lists (never a shell), one per ``[repo] hosts``
        entry, formatted with the host as the original did (``command.format(host)``): ``{0}``
        or ``{}`` is the host, ``{{`` and ``}}`` are braces. Without hosts the command runs
        once, as written (the original did not format it then)."""
        return push_commands(self.push, self.hosts)
