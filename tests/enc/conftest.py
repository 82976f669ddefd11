"""Fixtures of the clara-enc tests: a site (config + master password file), a
throwaway GnuPG home, and the leak-watching editor/pager script."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from enc_support import PASSWORD, WATCHER, GpgHome, Site, new_gpg_home, write_pass_file


@pytest.fixture(autouse=True)
def _only_enc_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    """Load only this distribution's plugin: other plugins' state cannot break these tests."""
    monkeypatch.setenv("CLARA_PLUGINS", "enc")
    monkeypatch.delenv("EDITOR", raising=False)
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.delenv("PAGER", raising=False)
    monkeypatch.delenv("CLARA_ENC_MASTER_KEY", raising=False)
    # A key read from the environment is kept for the process (and removed from the
    # environment); each test starts as a new process would.
    from clara_enc import masterfile

    masterfile._taken_from_env.clear()


@pytest.fixture
def make_site(
    tmp_path: Path, clara_config: Callable[..., Path], passwd_file: Callable[..., Path]
) -> Callable[..., Site]:
    """``make_site(digest="sha256", password=PASSWORD, **extra_sections)``: config + master file."""

    def make(digest: str = "sha256", password: str = PASSWORD, **sections: dict[str, object]) -> Site:
        master = passwd_file(ASUPASSWD=password, IMMUSER="admin", IMMPASSWORD="bmc-secret-value")
        common: dict[str, object] = {"master_passwd_file": master, "digest_type": digest}
        common.update(sections.pop("common", {}))
        config = clara_config({"common": common, **sections})
        pass_file = write_pass_file(tmp_path / "openssl-pass", password)
        return Site(tmp_path, config, master, pass_file, digest)

    return make


@pytest.fixture
def site(make_site: Callable[..., Site]) -> Site:
    """The default site: sha256, :data:`PASSWORD`."""
    return make_site()


@pytest.fixture
def gpg_home(monkeypatch: pytest.MonkeyPatch) -> Iterator[GpgHome]:
    """A fresh GNUPGHOME (exported for clara) with a passphrase-less key; its agent is stopped after."""
    with new_gpg_home() as gpg:
        monkeypatch.setenv("GNUPGHOME", str(gpg.home))
        yield gpg


@pytest.fixture
def watcher(tmp_path: Path) -> Path:
    """The path of the leak-watching editor/pager script (see :data:`WATCHER`)."""
    script = tmp_path / "watcher.py"
    script.write_text(f"#!{sys.executable}\n{WATCHER}", encoding="utf-8")
    script.chmod(0o755)
    return script
