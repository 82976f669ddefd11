"""Contract of the ``image_builder`` capability (``clara images``, ``clara chroot``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class BootstrapRequest:
    """What to bootstrap, as the ``[images]`` or ``[chroot]`` keys (and their
    ``[section-dist]`` overrides) say.

    :param section: ``images`` or ``chroot``: which config section it comes from.
    :param dist: the distribution, a member of ``allowed_distributions``.
    :param suite: the release to install (the seed's ``debiandist``, e.g. ``bookworm``).
    :param mirror: where the packages come from (the seed's ``debmirror``).
    :param variant: the bootstrap variant (``minbase``...), empty for the tool's default.
    :param gpg_check: whether the mirror's signatures are checked.
    :param gpg_keyring: the keyring to check them with, empty for the tool's default.
    :param cache_dir: where a backend may keep bootstrapped trees for reuse, empty for none.
    :param options: every key of the section after overrides, for keys of a backend's own.
    """

    section: str
    dist: str
    suite: str
    mirror: str
    variant: str = ""
    gpg_check: bool = True
    gpg_keyring: str = ""
    cache_dir: str = ""
    options: Mapping[str, str] = field(default_factory=dict)


class ImageBuilderBackend(Protocol):
    """Bootstraps a root file system."""

    def bootstrap(self, request: BootstrapRequest, target: Path) -> None:
        """Create a minimal system as ``request`` says in the empty directory ``target``.

        Raise :class:`~clara_core.errors.ClaraError` on failure; leave nothing mounted.
        """
        ...
