"""The atomic publication of mirrors (clara_repo.publish), in process."""

from __future__ import annotations

from pathlib import Path

import pytest
from clara_repo.publish import SNAPSHOTS, publish

from clara_core.errors import ClaraError


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_repo_publish_swaps_snapshots_and_keeps_old_on_failure(tmp_path: Path) -> None:
    final = tmp_path / "mirrors" / "suite"

    def fill(staging: Path) -> None:
        _write(staging / "dists" / "Release", "v1")
        _write(staging / "pool" / "main" / "a.deb", "deb")

    first = publish(final, fill)
    assert final.is_symlink() and (final / "dists" / "Release").read_text() == "v1"

    def update(staging: Path) -> None:
        # pool files are hard links (free), indices are copies (safe to rewrite in place)
        assert (staging / "pool/main/a.deb").stat().st_ino == (first / "pool/main/a.deb").stat().st_ino
        assert (staging / "dists/Release").stat().st_ino != (first / "dists/Release").stat().st_ino
        _write(staging / "dists" / "Release", "v2")

    second = publish(final, update)
    assert (final / "dists" / "Release").read_text() == "v2" and not first.exists()

    def broken(staging: Path) -> None:
        _write(staging / "dists" / "Release", "half")
        raise ClaraError("network down")

    with pytest.raises(ClaraError):
        publish(final, broken)
    assert final.resolve() == second and (final / "dists" / "Release").read_text() == "v2"
    assert [p.name for p in (final.parent / SNAPSHOTS).iterdir()] == [second.name]


def test_repo_publish_adopts_a_legacy_directory(tmp_path: Path) -> None:
    final = tmp_path / "suite"
    _write(final / "pool" / "a.deb", "deb")
    publish(final, lambda staging: _write(staging / "dists" / "Release", "new"))
    assert final.is_symlink()
    assert (final / "pool" / "a.deb").read_text() == "deb" and (final / "dists" / "Release").read_text() == "new"
    assert len(list((tmp_path / SNAPSHOTS).iterdir())) == 1
