"""The ``[repo]`` keys of an RPM distribution (``[repo-<dist>]`` wins over ``[repo]``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from clara_core.config import Config
from clara_core.errors import ConfigError
from clara_repo.settings import push_command, push_commands

DEFAULT_REPO_RPM = "/srv/repos"
DEFAULT_ARCHS = "x86_64,src,i686,noarch"
#: binary packages, then source packages, as the original laid them out
BINARY_DIR = "Packages"
SOURCE_DIR = "SPackages"


@dataclass(frozen=True)
class RpmSettings:
    """Where one distribution's RPM repository lives and how it is signed.

    :param path: ``<repo_rpm>/<dist>``: ``Packages/``, ``SPackages/`` and ``repodata/``.
    :param archs: ``archs_rpm``: the architectures a package may have here.
    :param refuse_unsigned: ``unsigned_rpms = refuse``: a package without a signature is
        refused (default ``accept``, as the original published what it was given).
    """

    dist: str
    path: Path
    archs: list[str]
    gpg_key: str
    gnupg_home: str
    passphrase_secret: str
    push: str
    hosts: list[str]
    refuse_unsigned: bool = False

    @classmethod
    def load(cls, config: Config, dist: str) -> RpmSettings:
        """Read the keys for ``dist`` (an allowed distribution)."""
        config.check_dist(dist)
        base = Path(config.get("repo", "repo_rpm", dist, default=DEFAULT_REPO_RPM))
        if not base.is_absolute():
            raise ConfigError(f"{config.where('repo', 'repo_rpm', dist)}: must be an absolute path, got {str(base)!r}")
        archs = config.get_list("repo", "archs_rpm", dist, default=DEFAULT_ARCHS.split(","))
        if not archs:
            raise ConfigError(f"[repo] archs_rpm of {dist}: empty: list at least one (default: {DEFAULT_ARCHS})")
        push, hosts = push_command(config, dist)
        unsigned = config.get("repo", "unsigned_rpms", dist, default="accept").strip().lower()
        if unsigned not in ("accept", "refuse"):
            raise ConfigError(f"[repo] unsigned_rpms of {dist}: 'accept' or 'refuse', got {unsigned!r}")
        return cls(
            dist=dist,
            path=base / dist,
            archs=archs,
            gpg_key=config.get("repo", "gpg_key", dist, default=""),
            gnupg_home=config.get("repo", "gnupg_home", dist, default=""),
            passphrase_secret=config.get("repo", "gpg_passphrase", dist, default=""),
            push=push,
            hosts=hosts,
            refuse_unsigned=unsigned == "refuse",
        )

    @property
    def repomd(self) -> Path:
        """``repodata/repomd.xml``: present once ``clara repo init`` ran."""
        return self.path / "repodata" / "repomd.xml"

    def gpg_env(self) -> dict[str, str]:
        """``GNUPGHOME`` when ``[repo] gnupg_home`` is set."""
        return {"GNUPGHOME": self.gnupg_home} if self.gnupg_home else {}

    def push_commands(self) -> list[list[str]]:
        """``[repo] push`` once per ``[repo] hosts`` entry (see :class:`~clara_repo.settings.RepoSettings`)."""
        return push_commands(self.push, self.hosts)
