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
import json
from typing import Callable

from peewee import SQL, BooleanField, CharField, Field, IntegerField, Table, TextField
from playhouse.migrate import SchemaMigrator

from ..errors import OtaboxError
from .models import (
    ALL_MODELS,
    BRANCH_MODELS,
    FLAG_MODELS,
    HEALTH_AND_ROLLOUT_MODELS,
    SERVICE_ACCOUNT,
    ApiKey,
    AuditEntry,
    Channel,
    ChannelVersion,
    CodePushActive,
    Collaborator,
    EmbeddedBundle,
    Release,
    ReleaseEvent,
    ReleaseTransfer,
    Secret,
    State,
    TelemetryEvent,
    TokenApp,
    User,
    UserSession,
    utcnow,
)
from .secrets import reseal_all

VERSION_KEY = "schema_version"
BASELINE_TABLE = "app"
"""A table every otabox database has had since 0.1.0, which predates the version row."""


class SchemaError(OtaboxError):
    """The database cannot be used by this otabox as it is (too new, not upgraded, a failed step)."""

    status, code = 503, "schema"


class Schema:
    """Idempotent schema operations for migration steps, for SQLite and PostgreSQL alike."""

    def __init__(self, db, secret_key: str = ""):
        """`secret_key`: the box's OTABOX_SECRET_KEY, for steps that seal the secret table's rows again."""
        self.db = db
        self.secret_key = secret_key
        self.migrator = SchemaMigrator.from_database(db)

    def columns(self, table: str) -> set[str]:
        return {column.name for column in self.db.get_columns(table)}

    def add_column(self, table: str, name: str, field: Field) -> None:
        """Add a column; a NOT NULL one gets its default in the same ALTER TABLE. (Peewee would add it
        nullable and then rebuild the table on SQLite, and dropping the old table deletes every row
        that references it through an ON DELETE CASCADE foreign key.)"""
        if name in self.columns(table):
            return
        if field.null or field.default is None or callable(field.default):
            self.migrator.add_column(table, name, field).run()
            return
        field = field.clone()
        field.constraints = [*(field.constraints or []), SQL(f"DEFAULT {_sql_literal(field.db_value(field.default))}")]
        self.migrator.add_column(table, name, field, allow_not_null=True).run()

    def add_index(self, table: str, columns: tuple[str, ...], unique: bool = False) -> None:
        name = f"{table}_{'_'.join(columns)}"
        if name not in {index.name for index in self.db.get_indexes(table)}:
            self.migrator.add_index(table, columns, unique).run()

    def create_tables(self, *models) -> None:
        self.db.create_tables(models, safe=True)


def _sql_literal(value) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


@dataclasses.dataclass(frozen=True)
class Step:
    version: int
    description: str
    apply: Callable[[Schema], None]


def _baseline(schema: Schema) -> None:
    """Version 1 is the schema otabox 0.1.0 created; its databases get this number when first opened."""


def _signed_serving_state(schema: Schema) -> None:
    """Per-app serving sequence for signed check replies; per-device change numbers for overrides.

    Nullable columns only: SQLite adds those in place, where a NOT NULL one makes peewee rebuild the
    table, and dropping `app` would cascade to every channel and bundle."""
    schema.add_column("app", "serving_sequence", IntegerField(null=True))
    schema.add_column("app", "serving_digest", CharField(null=True))
    schema.add_column("device", "override_seq", IntegerField(null=True))
    schema.add_index("device", ("override_seq",))


def _fidelity(schema: Schema) -> None:
    """Issue 15: the app's default channel, channel policies (under-native guard, split rollout,
    minimum runtime), bundle build metadata and minUpdateVersion, release targeting, deletion,
    groups and provenance, release events, and the Capgo device fields.

    Channels made before this step keep serving what they served: their under-native guard is off
    (new channels have it on, as in Capgo). Every existing release gets its `created` event."""
    columns = {
        "app": [("default_channel", CharField(null=True, default="production"))],
        "channel": [("disable_auto_update_under_native", BooleanField(default=True)),
                    ("rollout_channel", CharField(null=True)), ("rollout_percentage", IntegerField(default=0)),
                    ("min_runtime_version", CharField(null=True))],
        "bundle": [("min_update_version", CharField(null=True)), ("message", TextField(default="")),
                   ("git_commit_hash", CharField(null=True)), ("git_branch", CharField(null=True))],
        "release": [("target_versions", CharField(null=True)), ("platform", CharField(null=True)),
                    ("runtime_version", CharField(null=True)), ("deleted", BooleanField(default=False)),
                    ("group_id", CharField(null=True)), ("original_label", CharField(null=True)),
                    ("original_channel", CharField(null=True))],
        "device": [(name, CharField(null=True)) for name in ("custom_id", "plugin_version", "os_version")]
                  + [(name, BooleanField(null=True)) for name in ("is_prod", "is_emulator")],
    }
    first_time = "disable_auto_update_under_native" not in schema.columns("channel")
    for table, fields in columns.items():
        for name, field in fields:
            schema.add_column(table, name, field)
    schema.add_index("release", ("group_id",))
    if first_time:
        param = schema.db.param
        schema.db.execute_sql(f"UPDATE channel SET disable_auto_update_under_native = {param}", (False,))
        schema.db.execute_sql(f"UPDATE app SET default_channel = {param}", ("production",))
    new_events = not schema.db.table_exists(ReleaseEvent._meta.table_name)
    schema.create_tables(ReleaseEvent)
    if new_events:
        schema.db.execute_sql(
            "INSERT INTO releaseevent (release_id, kind, actor, details, at) "
            "SELECT id, 'created', actor, '{\"kind\":\"' || kind || '\"}', created_at FROM release")


def _feature_flags(schema: Schema) -> None:
    schema.create_tables(*FLAG_MODELS)


def _people_and_tokens(schema: Schema) -> None:
    """Users, dashboard sessions and collaborators. Every API key keeps working: it becomes a token
    owned by the service account, with its role, and with its one app (if any) in TokenApp, since a
    token may now reach several apps. The apikey table is rebuilt because its app column is gone."""
    db = schema.db
    schema.create_tables(User, UserSession, Collaborator)
    schema.add_column("auditentry", "token", AuditEntry.token)
    if "app_id" not in schema.columns("apikey"):
        return
    keys = list(Table("apikey").bind(db).select().dicts())
    users = Table("users").bind(db)
    if not users.select().where(users.c.email == SERVICE_ACCOUNT).exists():
        users.insert(email=SERVICE_ACCOUNT, role="admin", disabled=False, service=True, created_at=utcnow()).execute()
    service_id = users.select(users.c.id).where(users.c.email == SERVICE_ACCOUNT).scalar()
    db.execute_sql('DROP TABLE "apikey"')
    schema.create_tables(ApiKey, TokenApp)
    tokens, links = Table("apikey").bind(db), Table("tokenapp").bind(db)
    columns = schema.columns("apikey")
    defaults = {f.column_name: f.default() if callable(f.default) else f.default
                for f in ApiKey._meta.sorted_fields if f.default is not None}
    for key in keys:
        old = {name: value for name, value in key.items() if name in columns and name != "id"}
        tokens.insert(**{**defaults, **old, "user_id": service_id, "scoped": key["app_id"] is not None}).execute()
        if key["app_id"] is not None:
            token_id = tokens.select(tokens.c.id).where(tokens.c.key_hash == key["key_hash"]).scalar()
            links.insert(token_id=token_id, app_id=key["app_id"]).execute()


def _health_and_rollouts(schema: Schema) -> None:
    """Health telemetry, rollout policies and executions, webhooks with their outbox, and leases."""
    schema.create_tables(*HEALTH_AND_ROLLOUT_MODELS)


def _shared_secrets(schema: Schema) -> None:
    schema.create_tables(Secret)


def _attested_health(schema: Schema) -> None:
    """Issue 22: which release each device was last served (`device.served_release`), per-device
    health sums and whether that device was served (`healthdevice`), policies that count only
    served devices, and each flag context's size (for the per-app bound of contexts from evaluations).

    Policies made before this step keep counting every reporting device (`require_served_devices`
    off; new policies have it on), and the devices that reported before it count as served (nothing
    recorded what they were served), so an upgrade leaves running executions where they were."""
    first_time = "served" not in schema.columns("healthdevice")
    schema.add_column("device", "served_release", IntegerField(null=True))
    schema.add_index("device", ("served_release",))
    for name in ("launches", "crashes", "js_errors"):
        schema.add_column("healthdevice", name, IntegerField(default=0))
    schema.add_column("healthdevice", "served", BooleanField(default=False))
    contexts_first_time = "size" not in schema.columns("flagcontext")
    schema.add_column("flagcontext", "size", IntegerField(default=0))
    schema.add_index("flagcontext", ("app_id", "manual", "last_seen"))
    policies_first_time = "require_served_devices" not in schema.columns("rolloutpolicy")
    schema.add_column("rolloutpolicy", "require_served_devices", BooleanField(default=True))
    param = schema.db.param
    if first_time:
        schema.db.execute_sql(f"UPDATE healthdevice SET served = {param}", (True,))
    if contexts_first_time:
        schema.db.execute_sql("UPDATE flagcontext SET size = LENGTH(targeting_key) + LENGTH(name) + LENGTH(attributes)")
    if policies_first_time:
        schema.db.execute_sql(f"UPDATE rolloutpolicy SET require_served_devices = {param}", (False,))


def _trusted_keys(schema: Schema) -> None:
    """Issue 22: each token remembers the token it was minted from (None for those made before, which
    only a session or an admin key manages); a disabled user keeps no token or session (disabling
    now revokes them; before, enabling the user brought them all back); and the secret table's rows,
    sealed by 0.2.0 under an unsalted HKDF of OTABOX_SECRET_KEY, are sealed again under a salted
    scrypt of it (a box upgraded without the variable set keeps them as they are: they still open,
    and `otabox secret-key rotate` seals them again)."""
    if schema.secret_key:
        reseal_all(schema.secret_key, schema.secret_key, only_unsalted=True)
    schema.add_column("apikey", "minted_from_id", ApiKey.minted_from)
    schema.add_index("apikey", ("minted_from_id",))
    disabled = Table("users").bind(schema.db).select(SQL("id")).where(SQL("disabled"))
    Table("apikey").bind(schema.db).delete().where(SQL("user_id").in_(disabled)).execute()
    Table("usersession").bind(schema.db).delete().where(SQL("user_id").in_(disabled)).execute()


def _codepush_active(schema: Schema) -> None:
    schema.create_tables(CodePushActive)


def _channel_versions(schema: Schema) -> None:
    """Whole-number versions per channel (Koolbase's). Until now a release's number was the number in
    its label ("v3" → 3) and devices hold those numbers, so each release of a bundle keeps its number,
    with its mandatory flag; labels of rollbacks to the binary name no bundle and are skipped."""
    if schema.db.table_exists(ChannelVersion._meta.table_name):
        return
    schema.create_tables(ChannelVersion)
    taken = set()
    for channel_id, bundle_id, label, mandatory, created_at in schema.db.execute_sql(
            "SELECT channel_id, bundle_id, label, mandatory, created_at FROM release "
            "WHERE bundle_id IS NOT NULL ORDER BY id"):
        number = label[1:] if label.startswith("v") else ""
        if number.isdecimal() and len(number) < 10 and (channel_id, int(number)) not in taken:
            taken.add((channel_id, int(number)))
            ChannelVersion.insert(channel=channel_id, bundle=bundle_id, number=int(number), mandatory=bool(mandatory),
                                  created_at=created_at, updated_at=created_at).execute()


def _app_platforms(schema: Schema) -> None:
    """Apps made before this step are for any platform."""
    schema.add_column("app", "platform", CharField(null=True))


def _audit_apps(schema: Schema) -> None:
    """Audit entries name their app, so one app's log can be read alone (AppDispatch's per-project
    audit log). Earlier entries get it from what they recorded: the app itself, the app's slug in
    their details, or the channel, release or bundle they changed (entries of what was deleted since,
    and the box's own, name none)."""
    schema.add_column("auditentry", "app_id", IntegerField(null=True))
    schema.add_index("auditentry", ("app_id",))
    db = schema.db
    app_of = {("app", str(app_id)): app_id for app_id, _ in db.execute_sql('SELECT id, slug FROM "app"')}
    by_slug = {slug: app_id for app_id, slug in db.execute_sql('SELECT id, slug FROM "app"')}
    for table in ("channel", "release", "bundle"):
        app_of.update({(table, str(row_id)): app_id
                       for row_id, app_id in db.execute_sql(f'SELECT id, app_id FROM "{table}"')})
    found: dict[int, list[int]] = {}
    for entry_id, entity_type, entity_id, details in db.execute_sql(
            'SELECT id, entity_type, entity_id, details FROM "auditentry"'):
        recorded = (json.loads(details) if isinstance(details, str) else details) or {}
        slug = recorded.get("app") if entity_type != "app" else recorded.get("slug")
        app_id = by_slug.get(slug) if isinstance(slug, str) else app_of.get((entity_type, entity_id))
        if app_id is not None:
            found.setdefault(app_id, []).append(entry_id)
    entries = Table("auditentry", ("id", "app_id")).bind(db)
    for app_id, ids in found.items():
        for start in range(0, len(ids), 500):
            entries.update(app_id=app_id).where(entries.id.in_(ids[start:start + 500])).execute()


def _release_transfers(schema: Schema) -> None:
    schema.create_tables(ReleaseTransfer)


def _embedded_bundles(schema: Schema) -> None:
    schema.create_tables(EmbeddedBundle)


def _public_flags_and_events(schema: Schema) -> None:
    """Apps made before this step keep requiring their client key for flag definitions (an admin
    turns publicFlagDefinitions on); new apps get the model's default (public, as AppDispatch has
    it). Devices' error, crash and custom events go to a ring per app."""
    schema.add_column("app", "public_flag_definitions", BooleanField(default=False))
    schema.create_tables(TelemetryEvent)


def _network_weighed_health(schema: Schema) -> None:
    """Rollout policies count at most a few devices per client network (`healthdevice.network`, None
    for devices that reported before: each counts as a network of its own, so running executions
    keep their figures), and a release's error messages from served devices are no longer crowded
    out by never-served ones (`healtherror.attested`, true for the messages kept so far)."""
    schema.add_column("healthdevice", "network", CharField(null=True))
    schema.add_column("healtherror", "attested", BooleanField(default=True))


def _retention_indexes(schema: Schema) -> None:
    """The janitor removes devices not seen for a while, daily-active rows and devices' events past
    the retention horizon, 500 rows a transaction: without these indexes each batch scanned the table
    (on a busy box, millions of rows), holding the write lock."""
    schema.add_index("device", ("last_seen",))
    schema.add_index("dailyactive", ("day",))
    schema.add_index("deviceevent", ("at",))


def _branches(schema: Schema) -> None:
    """Issue 25: releases belong to branches and a channel serves the branch it points at. Every
    channel becomes a branch of its own name holding its releases, and the channel points at it; a
    split to another channel (`rollout_channel`) becomes a split to that channel's branch. So every
    device is served what it was before. User overrides (a user pinned to a branch) start empty."""
    db = schema.db
    schema.create_tables(*BRANCH_MODELS)
    schema.add_column("channel", "branch_id", Channel.branch)
    schema.add_column("channel", "rollout_branch_id", Channel.rollout_branch)
    schema.add_column("release", "branch_id", Release.branch)
    for table in ("channel", "release"):
        schema.add_index(table, ("branch_id",))
    schema.add_index("channel", ("rollout_branch_id",))
    if "rollout_channel" not in schema.columns("channel"):
        return
    db.execute_sql('INSERT INTO "branch" (app_id, name, created_at) SELECT app_id, name, created_at FROM "channel"')
    db.execute_sql('UPDATE "channel" SET branch_id = (SELECT b.id FROM "branch" b '
                   'WHERE b.app_id = "channel".app_id AND b.name = "channel".name)')
    db.execute_sql('UPDATE "channel" SET rollout_branch_id = (SELECT b.id FROM "branch" b '
                   'WHERE b.app_id = "channel".app_id AND b.name = "channel".rollout_channel) '
                   'WHERE rollout_channel IS NOT NULL')
    db.execute_sql('UPDATE "release" SET branch_id = (SELECT c.branch_id FROM "channel" c '
                   'WHERE c.id = "release".channel_id)')
    db.execute_sql('ALTER TABLE "channel" DROP COLUMN rollout_channel')


STEPS: list[Step] = [
    Step(1, "the schema of otabox 0.1.0", _baseline),
    Step(2, "signed update-check replies (a sequence per app); per-device override changes", _signed_serving_state),
    Step(3, "default channel, channel policies, build metadata, release targeting and events",
         _fidelity),
    Step(4, "health telemetry, rollout policies, webhooks", _health_and_rollouts),
    Step(5, "feature flags: flags, variations, channel settings, rules, segments, contexts, evaluation counts",
         _feature_flags),
    Step(6, "users, sessions, collaborators; API keys become tokens of the service account", _people_and_tokens),
    Step(7, "secrets kept in the database, shared by several processes", _shared_secrets),
    Step(8, "the release each device was served; rollout policies count health reports of served devices",
         _attested_health),
    Step(9, "tokens remember what they were minted from; disabled users keep no tokens; secrets sealed with a "
            "salted scrypt key", _trusted_keys),
    Step(10, "CodePush active-device counts per deployment and label or app version",
         _codepush_active),
    Step(11, "whole-number bundle versions per channel (Koolbase), keeping the numbers devices hold",
         _channel_versions),
    Step(12, "the platform each app is for (CodePush multi-tenant apps)", _app_platforms),
    Step(13, "audit entries name the app they concern", _audit_apps),
    Step(14, "bytes of Expo launch assets sent per release, in full and as patches", _release_transfers),
    Step(15, "the bundles embedded in store binaries, patch bases per runtime or native version",
         _embedded_bundles),
    Step(16, "public flag definitions for new apps (upgraded apps keep requiring their client key); "
             "devices' errors, crashes and custom events kept per app", _public_flags_and_events),
    Step(17, "branches (every channel gets one of its own name, holding its releases), channel "
             "splits to a branch, user overrides", _branches),
    Step(18, "health devices remember their client network; error messages whether a served device sent them",
         _network_weighed_health),
    Step(19, "indexes for removing devices not seen for a while and old adoption and device events",
         _retention_indexes),
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


def apply_steps(db, steps: list[Step], secret_key: str = "") -> None:
    """Run `steps` in one transaction; on any failure nothing of them remains."""
    schema = Schema(db, secret_key)
    with db.atomic():
        for step in steps:
            try:
                step.apply(schema)
            except Exception as exc:
                raise SchemaError(f"migration {step.version} ({step.description}) failed: {exc}; "
                                  "the database was left as it was", code="migration_failed",
                                  details={"step": step.version}) from exc
        _stamp(latest_version())
