"""Opening the database. Everything specific to one database engine lives here and nowhere else."""
from __future__ import annotations

from playhouse.db_url import connect

from .models import ALL_MODELS, State, database

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
