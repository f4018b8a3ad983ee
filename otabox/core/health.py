"""Health telemetry: what apps report after an update (launches, crashes, JS errors, custom events)
and the update failures other protocols report, kept as bounded aggregates.

A report only updates memory (`HealthRecorder.record`); a background thread writes everything
gathered since its last round in one transaction: per release and hour the sums and the number of
distinct devices, per release its most frequent error messages (at most `MAX_ERRORS_PER_RELEASE`,
the rest counted together), and per app, flag key, variant and day the launches, crashes and JS
errors of devices that had that variant (from events' `flagStates`). Nothing grows with the number
of events, only with releases, hours, devices, messages and flag variants."""
from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import hashlib
import json

from peewee import fn

from ..errors import BadRequest
from ..store.models import (
    App,
    FlagVariantHealth,
    HealthBucket,
    HealthDevice,
    HealthError,
    Release,
    database,
    iso,
    utcnow,
)
from .batching import BatchWriter

EVENT_TYPES = ("app_launch", "crash", "js_error", "custom")
MAX_EVENTS = 500
MAX_MESSAGE = 8000
STORED_MESSAGE = 500
MAX_NAME = 100
MAX_COUNT = 1_000_000
MAX_FLAGS = 50
MAX_FLAG_TEXT = 100
MAX_ERRORS_PER_RELEASE = 100
MAX_CUSTOM_NAMES = 100
MAX_BUFFERED_DEVICES = 200_000
OTHER = "(other messages)"
OTHER_CUSTOM = "(other)"
BUCKET_SECONDS = 3600
DEVICE_HOURLY_LIMITS = {"launches": 12, "js_errors": 60}
"""What one device may add to a release's health in an hour (a launch every five minutes, all hour,
is already more than people do); its crashes count up to its launches, plus one (the crash of a
launch reported the hour before). Reports carry only the public client key, so without these one
forged request could claim a million crashes and roll a release back."""
REMEMBERED_DEVICE_HOURS = 100_000
COUNTERS = ("launches", "crashes", "js_errors", "failures")
COUNTER_OF = {"app_launch": "launches", "crash": "crashes", "js_error": "js_errors"}
DEFAULT_DAYS = 7


@dataclasses.dataclass(frozen=True)
class HealthEvent:
    type: str
    name: str | None
    message: str | None
    count: int
    flag_states: tuple[tuple[str, str], ...]


@dataclasses.dataclass(frozen=True)
class HealthReport:
    """One request's events from one device. `release_id` is None when the device runs no release
    otabox knows (its binary's bundle): only the flag aggregates count those."""

    device_id: str
    platform: str
    channel: str | None
    runtime_version: str | None
    events: tuple[HealthEvent, ...]


def _text(data: dict, name: str, limit: int, required: bool = False) -> str | None:
    value = data.get(name)
    if value is None:
        if required:
            raise BadRequest(f"{name} is required", details={"field": name})
        return None
    if not isinstance(value, str) or len(value) > limit or (required and not value):
        raise BadRequest(f"{name} must be a string of {'1' if required else '0'} to {limit} characters",
                         details={"field": name})
    return value


def variant_text(value) -> str:
    """A flag's variant as text: strings as they are, other JSON values as compact JSON."""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), sort_keys=True)
    if len(text) > MAX_FLAG_TEXT:
        raise BadRequest(f"flagStates values must be at most {MAX_FLAG_TEXT} characters",
                         details={"field": "flagStates"})
    return text


def _flag_states(raw) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict) or len(raw) > MAX_FLAGS:
        raise BadRequest(f"flagStates must be an object of at most {MAX_FLAGS} flags", details={"field": "flagStates"})
    for key in raw:
        if not 0 < len(key) <= MAX_FLAG_TEXT:
            raise BadRequest(f"flag keys must be 1 to {MAX_FLAG_TEXT} characters", details={"field": "flagStates"})
    return tuple(sorted((key, variant_text(value)) for key, value in raw.items()))


def parse_event(raw) -> HealthEvent:
    if not isinstance(raw, dict):
        raise BadRequest("each event must be an object", details={"field": "events"})
    kind = raw.get("type")
    if kind not in EVENT_TYPES:
        raise BadRequest(f"event type must be one of {', '.join(EVENT_TYPES)}", details={"field": "type"})
    name = _text(raw, "name", MAX_NAME, required=kind == "custom")
    message = _text(raw, "message", MAX_MESSAGE)
    count = raw.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or not 0 < count <= MAX_COUNT:
        raise BadRequest(f"count must be a whole number from 1 to {MAX_COUNT}", details={"field": "count"})
    return HealthEvent(kind, name, message[:STORED_MESSAGE] if message else None, count,
                       _flag_states(raw.get("flagStates")))


def parse_report(data) -> HealthReport:
    """Validate a health body (otabox's and AppDispatch's share these fields); BadRequest otherwise."""
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object", code="invalid_json")
    events = data.get("events")
    if not isinstance(events, list) or not 0 < len(events) <= MAX_EVENTS:
        raise BadRequest(f"events must be a list of 1 to {MAX_EVENTS} events", details={"field": "events"})
    return HealthReport(
        device_id=_text(data, "deviceId", 200, required=True), platform=_text(data, "platform", 50, required=True),
        channel=_text(data, "channel", 200), runtime_version=_text(data, "runtimeVersion", 200),
        events=tuple(parse_event(event) for event in events))


def bucket_of(moment: dt.datetime) -> dt.datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _fingerprint(kind: str, message: str) -> str:
    return hashlib.sha256(f"{kind}\n{message}".encode()).hexdigest()[:40]


@dataclasses.dataclass
class _Counts:
    launches: int = 0
    crashes: int = 0
    js_errors: int = 0
    failures: int = 0
    custom: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class _Batch:
    buckets: dict  # (app_id, release_id, bucket) -> _Counts
    devices: dict  # (release_id, device_id) -> (bucket, launched)
    errors: dict   # (release_id, kind, message) -> count
    flags: dict    # (app_id, flag_key, variant, day) -> [launches, crashes, js_errors]


def _add_custom(custom: dict, name: str, count: int) -> None:
    key = name if name in custom or len(custom) < MAX_CUSTOM_NAMES else OTHER_CUSTOM
    custom[key] = custom.get(key, 0) + count


class HealthRecorder(BatchWriter):
    """Health reports in memory, written in batches (see the module's docstring)."""

    thread_name = "otabox-health-flush"

    def __init__(self, interval: float):
        super().__init__(interval)
        self._batch = self._empty()
        self.dropped_devices = 0
        self._device_hours: collections.OrderedDict = collections.OrderedDict()

    @staticmethod
    def _empty() -> _Batch:
        return _Batch({}, {}, {}, {})

    def record(self, app_id: int, release_id: int | None, report: HealthReport) -> None:
        now = utcnow()
        bucket, day = bucket_of(now), now.strftime("%Y-%m-%d")
        with self._lock:
            report = self._within_allowance(release_id, report, bucket)
            batch = self._batch
            for event in report.events:
                counter = COUNTER_OF.get(event.type)
                if counter:
                    for flag_key, variant in event.flag_states:
                        sums = batch.flags.setdefault((app_id, flag_key, variant, day), [0, 0, 0])
                        sums[("launches", "crashes", "js_errors").index(counter)] += event.count
            if release_id is None:
                return
            counts = batch.buckets.setdefault((app_id, release_id, bucket), _Counts())
            launched = False
            for event in report.events:
                counter = COUNTER_OF.get(event.type)
                if counter:
                    setattr(counts, counter, getattr(counts, counter) + event.count)
                    launched = launched or event.type == "app_launch"
                else:
                    _add_custom(counts.custom, event.name, event.count)
                if event.type in ("crash", "js_error"):
                    self._add_error(batch, release_id, event.type, event.message or "(no message)", event.count)
            self._add_device(batch, release_id, report.device_id, bucket, launched)

    def _within_allowance(self, release_id: int | None, report: HealthReport, bucket) -> HealthReport:
        """The report with each counted event cut to what its device may still add this hour (see
        DEVICE_HOURLY_LIMITS); events cut to nothing are left out. Remembered per process, for the
        most recent device-hours."""
        key = (release_id, report.device_id, bucket)
        used = self._device_hours.setdefault(key, {"launches": 0, "crashes": 0, "js_errors": 0})
        self._device_hours.move_to_end(key)
        if len(self._device_hours) > REMEMBERED_DEVICE_HOURS:
            self._device_hours.popitem(last=False)
        events = []
        for event in sorted(report.events, key=lambda e: e.type != "app_launch"):  # launches first: crashes need them
            counter = COUNTER_OF.get(event.type)
            if counter is None:
                events.append(event)
                continue
            limit = used["launches"] + 1 if counter == "crashes" else DEVICE_HOURLY_LIMITS[counter]
            count = min(event.count, max(limit - used[counter], 0))
            used[counter] += count
            if count:
                events.append(dataclasses.replace(event, count=count))
        return dataclasses.replace(report, events=tuple(events))

    def record_failure(self, app_id: int, release_id: int, device_id: str, message: str) -> None:
        """An update client's failure report (an install that failed or was rolled back)."""
        bucket = bucket_of(utcnow())
        with self._lock:
            counts = self._batch.buckets.setdefault((app_id, release_id, bucket), _Counts())
            counts.failures += 1
            self._add_error(self._batch, release_id, "failure", message[:STORED_MESSAGE] or "failure", 1)
            if device_id:
                self._add_device(self._batch, release_id, device_id, bucket, False)

    def _add_device(self, batch: _Batch, release_id: int, device_id: str, bucket, launched: bool) -> None:
        key = (release_id, device_id)
        known = batch.devices.get(key)
        if known is None and len(batch.devices) >= MAX_BUFFERED_DEVICES:
            self.dropped_devices += 1
            return
        batch.devices[key] = (bucket, launched or bool(known and known[1]))

    @staticmethod
    def _add_error(batch: _Batch, release_id: int, kind: str, message: str, count: int) -> None:
        key = (release_id, kind, message)
        batch.errors[key] = batch.errors.get(key, 0) + count

    def _take(self):
        batch, self._batch = self._batch, self._empty()
        return batch if batch.buckets or batch.flags else None

    def _restore(self, batch: _Batch) -> None:
        current = self._batch
        for key, counts in batch.buckets.items():
            merged = current.buckets.setdefault(key, _Counts())
            for name in COUNTERS:
                setattr(merged, name, getattr(merged, name) + getattr(counts, name))
            for name, count in counts.custom.items():
                _add_custom(merged.custom, name, count)
        for key, (bucket, launched) in batch.devices.items():
            known = current.devices.get(key)
            current.devices[key] = (known[0] if known else bucket, launched or bool(known and known[1]))
        for key, count in batch.errors.items():
            current.errors[key] = current.errors.get(key, 0) + count
        for key, sums in batch.flags.items():
            merged = current.flags.setdefault(key, [0, 0, 0])
            for index, value in enumerate(sums):
                merged[index] += value

    def _store(self, batch: _Batch) -> int:
        with database.atomic():
            release_ids = {release_id for _, release_id, _ in batch.buckets}
            alive = {r.id for r in Release.select(Release.id).where(Release.id.in_(list(release_ids)))} \
                if release_ids else set()
            new_in_bucket = _store_devices({k: v for k, v in batch.devices.items() if k[0] in alive})
            for (app_id, release_id, bucket), counts in batch.buckets.items():
                if release_id in alive:
                    _store_bucket(app_id, release_id, bucket, counts, new_in_bucket.get((release_id, bucket), 0))
            _store_errors({k: v for k, v in batch.errors.items() if k[0] in alive})
            apps = {key[0] for key in batch.flags}
            live_apps = {a.id for a in App.select(App.id).where(App.id.in_(list(apps)))} if apps else set()
            for (app_id, flag_key, variant, day), (launches, crashes, js_errors) in batch.flags.items():
                if app_id in live_apps:
                    (FlagVariantHealth.insert(app=app_id, flag_key=flag_key, variant=variant, day=day,
                                              launches=launches, crashes=crashes, js_errors=js_errors)
                     .on_conflict(conflict_target=[FlagVariantHealth.app, FlagVariantHealth.flag_key,
                                                   FlagVariantHealth.variant, FlagVariantHealth.day],
                                  update={FlagVariantHealth.launches: FlagVariantHealth.launches + launches,
                                          FlagVariantHealth.crashes: FlagVariantHealth.crashes + crashes,
                                          FlagVariantHealth.js_errors: FlagVariantHealth.js_errors + js_errors})
                     .execute())
        return sum(sum(getattr(c, n) for n in COUNTERS) + sum(c.custom.values()) for c in batch.buckets.values())


def _chunks(items: list, size: int = 500):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _store_devices(devices: dict) -> dict:
    """Upsert the reporting devices; returns, per (release, bucket), how many are new to that bucket."""
    new_in_bucket: dict = {}
    by_release: dict = {}
    for (release_id, device_id), state in devices.items():
        by_release.setdefault(release_id, {})[device_id] = state
    for release_id, states in by_release.items():
        known = {}
        for chunk in _chunks(list(states)):
            for row in HealthDevice.select().where((HealthDevice.release == release_id)
                                                   & HealthDevice.device_id.in_(chunk)):
                known[row.device_id] = row
        fresh = []
        for device_id, (bucket, launched) in states.items():
            row = known.get(device_id)
            if row is None:
                fresh.append({"release": release_id, "device_id": device_id, "bucket": bucket, "launched": launched})
            elif row.bucket != bucket or (launched and not row.launched):
                (HealthDevice.update(bucket=max(bucket, row.bucket), launched=row.launched or launched)
                 .where(HealthDevice.id == row.id).execute())
            if row is None or row.bucket < bucket:
                new_in_bucket[(release_id, bucket)] = new_in_bucket.get((release_id, bucket), 0) + 1
        for chunk in _chunks(fresh, 200):
            HealthDevice.insert_many(chunk).execute()
    return new_in_bucket


def _store_bucket(app_id: int, release_id: int, bucket, counts: _Counts, new_devices: int) -> None:
    row = HealthBucket.get_or_none((HealthBucket.release == release_id) & (HealthBucket.bucket == bucket))
    if row is None:
        row = HealthBucket(app=app_id, release=release_id, bucket=bucket, custom={})
    for name in COUNTERS:
        setattr(row, name, (getattr(row, name) or 0) + getattr(counts, name))
    custom = dict(row.custom or {})
    for name, count in counts.custom.items():
        _add_custom(custom, name, count)
    row.custom = custom
    row.devices = (row.devices or 0) + new_devices
    row.save()


def _store_errors(errors: dict) -> None:
    now = utcnow()
    by_release: dict = {}
    for (release_id, kind, message), count in errors.items():
        by_release.setdefault(release_id, []).append((kind, message, count))
    for release_id, items in by_release.items():
        stored = HealthError.select().where(HealthError.release == release_id).count()
        for kind, message, count in sorted(items, key=lambda item: -item[2]):
            fingerprint = _fingerprint(kind, message)
            existing = HealthError.get_or_none((HealthError.release == release_id)
                                               & (HealthError.fingerprint == fingerprint))
            if existing is None and stored >= MAX_ERRORS_PER_RELEASE:
                kind, message = "other", OTHER
                fingerprint = _fingerprint(kind, message)
                existing = HealthError.get_or_none((HealthError.release == release_id)
                                                   & (HealthError.fingerprint == fingerprint))
            if existing is None:
                HealthError.create(release=release_id, kind=kind, fingerprint=fingerprint, message=message,
                                   count=count, last_seen=now)
                stored += 1
            else:
                (HealthError.update(count=HealthError.count + count, last_seen=now)
                 .where(HealthError.id == existing.id).execute())


# --- reading -------------------------------------------------------------------------------------

def _rate(part: int, launches: int) -> float | None:
    return round(100.0 * part / launches, 3) if launches else None


def rates(launches: int, crashes: int, js_errors: int) -> dict:
    """Crash and error rates in percent of launches (None without launches)."""
    crash_rate = _rate(crashes, launches)
    return {"crashRate": crash_rate, "errorRate": _rate(js_errors, launches),
            "crashFreeRate": None if crash_rate is None else max(0.0, round(100.0 - crash_rate, 3))}


@dataclasses.dataclass(frozen=True)
class Totals:
    launches: int
    crashes: int
    js_errors: int
    failures: int
    launched_devices: int

    def rates(self) -> dict:
        return rates(self.launches, self.crashes, self.js_errors)


def totals(release_id: int) -> Totals:
    row = (HealthBucket.select(*(fn.COALESCE(fn.SUM(getattr(HealthBucket, n)), 0).alias(n) for n in COUNTERS))
           .where(HealthBucket.release == release_id).dicts().get())
    launched = (HealthDevice.select()
                .where((HealthDevice.release == release_id) & (HealthDevice.launched == True)).count())  # noqa: E712
    return Totals(*(int(row[n]) for n in COUNTERS), launched)


def release_health(release: Release, top: int = 10) -> dict:
    """{launches, crashes, jsErrors, failures, devices, launchedDevices, crashRate, errorRate,
    crashFreeRate, custom, topErrors}."""
    found = totals(release.id)
    custom: dict = {}
    for row in HealthBucket.select(HealthBucket.custom).where(HealthBucket.release == release.id):
        for name, count in (row.custom or {}).items():
            custom[name] = custom.get(name, 0) + count
    errors = (HealthError.select().where(HealthError.release == release.id)
              .order_by(HealthError.count.desc(), HealthError.id).limit(top))
    return {"releaseId": release.id, "launches": found.launches, "crashes": found.crashes,
            "jsErrors": found.js_errors, "failures": found.failures,
            "devices": HealthDevice.select().where(HealthDevice.release == release.id).count(),
            "launchedDevices": found.launched_devices, **found.rates(), "custom": custom,
            "topErrors": [{"message": e.message, "kind": e.kind, "count": e.count, "lastSeen": iso(e.last_seen)}
                          for e in errors]}


def timeseries(app: App, release_id: int | None, days: int) -> list[dict]:
    """Hourly sums for the app (or one of its releases) over the last `days` days, oldest first.
    Across releases, a device counted in two releases' hour counts twice."""
    since = bucket_of(utcnow() - dt.timedelta(days=days))
    query = (HealthBucket.select(HealthBucket.bucket, *(fn.SUM(getattr(HealthBucket, n)).alias(n)
                                                        for n in (*COUNTERS, "devices")))
             .where((HealthBucket.app == app) & (HealthBucket.bucket >= since)))
    if release_id is not None:
        query = query.where(HealthBucket.release == release_id)
    points = []
    for row in query.group_by(HealthBucket.bucket).order_by(HealthBucket.bucket).dicts():
        launches, crashes, js_errors = int(row["launches"]), int(row["crashes"]), int(row["js_errors"])
        points.append({"at": iso(row["bucket"]), "launches": launches, "crashes": crashes, "jsErrors": js_errors,
                       "failures": int(row["failures"]), "devices": int(row["devices"]),
                       **rates(launches, crashes, js_errors)})
    return points


def flag_variant_health(app_id: int, flag_key: str, days: int = DEFAULT_DAYS) -> list[dict]:
    """Per variant of a flag over the last `days` days (today included): launches, crashes and JS
    errors of devices that reported that variant in their events' flagStates, with rates and the
    daily figures, most launches first."""
    since = (utcnow() - dt.timedelta(days=max(days, 1) - 1)).strftime("%Y-%m-%d")
    variants: dict = {}
    for row in (FlagVariantHealth.select()
                .where((FlagVariantHealth.app == app_id) & (FlagVariantHealth.flag_key == flag_key)
                       & (FlagVariantHealth.day >= since)).order_by(FlagVariantHealth.day)):
        entry = variants.setdefault(row.variant, {"variant": row.variant, "launches": 0, "crashes": 0,
                                                  "jsErrors": 0, "days": []})
        entry["launches"] += row.launches
        entry["crashes"] += row.crashes
        entry["jsErrors"] += row.js_errors
        entry["days"].append({"day": row.day, "launches": row.launches, "crashes": row.crashes,
                              "jsErrors": row.js_errors})
    result = [{**entry, **rates(entry["launches"], entry["crashes"], entry["jsErrors"])}
              for entry in variants.values()]
    return sorted(result, key=lambda entry: (-entry["launches"], entry["variant"]))
