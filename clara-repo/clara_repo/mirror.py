"""Mirror backends for ``clara repo sync``: ``debmirror`` and ``reprepro-update``.

Suites come from ``[repo] suites`` of each distribution; each suite is a
section of ``repos.ini`` (``[repo] repos_ini``, by default
``/etc/clara/repos.ini``) with ``server``, ``mirror_dir``, ``suite_name``,
``sections``, ``archs``, ``method`` and ``mirror_root``; a key missing there
is read from ``[repo-<dist>]``/``[repo]`` as the seed did. repos.ini is read
as config.ini is (``%(name)s``, ``%%`` and ``[DEFAULT]``, as the seed's
ConfigParser did). Optional keys:
``keyring`` (verify the remote Release with it; otherwise it is not checked,
as in the seed) and, for reprepro-update, ``sign_with`` (default ``[repo]
gpg_key``) to sign the re-exported indices.

Both backends publish through :func:`clara_repo.publish.publish`.
"""

from __future__ import annotations

import abc
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from clara_core.config import Config, read_file
from clara_core.errors import ClaraError, ConfigError, UsageError
from clara_repo import gpg
from clara_repo.publish import publish
from clara_repo.runner import run
from clara_repo.settings import DEFAULT_REPOS_INI, words

if TYPE_CHECKING:
    from clara_core.context import Context


@dataclass(frozen=True)
class Suite:
    """One remote suite to mirror, with every key resolved."""

    name: str
    dist: str
    server: str
    mirror_dir: str
    suite_name: str
    sections: list[str]
    archs: list[str]
    method: str
    mirror_root: Path
    keyring: Path | None
    sign_with: str

    @property
    def target(self) -> Path:
        """``<mirror_root>/<suite>``: where clients find the mirror."""
        return self.mirror_root / self.name

    @property
    def url(self) -> str:
        """The remote archive's root URL."""
        root = self.mirror_dir.strip("/")
        return f"{self.method}://{self.server}/{root}".rstrip("/")


class MirrorSync(abc.ABC):
    """What both mirror backends share: choosing suites and reading repos.ini."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.config = ctx.config

    def suites_of(self, dist: str) -> list[str]:
        """``[repo] suites`` of ``dist``."""
        return self.config.get_list("repo", "suites", dist, default=[])

    def select(self, dist: str | None, suites: Sequence[str]) -> list[tuple[str, str]]:
        """The (suite, dist) pairs to sync; a suite foreign to ``dist`` is a usage error."""
        if dist is None:
            return [(s, d) for d in self.config.allowed_distributions() for s in self.suites_of(d)]
        self.config.check_dist(dist)
        valid = self.suites_of(dist)
        for suite in suites:
            if suite not in valid:
                raise UsageError(
                    f"{suite} is not a valid suite from distribution {dist}. "
                    f"Valid suites are: {','.join(valid) or 'none ([repo] suites is empty)'}"
                )
        return [(s, dist) for s in (suites or valid)]

    def repos_ini(self) -> Config:
        """The parsed ``repos.ini``, read as config.ini is: ``%(name)s`` and ``%%`` expanded as
        ConfigParser's ``BasicInterpolation`` did for the original, ``[DEFAULT]`` seen in every
        section; a lone ``%`` or a reference to no key is a one-line error when the key is read."""
        path = Path(self.config.get("repo", "repos_ini", default=DEFAULT_REPOS_INI))
        if not path.is_file():
            raise ClaraError(f"File {path} not found.")
        return Config([read_file(path)])

    def resolve(self, repos: Config, suite: str, dist: str) -> Suite:
        """Every key of ``suite``: repos.ini first, then ``[repo-<dist>]``/``[repo]``."""
        if not repos.has_section(suite):
            raise ConfigError(f"Suite '{suite}' of {dist} has no section in repos.ini")

        def get(key: str, default: str | None = None) -> str:
            found: str | None = repos.get(suite, key, default=None)
            if found is not None:
                return found.strip()
            value = self.config.get("repo", key, dist, default=default)
            if value is None:
                raise ConfigError(f"Value '{key}' not found in section '{suite}'")
            return str(value)

        keyring = get("keyring", "")
        return Suite(
            name=suite,
            dist=dist,
            server=get("server"),
            mirror_dir=get("mirror_dir", ""),
            suite_name=get("suite_name", suite),
            sections=words(get("sections", "main")).split(),
            archs=words(get("archs", "amd64")).split(),
            method=get("method", "http"),
            mirror_root=Path(get("mirror_root")),
            keyring=Path(keyring) if keyring else None,
            sign_with=get("sign_with", "") or get("gpg_key", ""),
        )

    def sync(self, dist: str | None, suites: Sequence[str]) -> None:
        """Mirror the selected suites, each published only once complete."""
        pairs = self.select(dist, suites)
        if not pairs:
            raise ConfigError("no suite to sync: set [repo] suites")
        repos = self.repos_ini()
        resolved = [self.resolve(repos, s, d) for s, d in pairs]
        for suite in resolved:
            publish(suite.target, functools.partial(self.fetch, suite))

    @abc.abstractmethod
    def fetch(self, suite: Suite, staging: Path) -> None:
        """Bring ``staging`` (a clone of the current mirror) up to date."""

    def gpg_env(self, suite: Suite) -> dict[str, str]:
        """``GNUPGHOME`` from ``[repo] gnupg_home`` when set."""
        home = self.config.get("repo", "gnupg_home", suite.dist, default="")
        return {"GNUPGHOME": home} if home else {}


class DebmirrorSync(MirrorSync):
    """``debmirror`` into the staging snapshot, as the seed ran it."""

    def fetch(self, suite: Suite, staging: Path) -> None:
        """Run debmirror for one suite."""
        check = (
            [f"--keyring={suite.keyring}"] if suite.keyring else ["--ignore-release-gpg", "--ignore-missing-release"]
        )
        if suite.keyring and not suite.keyring.is_file():
            raise ClaraError(f"{suite.keyring}: no such keyring file (repos.ini [{suite.name}] keyring)")
        run(
            [
                "debmirror",
                "--diff=none",
                "--nosource",
                "--rsync-extra=none",
                *check,
                f"--method={suite.method}",
                f"--arch={','.join(suite.archs)}",
                f"--host={suite.server}",
                f"--root={suite.mirror_dir or '/'}",
                f"--dist={suite.suite_name}",
                f"--section={','.join(suite.sections)}",
                str(staging),
            ],
            env=self.gpg_env(suite),
            what=f"debmirror {suite.name}",
        )


class RepreproUpdateSync(MirrorSync):
    """reprepro's own ``update`` (conf/updates) into the staging snapshot.

    The reprepro database lives in the snapshot's ``.reprepro/`` (copied
    from the current snapshot, like everything but ``pool/``). Indices are re-signed
    with ``sign_with`` (default ``[repo] gpg_key``) when set.
    """

    def fetch(self, suite: Suite, staging: Path) -> None:
        """Write conf/distributions and conf/updates, then ``reprepro update``."""
        env = self.gpg_env(suite)
        verify = "blindtrust"
        if suite.keyring:
            fingerprints = gpg.keyring_fingerprints(suite.keyring, env)
            if not fingerprints:
                raise ClaraError(f"{suite.keyring}: no public key in this keyring")
            gpg.import_keys(suite.keyring.read_bytes(), env)
            verify = "|".join(f[-16:] for f in fingerprints)  # reprepro takes long key ids
        if suite.sign_with:
            gpg.require_secret_key(suite.sign_with, env)
            secret = self.config.get("repo", "gpg_passphrase", suite.dist, default="")
            if secret:
                gpg.unlock(suite.sign_with, self.ctx.secret(secret), env)
            gpg.check_can_sign(suite.sign_with, env)
        base = staging / ".reprepro"
        (base / "conf").mkdir(parents=True, exist_ok=True)
        components = " ".join(suite.sections)
        archs = " ".join(suite.archs)
        sign = f"SignWith: {suite.sign_with}\n" if suite.sign_with else ""
        (base / "conf" / "distributions").write_text(
            f"Codename: {suite.suite_name}\nSuite: {suite.suite_name}\nLabel: {suite.name}\n"
            f"Architectures: {archs}\nComponents: {components}\nUpdate: clara-remote\n{sign}"
            "DebIndices: Packages Release . .gz\n",
            encoding="utf-8",
        )
        (base / "conf" / "updates").write_text(
            f"Name: clara-remote\nMethod: {suite.url}\nSuite: {suite.suite_name}\nComponents: {components}\n"
            f"Architectures: {archs}\nVerifyRelease: {verify}\n",
            encoding="utf-8",
        )
        run(
            ["reprepro", "--basedir", str(base), "--outdir", str(staging), "--noskipold", "update", suite.suite_name],
            env=env,
            what=f"reprepro update {suite.name}",
        )
