"""Opening the database. Everything specific to one database engine lives here and nowhere else."""
from __future__ import annotations

from peewee import OperationalError, SqliteDatabase
from playhouse.db_url import connect, register_database

from .errors import InsufficientStorage
from .models import ALL_MODELS, State, database

SQLITE_FULL_MESSAGE = "database or disk is full"


def _raise_if_disk_full(exc: OperationalError) -> None:
    if SQLITE_FULL_MESSAGE in str(exc):
        raise InsufficientStorage("the database has no room left on its disk; free space on the data directory") from exc


class WriterSqliteDatabase(SqliteDatabase):
    """SQLite whose transactions take the write lock when they begin (BEGIN IMMEDIATE).

    A deferred transaction that reads first and writes later cannot wait for the lock when another
    connection committed in between: SQLite fails it at once with "database is locked", busy_timeout
    notwithstanding. Taking the lock up front makes writers queue (within busy_timeout) instead."""

    def atomic(self, lock_type: str | None = "IMMEDIATE"):
        return super().atomic(lock_type=lock_type)

    def execute_sql(self, sql, params=None):
        """A full disk becomes the 507 every other storage failure is, not an internal error."""
        try:
            return super().execute_sql(sql, params)
        except OperationalError as exc:
            _raise_if_disk_full(exc)
            raise

    def commit(self):
        try:
            return super().commit()
        except OperationalError as exc:
            _raise_if_disk_full(exc)
            raise

    def rollback(self):
        """SQLite may end a transaction by itself when a write fails (SQLITE_FULL); a second ROLLBACK
        would then fail with "no transaction is active" and hide the error that caused it."""
        if self.connection().in_transaction:
            super().rollback()


register_database(WriterSqliteDatabase, "sqlite")

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": "full",
    "foreign_keys": 1,
    "busy_timeout": 10000,
    "cache_size": -16000,
}


def open_database(url: str):
    """Connect the models to the database at `url` and create missing tables."""
    kwargs = {}
    if url.startswith("sqlite"):
        kwargs = {"pragmas": SQLITE_PRAGMAS, "check_same_thread": False, "timeout": 10}
    db = connect(url, **kwargs)
    database.initialize(db)
    with db.connection_context():
        db.create_tables(ALL_MODELS, safe=True)
        State.insert(key="generation", value=0).on_conflict_ignore().execute()
    return db


def is_sqlite(db) -> bool:
    return db.__class__.__name__.endswith("SqliteDatabase")


def integrity_problems(db) -> list[str]:
    """What the engine's own consistency check reports (empty when healthy)."""
    if not is_sqlite(db):
        return []
    rows = [r[0] for r in db.execute_sql("PRAGMA integrity_check").fetchall()]
    return [] if rows == ["ok"] else rows


def backup_to(db, dest_path: str) -> None:
    """Consistent online copy of the database while it is in use."""
    import sqlite3

    source = db.connection()
    target = sqlite3.connect(dest_path)
    try:
        source.backup(target)
    finally:
        target.close()


def upsert_device_sightings(db, rows: list[tuple]) -> None:
    """Write buffered device sightings in one statement batch.

    rows: (app_id, device_id, platform, native_version, native_build, bundle_version, channel, seen_at, day).
    Runs for every device seen since the last flush, so it uses executemany rather than the ORM."""
    p = db.param
    db.cursor().executemany(
        f"INSERT INTO device (app_id, device_id, platform, native_version, native_build, bundle_version, channel, "
        f"first_seen, last_seen) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}) "
        "ON CONFLICT (app_id, device_id) DO UPDATE SET platform = excluded.platform, "
        "native_version = excluded.native_version, native_build = excluded.native_build, "
        "bundle_version = excluded.bundle_version, channel = excluded.channel, last_seen = excluded.last_seen",
        [(a, d, pl, nv, nb, bv, ch, at, at) for a, d, pl, nv, nb, bv, ch, at, _ in rows])
    db.cursor().executemany(
        f"INSERT INTO dailyactive (app_id, channel, day, bundle_version, device_id) VALUES ({p}, {p}, {p}, {p}, {p}) "
        "ON CONFLICT (app_id, day, device_id) DO UPDATE SET bundle_version = excluded.bundle_version, "
        "channel = excluded.channel",
        [(a, ch, day, bv or "builtin", d) for a, d, _, _, _, bv, ch, _, day in rows])
