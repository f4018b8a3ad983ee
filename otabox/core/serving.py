"""The serving state: an in-memory, read-only picture of every app's channels, histories and device
overrides, from which update checks are answered without touching the database.

A check compares the state's generation (see generation.py) with the one its picture was built from,
so a change is visible to the very next check, in this process and in any other process on the same
database.

While the database cannot be reached the picture already loaded keeps answering checks (see
`ServingCache`), up to a configured age: an update check then gets the last state this process
confirmed rather than a 503."""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import hmac
import threading
import time
from typing import Callable

from ..store.db import database_failure
from ..store.generation import GenerationSignal, current_generation, current_state
from ..store.models import (
    App,
    Branch,
    Bundle,
    Channel,
    ChannelVersion,
    Device,
    Release,
    UserOverride,
    database,
    row_id,
)
from . import semver

VERIFY_SECONDS = 1.0


FILE_MISSING = "fileMissing"
"""Set in a bundle's `extra` while its file is known to be missing from storage (`doctor` found it,
or a download did): none of its releases is offered then (see `release_view`)."""


@dataclasses.dataclass(frozen=True)
class BundleView:
    id: int
    version: str
    platform: str
    format: str
    sha256: str
    size: int
    signature: str
    min_native_build: int | None
    target_versions: str | None
    notes: str
    package_hash: str | None
    session_key: str | None
    encrypted_checksum: str | None
    key_id: str | None
    runtime_version: str | None
    extra: dict
    created_at: dt.datetime
    target_range: object = dataclasses.field(compare=False, repr=False, default=None)
    min_update_version: str | None = None

    @classmethod
    def of(cls, row: Bundle) -> "BundleView":
        return cls(id=row.id, version=row.version, platform=row.platform, format=row.format, sha256=row.sha256,
                   size=row.size, signature=row.signature, min_native_build=row.min_native_build,
                   target_versions=row.target_versions, notes=row.notes, package_hash=row.package_hash,
                   session_key=row.session_key, encrypted_checksum=row.encrypted_checksum, key_id=row.key_id,
                   runtime_version=row.runtime_version, extra=row.extra or {}, created_at=row.created_at,
                   target_range=_parsed_range(row.target_versions), min_update_version=row.min_update_version)

    @property
    def file_missing(self) -> bool:
        return bool(self.extra.get(FILE_MISSING))

    def serves_platform(self, platform: str | None) -> bool:
        if self.format == "expo":
            return not platform or platform in self.extra.get("platforms", ())
        return self.platform == "all" or not platform or self.platform == platform


@functools.lru_cache(maxsize=4096)
def _parsed_range(text: str | None):
    return semver.parse_range(text) if text else None


def native_mismatch(target_range, min_native_build: int | None, native_version: str | None,
                    native_build: int | None, any_version: bool = False) -> str | None:
    """Why a binary of this store version / build number cannot run a bundle, or None when it can:
    `native_build_too_low` or `native_version_not_targeted`."""
    if min_native_build is not None and (native_build is None or native_build < min_native_build):
        return "native_build_too_low"
    if target_range is not None and not any_version:
        try:
            fits = bool(native_version) and target_range.satisfied_by(semver.coerce_app_version(native_version))
        except ValueError:
            fits = False
        if not fits:
            return "native_version_not_targeted"
    return None


@dataclasses.dataclass(frozen=True)
class ReleaseView:
    id: int
    kind: str
    label: str
    bundle: BundleView | None
    rollout: int
    mandatory: bool
    disabled: bool
    notes: str
    created_at: dt.datetime
    target_versions: str | None = None
    """The native versions it targets: its own range, else its bundle's."""
    platform: str | None = None
    """Only devices of this platform take it (None: any)."""
    runtime_version: str | None = None
    target_range: object = dataclasses.field(compare=False, repr=False, default=None)
    restores: int | None = None
    """A rollback's target (a release id of this channel): devices outside its rollout go on below the
    target, as they did when the target was the newest release."""
    rollout_id: int | None = None
    rollout_label: str | None = None
    """The release whose rollout membership it shares (a rollback: its target's, so the same devices
    are inside); None: its own."""

    @property
    def is_builtin(self) -> bool:
        return self.bundle is None

    @property
    def rollout_salt(self) -> int:
        return self.rollout_id if self.rollout_id is not None else self.id

    @property
    def rollout_tag(self) -> str:
        return self.rollout_label if self.rollout_label is not None else self.label

    def native_mismatch(self, native_version: str | None, native_build: int | None,
                        any_version: bool = False) -> str | None:
        bundle = self.bundle
        return native_mismatch(self.target_range, bundle.min_native_build if bundle else None, native_version,
                               native_build, any_version)


@dataclasses.dataclass(frozen=True)
class ChannelView:
    id: int
    name: str
    deployment_key: str
    block_upgrades: str
    allow_device_self_assign: bool
    allow_emulator: bool
    allow_dev: bool
    ios_enabled: bool
    android_enabled: bool
    history: tuple[ReleaseView, ...]
    """Newest first, disabled releases included (adapters that show history need them)."""
    disable_under_native: bool = False
    """Capgo's disableAutoUpdateUnderNative: never offer a bundle below the device's native version."""
    min_runtime_version: str | None = None
    split_percentage: int = 0
    numbers: tuple[tuple[int, int], ...] = ()
    """(number, bundle id) of the channel's whole-number versions, highest first (core/channel_numbers.py)."""
    split: "ChannelView | None" = dataclasses.field(default=None, compare=False, repr=False)
    """This channel with another branch's history: what `split_percentage` % of its devices get."""
    branch: str | None = dataclasses.field(default=None, compare=False)
    """The branch whose history it serves (its history is what the digest compares)."""

    @property
    def current(self) -> ReleaseView | None:
        return next((r for r in self.history if not r.disabled), None)

    def bundle_numbered(self, number: int) -> int | None:
        """The id of the bundle the channel numbered `number`."""
        return next((bundle_id for n, bundle_id in self.numbers if n == number), None)

    def number_of(self, bundle_id: int) -> int | None:
        """The bundle's (highest) number on this channel."""
        return next((n for n, b in self.numbers if b == bundle_id), None)

    @functools.cached_property
    def mandatory_positions(self) -> tuple[int, ...]:
        return tuple(p for p, r in enumerate(self.history) if r.mandatory and r.bundle is not None)

    @functools.cached_property
    def positions_by_version(self) -> dict[str, tuple[int, ...]]:
        return self._positions(lambda bundle: bundle.version)

    @functools.cached_property
    def positions_by_hash(self) -> dict[str, tuple[int, ...]]:
        return self._positions(lambda bundle: bundle.package_hash)

    @functools.cached_property
    def positions_by_bundle(self) -> dict[int, tuple[int, ...]]:
        return self._positions(lambda bundle: bundle.id)

    def _positions(self, key) -> dict:
        found: dict = {}
        for position, release in enumerate(self.history):
            if release.bundle is not None:
                found.setdefault(key(release.bundle), []).append(position)
        return {k: tuple(v) for k, v in found.items()}


def matching_names(name: str, names) -> list[str]:
    """The names `name` means among `names`: itself when present, else those equal to it ignoring
    case (the code-push CLI's "Production" is the channel "production")."""
    names = list(names)
    if name in names:
        return [name]
    folded = name.casefold()
    return [n for n in names if n.casefold() == folded]


@dataclasses.dataclass(frozen=True)
class Override:
    channel: str | None
    bundle: BundleView | None
    self_assigned_channel: str | None

    @property
    def empty(self) -> bool:
        return self.channel is None and self.bundle is None and self.self_assigned_channel is None


class FilteredOverrides:
    """Another lookup's overrides without the pinned bundles `keep` refuses (Expo: other runtimes).
    Reads through, so changes to single devices stay visible."""

    def __init__(self, base, keep: Callable[[BundleView], bool]):
        self.base, self.keep = base, keep

    def get(self, device_id: str, default=None):
        override = self.base.get(device_id)
        if override is None:
            return default
        if override.bundle is None or self.keep(override.bundle):
            return override
        return dataclasses.replace(override, bundle=None)


@dataclasses.dataclass(frozen=True)
class BranchView:
    """A branch's history (newest first) and the whole-number versions of a channel serving it."""

    name: str
    history: tuple[ReleaseView, ...] = ()
    numbers: tuple[tuple[int, int], ...] = ()


@dataclasses.dataclass(frozen=True)
class AppView:
    id: int
    slug: str
    name: str
    client_key: str
    channels: dict[str, ChannelView]
    bundles: dict[int, BundleView]
    overrides: dict[str, Override]
    """By device id. ServingCache changes single entries in place when one device changes."""
    default_channel: str | None = "production"
    public_flag_definitions: bool = True
    """Whether AppDispatch's flag definitions answer without the client key (App.public_flag_definitions)."""
    sequence: int = 0
    """Grows with every change of what any channel of the app serves (signed into check replies)."""
    branches: dict[str, BranchView] = dataclasses.field(default_factory=dict)
    user_branches: dict[str, str] = dataclasses.field(default_factory=dict)
    """User id → the branch that user is pinned to (core/branches.py's user overrides)."""
    memo: dict = dataclasses.field(default_factory=dict, init=False, compare=False, repr=False)
    """Values derived from this view by the adapters (e.g. signed replies), gone with it."""

    def for_user(self, channel: ChannelView, user_id: str | None) -> ChannelView:
        """The channel as the devices of `user_id` get it: a user pinned to a branch gets that branch's
        history (and no split), whatever the channel serves; other users get the channel as it is."""
        branch = self.branches.get(self.user_branches.get(user_id)) if user_id else None
        if branch is None:
            return channel
        key = ("user-branch", channel.name, branch.name)
        found = self.memo.get(key)
        if found is None:
            found = self.memo[key] = dataclasses.replace(channel, history=branch.history, numbers=branch.numbers,
                                                         branch=branch.name, split=None, split_percentage=0)
        return found

    @functools.cached_property
    def bundles_by_version(self) -> dict[str, tuple[BundleView, ...]]:
        """Bundles of each version: one made for a platform before one for all."""
        found: dict = {}
        for bundle in sorted(self.bundles.values(), key=lambda b: b.platform == "all"):
            found.setdefault(bundle.version, []).append(bundle)
        return {version: tuple(bundles) for version, bundles in found.items()}

    def bundle_for_version(self, version: str, platform: str | None) -> int | None:
        """The id of the bundle of this version a device on `platform` runs, if the app has one."""
        return next((b.id for b in self.bundles_by_version.get(version, ()) if b.serves_platform(platform)), None)

    def channel_for(self, device_id: str | None, requested: str | None) -> ChannelView | None:
        """Admin override first, then the channel the device asked for, then its self-assigned one,
        then the app's default channel."""
        override = self.overrides.get(device_id) if device_id else None
        if override and override.channel:
            return self.channel_named(override.channel)
        if requested:
            return self.channel_named(requested)
        if override and override.self_assigned_channel:
            return self.channel_named(override.self_assigned_channel)
        return self.channel_named(self.default_channel) if self.default_channel else None

    def channel_named(self, name: str) -> ChannelView | None:
        """The channel of that name, else the one channel whose name differs only in case (a device
        built with "Production" reaches "production"; two such channels: neither)."""
        found = self.channels.get(name)
        if found is None:
            matches = matching_names(name, self.channels)
            found = self.channels[matches[0]] if len(matches) == 1 else None
        return found


def release_view(row: Release, bundles: dict[int, BundleView], earlier: dict[str, ReleaseView] | None = None
                 ) -> ReleaseView:
    """`earlier`: the channel's older releases by label, where a rollback finds its target. A release
    whose bundle's file is known to be missing is disabled (devices then get what the channel served
    before, as after a rollback)."""
    bundle = bundles.get(row.bundle_id)
    targets = row.target_versions or (bundle.target_versions if bundle else None)
    target = (earlier or {}).get(row.original_label) if row.kind == "rollback" else None
    return ReleaseView(
        id=row.id, kind=row.kind, label=row.label, bundle=bundle, rollout=row.rollout, mandatory=row.mandatory,
        disabled=row.disabled or (bundle is not None and bundle.file_missing), notes=row.notes,
        created_at=row.created_at, target_versions=targets, platform=row.platform,
        runtime_version=row.runtime_version, target_range=_parsed_range(targets),
        restores=target.id if target else None, rollout_id=target.rollout_salt if target else None,
        rollout_label=target.rollout_tag if target else None)


def channel_history(rows: list[Release], bundles: dict[int, BundleView]) -> tuple[ReleaseView, ...]:
    """A channel's releases (given oldest first) as views, newest first."""
    by_label: dict[str, ReleaseView] = {}
    views = []
    for row in rows:
        views.append(release_view(row, bundles, by_label))
        by_label[row.label] = views[-1]
    return tuple(reversed(views))


def read_through_outage(view: AppView, name: str, read: Callable[[], object]):
    """`read()` (something an adapter reads from the database per request), remembered in the view as
    `name`; when the database does not answer, the value last remembered there (else the failure)."""
    try:
        value = view.memo[name] = read()
    except Exception as exc:
        if database_failure(exc) is None or name not in view.memo:
            raise
        value = view.memo[name]
    return value


OVERRIDE_COLUMNS = (Device.app, Device.device_id, Device.override_channel, Device.override_bundle,
                    Device.self_assigned_channel)
HAS_OVERRIDE = (Device.override_channel.is_null(False) | Device.override_bundle.is_null(False)
                | Device.self_assigned_channel.is_null(False))


def _override(row: Device, bundles: dict[int, BundleView]) -> Override:
    return Override(row.override_channel, bundles.get(row.override_bundle_id), row.self_assigned_channel)


def _load_content(app: App) -> tuple[dict, dict, dict, dict, dict]:
    """Channels (each with its branch's history, and the split's), bundles, device overrides,
    branches and user overrides."""
    bundles = {b.id: BundleView.of(b) for b in Bundle.select().where(Bundle.app == app)}
    rows_by_branch: dict[int, list[Release]] = {}
    for r in Release.select().where(Release.app == app).order_by(Release.id):
        rows_by_branch.setdefault(r.branch_id, []).append(r)
    histories = {branch_id: channel_history(rows, bundles) for branch_id, rows in rows_by_branch.items()}
    branch_names = {b.id: b.name for b in Branch.select(Branch.id, Branch.name).where(Branch.app == app)}
    rows = list(Channel.select().where(Channel.app == app).order_by(Channel.id))
    numbers: dict[int, list[tuple[int, int]]] = {}
    for v in (ChannelVersion.select(ChannelVersion.channel, ChannelVersion.number, ChannelVersion.bundle)
              .where(ChannelVersion.channel.in_([c.id for c in rows])).order_by(ChannelVersion.number.desc())):
        numbers.setdefault(v.channel_id, []).append((v.number, v.bundle_id))
    branch_numbers: dict[int, tuple] = {}
    for c in rows:  # a branch's numbers: those of the channel of its name, else of the first serving it
        if c.branch_id not in branch_numbers or branch_names.get(c.branch_id) == c.name:
            branch_numbers[c.branch_id] = tuple(numbers.get(c.id, ()))
    branches = {name: BranchView(name, tuple(histories.get(branch_id, ())), branch_numbers.get(branch_id, ()))
                for branch_id, name in branch_names.items()}
    channels = {
        c.name: ChannelView(
            id=c.id, name=c.name, deployment_key=c.deployment_key, block_upgrades=c.block_upgrades,
            allow_device_self_assign=c.allow_device_self_assign, allow_emulator=c.allow_emulator,
            allow_dev=c.allow_dev, ios_enabled=c.ios_enabled, android_enabled=c.android_enabled,
            history=tuple(histories.get(c.branch_id, ())), disable_under_native=c.disable_auto_update_under_native,
            min_runtime_version=c.min_runtime_version, numbers=tuple(numbers.get(c.id, ())),
            branch=branch_names.get(c.branch_id))
        for c in rows}
    for c in rows:
        target = branches.get(branch_names.get(c.rollout_branch_id))
        if target is not None and c.rollout_percentage > 0 and c.rollout_branch_id != c.branch_id:
            own = channels[c.name]
            channels[c.name] = dataclasses.replace(own, split_percentage=c.rollout_percentage,
                                                   split=dataclasses.replace(own, history=target.history,
                                                                             numbers=target.numbers,
                                                                             branch=target.name))
    overrides = {d.device_id: _override(d, bundles)
                 for d in Device.select(*OVERRIDE_COLUMNS).where((Device.app == app) & HAS_OVERRIDE)}
    user_branches = {u.user_id: branch_names[u.branch_id] for u in UserOverride.select(
        UserOverride.user_id, UserOverride.branch).where(UserOverride.app == app) if u.branch_id in branch_names}
    return channels, bundles, overrides, branches, user_branches


def _fields(view, replace: dict | None = None) -> tuple:
    """A view's compared fields as a tuple, with some replaced (a release's bundle by its id)."""
    replace = replace or {}
    return tuple(replace.get(f.name, getattr(view, f.name)) for f in dataclasses.fields(view) if f.compare)


def serving_digest(channels: dict[str, ChannelView], bundles: dict[int, BundleView], branches: dict[str, BranchView],
                   user_branches: dict[str, str], default_channel: str | None) -> str:
    """A digest of everything that decides what a device is served: channel settings and the branch
    each serves or splits to, every branch's history (a split or a user override reaches branches no
    channel serves), bundles, user overrides and the channel of devices that name none."""
    digest = hashlib.sha256()
    for bundle_id in sorted(bundles):
        digest.update(repr(_fields(bundles[bundle_id])).encode())
    for name in sorted(channels):
        channel = channels[name]
        history = tuple(_fields(r, {"bundle": r.bundle.id if r.bundle else None}) for r in channel.history)
        split = channel.split.branch if channel.split is not None else None
        digest.update(repr((_fields(channel, {"history": history}), channel.branch, split)).encode())
    for name in sorted(branches):
        history = tuple(_fields(r, {"bundle": r.bundle.id if r.bundle else None}) for r in branches[name].history)
        digest.update(repr((name, history)).encode())
    digest.update(repr((default_channel, sorted(user_branches.items()))).encode())
    return digest.hexdigest()


def app_sequence(app: App, digest: str, generation: int) -> int:
    """The app's serving sequence for content with `digest`, read at exactly `generation`.

    The first process to see new content stores the generation it saw it at (the generation only
    grows, and content that differs from the stored one was changed after that one was read); every
    process then signs with the stored number, so all agree. A process reading content older than the
    stored one keeps its own, smaller number, which devices that saw the newer one refuse."""
    if app.serving_digest != digest:
        with database.atomic():
            (App.update(serving_sequence=generation, serving_digest=digest)
             .where((App.id == app.id) & ((App.serving_digest != digest) | App.serving_digest.is_null())
                    & ((App.serving_sequence < generation) | App.serving_sequence.is_null()))
             .execute())
        app = App.select(App.serving_sequence, App.serving_digest).where(App.id == app.id).first() or app
    return app.serving_sequence if app.serving_digest == digest else generation


def load_app_view(app: App) -> AppView:
    """The app as devices are served it. The content is read between two equal readings of the
    generation, so it is exactly the content of that generation (for `app_sequence`)."""
    for _ in range(5):
        generation = current_generation()
        channels, bundles, overrides, branches, user_branches = _load_content(app)
        if current_generation() == generation:
            break
    sequence = app_sequence(app, serving_digest(channels, bundles, branches, user_branches, app.default_channel),
                            generation)
    return AppView(id=app.id, slug=app.slug, name=app.name, client_key=app.client_key, channels=channels,
                   bundles=bundles, overrides=overrides, default_channel=app.default_channel,
                   public_flag_definitions=app.public_flag_definitions, sequence=sequence,
                   branches=branches, user_branches=user_branches)


def _state_retried_once() -> tuple[int, int]:
    """current_state(), asked again once when the database failed: a connection the server dropped (it
    restarted) fails once, and the second try opens a new one."""
    try:
        return current_state()
    except Exception as exc:
        if database_failure(exc) is None:
            raise
        return current_state()


MAX_APP_ID = 200
"""Slugs are at most 200 characters (apps.create_app); a longer name is no app, and costs no query."""


class ServingCache:
    """App views by id and slug, and deployment keys, rebuilt lazily after any generation change.

    A device-change number past the one applied (see generation.py) re-reads only the devices that
    changed and updates their entries in the cached views in place. Names that are no app are never
    remembered, so a flood of invented slugs costs no memory.

    With a `signal` (processes sharing a host), the database is asked only when the signal moved or
    a second has passed; without one (e.g. a database shared across hosts), on every check.

    When the database does not answer, the views already loaded go on answering checks for up to
    `stale_limit` seconds after the database last confirmed them (`offline_since` says since when),
    and the database is asked again once a second by one check, not by every check. Whatever is not
    loaded yet (an app no check asked for since the last change) still fails with the database."""

    def __init__(self, signal: GenerationSignal | None = None, stale_limit: float = 21600):
        self._lock = threading.Lock()
        self._signal = signal
        self.stale_limit = stale_limit
        self._state = (-1, -1)
        self._verified_at = 0.0
        self._confirmed_at: float | None = None
        self.offline_since: float | None = None
        """Monotonic time since which checks are answered from memory (None: the database answers)."""
        self._apps: dict[str, AppView] = {}
        self._deployment_keys: dict[str, tuple[int, str]] | None = None
        self._client_keys: dict[bytes, tuple[int, str]] | None = None

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._verified_at < VERIFY_SECONDS and (
                self.offline_since is not None
                or (self._signal is not None and self._signal.read_state() == self._state)):
            return
        if self.offline_since is not None:
            self._verified_at = now  # one check at a time asks a database that is away
        try:
            state = _state_retried_once()
        except Exception as exc:
            if not self._may_serve_from_memory(exc, now):
                raise
            return
        self._verified_at = self._confirmed_at = now
        self.offline_since = None
        if self._signal is not None:
            self._signal.publish(*state)
        if state == self._state:
            return
        with self._lock:
            if state[0] != self._state[0]:
                self._apps = {}
                self._deployment_keys = None
                self._client_keys = None
            elif state[1] > self._state[1]:
                self._apply_device_changes(self._state[1])
            self._state = state

    def _may_serve_from_memory(self, exc: Exception, now: float) -> bool:
        """After the database failed to say the current state: whether the loaded views may answer
        (the database is unreachable, and they were confirmed less than `stale_limit` seconds ago)."""
        if (database_failure(exc) is None or self._confirmed_at is None
                or now - self._confirmed_at > self.stale_limit):
            return False
        self._verified_at = now
        if self.offline_since is None:
            self.offline_since = now
        return True

    @property
    def offline(self) -> bool:
        """Checks are being answered from memory because the database did not answer."""
        return self.offline_since is not None

    def _apply_device_changes(self, since: int) -> None:
        """Re-read the devices changed after number `since` into the cached views (under the lock)."""
        rows = Device.select(*OVERRIDE_COLUMNS).where(Device.override_seq > since)
        for row in rows:
            view = self._apps.get(str(row.app_id))
            if view is None:
                continue
            override = _override(row, view.bundles)
            if override.empty:
                view.overrides.pop(row.device_id, None)
            else:
                view.overrides[row.device_id] = override

    def app(self, id_or_slug: str) -> AppView | None:
        self._refresh()
        view = self._apps.get(id_or_slug)
        if view is not None or len(id_or_slug) > MAX_APP_ID:
            return view
        number = row_id(id_or_slug)
        query = App.select().where((App.slug == id_or_slug) | (App.id == number) if number is not None
                                   else App.slug == id_or_slug)
        row = query.first()
        if row is None:
            return None
        with self._lock:  # one load per change, and none while a refresh applies device changes
            view = self._apps.get(row.slug)
            if view is None:
                view = load_app_view(row)
                self._apps[row.slug] = self._apps[str(row.id)] = view
        return view

    def app_by_slug(self, slug: str) -> AppView | None:
        """The app a keyless device route names (Capgo's `app_id`, Expo's URL, AppDispatch's
        `projectSlug`): by slug only, never by its row id, which anyone can count through."""
        view = self.app(slug)
        return view if view is not None and view.slug == slug else None

    def by_deployment_key(self, key: str) -> tuple[AppView, ChannelView] | None:
        self._refresh()
        keys = self._deployment_keys
        if keys is None:
            keys = {c.deployment_key: (c.app_id, c.name) for c in Channel.select(
                Channel.deployment_key, Channel.app, Channel.name)}
            self._deployment_keys = keys
        found = keys.get(key)
        if not found:
            return None
        app = self.app(str(found[0]))
        return (app, app.channels[found[1]]) if app and found[1] in app.channels else None

    def by_client_key(self, key: str) -> AppView | None:
        """The app whose client key this is (looked up by digest, then compared in constant time)."""
        self._refresh()
        keys = self._client_keys
        if keys is None:
            keys = {hashlib.sha256(a.client_key.encode()).digest(): (a.id, a.client_key)
                    for a in App.select(App.id, App.client_key)}
            self._client_keys = keys
        presented = key.encode("utf-8", "replace")
        found = keys.get(hashlib.sha256(presented).digest())
        if found is None or not hmac.compare_digest(presented, found[1].encode()):
            return None
        return self.app(str(found[0]))
