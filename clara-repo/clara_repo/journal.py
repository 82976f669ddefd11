"""Changes to a reprepro repository that survive a killed command.

Before a command changes a repository it writes ``<repo_dir>/clara-journal.json``
naming the operation, copies reprepro's ``db/`` and the published ``dists/``
aside (``*.clara-backup``) and notes the files of the pool. A command that
ends, well or badly, removes the journal; a command killed on the way
(SIGKILL, power loss) leaves it, and the next command on the repository
finds it, puts the database and indices back, removes the pool files added
since, and says so in one line. A backup is never deleted without a journal
that says it is no longer needed: one found without a journal is kept under
a new name, with a warning.

Other repository layouts (createrepo_c's) name their own saved trees and
pool directories; a file they remove is first set aside in the journal's
trash (:func:`set_aside`), put back by a rollback and deleted by a commit.

The journal moves through three phases, each written atomically:
``backup`` (copies being made: the repository is untouched), ``changing``
(reprepro may have changed it: roll back) and ``done`` (committed: only the
copies are left to delete).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clara_core.errors import ClaraError

log = logging.getLogger(__name__)

JOURNAL = "clara-journal.json"
_BACKUP = ".clara-backup"


def journal_path(repo_dir: Path) -> Path:
    """The journal file of the repository whose reprepro base is ``repo_dir``."""
    return repo_dir / JOURNAL


_TRASH = ".clara-trash"
#: the suffix of a file set aside, so that no indexer takes it for a package
TRASHED = ".clara-removed"


def _pool_files(outdir: Path, pools: list[str] | tuple[str, ...] = ("pool",)) -> set[str]:
    """Every file of the published pools, relative to ``outdir``."""
    found: set[str] = set()
    for name in pools:
        pool = outdir / name
        if pool.is_dir():
            found |= {str(p.relative_to(outdir)) for p in pool.rglob("*") if p.is_file() or p.is_symlink()}
    return found


def _operation() -> str:
    """The command line being run, as the journal names it."""
    words = shlex.join(sys.argv[1:])
    return f"clara {words[:300]}" if words else "clara"


@dataclass
class Record:
    """What the journal holds: the operation, its phase, the saved trees and the pool before it."""

    repo_dir: Path
    outdir: Path
    operation: str = field(default_factory=_operation)
    pid: int = field(default_factory=os.getpid)
    started: str = field(default_factory=lambda: time.strftime("%Y-%m-%d %H:%M:%S"))
    phase: str = "backup"
    trees: dict[str, str] = field(default_factory=dict)
    pool_before: list[str] = field(default_factory=list)
    pools: list[str] = field(default_factory=lambda: ["pool"])
    trash: str = ""

    @property
    def path(self) -> Path:
        """The journal file."""
        return journal_path(self.repo_dir)

    def save(self) -> None:
        """Write the journal atomically (a crash leaves the old one or the new one, never half)."""
        data: dict[str, Any] = {
            "operation": self.operation,
            "pid": self.pid,
            "started": self.started,
            "phase": self.phase,
            "outdir": str(self.outdir),
            "trees": self.trees,
            "pool_before": self.pool_before,
            "pools": self.pools,
            "trash": self.trash,
        }
        temp = self.path.with_name(f".{JOURNAL}.tmp")
        with temp.open("w", encoding="utf-8") as handle:
            json.dump(data, handle)
            handle.flush()
            os.fsync(handle.fileno())
        temp.replace(self.path)
        _sync_dir(self.repo_dir)

    @classmethod
    def load(cls, repo_dir: Path) -> Record | None:
        """The pending journal of ``repo_dir``, if any."""
        path = journal_path(repo_dir)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                repo_dir,
                Path(data["outdir"]),
                str(data["operation"]),
                int(data["pid"]),
                str(data["started"]),
                str(data["phase"]),
                {str(k): str(v) for k, v in data["trees"].items()},
                [str(p) for p in data["pool_before"]],
                [str(p) for p in data.get("pools", ["pool"])],
                str(data.get("trash", "")),
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ClaraError(
                f"{path}: unreadable journal of an interrupted operation ({exc}): compare "
                f"{repo_dir / 'db'} with {repo_dir / ('db' + _BACKUP)}, then remove the journal"
            ) from None

    def describe(self) -> str:
        """``'clara repo add ...' (pid N, started T)``."""
        return f"{self.operation!r} (pid {self.pid}, started {self.started})"


def _sync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _trees(repo_dir: Path, outdir: Path) -> list[Path]:
    return [repo_dir / "db", outdir / "dists"]


def _keep_orphans(trees: list[Path]) -> None:
    """Rename backups that no journal accounts for (left by an older Clara) instead of deleting them."""
    for tree in trees:
        copy = tree.with_name(tree.name + _BACKUP)
        if copy.exists():
            kept = tree.with_name(f"{tree.name}.clara-orphan-{time.strftime('%Y%m%d-%H%M%S')}")
            copy.rename(kept)
            log.warning(
                "%s: a backup left by an interrupted earlier command, without journal; kept as %s "
                "(compare it with %s, then delete it)",
                copy,
                kept.name,
                tree,
            )


def begin(
    repo_dir: Path, outdir: Path, trees: list[Path] | None = None, pools: tuple[str, ...] = ("pool",)
) -> Record:
    """Journal a change of the repository and save what a rollback needs. Call with the lock held
    and after :func:`recover`. ``trees`` (reprepro's ``db/`` and ``dists/`` by default) are copied
    aside; files added under ``pools`` (directories of ``outdir``) are removed by a rollback."""
    trees = trees if trees is not None else _trees(repo_dir, outdir)
    _keep_orphans(trees)
    record = Record(repo_dir, outdir, pools=list(pools), trash=str(repo_dir / _TRASH))
    shutil.rmtree(record.trash, ignore_errors=True)  # only a finished command's leftovers can be there
    # a tree absent now is noted with no copy: a rollback removes whatever the change made there
    record.trees = {str(t): str(t.with_name(t.name + _BACKUP)) if t.is_dir() else "" for t in trees}
    record.save()
    for tree, copy in record.trees.items():
        if copy:
            shutil.copytree(tree, copy, symlinks=True)
    record.pool_before = sorted(_pool_files(outdir, record.pools))
    record.phase = "changing"
    record.save()
    return record


def _discard_copies(record: Record) -> None:
    for copy in record.trees.values():
        if copy:
            shutil.rmtree(copy, ignore_errors=True)
    if record.trash:
        shutil.rmtree(record.trash, ignore_errors=True)


def set_aside(record: Record, path: Path) -> None:
    """Remove ``path`` (a file under ``record.outdir``) so that a rollback can put it back."""
    rel = path.relative_to(record.outdir)
    if not record.trash:
        raise ValueError("this journal has no trash")
    kept = Path(record.trash) / f"{rel}{TRASHED}"
    kept.parent.mkdir(parents=True, exist_ok=True)
    path.rename(kept)


def _restore_trash(record: Record) -> None:
    trash = Path(record.trash) if record.trash else None
    if trash is None or not trash.is_dir():
        return
    for kept in sorted(trash.rglob(f"*{TRASHED}")):
        original = record.outdir / str(kept.relative_to(trash))[: -len(TRASHED)]
        original.parent.mkdir(parents=True, exist_ok=True)
        if not original.exists():
            kept.rename(original)
    shutil.rmtree(trash, ignore_errors=True)


def commit(record: Record) -> None:
    """The change succeeded: drop the copies, then the journal."""
    record.phase = "done"
    record.save()
    _discard_copies(record)
    record.path.unlink(missing_ok=True)


def rollback(record: Record) -> None:
    """Put the saved database and indices back, remove the pool files added since, drop the journal.
    Every step can be redone: a rollback killed half-way is finished by the next :func:`recover`."""
    for tree_name, copy_name in record.trees.items():
        tree = Path(tree_name)
        failed = tree.with_name(f"{tree.name}.clara-failed")
        if not copy_name:  # the tree did not exist before the change
            shutil.rmtree(tree, ignore_errors=True)
        elif Path(copy_name).is_dir():
            shutil.rmtree(failed, ignore_errors=True)
            if tree.exists():
                tree.rename(failed)
            Path(copy_name).rename(tree)
        shutil.rmtree(failed, ignore_errors=True)
    _restore_trash(record)
    before = set(record.pool_before)
    for name in sorted(_pool_files(record.outdir, record.pools) - before):
        path = record.outdir / name
        log.debug("rollback: removing %s", path)
        path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # only empty directories go
            path.parent.rmdir()
            path.parent.parent.rmdir()
    record.path.unlink(missing_ok=True)


def recover(repo_dir: Path) -> None:
    """Finish what a killed command left in ``repo_dir`` (call with the lock held): roll a change
    back, or drop the copies of a committed one; one line says what was done."""
    record = Record.load(repo_dir)
    if record is None:
        return
    if record.phase == "changing":
        rollback(record)
        log.warning(
            "%s: rolled back the interrupted %s; the repository is as it was before it", repo_dir, record.describe()
        )
        return
    _discard_copies(record)
    record.path.unlink(missing_ok=True)
    if record.phase == "backup":
        log.warning(
            "%s: the interrupted %s had not changed the repository yet; its copies were removed",
            repo_dir,
            record.describe(),
        )
    else:
        log.debug("%s: removed the copies of the finished %s", repo_dir, record.describe())
