"""Consistent backups of a live data directory, and restoring one into an empty directory.

The database is copied first with SQLite's online backup API (a snapshot that writers do not block);
then the blobs that snapshot names, then the secrets. Blobs are immutable and written before the rows
that name them, so every row in the snapshot has its file unless it was deleted meanwhile, which the
report says."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..config import SQLITE_FILE
from ..errors import Conflict, Invalid
from ..store.db import backup_to, integrity_problems, is_sqlite


def backup(box, dest: Path) -> dict:
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise Conflict(f"{dest} is not empty; back up into a new directory")
    if not is_sqlite(box.db):
        raise Invalid("otabox backup copies SQLite data directories; with PostgreSQL, back up the database with "
                      "pg_dump (its secrets are in it, sealed with OTABOX_SECRET_KEY, which you keep apart) and "
                      "the bundle files with their store's own tools (bucket versioning or replication)",
                      code="backup_not_sqlite")
    if box.store.local_path("0" * 64) is None:
        raise Invalid("the bundle files are in an object store: otabox backup copies a local data directory; back "
                      "up the bucket with its own tools", code="backup_not_local")
    made = _first_missing(dest)
    try:
        return _copy_into(box, dest)
    except OSError as exc:
        _remove_what_was_written(dest, made)
        where = f" ({exc.filename})" if exc.filename and Path(exc.filename) != dest else ""
        raise Invalid(f"cannot write the backup to {dest}: {(exc.strerror or str(exc)).lower()}{where}",
                      code="backup_failed") from None


def _copy_into(box, dest: Path) -> dict:
    dest.mkdir(parents=True, exist_ok=True, mode=0o700)
    dest.chmod(0o700)  # an existing (empty) directory keeps whatever mode it had otherwise
    os.close(os.open(dest / SQLITE_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))  # never readable by others
    backup_to(box.db, str(dest / SQLITE_FILE))
    referenced = _referenced_in(dest / SQLITE_FILE)
    missing = []
    for sha in sorted(referenced):
        source = box.store.local_path(sha)
        target = dest / "blobs" / sha[:2] / sha
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copy2(source, target)
        except FileNotFoundError:
            missing.append(sha)
    shutil.copytree(box.config.data_dir / "secrets", dest / "secrets")
    _owner_only(dest)
    return {"database": str(dest / SQLITE_FILE), "blobs": len(referenced) - len(missing), "missing": missing}


def _first_missing(dest: Path) -> Path | None:
    """The outermost folder of `dest` that does not exist yet (backing up creates it), or None."""
    missing = None
    for folder in (dest, *dest.absolute().parents):
        if folder.exists() or folder.is_symlink():
            return missing
        missing = folder
    return missing


def _remove_what_was_written(dest: Path, made: Path | None) -> None:
    """A failed backup leaves nothing behind: the folders it created go, an empty folder it was given is
    emptied again."""
    if made is not None:
        shutil.rmtree(made, ignore_errors=True)
    elif dest.is_dir():
        for entry in dest.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink()


def _owner_only(root: Path) -> None:
    """A backup holds the secrets and every bundle: directories 0700, files 0600."""
    for folder, dirs, files in os.walk(root):
        os.chmod(folder, 0o700)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o600)


def _referenced_in(db_path: Path) -> set[str]:
    """The blobs a database file names, read through a second, private connection to it."""
    from peewee import SqliteDatabase

    from ..core import bundles
    from ..store.models import ALL_MODELS

    snapshot = SqliteDatabase(str(db_path))
    try:
        with snapshot.bind_ctx(ALL_MODELS):
            return bundles.referenced_blobs()
    finally:
        snapshot.close()


def restore(source: Path, data_dir: Path) -> dict:
    source, data_dir = Path(source), Path(data_dir)
    if not (source / SQLITE_FILE).exists():
        raise Invalid(f"{source} is not an otabox backup (no {SQLITE_FILE})")
    if data_dir.exists() and any(data_dir.iterdir()):
        raise Conflict(f"{data_dir} is not empty; restore into a new, empty data directory")
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    shutil.copy2(source / SQLITE_FILE, data_dir / SQLITE_FILE)
    if (source / "blobs").exists():
        shutil.copytree(source / "blobs", data_dir / "blobs")
    shutil.copytree(source / "secrets", data_dir / "secrets")
    from peewee import SqliteDatabase

    restored = SqliteDatabase(str(data_dir / SQLITE_FILE))
    problems = integrity_problems(restored)
    restored.close()
    if problems:
        raise Invalid("the restored database fails its integrity check", details={"problems": problems[:20]})
    return {"dataDir": str(data_dir), "blobs": sum(1 for p in (data_dir / "blobs").rglob("*") if p.is_file())
            if (data_dir / "blobs").exists() else 0}
