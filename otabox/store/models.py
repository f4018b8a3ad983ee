"""The database schema (peewee). The database itself is chosen at run time by `db.open_database`."""
from __future__ import annotations

import datetime as dt
import json

from peewee import (
    BooleanField,
    CharField,
    DatabaseProxy,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)


class _Database(DatabaseProxy):
    """The proxy's own atomic() ignores the engine's, which would lose SQLite's BEGIN IMMEDIATE (see db.py)."""

    def atomic(self, *args, **kwargs):
        return self.obj.atomic(*args, **kwargs)


database = _Database()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def iso(moment: dt.datetime | None) -> str | None:
    """ISO-8601 in UTC with milliseconds and a Z, as clients parse it."""
    if moment is None:
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def row_id(value) -> int | None:
    """A row id from a URL segment or a JSON value, or None: no booleans, no non-ASCII digits
    ('²'.isdigit() is true), nothing past a 64-bit integer."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return None
    text = str(value)
    return int(text) if text.isdecimal() and len(text) <= 18 else None


class JSONField(TextField):
    def db_value(self, value):
        return None if value is None else json.dumps(value, separators=(",", ":"), sort_keys=True)

    def python_value(self, value):
        return None if value is None else json.loads(value)


class BaseModel(Model):
    class Meta:
        database = database


class State(BaseModel):
    """Counters shared by every process on the database (e.g. the serving-state generation)."""

    key = CharField(primary_key=True)
    value = IntegerField(default=0)


class App(BaseModel):
    slug = CharField(unique=True)
    name = CharField()
    client_key = CharField(unique=True)
    created_at = DateTimeField(default=utcnow)


class ApiKey(BaseModel):
    name = CharField(unique=True)
    role = CharField()
    app = ForeignKeyField(App, null=True, on_delete="CASCADE")
    key_hash = CharField(unique=True)
    created_at = DateTimeField(default=utcnow)
    last_used_at = DateTimeField(null=True)


class Channel(BaseModel):
    app = ForeignKeyField(App, backref="channels", on_delete="CASCADE")
    name = CharField()
    deployment_key = CharField(unique=True)
    block_upgrades = CharField(default="none")
    allow_device_self_assign = BooleanField(default=False)
    allow_emulator = BooleanField(default=True)
    allow_dev = BooleanField(default=True)
    ios_enabled = BooleanField(default=True)
    android_enabled = BooleanField(default=True)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("app", "name"), True),)


class Bundle(BaseModel):
    app = ForeignKeyField(App, backref="bundles", on_delete="CASCADE")
    version = CharField()
    platform = CharField(default="all")
    format = CharField(default="zip")
    sha256 = CharField(index=True)
    size = IntegerField()
    signature = CharField()
    min_native_build = IntegerField(null=True)
    target_versions = CharField(null=True)
    notes = TextField(default="")
    package_hash = CharField(null=True)
    session_key = TextField(null=True)
    encrypted_checksum = TextField(null=True)
    key_id = CharField(null=True)
    runtime_version = CharField(null=True)
    extra = JSONField(null=True)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("app", "platform", "version"), True),)


class BundleFile(BaseModel):
    """One file inside a bundle, stored content-addressed so bundles share unchanged files."""

    bundle = ForeignKeyField(Bundle, backref="files", on_delete="CASCADE")
    path = TextField()
    sha256 = CharField(index=True)
    size = IntegerField()


class Release(BaseModel):
    """One event in a channel's history: a release, a promotion, a rollback or a rollback to builtin.

    `bundle` is null only for `kind == "builtin"` (devices go back to the binary's own bundle)."""

    app = ForeignKeyField(App, on_delete="CASCADE")
    channel = ForeignKeyField(Channel, backref="releases", on_delete="CASCADE")
    bundle = ForeignKeyField(Bundle, null=True, backref="releases", on_delete="RESTRICT")
    kind = CharField(default="release")
    label = CharField()
    rollout = IntegerField(default=100)
    mandatory = BooleanField(default=False)
    disabled = BooleanField(default=False)
    notes = TextField(default="")
    actor = CharField(default="")
    created_at = DateTimeField(default=utcnow)


class ReleaseStat(BaseModel):
    """Counters per release and action (`check`, `downloaded`, `installed`, `failed`, raw client actions)."""

    release = ForeignKeyField(Release, on_delete="CASCADE")
    action = CharField()
    count = IntegerField(default=0)

    class Meta:
        indexes = ((("release", "action"), True),)


class Device(BaseModel):
    app = ForeignKeyField(App, on_delete="CASCADE")
    device_id = CharField()
    platform = CharField(default="")
    native_version = CharField(default="")
    native_build = CharField(default="")
    bundle_version = CharField(default="")
    channel = CharField(default="")
    first_seen = DateTimeField(default=utcnow)
    last_seen = DateTimeField(default=utcnow)
    override_channel = CharField(null=True)
    override_bundle = ForeignKeyField(Bundle, null=True, on_delete="SET NULL")
    self_assigned_channel = CharField(null=True)

    class Meta:
        indexes = ((("app", "device_id"), True),)


class DeviceEvent(BaseModel):
    app = ForeignKeyField(App, on_delete="CASCADE")
    device_id = CharField(index=True)
    release = ForeignKeyField(Release, null=True, on_delete="SET NULL")
    bundle = ForeignKeyField(Bundle, null=True, on_delete="SET NULL")
    type = CharField()
    action = CharField(default="")
    message = TextField(default="")
    at = DateTimeField(default=utcnow)


class DailyActive(BaseModel):
    """Devices seen per day and bundle version, for adoption charts."""

    app = ForeignKeyField(App, on_delete="CASCADE")
    channel = CharField()
    day = CharField()
    bundle_version = CharField()
    device_id = CharField()

    class Meta:
        indexes = ((("app", "day", "device_id"), True),)


class AuditEntry(BaseModel):
    at = DateTimeField(default=utcnow)
    actor = CharField()
    action = CharField(index=True)
    entity_type = CharField(index=True)
    entity_id = CharField()
    details = JSONField(default=dict)


class Upload(BaseModel):
    """A two-step upload between `initiate` and `finalize`."""

    id = CharField(primary_key=True)
    app = ForeignKeyField(App, on_delete="CASCADE")
    fields = JSONField()
    size = IntegerField()
    sha256 = CharField()
    expires_at = DateTimeField()
    received_sha256 = CharField(null=True)
    created_at = DateTimeField(default=utcnow)


class Secret(BaseModel):
    """A server secret shared by every process on the database, sealed with OTABOX_SECRET_KEY
    (store/secrets.py); only used when that variable is set."""

    name = CharField(primary_key=True)
    value = TextField()
    updated_at = DateTimeField(default=utcnow)


ALL_MODELS = [State, App, ApiKey, Channel, Bundle, BundleFile, Release, ReleaseStat, Device, DeviceEvent,
              DailyActive, AuditEntry, Upload, Secret]
