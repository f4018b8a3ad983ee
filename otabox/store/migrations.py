"""Versioned schema migrations: numbered steps, the schema version kept in the database.

A new database gets today's schema from the models and the newest version number at once. An older
one is brought up to date by the steps it has not had, in order, all in one transaction: a step that
fails leaves the database as it was. `db.upgrade_database` adds what depends on the engine (the lock
that lets one process of several do the work, and SQLite's backup copy first).

Writing a step: append `Step(n, "what changes", function)` to STEPS. The function receives a
`Schema` whose operations are idempotent (a column that exists is not added again), because a new
database already has every column of the models when it is stamped with the newest version; a step
creates a new table from its model with `schema.create_tables(...)`. Every step extends the upgrade
test (tests/store/test_upgrade.py) with the rows it must carry over."""
from __future__ import annotations

import dataclasses
from typing import Callable

from peewee import Field
from playhouse.migrate import SchemaMigrator

from ..errors import OtaboxError
from .models import ALL_MODELS, Secret, State

VERSION_KEY = "schema_version"
BASELINE_TABLE = "app"
"""A table every otabox database has had since 0.1.0, which predates the version row."""


class SchemaError(OtaboxError):
    """The database cannot be used by this otabox as it is (too new, not upgraded, a failed step)."""

    status, code = 503, "schema"


class Schema:
    """Idempotent schema operations for migration steps, for SQLite and PostgreSQL alike."""

    def __init__(self, db):
        self.db = db
        self.migrator = SchemaMigrator.from_database(db)

    def columns(self, table: str) -> set[str]:
        return {column.name for column in self.db.get_columns(table)}

    def add_column(self, table: str, name: str, field: Field) -> None:
        if name not in self.columns(table):
            self.migrator.add_column(table, name, field).run()

    def add_index(self, table: str, columns: tuple[str, ...], unique: bool = False) -> None:
        name = f"{table}_{'_'.join(columns)}"
        if name not in {index.name for index in self.db.get_indexes(table)}:
            self.migrator.add_index(table, columns, unique).run()

    def create_tables(self, *models) -> None:
        self.db.create_tables(models, safe=True)


@dataclasses.dataclass(frozen=True)
class Step:
    version: int
    description: str
    apply: Callable[[Schema], None]


def _baseline(schema: Schema) -> None:
    """Version 1 is the schema otabox 0.1.0 created; its databases get this number when first opened."""


def _shared_secrets(schema: Schema) -> None:
    schema.create_tables(Secret)


STEPS: list[Step] = [
    Step(1, "the schema of otabox 0.1.0", _baseline),
    Step(8, "secrets shared by several processes (the secret table)", _shared_secrets),
]


def latest_version() -> int:
    return STEPS[-1].version


def current_version(db) -> int | None:
    """The database's schema version: None for an empty database, 1 for one made before versions."""
    if not db.table_exists(State._meta.table_name):
        return None
    row = State.select(State.value).where(State.key == VERSION_KEY).first()
    if row is not None:
        return row.value
    return 1 if db.table_exists(BASELINE_TABLE) else None


def pending_steps(db) -> list[Step]:
    version = current_version(db)
    if version is None:
        return []
    if version > latest_version():
        raise SchemaError(f"the database has schema version {version}, newer than this otabox knows "
                          f"({latest_version()}); run the otabox release that upgraded it, or restore a backup "
                          "made before that upgrade", code="schema_too_new",
                          details={"database": version, "code": latest_version()})
    return [step for step in STEPS if step.version > version]


def _stamp(version: int) -> None:
    (State.insert(key=VERSION_KEY, value=version)
     .on_conflict(conflict_target=[State.key], update={State.value: version}).execute())


def create_schema(db) -> None:
    """A new, empty database: today's tables, stamped with the newest version."""
    with db.atomic():
        db.create_tables(ALL_MODELS, safe=True)
        State.insert(key="generation", value=0).on_conflict_ignore().execute()
        _stamp(latest_version())


def apply_steps(db, steps: list[Step]) -> None:
    """Run `steps` in one transaction; on any failure nothing of them remains."""
    schema = Schema(db)
    with db.atomic():
        for step in steps:
            try:
                step.apply(schema)
            except Exception as exc:
                raise SchemaError(f"migration {step.version} ({step.description}) failed: {exc}; "
                                  "the database was left as it was", code="migration_failed",
                                  details={"step": step.version}) from exc
        _stamp(latest_version())
