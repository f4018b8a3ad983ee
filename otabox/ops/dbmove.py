"""Moving a box from its SQLite file to a PostgreSQL database (`otabox migrate-database`).

A team that outgrows one machine keeps everything: apps keep their slugs and client keys (which
shipped apps carry), API keys and users keep working, releases, rollouts, device statistics and
audit entries stay, and the secrets (URL- and bundle-signing keys) move sealed with
OTABOX_SECRET_KEY, so devices keep accepting what the new processes sign.

The rows are read from one SQLite snapshot and written in one PostgreSQL transaction: a move that
fails part way leaves the target as it found it, and can simply be run again. The target must be
new (no otabox rows in it), so a move never mixes two boxes."""
from __future__ import annotations

from typing import Callable

from peewee import DatabaseError

from ..errors import Conflict, Invalid, OtaboxError
from ..store import migrations
from ..store.db import connect_database, reaching, reset_sequences, sqlite_apps, upgrade_schema, without_password
from ..store.files import is_being_served
from ..store.models import ALL_MODELS, Lease, Secret, State, utcnow

BATCH_ROWS = 1000
COPIED_MODELS = [model for model in ALL_MODELS if model is not Lease]
"""Everything but the leases, which name processes of the old box and would only delay the new ones."""


MOVED_NOTE = "moved-to-database.txt"
"""Left in the data dir by a move: `serve` on the SQLite file warns that it is no longer the box."""


def check_move(config, target_url: str) -> None:
    """Everything that can be refused before the box is opened, so that a refused move writes nothing
    anywhere (opening a box on a database server would already create its tables there)."""
    if config.database_url:
        raise Invalid("OTABOX_DATABASE_URL is set: migrate-database reads the SQLite box of the data directory "
                      "and writes the database named by --to; unset OTABOX_DATABASE_URL for the move",
                      code="database_url_set")
    if not config.sqlite_file.is_file():
        raise Invalid(f"no SQLite box in {config.data_dir} (no {config.sqlite_file.name}); pass --data-dir (or set "
                      "OTABOX_DATA_DIR) to the directory `otabox serve` used", code="no_sqlite_box")
    if not target_url.startswith(("postgres://", "postgresql://")):
        raise Invalid("--to must be a postgresql://user:password@host:5432/database URL",
                      code="unsupported_database")
    if not config.secret_key:
        raise Invalid("set OTABOX_SECRET_KEY (the long random value every process on the new database will share) "
                      "before moving: the box's signing keys are sealed with it into the database",
                      code="secret_key_required")
    if is_being_served(config.data_dir):
        raise Conflict(f"otabox serve is running on {config.data_dir}: stop it first, or what it writes after "
                       "the copy stays behind in SQLite", code="box_in_use")


def move_database(box, target_url: str, progress: Callable[[str, int, int], None] | None = None) -> dict:
    """Copy every row of `box`'s SQLite database into the new PostgreSQL database at `target_url`
    (after check_move, which makes sure it is SQLite). `progress(table, copied, total)` is called as the
    rows of each table go in."""
    adjusted: dict[str, int] = {}
    shown = without_password(target_url)
    with reaching(target_url):
        target = connect_database(target_url)
        try:
            with box.db.atomic(lock_type="DEFERRED"):  # one snapshot of every table
                counts = {model: model.select().count() for model in COPIED_MODELS}
                with target.bind_ctx(ALL_MODELS):
                    _require_new_box(target, shown)
                    upgrade_schema(target)
                    with target.atomic():
                        _require_no_rows(shown)
                        State.delete().execute()  # the new schema's own counters; the box's replace them
                        for model in COPIED_MODELS:
                            _copy_rows(box.db, model, counts[model], progress, adjusted)
                        reset_sequences(target, COPIED_MODELS)
        finally:
            target.close()
    (box.config.data_dir / MOVED_NOTE).write_text(
        f"This box was moved to {shown} on {utcnow():%Y-%m-%d %H:%M} UTC by otabox migrate-database.\n"
        "otabox serve on this SQLite file no longer sees what happens there.\n")
    return {"database": shown, "tables": len(COPIED_MODELS), "rows": sum(counts.values()),
            "secrets": counts[Secret], "adjusted": adjusted}


def unmoved_box(config) -> str | None:
    """With OTABOX_DATABASE_URL naming a database without an otabox box yet: why starting there would
    strand the data dir's SQLite box (it has apps and was not moved), or None when nothing would be."""
    sqlite_file = config.sqlite_file
    try:
        if not config.database_url or not sqlite_file.is_file() or (config.data_dir / MOVED_NOTE).exists():
            return None
    except OSError:  # an unreadable data dir: opening the box says so
        return None
    apps = sqlite_apps(sqlite_file)
    if not apps:
        return None
    with reaching(config.database_url):
        target = connect_database(config.database_url)
        try:
            if target.table_exists(State._meta.table_name):
                return None
        finally:
            target.close()
    return (f"{config.data_dir} holds a SQLite box with {apps} app{'' if apps == 1 else 's'} and "
            f"{without_password(config.database_url)} no otabox box yet: move it with `otabox migrate-database "
            "--to <that URL>` (OTABOX_DATABASE_URL unset), or start the new box with another --data-dir")


def moved_away(config) -> str | None:
    """Without OTABOX_DATABASE_URL, on a data dir whose box `migrate-database` moved: why working on it
    would change a SQLite copy that no server reads any more (None when the box was not moved)."""
    note = config.data_dir / MOVED_NOTE
    try:
        if config.database_url or not note.is_file():
            return None
        moved = note.read_text().splitlines()[0].rstrip(".")
    except (OSError, IndexError):  # an unreadable data dir: opening the box says so
        return None
    return (f"{config.data_dir}: {moved[0].lower()}{moved[1:]}; set OTABOX_DATABASE_URL to that database (and the "
            "same OTABOX_SECRET_KEY) to work on the box")


def _require_new_box(target, shown: str) -> None:
    """An empty database, or one an interrupted move left with today's tables (and no rows)."""
    version = migrations.current_version(target)
    if version is None:
        foreign = sorted(target.get_tables())
        if foreign:
            raise Conflict(f"{shown} holds tables that are not otabox's ({', '.join(foreign[:5])}); move into a new, "
                           "empty database", code="database_not_empty")
    elif version != migrations.latest_version():
        raise Conflict(f"{shown} holds an otabox box of schema version {version}; move into a new, empty database",
                       code="database_not_empty")


def _require_no_rows(shown: str) -> None:
    holding = sorted(model._meta.table_name for model in COPIED_MODELS
                     if model is not State and model.select().exists())
    if holding:
        raise Conflict(f"{shown} already holds an otabox box (rows in {', '.join(holding[:5])}); move into a new, "
                       "empty database", code="database_not_empty", details={"tables": holding})


def _copy_rows(source, model, total: int, progress, adjusted: dict) -> None:
    """Read the rows as SQLite stores them, turn each value into what the model means by it (0/1 into
    booleans, text into datetimes), and insert them, ids included, in batches."""
    fields = model._meta.sorted_fields
    columns = ", ".join(f'"{field.column_name}"' for field in fields)
    cursor = source.execute_sql(f'SELECT {columns} FROM "{model._meta.table_name}"')
    copied = 0
    while rows := cursor.fetchmany(BATCH_ROWS):
        batch = [[_storable(model, field, field.python_value(value), adjusted) for field, value in zip(fields, row)]
                 for row in rows]
        try:
            model.insert_many(batch, fields=fields).execute()
        except (DatabaseError, OtaboxError) as exc:
            reason = getattr(exc, "message", None) or str(exc).strip().splitlines()[0]
            raise Invalid(f"could not copy the {model._meta.table_name} table: {reason}; nothing was committed, "
                          "the move can be run again", code="move_failed") from None
        copied += len(rows)
        if progress is not None:
            progress(model._meta.table_name, copied, total)
    if progress is not None and total == 0:
        progress(model._meta.table_name, 0, 0)


def _storable(model, field, value, adjusted: dict):
    """A text value PostgreSQL can hold: SQLite kept NUL characters and text longer than a column's
    declared length, which boxes accepted before their requests were limited. NULs become U+FFFD and
    long text is cut to the column's length; `adjusted` counts both per column for the report."""
    if not isinstance(value, str):
        return value
    fixed = value.replace("\x00", "\ufffd")
    limit = getattr(field, "max_length", None)
    if limit is not None and len(fixed) > limit:
        fixed = fixed[:limit]
    if fixed != value:
        column = f"{model._meta.table_name}.{field.column_name}"
        adjusted[column] = adjusted.get(column, 0) + 1
    return fixed

