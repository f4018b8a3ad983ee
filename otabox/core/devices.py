"""Devices: what each device last reported, overrides (pinning), client events, and the check buffer.

Checks are answered without a database write: `DeviceTracker` keeps the latest state of each device
and the check counters in memory and writes them in one transaction per flush interval."""
from __future__ import annotations

import datetime as dt
import logging

from peewee import IntegrityError, chunked

from ..errors import BadRequest, NotFound
from ..fields import Boolean, IdOrName, Schema, Text
from ..security.ratelimit import NewDeviceBudget
from ..store.db import REPORTED_COLUMNS, SIGHTING_COLUMNS, upsert_device_reports, upsert_device_sightings
from ..store.models import App, DailyActive, Device, DeviceEvent, database, iso, utcnow
from .batching import BatchWriter, delete_in_batches
from .change import DEVICE, Change, changing
from .releases import count_stat

log = logging.getLogger("otabox.devices")
EVENT_TYPES = ("downloaded", "installed", "failed", "rolled_back")
MAX_DEVICE_ID = 200
MAX_MESSAGE = 1000
EVENT_ROW_OVERHEAD = 100
"""Bytes a stored event costs beyond its text (ids, time, index entries), for the daily budget."""
DEVICE_ROW_BYTES = 400
"""Bytes the device row that a report creates costs (its columns and index entries: about 340 on
SQLite), charged to the daily event budget with the first event of a device the app has no row for."""
STORED_LENGTHS = {"platform": 20, "native_version": 100, "native_build": 50, "bundle_version": 100, "channel": 64,
                  "custom_id": 100, "plugin_version": 50, "os_version": 50}
"""Characters of each device field a row keeps. Requests may carry 200 (they are read as sent), but
no client sends more than this: OS and plugin versions ("17.4", "8.51.14"), build numbers, app,
runtime and bundle versions (100, as a bundle's), channel names (64, as otabox's) and an app's
custom id; a flood of made-up ids each with 200-character fields stored 1.8 KB a device."""
CREATOR = "creator"
"""In a buffered sighting or report: the address it came from, which a new device's row is charged
to (absent from a report that may not create a row)."""
DEVICE_FIELDS = SIGHTING_COLUMNS
REPORTED_FIELDS = REPORTED_COLUMNS
"""What capacitor-updater reports besides; a sighting without one keeps the value recorded before."""


def _stored(name: str, value):
    """What a row keeps of a device field (STORED_LENGTHS); booleans and None as they are."""
    return value[:STORED_LENGTHS[name]] if isinstance(value, str) else value


class DeviceTracker(BatchWriter):
    """Buffers device sightings and check counts; a background thread flushes them in batches.

    While the database is away the buffer keeps growing (flushes fail and put their batch back) up to
    `max_devices` devices; a device seen again only updates its entry, a new device past the bound
    is not recorded and counted in `dropped`.

    Phones choose their ids, so a device the app has no row for gets one only within the daily
    budget of new devices of the address it came from (`new_devices`, security/ratelimit.py); a
    request that only reads (Capgo's getChannel) updates a known device and creates none."""

    thread_name = "otabox-device-flush"

    def __init__(self, interval: float, max_devices: int = 100_000, new_devices_per_address: int = 0):
        super().__init__(interval)
        self.max_devices = max_devices
        self.new_devices = NewDeviceBudget(new_devices_per_address)
        self._seen: dict[tuple[int, str], dict] = {}
        self._checks: dict[int, int] = {}
        self._reported: dict[tuple[int, str], dict] = {}

    def seen(self, app_id: int, device_id: str | None, release_id: int | None, *, address: str | None = None,
             **state) -> None:
        """A check from this device, from `address`: `release_id` is the release it offered or
        confirmed (None: none), remembered as the device's served release (what attests its health
        reports)."""
        with self._lock:
            if device_id:
                key = (app_id, device_id)
                if key in self._seen or len(self._seen) < self.max_devices:
                    served = release_id or (self._seen.get(key) or {}).get("served_release")
                    self._seen[key] = {**state, "at": utcnow(), "served_release": served, CREATOR: address}
                else:
                    self.dropped += 1
            if release_id:
                self._checks[release_id] = self._checks.get(release_id, 0) + 1

    def reported(self, app_id: int, device_id: str, reported: dict, *, address: str | None = None,
                 creates: bool = True) -> None:
        """What a device reports about itself (REPORTED_FIELDS: customId and the like) in a request that
        is not an update check (stats, channel_self), from `address`; None values leave a field as it
        was. Buffered like sightings, so a flood of such requests costs no write per request. Without
        `creates` (a request that only reads) it updates a device the app has a row for, and no other."""
        values = {name: value for name, value in reported.items() if name in REPORTED_FIELDS and value is not None}
        if values:
            if creates:
                values[CREATOR] = address
            with self._lock:
                key = (app_id, device_id)
                if key in self._reported or len(self._reported) < self.max_devices:
                    self._reported.setdefault(key, {}).update(values)
                else:
                    self.dropped += 1

    def buffered(self, app_id: int, device_ids: set[str]) -> set[str]:
        """Which of `device_ids` have a sighting or report waiting to be written."""
        with self._lock:
            return {d for d in device_ids if (app_id, d) in self._seen or (app_id, d) in self._reported}

    def _take(self):
        batch = self._seen, self._checks, self._reported
        self._seen, self._checks, self._reported = {}, {}, {}
        return batch if any(batch) else None

    def _restore(self, batch) -> None:
        seen, checks, reported = batch
        for key, state in seen.items():
            if key in self._seen or len(self._seen) < self.max_devices:
                self._seen.setdefault(key, state)
            else:
                self.dropped += 1
        for key, values in reported.items():
            if key in self._reported or len(self._reported) < self.max_devices:
                self._reported[key] = {**values, **self._reported.get(key, {})}
            else:
                self.dropped += 1
        for release_id, count in checks.items():
            self._checks[release_id] = self._checks.get(release_id, 0) + count

    def _budgeted(self, seen: dict, reported: dict) -> tuple[dict, dict]:
        """The sightings and reports that may be written: those of devices the app has a row for, and
        of new devices their address's daily budget admits (a report that may not create a row, none)."""
        pending = [key for key in seen if self.new_devices.enabled] + [
            key for key, values in reported.items() if self.new_devices.enabled or CREATOR not in values]
        if not pending:
            return seen, reported
        by_app: dict[int, set[str]] = {}
        for app_id, device_id in pending:
            by_app.setdefault(app_id, set()).add(device_id)
        allowed = {(app_id, device_id) for app_id, ids in by_app.items() for device_id in known_devices(app_id, ids)}
        refused = set()
        for key, entry in [*seen.items(), *reported.items()]:
            if key in allowed or key in refused:
                continue
            if CREATOR in entry and self.new_devices.admit(entry[CREATOR]):
                allowed.add(key)
            else:
                refused.add(key)
        return ({key: state for key, state in seen.items() if key not in refused},
                {key: values for key, values in reported.items() if key not in refused})

    def _store(self, batch) -> int:
        seen, checks, reported = batch
        seen, reported = self._budgeted(seen, reported)
        reports = [(app_id, device_id, str(utcnow()), *(_stored(k, values.get(k)) for k in REPORTED_FIELDS))
                   for (app_id, device_id), values in reported.items()]
        rows = [(app_id, device_id,
                 *("" if state.get(k) is None else _stored(k, str(state[k])) for k in DEVICE_FIELDS),
                 str(state["at"]), state["at"].strftime("%Y-%m-%d"),
                 *(_stored(k, state.get(k)) for k in REPORTED_FIELDS), state.get("served_release"))
                for (app_id, device_id), state in seen.items()]
        try:
            self._write(rows, checks, reports)
        except IntegrityError:
            self._write_one_by_one(rows, checks, reports)
        return len(seen)

    @staticmethod
    def _write(rows: list[tuple], checks: dict[int, int], reports: list[tuple] = ()) -> None:
        with database.atomic():
            upsert_device_sightings(database, rows)
            upsert_device_reports(database, reports)
            for release_id, count in checks.items():
                count_stat(release_id, "check", count)

    def _write_one_by_one(self, rows: list[tuple], checks: dict[int, int], reports: list[tuple]) -> None:
        """A batch the database refuses for good (its app or release was deleted meanwhile) is written
        row by row and the refused rows are dropped, so one bad row cannot block every later flush."""
        dropped = 0
        for row in rows:
            try:
                self._write([row], {})
            except IntegrityError:
                dropped += 1
        for report in reports:
            try:
                self._write([], {}, [report])
            except IntegrityError:
                dropped += 1
        for release_id, count in checks.items():
            try:
                self._write([], {release_id: count})
            except IntegrityError:
                dropped += 1
        if dropped:
            log.warning("dropped %d device sightings or check counts of deleted apps or releases", dropped)


def device_json(device: Device) -> dict:
    return {
        "deviceId": device.device_id, "platform": device.platform, "nativeVersion": device.native_version,
        "nativeBuild": device.native_build, "bundleVersion": device.bundle_version or "builtin",
        "channel": device.channel, "firstSeen": iso(device.first_seen), "lastSeen": iso(device.last_seen),
        "override": {"channel": device.override_channel, "bundleId": device.override_bundle_id},
        "selfAssignedChannel": device.self_assigned_channel, "customId": device.custom_id,
        "pluginVersion": device.plugin_version, "osVersion": device.os_version, "isProd": device.is_prod,
        "isEmulator": device.is_emulator,
    }


def find_device(app: App, device_id: str) -> Device:
    device = Device.get_or_none((Device.app == app) & (Device.device_id == device_id))
    if device is None:
        raise NotFound(f"no device {device_id!r} in app {app.slug!r}")
    return device


DEVICE_FILTERS = {"platform": Device.platform, "customId": Device.custom_id, "pluginVersion": Device.plugin_version,
                  "osVersion": Device.os_version, "isProd": Device.is_prod, "isEmulator": Device.is_emulator}
"""Exact-match filters of the device list, by query parameter (booleans as true/false)."""
DEVICE_QUERY = Schema({"channel": Text(200), "version": Text(100, description="A bundle version, or builtin"),
                       "search": Text(200, description="Part of the device id or custom id"),
                       **{name: Boolean() if name in ("isProd", "isEmulator") else Text(200)
                          for name in DEVICE_FILTERS}})
PIN = Schema({"channel": Text(200, nullable=True), "bundleId": IdOrName(nullable=True)})
"""A device's override: a channel and/or a bundle."""


def list_devices(app: App, limit: int, offset: int, channel: str | None, version: str | None,
                 search: str | None = None, filters: dict | None = None):
    query = Device.select().where(Device.app == app)
    if channel:
        query = query.where(Device.channel == channel)
    if version:
        query = query.where(Device.bundle_version == ("" if version == "builtin" else version))
    if search:
        query = query.where(Device.device_id.contains(search) | Device.custom_id.contains(search))
    for name, value in (filters or {}).items():
        query = query.where(DEVICE_FILTERS[name] == value)
    return list(query.order_by(Device.last_seen.desc(), Device.id.desc()).limit(limit).offset(offset)), query.count()


def _ensure_device(app: App, device_id: str) -> Device:
    if not isinstance(device_id, str) or not 0 < len(device_id) <= MAX_DEVICE_ID:
        raise BadRequest(f"deviceId must be 1 to {MAX_DEVICE_ID} characters", details={"field": "deviceId"})
    Device.insert(app=app, device_id=device_id).on_conflict_ignore().execute()
    return Device.get((Device.app == app) & (Device.device_id == device_id))


def _changed_device(change: Change, device: Device, **columns) -> None:
    """Write override columns of one device, in a DEVICE change: servers apply it to that device
    alone (store/generation.py), without rebuilding the app's serving state."""
    Device.update(**columns).where(Device.id == device.id).execute()
    change.device = device


def set_override(app: App, device_id: str, channel, bundle, actor: str) -> Device:
    """Pin a device to a channel and/or a bundle (QA phones, a customer with a bug)."""
    with changing(actor, "device.override_set", "device", device_id,
                  {"app": app.slug, "channel": channel.name if channel else None,
                   "bundleId": bundle.id if bundle else None}, signal=DEVICE, app=app) as change:
        device = _ensure_device(app, device_id)
        _changed_device(change, device, override_channel=channel.name if channel else None, override_bundle=bundle)
    return find_device(app, device_id)


def clear_override(app: App, device_id: str, actor: str) -> Device:
    with changing(actor, "device.override_cleared", "device", device_id, {"app": app.slug},
                  signal=DEVICE, app=app) as change:
        device = find_device(app, device_id)
        _changed_device(change, device, override_channel=None, override_bundle=None)
    return find_device(app, device_id)


def set_self_assigned_channel(app: App, device_id: str, channel_name: str | None) -> bool:
    """A device's own choice of channel (only for channels that allow it; checked by the caller), or
    None to forget it. Writes nothing when nothing changes: an unknown device forgetting its choice
    creates no row, and the same choice again writes nothing. Returns whether it wrote."""
    with changing(None, None, signal=DEVICE) as change:
        device = Device.get_or_none((Device.app == app) & (Device.device_id == device_id))
        if (device.self_assigned_channel if device else None) == channel_name:
            change.skip()
            return False
        _changed_device(change, device or _ensure_device(app, device_id), self_assigned_channel=channel_name)
    return True


def record_events(app: App, events: list[dict], resolve_release, admit=None, health=None) -> int:
    """Store client events and count them on the release that served the bundle; returns how many
    were stored (see store_events for `admit` and `health`).

    `resolve_release(device_id, bundle_id)` gives (release id or None, the bundle id if it is the app's)."""
    rows = []
    for event in events:
        if not isinstance(event, dict):
            raise BadRequest("each event must be an object")
        device_id, bundle_id, kind = event.get("deviceId"), event.get("bundleId"), event.get("type")
        if not isinstance(device_id, str) or not 0 < len(device_id) <= MAX_DEVICE_ID:
            raise BadRequest(f"deviceId must be 1 to {MAX_DEVICE_ID} characters", details={"field": "deviceId"})
        if kind not in EVENT_TYPES:
            raise BadRequest(f"type must be one of {', '.join(EVENT_TYPES)}", details={"field": "type"})
        if bundle_id is not None and (isinstance(bundle_id, bool) or not isinstance(bundle_id, int)):
            raise BadRequest("bundleId must be an integer", details={"field": "bundleId"})
        message = event.get("message") or ""
        if not isinstance(message, str):
            raise BadRequest("message must be a string", details={"field": "message"})
        rows.append((device_id, bundle_id, kind, kind, message[:MAX_MESSAGE]))
    return store_events(app, rows, resolve_release, admit, health)


def event_size(row: tuple) -> int:
    device_id, _, kind, action, message = row
    return len(device_id) + len(kind or "") + len(action or "") + len(message.encode()) + EVENT_ROW_OVERHEAD


FAILURE_TYPES = ("failed", "rolled_back")
"""Client events that also count as failures in the release's health (core/health.py)."""


def known_devices(app_id: int, device_ids: set[str]) -> set[str]:
    """Which of `device_ids` the app already has a row for."""
    found = set()
    for ids in chunked(sorted(device_ids), 500):
        query = Device.select(Device.device_id).where((Device.app == app_id) & Device.device_id.in_(ids))
        found.update(device_id for (device_id,) in query.tuples())
    return found


def store_events(app: App, rows: list[tuple], resolve_release, admit=None, health=None) -> int:
    """rows: (device_id, bundle_id, type, raw action, message); type None = stored but not counted.

    `admit(device_id, size)`, when given, decides per event whether the daily budget of its device and
    address still allows storing it (see ratelimit.EventBudget); the others are dropped. With `health`
    (a HealthRecorder), failures and rollbacks are counted in the release's health too. Returns how
    many were stored."""
    if admit is not None:
        rows = [row for row in rows if admit(row[0], event_size(row))]
    if not rows:
        return 0
    failures = []
    with database.atomic():
        for device_id, bundle_id, kind, action, message in rows:
            release_id, bundle_id = resolve_release(device_id, bundle_id)
            DeviceEvent.create(app=app, device_id=device_id, bundle=bundle_id, release=release_id,
                               type=kind or "other", action=action, message=message)
            if release_id:
                if kind:
                    count_stat(release_id, kind)
                if action and action != kind:
                    count_stat(release_id, action)
                if kind in FAILURE_TYPES:
                    failures.append((release_id, device_id, f"{action}: {message}" if message else action))
    if health is not None:
        for release_id, device_id, message in failures:
            health.record_failure(app.id, release_id, device_id, message)
    return len(rows)


def devices_seen(app: App, days: int = 30) -> int:
    """How many of the app's devices checked for updates in the last `days` days."""
    since = utcnow() - dt.timedelta(days=days)
    return Device.select().where((Device.app == app) & (Device.last_seen >= since)).count()


def active_devices_by_day(app: App, channel: str | None, days: int = 30) -> list[dict]:
    since = (utcnow() - dt.timedelta(days=days)).strftime("%Y-%m-%d")
    from peewee import fn

    query = (DailyActive.select(DailyActive.day, DailyActive.bundle_version, fn.COUNT(DailyActive.id).alias("n"))
             .where((DailyActive.app == app) & (DailyActive.day >= since)))
    if channel:
        query = query.where(DailyActive.channel == channel)
    return [{"day": r.day, "version": r.bundle_version, "devices": r.n}
            for r in query.group_by(DailyActive.day, DailyActive.bundle_version).order_by(DailyActive.day)]


def prune(device_days: int, telemetry_days: int, now: dt.datetime | None = None) -> dict:
    """Devices not seen for `device_days` (unless an admin pinned them: the pin is the admin's),
    and daily-active rows and devices' events older than `telemetry_days`, in short transactions
    (phones choose their ids, so nothing else bounds these tables). Returns how many rows went per
    table."""
    now = now or utcnow()
    unseen = now - dt.timedelta(days=device_days)
    old = now - dt.timedelta(days=telemetry_days)
    unpinned = Device.override_channel.is_null() & Device.override_bundle.is_null()
    return {"deviceRows": delete_in_batches(Device, (Device.last_seen < unseen) & unpinned),
            "dailyActiveRows": delete_in_batches(DailyActive, DailyActive.day < old.strftime("%Y-%m-%d")),
            "deviceEventRows": delete_in_batches(DeviceEvent, DeviceEvent.at < old)}
