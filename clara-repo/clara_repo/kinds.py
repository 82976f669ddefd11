"""Which kind of repository a distribution has (Debian or RPM) and which backend serves it.

As the original Clara: ``scibian*`` and ``calibre*`` are Debian; a name holding
``rpm-hpc``, or ``rhel``, ``centos``, ``almalinux``, ``rocky`` or ``el`` followed
by a version, is RPM; another ``<letters><version>`` name is Debian when its
letters are ``debian``; any other name follows ``[repo] distro`` (``debian`` or
``rhel``; Debian when unset, where the original assumed ``rhel``). ``[backends]
package_repo``, when set, serves every distribution.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from clara_core.capabilities import PACKAGE_REPO
from clara_core.errors import ConfigError

if TYPE_CHECKING:
    from clara_core.config import Config
    from clara_core.context import Context
    from clara_core.protocols import PackageRepoBackend

DEB = "deb"
RPM = "rpm"
#: the backend of each kind when ``[backends] package_repo`` is not set
DEFAULT_BACKENDS = {DEB: "reprepro", RPM: "createrepo"}
_KIND_OF_BACKEND = {name: kind for kind, name in DEFAULT_BACKENDS.items()}
_RHEL_LIKE = ("rhel", "centos", "almalinux", "rocky", "el")
_DISTROS = {"debian": DEB, "rhel": RPM}


def kind_by_name(config: Config, dist: str) -> str:
    """``deb`` or ``rpm`` for ``dist``, from its name, else ``[repo] distro``."""
    if re.match(r"scibian|calibre", dist):
        return DEB
    if "rpm-hpc" in dist:
        return RPM
    match = re.match(r"(?P<distro>[a-z]+)\d+", dist)
    if match:
        return RPM if match.group("distro") in _RHEL_LIKE else DEB
    distro = config.get("repo", "distro", dist, default="debian")
    if distro not in _DISTROS:
        raise ConfigError(f"{config.where('repo', 'distro', dist)}: {distro!r} is not supported (debian or rhel)")
    return _DISTROS[distro]


def explicit_backend(config: Config) -> str:
    """``[backends] package_repo`` when set in a file, else ""."""
    found = config.lookup("backends", PACKAGE_REPO.name)
    return config.get("backends", PACKAGE_REPO.name, default="") if found else ""


def backend_name(config: Config, dist: str) -> str:
    """The ``package_repo`` backend serving ``dist``."""
    return explicit_backend(config) or DEFAULT_BACKENDS[kind_by_name(config, dist)]


def kind(config: Config, dist: str) -> str:
    """``deb`` or ``rpm``: the kind of the backend serving ``dist`` (by name when it is a third one)."""
    return _KIND_OF_BACKEND.get(backend_name(config, dist)) or kind_by_name(config, dist)


def backend_for(ctx: Context, dist: str) -> PackageRepoBackend:
    """The backend serving ``dist``."""
    return ctx.backend(PACKAGE_REPO, backend_name(ctx.config, dist))
