"""The database schema (peewee). The database itself is chosen at run time by `db.open_database`."""
from __future__ import annotations

import datetime as dt
import json

from peewee import (
    BigIntegerField,
    BooleanField,
    CharField,
    DatabaseProxy,
    DateTimeField,
    FloatField,
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
        """NaN and Infinity (in rows written before request JSON refused them) read as null, so
        nothing that renders a row can emit invalid JSON."""
        return None if value is None else json.loads(value, parse_constant=lambda _: None)


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
    platform = CharField(null=True)
    """What the app is for (core.apps.APP_PLATFORMS; the CodePush multi-tenant server's apps name one); None: any."""
    client_key = CharField(unique=True)
    default_channel = CharField(null=True, default="production")
    """The channel of devices that name none (Capgo's `public` channel); None: such devices get none."""
    created_at = DateTimeField(default=utcnow)
    serving_sequence = IntegerField(null=True)
    """The generation at which what the app's channels serve was first seen as it is now (`serving_digest`):
    the `sequence` signed into check replies (core.serving.app_sequence)."""
    serving_digest = CharField(null=True)
    public_flag_definitions = BooleanField(default=True)
    """Whether `GET /v1/ota/flag-definitions/{slug}` answers without the client key (AppDispatch's
    public endpoint): true for apps made since schema step 16, false for apps made before it until an
    admin turns it on (their user-list targeting keys were never public)."""


SERVICE_ACCOUNT = "service:api-keys"
"""The email of the user that owns the keys made with `otabox keys create` (an admin that never signs in)."""


class User(BaseModel):
    """A person who signs in (admin: every app; member: the apps they collaborate on), or the service
    account that owns the API keys made with `otabox keys create` (it never signs in)."""

    email = CharField(unique=True)
    role = CharField(default="member")
    password_hash = CharField(null=True)
    disabled = BooleanField(default=False)
    service = BooleanField(default=False)
    created_at = DateTimeField(default=utcnow)
    last_login_at = DateTimeField(null=True)

    class Meta:
        table_name = "users"


class ApiKey(BaseModel):
    """A bearer secret owned by a user: an API key from `otabox keys create` or an access token made
    over HTTP. It has at most its role, at most its owner's rights, and only the apps in TokenApp
    when `scoped`. Only the SHA-256 of the secret is kept."""

    user = ForeignKeyField(User, backref="tokens", on_delete="CASCADE")
    name = CharField()
    role = CharField()
    key_hash = CharField(unique=True)
    scoped = BooleanField(default=False)
    created_by = CharField(default="")
    created_at = DateTimeField(default=utcnow)
    last_used_at = DateTimeField(null=True)
    expires_at = DateTimeField(null=True)
    minted_from = ForeignKeyField("self", null=True, backref="minted", on_delete="CASCADE")
    """The token this one was made with (None: made in a session or on the server's command line);
    revoking a token revokes everything minted from it."""

    class Meta:
        indexes = ((("user", "name"), True),)


class TokenApp(BaseModel):
    """An app a scoped token may reach (the token sees nothing else, even when its owner could)."""

    token = ForeignKeyField(ApiKey, backref="app_links", on_delete="CASCADE")
    app = ForeignKeyField(App, on_delete="CASCADE")

    class Meta:
        indexes = ((("token", "app"), True),)


class UserSession(BaseModel):
    """A dashboard sign-in: the cookie's SHA-256, with idle and absolute expiry."""

    user = ForeignKeyField(User, backref="sessions", on_delete="CASCADE")
    token_hash = CharField(unique=True)
    created_by = CharField(default="")
    created_at = DateTimeField(default=utcnow)
    last_seen_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField()


class Collaborator(BaseModel):
    """A member's permission on one app: Owner, Collaborator or Reader."""

    app = ForeignKeyField(App, backref="collaborators", on_delete="CASCADE")
    user = ForeignKeyField(User, backref="collaborations", on_delete="CASCADE")
    permission = CharField()
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("app", "user"), True),)


class Branch(BaseModel):
    """An update stream of an app: releases belong to a branch, and a channel serves the branch it
    points at (AppDispatch's branches). Schema step 17 gave every channel a branch of its own name."""

    app = ForeignKeyField(App, backref="branches", on_delete="CASCADE")
    name = CharField()
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("app", "name"), True),)


class Channel(BaseModel):
    app = ForeignKeyField(App, backref="channels", on_delete="CASCADE")
    name = CharField()
    branch = ForeignKeyField(Branch, null=True, backref="channels", on_delete="SET NULL")
    """The branch whose releases the channel serves (null only while a migration runs)."""
    deployment_key = CharField(unique=True)
    block_upgrades = CharField(default="none")
    allow_device_self_assign = BooleanField(default=False)
    allow_emulator = BooleanField(default=True)
    allow_dev = BooleanField(default=True)
    ios_enabled = BooleanField(default=True)
    android_enabled = BooleanField(default=True)
    disable_auto_update_under_native = BooleanField(default=True)
    rollout_branch = ForeignKeyField(Branch, null=True, backref="split_channels", on_delete="SET NULL")
    """Another branch, which `rollout_percentage` % of this channel's devices get (deterministic per device)."""
    rollout_percentage = IntegerField(default=0)
    min_runtime_version = CharField(null=True)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("app", "name"), True),)


class UserOverride(BaseModel):
    """A user pinned to a branch: that user's devices get the branch whatever their channel says
    (AppDispatch's user overrides; a user id comes from a request's `userId` or a context's targeting key)."""

    app = ForeignKeyField(App, on_delete="CASCADE")
    user_id = CharField()
    branch = ForeignKeyField(Branch, backref="user_overrides", on_delete="CASCADE")
    note = TextField(default="")
    actor = CharField(default="")
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("app", "user_id"), True),)


class Bundle(BaseModel):
    app = ForeignKeyField(App, backref="bundles", on_delete="CASCADE")
    version = CharField()
    platform = CharField(default="all")
    format = CharField(default="zip")
    sha256 = CharField(index=True)
    size = BigIntegerField()
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
    min_update_version = CharField(null=True)
    message = TextField(default="")
    git_commit_hash = CharField(null=True)
    git_branch = CharField(null=True)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("app", "platform", "version"), True),)


class BundleFile(BaseModel):
    """One file inside a bundle, stored content-addressed so bundles share unchanged files."""

    bundle = ForeignKeyField(Bundle, backref="files", on_delete="CASCADE")
    path = TextField()
    sha256 = CharField(index=True)
    size = BigIntegerField()


class Release(BaseModel):
    """One event in a channel's history: a release, a promotion, a rollback or a rollback to builtin.

    `bundle` is null only for `kind == "builtin"` (devices go back to the binary's own bundle).
    `target_versions` (null: the bundle's), `platform` and `runtime_version` (null: any) narrow the
    devices it is for; a `deleted` release is also disabled."""

    app = ForeignKeyField(App, on_delete="CASCADE")
    channel = ForeignKeyField(Channel, backref="releases", on_delete="CASCADE")
    """The channel it was made through."""
    branch = ForeignKeyField(Branch, null=True, backref="releases", on_delete="CASCADE")
    """The branch whose history it is in (the channel's branch when it was made; null only while a
    migration runs)."""
    bundle = ForeignKeyField(Bundle, null=True, backref="releases", on_delete="RESTRICT")
    kind = CharField(default="release")
    label = CharField()
    rollout = IntegerField(default=100)
    mandatory = BooleanField(default=False)
    disabled = BooleanField(default=False)
    notes = TextField(default="")
    actor = CharField(default="")
    target_versions = CharField(null=True)
    platform = CharField(null=True)
    runtime_version = CharField(null=True)
    deleted = BooleanField(default=False)
    group_id = CharField(null=True, index=True)
    original_label = CharField(null=True)
    original_channel = CharField(null=True)
    created_at = DateTimeField(default=utcnow)


class ChannelVersion(BaseModel):
    """A bundle's whole-number version on a channel (Koolbase's `version`, what its devices send
    back): given when a bundle is uploaded to a channel, or first released to one; numbers only grow
    within a channel. Releases made before schema step 11 numbered each release ("v3" → 3), and
    devices hold those numbers, so the upgrade kept them: then several numbers may name one bundle.
    `mandatory`: what the bundle's release will say when it is activated (Koolbase sets it at upload)."""

    channel = ForeignKeyField(Channel, backref="versions", on_delete="CASCADE")
    bundle = ForeignKeyField(Bundle, backref="channel_versions", on_delete="CASCADE")
    number = IntegerField()
    mandatory = BooleanField(default=False)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("channel", "number"), True),)


class ReleaseEvent(BaseModel):
    """What happened to a release after it was made (rollout and flag changes, promotions, rollbacks)."""

    release = ForeignKeyField(Release, backref="events", on_delete="CASCADE")
    kind = CharField()
    actor = CharField(default="")
    details = JSONField(default=dict)
    at = DateTimeField(default=utcnow)


class ReleaseStat(BaseModel):
    """Counters per release and action (`check`, `downloaded`, `installed`, `failed`, raw client actions)."""

    release = ForeignKeyField(Release, on_delete="CASCADE")
    action = CharField()
    count = BigIntegerField(default=0)

    class Meta:
        indexes = ((("release", "action"), True),)


class CodePushActive(BaseModel):
    """code-push-server's `Active` counter of a deployment, per label or (the binary's own bundle) app
    version: +1 when a device reports it deployed, -1 when a device reports having left it."""

    channel = ForeignKeyField(Channel, on_delete="CASCADE")
    key = CharField()
    count = BigIntegerField(default=0)

    class Meta:
        indexes = ((("channel", "key"), True),)


class ReleaseTransfer(BaseModel):
    """What the downloads of a release's files cost: launch assets sent in full and as patches, and
    what the patched ones would have cost in full (the saving)."""

    release = ForeignKeyField(Release, on_delete="CASCADE", unique=True)
    full_downloads = BigIntegerField(default=0)
    full_bytes = BigIntegerField(default=0)
    patched_downloads = BigIntegerField(default=0)
    patched_bytes = BigIntegerField(default=0)
    patched_full_bytes = BigIntegerField(default=0)


class EmbeddedBundle(BaseModel):
    """The bundle shipped inside a store binary, recorded as a patch base for devices that never took an
    update: an Expo launch bundle of a runtime version (`update_id`: the embedded update's id), or the
    builtin zip of a native version (the native protocol). One per app, platform, version and update id
    ("" for what does not apply, so the unique index holds on every engine); uploading it again replaces it."""

    app = ForeignKeyField(App, backref="embedded_bundles", on_delete="CASCADE")
    platform = CharField()
    runtime_version = CharField(default="")
    native_version = CharField(default="")
    update_id = CharField(default="")
    sha256 = CharField(index=True)
    size = BigIntegerField()
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("app", "platform", "runtime_version", "native_version", "update_id"), True),)


class Device(BaseModel):
    app = ForeignKeyField(App, on_delete="CASCADE")
    device_id = CharField()
    platform = CharField(default="")
    native_version = CharField(default="")
    native_build = CharField(default="")
    bundle_version = CharField(default="")
    channel = CharField(default="")
    first_seen = DateTimeField(default=utcnow)
    last_seen = DateTimeField(default=utcnow, index=True)
    """Indexed for the janitor, which removes devices not seen for OTABOX_DEVICE_RETENTION_DAYS."""
    override_channel = CharField(null=True)
    override_bundle = ForeignKeyField(Bundle, null=True, on_delete="SET NULL")
    self_assigned_channel = CharField(null=True)
    custom_id = CharField(null=True)
    plugin_version = CharField(null=True)
    os_version = CharField(null=True)
    is_prod = BooleanField(null=True)
    is_emulator = BooleanField(null=True)
    override_seq = IntegerField(null=True, index=True)
    """The device-change number (store.generation.bump_device_change) of the last change to the three
    columns above: servers apply changes past the last number they saw to that one device."""
    served_release = IntegerField(null=True, index=True)
    """The release the device's last update check offered or confirmed (not a foreign key: a sighting
    must not fail because its release was deleted meanwhile). Health reports of that release from
    this device are attested (core/health.py): only those move rollout policies."""

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
    at = DateTimeField(default=utcnow, index=True)
    """Indexed for the janitor (events past OTABOX_HEALTH_RETENTION_DAYS go)."""


class DailyActive(BaseModel):
    """Devices seen per day and bundle version, for adoption charts."""

    app = ForeignKeyField(App, on_delete="CASCADE")
    channel = CharField()
    day = CharField(index=True)
    """Indexed for the janitor (days past OTABOX_HEALTH_RETENTION_DAYS go)."""
    bundle_version = CharField()
    device_id = CharField()

    class Meta:
        indexes = ((("app", "day", "device_id"), True),)


class AuditEntry(BaseModel):
    """One management change. `app_id`: the app it concerns (None: the box's own, e.g. people and
    tokens); a plain number, not a foreign key, so an app's entries outlive the app."""

    at = DateTimeField(default=utcnow)
    actor = CharField()
    token = CharField(null=True)
    action = CharField(index=True)
    entity_type = CharField(index=True)
    entity_id = CharField()
    details = JSONField(default=dict)
    app_id = IntegerField(null=True, index=True)


class Upload(BaseModel):
    """A two-step upload between `initiate` and `finalize`."""

    id = CharField(primary_key=True)
    app = ForeignKeyField(App, on_delete="CASCADE")
    fields = JSONField()
    size = BigIntegerField()
    sha256 = CharField()
    expires_at = DateTimeField()
    received_sha256 = CharField(null=True)
    created_at = DateTimeField(default=utcnow)


class Flag(BaseModel):
    """A feature flag of an app. Values (default, variations, rule values) are JSON of `flag_type`."""

    app = ForeignKeyField(App, backref="flags", on_delete="CASCADE")
    key = CharField()
    name = CharField()
    flag_type = CharField()
    default_value = JSONField()
    enabled = BooleanField(default=True)
    description = TextField(default="")
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("app", "key"), True),)


class FlagVariation(BaseModel):
    """A named value a flag can serve; every value a flag serves is one of its variations."""

    flag = ForeignKeyField(Flag, backref="variations", on_delete="CASCADE")
    name = CharField()
    value = JSONField()


class FlagChannelSetting(BaseModel):
    """A flag's switch and default value in one channel (a channel without a row: on, the flag's default)."""

    flag = ForeignKeyField(Flag, backref="channel_settings", on_delete="CASCADE")
    channel = CharField()
    enabled = BooleanField(default=True)
    default_value = JSONField(null=True)

    class Meta:
        indexes = ((("flag", "channel"), True),)


class FlagRule(BaseModel):
    """A targeting rule; a flag's rules are tried by ascending priority (then id), first match wins.
    `channel` None = every channel; `segment_key` repeats the segment a rule names (for 409 on delete)."""

    flag = ForeignKeyField(Flag, backref="rules", on_delete="CASCADE")
    rule_type = CharField()
    config = JSONField()
    variant_value = JSONField(null=True)
    priority = IntegerField(default=0)
    channel = CharField(null=True)
    segment_key = CharField(null=True, index=True)
    created_at = DateTimeField(default=utcnow)


class Segment(BaseModel):
    """A reusable audience: conditions on evaluation-context attributes, all or any of which must hold."""

    app = ForeignKeyField(App, backref="segments", on_delete="CASCADE")
    key = CharField()
    name = CharField()
    description = TextField(default="")
    match_type = CharField(default="all")
    conditions = JSONField(default=list)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("app", "key"), True),)


class FlagContext(BaseModel):
    """An evaluation context (user, device...) seen in flag evaluations or created by hand."""

    app = ForeignKeyField(App, on_delete="CASCADE")
    kind = CharField()
    targeting_key = CharField()
    name = CharField(default="")
    attributes = JSONField(default=dict)
    evaluations = BigIntegerField(default=0)
    manual = BooleanField(default=False)
    first_seen = DateTimeField(default=utcnow)
    last_seen = DateTimeField(default=utcnow)
    size = IntegerField(default=0)
    """Bytes of its text (key, name, attributes): what the per-app bound of contexts from
    evaluations counts (core/flag_contexts.py)."""

    class Meta:
        indexes = ((("app", "kind", "targeting_key"), True), (("app", "manual", "last_seen"), False))


class FlagEvaluationCount(BaseModel):
    """Evaluations per flag, day and variant (counted in memory, written in batches)."""

    flag = ForeignKeyField(Flag, on_delete="CASCADE")
    day = CharField()
    variant = CharField()
    count = BigIntegerField(default=0)

    class Meta:
        indexes = ((("flag", "day", "variant"), True),)



class Lease(BaseModel):
    """Who runs a once-per-box job (the policy scheduler, webhook delivery) until when; taken and
    renewed with one conditional UPDATE, so of several processes on one database one holds it."""

    name = CharField(primary_key=True)
    holder = CharField(default="")
    expires_at = DateTimeField(default=utcnow)


class HealthBucket(BaseModel):
    """Health reports of one release in one time bucket (an hour), summed; never a row per event."""

    app = ForeignKeyField(App, on_delete="CASCADE")
    release = ForeignKeyField(Release, on_delete="CASCADE")
    bucket = DateTimeField()
    launches = IntegerField(default=0)
    crashes = IntegerField(default=0)
    js_errors = IntegerField(default=0)
    failures = IntegerField(default=0)
    custom = JSONField(default=dict)
    devices = IntegerField(default=0)

    class Meta:
        indexes = ((("release", "bucket"), True), (("app", "bucket"), False))


class HealthDevice(BaseModel):
    """A device that reported health on a release: counts distinct devices per release and bucket, and
    holds what that device reported in all (within its hourly allowance), which is what rollout
    policies read. `served`: a check offered or confirmed this release to this device (attested)."""

    release = ForeignKeyField(Release, on_delete="CASCADE")
    device_id = CharField()
    bucket = DateTimeField()
    launched = BooleanField(default=False)
    served = BooleanField(default=False)
    network = CharField(null=True)
    """The client network (security/ratelimit.network_key) of the device's first report: rollout
    policies count at most `OTABOX_POLICY_DEVICES_PER_NETWORK` devices per network (None: reported
    before schema step 18, or only through a failure report; counted as a network of its own)."""
    launches = IntegerField(default=0)
    crashes = IntegerField(default=0)
    js_errors = IntegerField(default=0)

    class Meta:
        indexes = ((("release", "device_id"), True),)


class HealthError(BaseModel):
    """The most frequent error messages of a release (a bounded number per release), counted."""

    release = ForeignKeyField(Release, on_delete="CASCADE")
    kind = CharField()
    fingerprint = CharField()
    message = TextField()
    count = BigIntegerField(default=0)
    last_seen = DateTimeField(default=utcnow)
    attested = BooleanField(default=True)
    """A device a check served the release reported it (rows from before schema step 18 count as
    attested); never-served devices hold at most a share of a release's messages and give way."""

    class Meta:
        indexes = ((("release", "fingerprint"), True),)


class FlagVariantHealth(BaseModel):
    """Launches, crashes and JS errors per app, flag key, variant and day, from events' flagStates."""

    app = ForeignKeyField(App, on_delete="CASCADE")
    flag_key = CharField()
    variant = CharField()
    day = CharField()
    launches = BigIntegerField(default=0)
    crashes = BigIntegerField(default=0)
    js_errors = BigIntegerField(default=0)

    class Meta:
        indexes = ((("app", "flag_key", "variant", "day"), True),)


class TelemetryEvent(BaseModel):
    """One error, crash or custom event a device reported, kept in a ring per app: only the most
    recent `OTABOX_EVENTS_PER_APP` of each app stay (core/telemetry.py)."""

    app = ForeignKeyField(App, on_delete="CASCADE")
    at = DateTimeField(default=utcnow)
    type = CharField()
    name = CharField(null=True)
    message = TextField(null=True)
    count = IntegerField(default=1)
    device_id = CharField()
    channel = CharField(null=True)
    platform = CharField(null=True)
    runtime_version = CharField(null=True)
    release_id = IntegerField(null=True)
    flag_states = JSONField(default=dict)

    class Meta:
        indexes = ((("app", "id"), False),)


class RolloutPolicy(BaseModel):
    app = ForeignKeyField(App, on_delete="CASCADE")
    name = CharField()
    stages = JSONField()
    thresholds = JSONField(default=dict)
    require_served_devices = BooleanField(default=True)
    """Count only devices a check served the release (see core/policies.py); policies made before
    schema step 8 have it off."""
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("app", "name"), True),)


class RolloutExecution(BaseModel):
    """A release walking the stages of a policy. `stage` counts from 1."""

    app = ForeignKeyField(App, on_delete="CASCADE")
    release = ForeignKeyField(Release, on_delete="CASCADE")
    policy = ForeignKeyField(RolloutPolicy, null=True, on_delete="SET NULL")
    policy_name = CharField()
    status = CharField(index=True)
    stage = IntegerField(default=1)
    stage_started_at = DateTimeField(default=utcnow)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)


class ExecutionEvent(BaseModel):
    """What happened to an execution: started, advanced, paused, resumed, completed, rolled back..."""

    execution = ForeignKeyField(RolloutExecution, backref="events", on_delete="CASCADE")
    at = DateTimeField(default=utcnow)
    kind = CharField()
    stage = IntegerField()
    percentage = IntegerField()
    actor = CharField()
    details = JSONField(default=dict)


class Webhook(BaseModel):
    url = TextField()
    events = JSONField()
    secret_sealed = TextField()
    app = ForeignKeyField(App, null=True, on_delete="CASCADE")
    is_active = BooleanField(default=True)
    format = CharField(default="json")
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)


class OutboxEvent(BaseModel):
    """An event written in the same transaction as the change it tells about (the outbox)."""

    id = CharField(primary_key=True)
    event = CharField()
    app_id = IntegerField(null=True)
    payload = JSONField()
    created_at = DateTimeField(default=utcnow)


class Delivery(BaseModel):
    """One event for one webhook: retried until it is delivered or its attempts run out."""

    id = CharField(primary_key=True)
    outbox_event = ForeignKeyField(OutboxEvent, on_delete="CASCADE")
    webhook = ForeignKeyField(Webhook, backref="deliveries", on_delete="CASCADE")
    status = CharField(default="pending")
    attempts = IntegerField(default=0)
    next_attempt_at = DateTimeField(default=utcnow)
    created_at = DateTimeField(default=utcnow)
    finished_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("status", "next_attempt_at"), False), (("webhook", "created_at"), False))


class DeliveryAttempt(BaseModel):
    delivery = ForeignKeyField(Delivery, backref="attempt_rows", on_delete="CASCADE")
    at = DateTimeField(default=utcnow)
    status_code = IntegerField(null=True)
    duration_ms = FloatField(default=0)
    error = TextField(default="")



class Secret(BaseModel):
    """A server secret shared by every process on the database, sealed with OTABOX_SECRET_KEY
    (store/secrets.py); only used when that variable is set."""

    name = CharField(primary_key=True)
    value = TextField()
    updated_at = DateTimeField(default=utcnow)


FLAG_MODELS = [Flag, FlagVariation, FlagChannelSetting, FlagRule, Segment, FlagContext, FlagEvaluationCount]
"""Schema step 5 (feature flags)."""
HEALTH_AND_ROLLOUT_MODELS = [Lease, HealthBucket, HealthDevice, HealthError, FlagVariantHealth, RolloutPolicy,
                             RolloutExecution, ExecutionEvent, Webhook, OutboxEvent, Delivery, DeliveryAttempt]
"""Schema step 4 (health telemetry, rollout policies, webhooks)."""
BRANCH_MODELS = [Branch, UserOverride]
"""Schema step 17 (branches and user overrides)."""
ALL_MODELS = [State, App, User, ApiKey, TokenApp, UserSession, Collaborator, Branch, Channel, UserOverride, Bundle,
              BundleFile, Release, ChannelVersion, ReleaseEvent, ReleaseStat, CodePushActive, ReleaseTransfer,
              EmbeddedBundle, Device, DeviceEvent, DailyActive,
              AuditEntry, Upload, Secret, TelemetryEvent, *FLAG_MODELS,
              *HEALTH_AND_ROLLOUT_MODELS]
