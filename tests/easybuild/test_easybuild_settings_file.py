"""A user other than root: ``~/.config/easybuild.ini`` is read, as the original read it."""

from __future__ import annotations

from pathlib import Path

import pytest
from clara_easybuild import settings

from clara_core.config import Config


def test_the_users_easybuild_ini_is_read_for_non_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    system = Config.from_dict({"easybuild": {"prefix": "/software", "basedir": "/srv/eb"}})
    (tmp_path / ".config").mkdir()
    (tmp_path / ".config" / "easybuild.ini").write_text("[easybuild]\nprefix = /home/me/software\n", encoding="utf-8")
    monkeypatch.setattr(settings.os, "geteuid", lambda: 1000)
    mine = settings.with_user_file(system, home=tmp_path)
    assert mine.get("easybuild", "prefix") == "/home/me/software"  # the user's file wins
    assert mine.get("easybuild", "basedir") == "/srv/eb"  # what it does not set stays
    monkeypatch.setattr(settings.os, "geteuid", lambda: 0)
    assert settings.with_user_file(system, home=tmp_path) is system  # root: the system files only
    monkeypatch.setattr(settings.os, "geteuid", lambda: 1000)
    assert settings.with_user_file(system, home=tmp_path / "nobody") is system  # no such file
