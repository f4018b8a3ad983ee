"""Devices: what each device last reported, overrides (pinning), client events, and the check buffer.

Checks are answered without a database write: `DeviceTracker` keeps the latest state of each device
and the check counters in memory and writes them in one transaction per flush interval."""
from __future__ import annotations

import datetime as dt
import logging
import threading

from peewee import IntegrityError

from ..errors import BadRequest, NotFound
from ..store.db import upsert_device_sightings
from ..store.generation import bump_generation
from ..store.models import App, DailyActive, Device, DeviceEvent, database, iso, utcnow
from . import audit
from .releases import count_stat

log = logging.getLogger("otabox.devices")
EVENT_TYPES = ("downloaded", "installed", "failed", "rolled_back")
DEVICE_FIELDS = ("platform", "native_version", "native_build", "bundle_version", "channel")


class DeviceTracker:
    """Buffers device sightings and check counts; a background thread flushes them in batches."""

    def __init__(self, interval: float):
        self.interval = interval
        self._lock = threading.Lock()
        self._seen: dict[tuple[int, str], dict] = {}
        self._checks: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.flushes = 0

    def seen(self, app_id: int, device_id: str | None, release_id: int | None, **state) -> None:
        with self._lock:
            if device_id:
                self._seen[(app_id, device_id)] = {**state, "at": utcnow()}
            if release_id:
                self._checks[release_id] = self._checks.get(release_id, 0) + 1

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="otabox-device-flush", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
            self._thread = None
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.flush()
            except Exception:  # a failed flush is retried with the next batch; never kill the thread
                log.exception("device flush failed")

    def flush(self) -> int:
        with self._lock:
            seen, checks = self._seen, self._checks
            self._seen, self._checks = {}, {}
        if not seen and not checks:
            return 0
        rows = [(app_id, device_id, *("" if state.get(k) is None else str(state[k]) for k in DEVICE_FIELDS),
                 str(state["at"]), state["at"].strftime("%Y-%m-%d")) for (app_id, device_id), state in seen.items()]
        try:
            with database.connection_context():
                try:
                    self._write(rows, checks)
                except IntegrityError:
                    self._write_one_by_one(rows, checks)
        except Exception:
            # The database could not take the batch now (locked, disk full): keep it for the next flush.
            with self._lock:
                for key, state in seen.items():
                    self._seen.setdefault(key, state)
                for release_id, count in checks.items():
                    self._checks[release_id] = self._checks.get(release_id, 0) + count
            raise
        self.flushes += 1
        return len(seen)

    @staticmethod
    def _write(rows: list[tuple], checks: dict[int, int]) -> None:
        with database.atomic():
            upsert_device_sightings(database, rows)
            for release_id, count in checks.items():
                count_stat(release_id, "check", count)

    def _write_one_by_one(self, rows: list[tuple], checks: dict[int, int]) -> None:
        """A batch the database refuses for good (its app or release was deleted meanwhile) is written
        row by row and the refused rows are dropped, so one bad row cannot block every later flush."""
        dropped = 0
        for row in rows:
            try:
                self._write([row], {})
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
        "selfAssignedChannel": device.self_assigned_channel,
    }


def find_device(app: App, device_id: str) -> Device:
    device = Device.get_or_none((Device.app == app) & (Device.device_id == device_id))
    if device is None:
        raise NotFound(f"no device {device_id!r} in app {app.slug!r}")
    return device


def list_devices(app: App, limit: int, offset: int, channel: str | None, version: str | None,
                 search: str | None = None):
    query = Device.select().where(Device.app == app)
    if channel:
        query = query.where(Device.channel == channel)
    if version:
        query = query.where(Device.bundle_version == ("" if version == "builtin" else version))
    if search:
        query = query.where(Device.device_id.contains(search))
    return list(query.order_by(Device.last_seen.desc(), Device.id.desc()).limit(limit).offset(offset)), query.count()


def _ensure_device(app: App, device_id: str) -> Device:
    if not isinstance(device_id, str) or not 0 < len(device_id) <= 200:
        raise BadRequest("deviceId must be 1 to 200 characters", details={"field": "deviceId"})
    Device.insert(app=app, device_id=device_id).on_conflict_ignore().execute()
    return Device.get((Device.app == app) & (Device.device_id == device_id))


def set_override(app: App, device_id: str, channel, bundle, actor: str) -> Device:
    """Pin a device to a channel and/or a bundle (QA phones, a customer with a bug)."""
    with database.atomic():
        device = _ensure_device(app, device_id)
        device.override_channel = channel.name if channel else None
        device.override_bundle = bundle
        device.save()
        audit.record(actor, "device.override_set", "device", device_id,
                     {"app": app.slug, "channel": device.override_channel, "bundleId": bundle.id if bundle else None})
        bump_generation()
    return device


def clear_override(app: App, device_id: str, actor: str) -> Device:
    with database.atomic():
        device = find_device(app, device_id)
        device.override_channel = None
        device.override_bundle = None
        device.save()
        audit.record(actor, "device.override_cleared", "device", device_id, {"app": app.slug})
        bump_generation()
    return device


def set_self_assigned_channel(app: App, device_id: str, channel_name: str | None) -> None:
    """A device's own choice of channel (only for channels that allow it; checked by the caller)."""
    with database.atomic():
        device = _ensure_device(app, device_id)
        Device.update(self_assigned_channel=channel_name).where(Device.id == device.id).execute()
        bump_generation()


def record_events(app: App, events: list[dict], resolve_release) -> int:
    """Store client events and count them on the release that served the bundle.

    `resolve_release(device_id, bundle_id)` gives (release id or None, the bundle id if it is the app's)."""
    rows = []
    for event in events:
        if not isinstance(event, dict):
            raise BadRequest("each event must be an object")
        device_id, bundle_id, kind = event.get("deviceId"), event.get("bundleId"), event.get("type")
        if not isinstance(device_id, str) or not 0 < len(device_id) <= 200:
            raise BadRequest("deviceId must be 1 to 200 characters", details={"field": "deviceId"})
        if kind not in EVENT_TYPES:
            raise BadRequest(f"type must be one of {', '.join(EVENT_TYPES)}", details={"field": "type"})
        if bundle_id is not None and (isinstance(bundle_id, bool) or not isinstance(bundle_id, int)):
            raise BadRequest("bundleId must be an integer", details={"field": "bundleId"})
        message = event.get("message") or ""
        if not isinstance(message, str):
            raise BadRequest("message must be a string", details={"field": "message"})
        rows.append((device_id, bundle_id, kind, kind, message[:2000]))
    store_events(app, rows, resolve_release)
    return len(rows)


def store_events(app: App, rows: list[tuple], resolve_release) -> None:
    """rows: (device_id, bundle_id, type, raw action, message); type None = stored but not counted."""
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


def active_devices_by_day(app: App, channel: str | None, days: int = 30) -> list[dict]:
    since = (utcnow() - dt.timedelta(days=days)).strftime("%Y-%m-%d")
    from peewee import fn

    query = (DailyActive.select(DailyActive.day, DailyActive.bundle_version, fn.COUNT(DailyActive.id).alias("n"))
             .where((DailyActive.app == app) & (DailyActive.day >= since)))
    if channel:
        query = query.where(DailyActive.channel == channel)
    return [{"day": r.day, "version": r.bundle_version, "devices": r.n}
            for r in query.group_by(DailyActive.day, DailyActive.bundle_version).order_by(DailyActive.day)]
