"""Opening the database. Everything specific to one database engine lives here and nowhere else."""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import secrets
import threading
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from peewee import (AutoField, DataError, ImproperlyConfigured, InterfaceError, OperationalError, PostgresqlDatabase,
                    SqliteDatabase, __exception_wrapper__)
from playhouse.db_url import connect, register_database

from ..errors import BadRequest, DatabaseUnavailable, InsufficientStorage
from . import migrations
from .models import database

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
        """A full disk becomes 507 insufficient_storage (as a full bucket does), not an internal error."""
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


WRITE_LOCK_ID = 0x07AB0C6
"""The PostgreSQL advisory lock every write transaction takes (see WriterPostgresqlDatabase)."""


class WriterPostgresqlDatabase(PostgresqlDatabase):
    """PostgreSQL whose write transactions run one at a time, as SQLite's do.

    The core's operations read, decide and write in one transaction (the next release label, a
    rollback's target, a policy's stage); under READ COMMITTED two of them could interleave. An
    advisory lock held until commit serializes them across every process, while reads, and so
    update checks, never wait for it. Writes are rare next to checks, so the lock costs nothing
    that matters."""

    def begin(self, isolation_level=None):
        super().begin(isolation_level)
        self.cursor().execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK_ID,))

    def is_closed(self):
        """A connection the server ended (a restart, a failover, an idle timeout) counts as closed
        between transactions, so the thread's next statement connects again; otherwise every request
        on that thread would fail until otabox restarts. Inside a transaction the failure stands."""
        conn = self._state.conn
        if not self._state.closed and conn is not None and conn.closed and not self._state.transactions:
            self._state.reset()
        return self._state.closed

    def execute_sql(self, sql, params=None):
        try:
            return super().execute_sql(sql, params)
        except OperationalError as exc:
            if "No space left on device" in str(exc) or "could not extend file" in str(exc):
                raise InsufficientStorage("the database server has no room left on its disk") from exc
            raise
        except DataError as exc:
            if "NUL" in str(exc):  # PostgreSQL text cannot hold U+0000; SQLite can, so only this engine refuses
                raise BadRequest("the request contains a NUL character", code="nul_character") from exc
            raise


register_database(WriterPostgresqlDatabase, "postgres", "postgresql")

CHANGE_CHANNEL = "otabox_changes"
STATE_QUERY = ("SELECT COALESCE(MAX(CASE WHEN key = 'generation' THEN value END), 0) || ':' || "
               "COALESCE(MAX(CASE WHEN key = 'device_changes' THEN value END), 0) FROM state")
"""'<generation>:<device-change number>', as the change signal carries them."""


def announce_changes(db) -> None:
    """Inside the transaction that bumped the generation or a device-change number: have PostgreSQL
    tell every listening process the new pair when the transaction commits (a no-op on SQLite, whose
    processes share a file)."""
    if isinstance(getattr(db, "obj", db), PostgresqlDatabase):  # the models' proxy, or the database itself
        db.execute_sql(f"SELECT pg_notify('{CHANGE_CHANNEL}', ({STATE_QUERY}))")


class PostgresChangeSignal:
    """The newest committed (generation, device-change number), pushed by PostgreSQL (LISTEN/NOTIFY)
    to every otabox process on the database, whichever machine it runs on: the counterpart of
    generation.GenerationSignal.

    A thread keeps its own connection listening. While it is not connected the state is unknown
    ((-1, -1), which no real state equals), so update checks then ask the database themselves: a
    lost connection costs speed, never a stale answer."""

    UNKNOWN = (-1, -1)
    CONFIRM_SECONDS = 1.0

    def __init__(self, db):
        self._connect_args = {"dbname": db.database, **db.connect_params}
        self._state = self._heard = self.UNKNOWN
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._wake_channel = f"otabox_wake_{secrets.token_hex(8)}"
        self._thread = threading.Thread(target=self._listen, name="otabox-change-listener", daemon=True)
        self._thread.start()

    def read_state(self) -> tuple[int, int]:
        return self._state

    def publish(self, generation: int, device_changes: int = 0) -> None:
        """This process committed this state: use it at once, and return when the listener heard
        PostgreSQL announce it too (the other processes' listeners hear it at the same moment)."""
        wanted = (generation, device_changes)
        with self._changed:
            if self._heard != self.UNKNOWN:
                self._state = max(self._state, wanted)
            self._changed.wait_for(lambda: self._heard >= wanted or self._heard == self.UNKNOWN,
                                   timeout=self.CONFIRM_SECONDS)

    def _hear(self, state: tuple[int, int]) -> None:
        with self._changed:
            self._heard = state if state == self.UNKNOWN else max(self._heard, state)
            self._state = self._heard if state == self.UNKNOWN else max(self._state, state)
            self._changed.notify_all()

    def _listen(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(autocommit=True, **self._connect_args) as conn:
                    conn.execute(f"LISTEN {CHANGE_CHANNEL}")
                    conn.execute(f"LISTEN {self._wake_channel}")
                    self._hear(_parse_state(conn.execute(STATE_QUERY).fetchone()[0]))
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=1.0):
                            if note.channel != CHANGE_CHANNEL:  # close() woke us
                                break
                            self._hear(_parse_state(note.payload))
            except Exception:  # the database went away: checks ask it directly until we are back
                self._hear(self.UNKNOWN)
                self._stop.wait(1.0)

    def close(self) -> None:
        """Stop listening; a notification on this listener's own channel wakes it at once (otherwise
        it would notice only at its next timeout)."""
        import psycopg

        self._stop.set()
        with contextlib.suppress(Exception):
            with psycopg.connect(autocommit=True, connect_timeout=2, **self._connect_args) as conn:
                conn.execute(f"NOTIFY {self._wake_channel}")
        self._thread.join(timeout=5)


def _parse_state(text: str) -> tuple[int, int]:
    generation, device_changes = text.split(":")
    return int(generation), int(device_changes)


SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": "full",
    "foreign_keys": 1,
    "busy_timeout": 10000,
    "cache_size": -16000,
}


@dataclasses.dataclass(frozen=True)
class Upgrade:
    """What opening the database did to its schema (for the server's start-up line)."""

    from_version: int
    to_version: int
    backup: str | None


def open_database(url: str, schema: str = "upgrade", secret_key: str = "") -> tuple[object, Upgrade | None]:
    """Connect the models to the database at `url` and make its schema usable.

    `schema`: "upgrade" creates a new database or upgrades an older one (what `serve` does);
    "current" creates a new one but refuses an older one (admin commands must not change the schema
    under a server of the previous release); "inspect" changes nothing (`migrate --dry-run`, `doctor`).
    A database newer than the code is refused in every mode. `secret_key` (OTABOX_SECRET_KEY) lets
    an upgrade seal the secret table's rows again."""
    with reaching(url):
        db = connect_database(url)
        database.initialize(db)
        with db.connection_context():
            upgrade = _prepare_schema(db, schema, secret_key)
    return db, upgrade


@contextlib.contextmanager
def reaching(url: str):
    """Turn a database that cannot be reached or used (no driver, refused connection, unknown database
    or role) into one DatabaseUnavailable sentence naming it, password hidden."""
    try:
        yield
    except ImproperlyConfigured:  # peewee found no driver for the engine
        raise _unusable(url, "no driver for it (PostgreSQL needs `pip install 'otabox[postgres]'`)") from None
    except (OperationalError, InterfaceError) as exc:
        _raise_if_disk_full(exc)
        raise _unusable(url, failure_summary(exc)) from None


def failure_summary(exc: Exception) -> str:
    """The first line of what a driver says about a failure (its class name when it says nothing)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _unusable(url: str, reason: str) -> DatabaseUnavailable:
    return DatabaseUnavailable(f"cannot use the database at {without_password(url)}: {reason}")


def connect_database(url: str):
    """The database at `url`, with otabox's settings for its engine, not yet opened nor bound to the models."""
    kwargs = {"pragmas": SQLITE_PRAGMAS, "check_same_thread": False, "timeout": 10} if url.startswith("sqlite") else {}
    try:
        return connect(url, **kwargs)
    except ValueError as exc:  # e.g. a URL without a database name
        raise _unusable(url, str(exc)) from None


def reset_sequences(db, models) -> None:
    """After rows were inserted with their ids (a moved database), have each table's id sequence
    continue past the largest one; SQLite needs nothing (its next id is always MAX(id) + 1)."""
    if is_sqlite(db):
        return
    for model in models:
        if isinstance(model._meta.primary_key, AutoField):
            table, column = model._meta.table_name, model._meta.primary_key.column_name
            db.execute_sql(f"SELECT setval(pg_get_serial_sequence('\"{table}\"', '{column}'), "
                           f'COALESCE((SELECT MAX("{column}") FROM "{table}"), 0) + 1, false)')


def database_failure(exc: Exception) -> DatabaseUnavailable | None:
    """The 503 a request answers when the database failed under it (a lost connection, a lock that
    outlasted busy_timeout); None for any other exception. Its transaction was rolled back."""
    if not isinstance(exc, (OperationalError, InterfaceError)):
        return None
    return DatabaseUnavailable("the database did not answer; nothing was changed, retry shortly")


def without_password(url: str) -> str:
    """A database URL fit for logs and error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _prepare_schema(db, mode: str, secret_key: str) -> Upgrade | None:
    if mode == "inspect":
        migrations.pending_steps(db)
        return None
    if mode == "current":
        version = migrations.current_version(db)
        if version is not None and migrations.pending_steps(db):
            raise migrations.SchemaError(
                f"the database has schema version {version} and this otabox needs {migrations.latest_version()}: "
                "run `otabox migrate` (or start `otabox serve`, which upgrades it)", code="schema_outdated",
                details={"database": version, "code": migrations.latest_version()})
    return upgrade_schema(db, secret_key)


def upgrade_schema(db, secret_key: str = "") -> Upgrade | None:
    """Create the schema of an empty database, or bring an older one up to date (after a backup
    copy); under a lock, so that of several processes starting together one does the work."""
    with _schema_lock(db):
        version = migrations.current_version(db)
        if version is None:
            migrations.create_schema(db)
            return None
        steps = migrations.pending_steps(db)
        if not steps:
            migrations.apply_steps(db, [], secret_key)  # stamps a 0.1.0 database, which has no version row yet
            return None
        backup = _backup_before_upgrade(db, version)
        migrations.apply_steps(db, steps, secret_key)
        return Upgrade(version, migrations.latest_version(), backup)


@contextlib.contextmanager
def _schema_lock(db):
    """One process at a time checks and upgrades the schema; the others wait, then find it done."""
    if is_sqlite(db):
        path = sqlite_path(db)
        if path is None:
            yield
            return
        with open(f"{path}.schema-lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return
    db.execute_sql("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK_ID,))
    try:
        yield
    finally:
        db.execute_sql("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK_ID,))


SCHEMA_LOCK_ID = 0x07AB0C5
"""The PostgreSQL advisory lock that serializes schema upgrades."""


def sqlite_path(db) -> str | None:
    """The file of a SQLite database (None in memory)."""
    name = db.database
    return None if name in ("", ":memory:") or name.startswith("file::memory:") else name


def _backup_before_upgrade(db, version: int) -> str | None:
    """A consistent copy of a SQLite database beside it, `<file>.before-<schema version>`; other
    engines are backed up with their own tools (their DDL is transactional, so a failed upgrade
    leaves nothing behind either)."""
    path = sqlite_path(db) if is_sqlite(db) else None
    if path is None:
        return None
    target = f"{path}.before-{version}"
    Path(target).unlink(missing_ok=True)
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT, 0o600))
    backup_to(db, target)
    return target


def is_sqlite(db) -> bool:
    return db.__class__.__name__.endswith("SqliteDatabase")


def sqlite_apps(path) -> int:
    """How many apps the SQLite box in the file at `path` holds (read-only; 0 when it has no app table)."""
    import sqlite3

    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.OperationalError:  # unreadable: whoever opens the box next says so
        return 0
    try:
        return connection.execute("SELECT count(*) FROM app").fetchone()[0]
    except sqlite3.DatabaseError:  # no such table (a file no box was ever made in), or not a database
        return 0
    finally:
        connection.close()


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


REPORTED_COLUMNS = ("custom_id", "plugin_version", "os_version", "is_prod", "is_emulator")
SIGHTING_COLUMNS = ("platform", "native_version", "native_build", "bundle_version", "channel")


def _upsert_devices(db, updated: tuple[str, ...], rows: list[tuple]) -> None:
    """rows: (app_id, device_id, *SIGHTING_COLUMNS, seen_at, *REPORTED_COLUMNS, served_release). A new
    device gets the row as it is; a known one the `updated` columns and, from REPORTED_COLUMNS and
    served_release, the values that are not None (a request that did not report them, or a check that
    offered no release, keeps what was recorded before).

    Runs for every device seen since the last flush, so it uses executemany rather than the ORM; the
    raw cursor's errors are raised as peewee's (IntegrityError for a device of a deleted app)."""
    p = db.param
    columns = ("app_id", "device_id", *SIGHTING_COLUMNS, "first_seen", "last_seen", *REPORTED_COLUMNS,
               "served_release")
    changes = [f"{name} = excluded.{name}" for name in updated]
    changes += [f"{name} = COALESCE(excluded.{name}, device.{name})" for name in (*REPORTED_COLUMNS, "served_release")]
    with __exception_wrapper__:
        db.cursor().executemany(
            f"INSERT INTO device ({', '.join(columns)}) VALUES ({', '.join([p] * len(columns))}) "
            f"ON CONFLICT (app_id, device_id) DO UPDATE SET {', '.join(changes)}",
            [(*row[:8], row[7], *row[8:]) for row in rows])


def upsert_device_reports(db, rows: list[tuple]) -> None:
    """What devices reported about themselves outside update checks.

    rows: (app_id, device_id, at, *REPORTED_COLUMNS); a device not seen yet is first seen at `at`."""
    if rows:
        _upsert_devices(db, (), [(a, d, "", "", "", "", "", at, *reported, None) for a, d, at, *reported in rows])


def upsert_device_sightings(db, rows: list[tuple]) -> None:
    """Write buffered device sightings (and the day's active devices) in one statement batch.

    rows: (app_id, device_id, *SIGHTING_COLUMNS, seen_at, day, *REPORTED_COLUMNS, served_release)."""
    _upsert_devices(db, (*SIGHTING_COLUMNS, "last_seen"), [(*row[:8], *row[9:]) for row in rows])
    p = db.param
    with __exception_wrapper__:
        db.cursor().executemany(
            f"INSERT INTO dailyactive (app_id, channel, day, bundle_version, device_id) VALUES ({p}, {p}, {p}, {p}, {p}) "
            "ON CONFLICT (app_id, day, device_id) DO UPDATE SET bundle_version = excluded.bundle_version, "
            "channel = excluded.channel",
            [(a, ch, day, bv or "builtin", d) for a, d, _, _, _, bv, ch, _, day, *_ in rows])


CONTEXT_COLUMNS = ("app_id", "kind", "targeting_key", "name", "attributes", "evaluations", "first_seen", "last_seen",
                   "size")


def upsert_flag_contexts(db, rows: list[tuple]) -> None:
    """Contexts that evaluated flags since the last flush: a new one is inserted as it is, a known one
    takes the name, attributes (JSON text), last_seen and size and adds the evaluations.

    rows: tuples in CONTEXT_COLUMNS order. A flood of new targeting keys brings thousands a second,
    so this uses executemany rather than the ORM (which built each row's SQL: ~5x the time)."""
    if not rows:
        return
    p = db.param
    changes = [f"{name} = excluded.{name}" for name in ("name", "attributes", "last_seen", "size")]
    changes.append("evaluations = flagcontext.evaluations + excluded.evaluations")
    with __exception_wrapper__:
        db.cursor().executemany(
            f"INSERT INTO flagcontext ({', '.join(CONTEXT_COLUMNS)}, manual) "
            f"VALUES ({', '.join([p] * len(CONTEXT_COLUMNS))}, {p}) "
            f"ON CONFLICT (app_id, kind, targeting_key) DO UPDATE SET {', '.join(changes)}",
            [(*row, False) for row in rows])


def add_flag_evaluation_counts(db, rows: list[tuple]) -> None:
    """Evaluation counts to add: rows of (flag_id, day, variant, count)."""
    if not rows:
        return
    p = db.param
    with __exception_wrapper__:
        db.cursor().executemany(
            f"INSERT INTO flagevaluationcount (flag_id, day, variant, count) VALUES ({p}, {p}, {p}, {p}) "
            "ON CONFLICT (flag_id, day, variant) DO UPDATE SET count = flagevaluationcount.count + excluded.count",
            rows)
