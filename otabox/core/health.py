"""Health telemetry: what apps report after an update (launches, crashes, JS errors, custom events)
and the update failures other protocols report, kept as bounded aggregates.

A report only updates memory (`HealthRecorder.record`): the request validates it, keeps the flag
states the app can have (its flags' keys, values among that flag's variations), cuts its events to
what the device may still add this hour, and buffers it. A background thread writes what was
gathered in short transactions of at most `WRITE_CHUNK` rows each, so a management write never
waits long behind it: per release and hour the sums and the number of distinct devices; per
release and device that device's sums and whether a check served it that release (attested: only
those move rollout policies, see core/policies.py); per release its most frequent error messages
(at most `MAX_ERRORS_PER_RELEASE`, the rest counted together, of which never-served devices hold at
most `UNATTESTED_ERROR_SLOTS` and one device `MESSAGES_PER_DEVICE`); per app, flag key, variant and day
the launches, crashes and JS errors of devices that had that variant.

What a report can add is bounded by design: rows grow with releases, hours, error messages (capped),
the app's own flag variations, devices a check served, and at most `MAX_UNATTESTED_DEVICES` other
devices per release, never with the number or content of events. `prune` (the janitor) removes what
is older than the retention horizon."""
from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import hashlib
import json

from peewee import EXCLUDED, Case, fn

from ..errors import BadRequest
from ..security.ratelimit import network_key
from ..store.models import (
    App,
    Device,
    FlagVariantHealth,
    HealthBucket,
    HealthDevice,
    HealthError,
    Release,
    database,
    iso,
    utcnow,
)
from .batching import BatchWriter, delete_in_batches

EVENT_TYPES = ("app_launch", "crash", "js_error", "custom")
MAX_EVENTS = 500
MAX_MESSAGE = 8000
STORED_MESSAGE = 500
MAX_NAME = 100
MAX_COUNT = 1_000_000
MAX_FLAGS = 50
MAX_FLAG_TEXT = 100
MAX_FLAG_STATES = 50
"""Distinct (flag, variant) pairs kept from one request, and from one device in an hour."""
MAX_ERRORS_PER_RELEASE = 100
UNATTESTED_ERROR_SLOTS = 20
"""Of a release's MAX_ERRORS_PER_RELEASE messages, how many devices no check served may hold; a
served device's new message takes the place of the least counted of theirs when the release is full."""
MESSAGES_PER_DEVICE = 5
"""Distinct error messages one device may hold in a release's table; its others count with the
other messages (remembered per process for the REMEMBERED_DEVICE_HOURS most recent devices)."""
ERROR_SENDERS = 8
"""Device ids remembered per buffered message, to tell at the flush whether a served device sent it."""
BUFFERED_ERRORS_FACTOR = 10
"""Distinct error messages buffered per release between two flushes, in MAX_ERRORS_PER_RELEASE."""
MAX_CUSTOM_NAMES = 100
MAX_BUFFERED_DEVICES = 200_000
MAX_UNATTESTED_DEVICES = 1000
"""Devices per release that reported without a check having served them that release and still get
a row of their own (their events count in the release's hourly sums either way)."""
WRITE_CHUNK = 200
"""Rows written per transaction by the flush: a few milliseconds of the write lock each."""
OTHER = "(other messages)"
OTHER_CUSTOM = "(other)"
BUCKET_SECONDS = 3600
DEVICE_HOURLY_LIMITS = {"launches": 12, "js_errors": 60, "custom": 600}
"""What one device may add to a release's health in an hour (a launch every five minutes, all hour,
is already more than people do); its crashes count up to its launches, plus those of its launches of
the hour before that no crash matched yet: a crash needs a launch, so no device (and no release)
shows a crash rate over 100%. Reports carry only the public client key, so without these one forged
request could claim a million crashes and roll a release back."""
REMEMBERED_DEVICE_HOURS = 100_000
COUNTERS = ("launches", "crashes", "js_errors", "failures")
DEVICE_COUNTERS = ("launches", "crashes", "js_errors")
COUNTER_OF = {"app_launch": "launches", "crash": "crashes", "js_error": "js_errors", "custom": "custom"}
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
    """One request's events from one device."""

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


def value_text(value) -> str:
    """A flag value as reports carry it: strings as they are, other JSON values as compact JSON."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), sort_keys=True)


def variant_text(value) -> str:
    """A reported flag variant as text (value_text), at most MAX_FLAG_TEXT characters."""
    text = value_text(value)
    if len(text) > MAX_FLAG_TEXT:
        raise BadRequest(f"flagStates values must be at most {MAX_FLAG_TEXT} characters",
                         details={"field": "flagStates"})
    return text


def reportable_flag_states(flag_set) -> dict[str, frozenset[str]]:
    """Per flag key of an app's flag set (core/flag_eval.FlagSet), the texts of its variations'
    values: the only flag states a report may add to."""
    return {key: frozenset(value_text(variant.value) for variant in flag.variants)
            for key, flag in flag_set.flags.items()}


def _flag_states(raw, reportable: dict[str, frozenset[str]], kept: set) -> tuple[tuple[str, str], ...]:
    """The event's flag states the app can have; `kept` holds the distinct pairs kept from the whole
    request so far (at most MAX_FLAG_STATES)."""
    if raw is None:
        return ()
    if not isinstance(raw, dict) or len(raw) > MAX_FLAGS:
        raise BadRequest(f"flagStates must be an object of at most {MAX_FLAGS} flags", details={"field": "flagStates"})
    states = []
    for key, value in raw.items():
        if not 0 < len(key) <= MAX_FLAG_TEXT:
            raise BadRequest(f"flag keys must be 1 to {MAX_FLAG_TEXT} characters", details={"field": "flagStates"})
        state = (key, variant_text(value))
        if state[1] in reportable.get(key, ()) and (state in kept or len(kept) < MAX_FLAG_STATES):
            kept.add(state)
            states.append(state)
    return tuple(sorted(states))


def parse_event(raw, reportable: dict[str, frozenset[str]], kept: set, unnamed: str | None = None) -> HealthEvent:
    if not isinstance(raw, dict):
        raise BadRequest("each event must be an object", details={"field": "events"})
    kind = raw.get("type")
    if kind not in EVENT_TYPES:
        raise BadRequest(f"event type must be one of {', '.join(EVENT_TYPES)}", details={"field": "type"})
    name = _text(raw, "name", MAX_NAME, required=kind == "custom" and unnamed is None)
    if kind == "custom" and not name:
        name = unnamed
    message = _text(raw, "message", MAX_MESSAGE)
    count = raw.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or not 0 < count <= MAX_COUNT:
        raise BadRequest(f"count must be a whole number from 1 to {MAX_COUNT}", details={"field": "count"})
    return HealthEvent(kind, name, message[:STORED_MESSAGE] if message else None, count,
                       _flag_states(raw.get("flagStates"), reportable, kept))


def parse_report(data, reportable: dict[str, frozenset[str]], unnamed: str | None = None) -> HealthReport:
    """Validate a health body (otabox's and AppDispatch's share these fields); BadRequest otherwise.
    Flag states outside `reportable` (see reportable_flag_states) are dropped here. A custom event
    needs a name unless `unnamed` is given, the name it is then counted under (AppDispatch's
    document makes `name` optional)."""
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object", code="invalid_json")
    events = data.get("events")
    if not isinstance(events, list) or not 0 < len(events) <= MAX_EVENTS:
        raise BadRequest(f"events must be a list of 1 to {MAX_EVENTS} events", details={"field": "events"})
    kept: set = set()
    return HealthReport(
        device_id=_text(data, "deviceId", 200, required=True), platform=_text(data, "platform", 50, required=True),
        channel=_text(data, "channel", 200), runtime_version=_text(data, "runtimeVersion", 200),
        events=tuple(parse_event(event, reportable, kept, unnamed) for event in events))


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
class _DeviceSums:
    """What one device added to one release since the last flush."""

    bucket: dt.datetime
    network: str | None = None
    launched: bool = False
    launches: int = 0
    crashes: int = 0
    js_errors: int = 0

    def merge(self, other: "_DeviceSums") -> None:
        self.bucket = max(self.bucket, other.bucket)
        self.network = self.network or other.network
        self.launched = self.launched or other.launched
        for name in DEVICE_COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclasses.dataclass
class _Batch:
    buckets: dict  # (app_id, release_id, bucket) -> _Counts
    devices: dict  # (app_id, release_id, device_id) -> _DeviceSums
    errors: dict   # (release_id, kind, message) -> count
    flags: dict    # (app_id, flag_key, variant, day) -> [launches, crashes, js_errors]
    messages: dict = dataclasses.field(default_factory=dict)  # release_id -> distinct errors buffered
    senders: dict = dataclasses.field(default_factory=dict)   # key of errors -> up to ERROR_SENDERS device ids


def _add_custom(custom: dict, name: str, count: int) -> None:
    key = name if name in custom or len(custom) < MAX_CUSTOM_NAMES else OTHER_CUSTOM
    custom[key] = custom.get(key, 0) + count


class HealthRecorder(BatchWriter):
    """Health reports in memory, written in batches (see the module's docstring)."""

    thread_name = "otabox-health-flush"

    def __init__(self, interval: float, write_sightings=None):
        """`write_sightings()` writes the checks buffered so far (devices.DeviceTracker.flush): called
        before each flush, so a report that follows its check within one interval is attested. A
        check answered by another process is seen once that process wrote it (the next report)."""
        super().__init__(interval)
        self.write_sightings = write_sightings
        self._batch = self._empty()
        self.dropped_devices = 0
        self._device_hours: collections.OrderedDict = collections.OrderedDict()
        self._device_messages: collections.OrderedDict = collections.OrderedDict()

    @staticmethod
    def _empty() -> _Batch:
        return _Batch({}, {}, {}, {})

    def flush(self) -> int:
        if self.write_sightings is not None:
            self.write_sightings()
        return super().flush()

    def record(self, app_id: int, release_id: int | None, report: HealthReport, address: str | None = None) -> None:
        """Buffer one report, sent from `address`. `release_id` is None when the device runs no
        release otabox knows (its binary's bundle): only the flag aggregates count those."""
        now = utcnow()
        bucket, day = bucket_of(now), now.strftime("%Y-%m-%d")
        with self._lock:
            events = self._within_allowance(release_id, report, bucket)
            batch = self._batch
            for event in events:
                if event.flag_states and event.type != "custom":
                    index = DEVICE_COUNTERS.index(COUNTER_OF[event.type])
                    for flag_key, variant in event.flag_states:
                        batch.flags.setdefault((app_id, flag_key, variant, day), [0, 0, 0])[index] += event.count
            if release_id is None:
                return
            counts = batch.buckets.setdefault((app_id, release_id, bucket), _Counts())
            sums = _DeviceSums(bucket, network_key(address))
            for event in events:
                counter = COUNTER_OF[event.type]
                if counter == "custom":
                    _add_custom(counts.custom, event.name, event.count)
                    continue
                setattr(counts, counter, getattr(counts, counter) + event.count)
                setattr(sums, counter, getattr(sums, counter) + event.count)
                if event.type != "app_launch":
                    self._add_error(batch, release_id, *self._held(release_id, report.device_id, event.type,
                                                                    event.message or "(no message)"),
                                    event.count, (report.device_id,))
            sums.launched = sums.launches > 0
            self._add_device(batch, app_id, release_id, report.device_id, sums)

    def _within_allowance(self, release_id: int | None, report: HealthReport, bucket) -> list[HealthEvent]:
        """The report's events, each cut to what its device may still add this hour (see
        DEVICE_HOURLY_LIMITS), and its flag states to the MAX_FLAG_STATES distinct ones the device
        reported first this hour; events cut to nothing are left out. Remembered per process, for the
        most recent device-hours."""
        key = (release_id, report.device_id, bucket)
        used = self._device_hours.get(key)
        if used is None:
            before = self._device_hours.get((release_id, report.device_id, bucket - dt.timedelta(hours=1)))
            used = self._device_hours[key] = {"launches": 0, "crashes": 0, "js_errors": 0, "custom": 0,
                                              "flag_states": set(), "unmatched_launches": 0 if before is None
                                              else max(before["launches"] - before["crashes"], 0)}
            if len(self._device_hours) > REMEMBERED_DEVICE_HOURS:
                self._device_hours.popitem(last=False)
        else:
            self._device_hours.move_to_end(key)
        seen_states = used["flag_states"]
        events = []
        ordered = report.events if len(report.events) == 1 else \
            sorted(report.events, key=lambda e: e.type != "app_launch")  # launches first: crashes need them
        for event in ordered:
            counter = COUNTER_OF[event.type]
            limit = used["launches"] + used["unmatched_launches"] if counter == "crashes" \
                else DEVICE_HOURLY_LIMITS[counter]
            count = min(event.count, max(limit - used[counter], 0))
            used[counter] += count
            if not count:
                continue
            states = _admitted(event.flag_states, seen_states) if event.flag_states else ()
            events.append(event if count == event.count and states == event.flag_states else
                          HealthEvent(event.type, event.name, event.message, count, states))
        return events

    def record_failure(self, app_id: int, release_id: int, device_id: str, message: str) -> None:
        """An update client's failure report (an install that failed or was rolled back)."""
        bucket = bucket_of(utcnow())
        with self._lock:
            counts = self._batch.buckets.setdefault((app_id, release_id, bucket), _Counts())
            counts.failures += 1
            kind, message = "failure", message[:STORED_MESSAGE] or "failure"
            if device_id:
                kind, message = self._held(release_id, device_id, kind, message)
            self._add_error(self._batch, release_id, kind, message, 1, (device_id,) if device_id else ())
            if device_id:
                self._add_device(self._batch, app_id, release_id, device_id, _DeviceSums(bucket))

    def _held(self, release_id: int, device_id: str, kind: str, message: str) -> tuple[str, str]:
        """(kind, message) as the release's error table counts it for this device: the message itself
        while the device holds fewer than MESSAGES_PER_DEVICE others, "(other messages)" past that, so
        a few ids cannot fill the table with made-up messages."""
        key = (release_id, device_id)
        held = self._device_messages.get(key)
        if held is None:
            held = self._device_messages[key] = set()
            if len(self._device_messages) > REMEMBERED_DEVICE_HOURS:
                self._device_messages.popitem(last=False)
        else:
            self._device_messages.move_to_end(key)
        if (kind, message) not in held:
            if len(held) >= MESSAGES_PER_DEVICE:
                return "other", OTHER
            held.add((kind, message))
        return kind, message

    def _add_device(self, batch: _Batch, app_id: int, release_id: int, device_id: str, sums: _DeviceSums) -> None:
        key = (app_id, release_id, device_id)
        known = batch.devices.get(key)
        if known is not None:
            known.merge(sums)
        elif len(batch.devices) >= MAX_BUFFERED_DEVICES:
            self.dropped_devices += 1
        else:
            batch.devices[key] = sums

    @staticmethod
    def _add_error(batch: _Batch, release_id: int, kind: str, message: str, count: int, senders) -> None:
        """Count an error message sent by these devices: past BUFFERED_ERRORS_FACTOR x
        MAX_ERRORS_PER_RELEASE distinct ones buffered for the release, with the other messages (the
        flush keeps the most frequent, served devices' first)."""
        key = (release_id, kind, message)
        if key not in batch.errors:
            if batch.messages.get(release_id, 0) >= BUFFERED_ERRORS_FACTOR * MAX_ERRORS_PER_RELEASE:
                key = (release_id, "other", OTHER)
            if key not in batch.errors:
                batch.messages[release_id] = batch.messages.get(release_id, 0) + 1
        batch.errors[key] = batch.errors.get(key, 0) + count
        known = batch.senders.setdefault(key, set())
        for device_id in senders:
            if len(known) < ERROR_SENDERS:
                known.add(device_id)

    def _take(self):
        batch, self._batch = self._batch, self._empty()
        return batch if batch.buckets or batch.flags or batch.devices or batch.errors else None

    def _restore(self, batch: _Batch) -> None:
        current = self._batch
        for key, counts in batch.buckets.items():
            merged = current.buckets.setdefault(key, _Counts())
            for name in COUNTERS:
                setattr(merged, name, getattr(merged, name) + getattr(counts, name))
            for name, count in counts.custom.items():
                _add_custom(merged.custom, name, count)
        for key, sums in batch.devices.items():
            known = current.devices.get(key)
            if known is None:
                current.devices[key] = sums
            else:
                known.merge(sums)
        for (release_id, kind, message), count in batch.errors.items():
            self._add_error(current, release_id, kind, message, count,
                            batch.senders.get((release_id, kind, message), ()))
        for key, sums in batch.flags.items():
            merged = current.flags.setdefault(key, [0, 0, 0])
            for index, value in enumerate(sums):
                merged[index] += value

    def _store(self, batch: _Batch) -> int:
        """Write the batch in short transactions, each taking what it wrote out of the batch, so a
        failure leaves only the unwritten rest for `_restore`. Rows of releases or apps deleted
        meanwhile are dropped."""
        written = sum(sum(getattr(c, n) for n in COUNTERS) + sum(c.custom.values()) for c in batch.buckets.values())
        alive = _existing(Release, {key[1] for key in batch.buckets} | {key[1] for key in batch.devices}
                          | {key[0] for key in batch.errors})
        by_release: dict = {}
        for key in list(batch.devices):
            if key[1] in alive:
                by_release.setdefault(key[:2], []).append(key)
            else:
                del batch.devices[key]
        for (app_id, release_id), keys in by_release.items():
            for chunk in _chunks(keys, WRITE_CHUNK):
                with database.atomic():
                    new_in_bucket = _store_devices(app_id, release_id, {key[2]: batch.devices[key] for key in chunk})
                    for bucket, count in new_in_bucket.items():
                        _store_bucket(app_id, release_id, bucket, _Counts(), count)
                for key in chunk:
                    del batch.devices[key]
        for chunk in _chunks(list(batch.buckets), WRITE_CHUNK):
            with database.atomic():
                for key in chunk:
                    if key[1] in alive:
                        _store_bucket(*key, batch.buckets[key], 0)
            for key in chunk:
                del batch.buckets[key]
        errors: dict = {}
        for key, count in batch.errors.items():
            if key[0] in alive:
                errors.setdefault(key[0], {})[key] = count
        for release_id, items in errors.items():
            attested = _sent_by_served_devices(release_id, {key: batch.senders.get(key, ()) for key in items})
            for chunk in _chunks(sorted(items, key=lambda key: (key not in attested, -items[key])), WRITE_CHUNK):
                with database.atomic():
                    _store_errors(release_id, {key: items[key] for key in chunk}, attested)
                for key in chunk:
                    del batch.errors[key]
        batch.errors.clear()
        batch.senders.clear()
        live_apps = _existing(App, {key[0] for key in batch.flags})
        for chunk in _chunks([key for key in batch.flags if key[0] in live_apps], WRITE_CHUNK):
            with database.atomic():
                _store_flag_sums({key: batch.flags[key] for key in chunk})
            for key in chunk:
                del batch.flags[key]
        batch.flags.clear()
        return written


def _admitted(states: tuple, seen: set) -> tuple:
    """The flag states among those a device has already reported this hour (`seen`), which takes new
    ones while it holds fewer than MAX_FLAG_STATES."""
    kept = []
    for state in states:
        if state not in seen and len(seen) < MAX_FLAG_STATES:
            seen.add(state)
        if state in seen:
            kept.append(state)
    return tuple(kept)


def _existing(model, ids: set) -> set:
    """Which of these ids `model` still has."""
    found: set = set()
    for chunk in _chunks(list(ids), 500):
        found.update(row.id for row in model.select(model.id).where(model.id.in_(chunk)))
    return found


def _chunks(items: list, size: int = 500):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _store_devices(app_id: int, release_id: int, devices: dict) -> dict:
    """Add what these devices (at most WRITE_CHUNK) reported on one release, in one statement;
    returns, per bucket, how many are new to that bucket. A device is attested once a check served
    it this release; a new device that is not gets a row only while the release has fewer than
    MAX_UNATTESTED_DEVICES."""
    ids = list(devices)
    known = dict(HealthDevice.select(HealthDevice.device_id, HealthDevice.bucket).where(
        (HealthDevice.release == release_id) & HealthDevice.device_id.in_(ids)).tuples())
    served = {device_id for (device_id,) in Device.select(Device.device_id).where(
        (Device.app == app_id) & Device.device_id.in_(ids) & (Device.served_release == release_id)).tuples()}
    room = None
    new_in_bucket: dict = {}
    rows = []
    for device_id, sums in devices.items():
        before = known.get(device_id)
        if before is None and device_id not in served:
            if room is None:
                room = MAX_UNATTESTED_DEVICES - HealthDevice.select().where(
                    (HealthDevice.release == release_id) & (HealthDevice.served == False)).count()  # noqa: E712
            if room <= 0:
                continue
            room -= 1
        rows.append({"release": release_id, "device_id": device_id, "bucket": sums.bucket, "launched": sums.launched,
                     "served": device_id in served, "network": sums.network,
                     **{name: getattr(sums, name) for name in DEVICE_COUNTERS}})
        if before is None or before < sums.bucket:
            new_in_bucket[sums.bucket] = new_in_bucket.get(sums.bucket, 0) + 1
    if rows:
        later = EXCLUDED.bucket > HealthDevice.bucket
        (HealthDevice.insert_many(rows).on_conflict(
            conflict_target=[HealthDevice.release, HealthDevice.device_id],
            update={HealthDevice.bucket: Case(None, [(later, EXCLUDED.bucket)], HealthDevice.bucket),
                    HealthDevice.launched: HealthDevice.launched | EXCLUDED.launched,
                    HealthDevice.served: HealthDevice.served | EXCLUDED.served,
                    HealthDevice.network: fn.COALESCE(HealthDevice.network, EXCLUDED.network),
                    **{getattr(HealthDevice, name): getattr(HealthDevice, name) + getattr(EXCLUDED, name)
                       for name in DEVICE_COUNTERS}})
         .execute())
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


def _sent_by_served_devices(release_id: int, senders: dict) -> set:
    """The keys among `senders` (error key -> device ids) that a device a check served this release sent."""
    ids = {device_id for devices in senders.values() for device_id in devices}
    served: set = set()
    for chunk in _chunks(list(ids)):
        served.update(device_id for (device_id,) in HealthDevice.select(HealthDevice.device_id).where(
            (HealthDevice.release == release_id) & HealthDevice.device_id.in_(chunk)
            & (HealthDevice.served == True)).tuples())  # noqa: E712
    return {key for key, devices in senders.items() if served.intersection(devices)}


def _store_errors(release_id: int, errors: dict, attested: set) -> None:
    """Count these messages (served devices' first, then most frequent first, in one statement). A
    message new to the release takes a free place of its MAX_ERRORS_PER_RELEASE; once they are taken,
    it takes the place of the least counted message that gives way to it (`_gives_way`: never-served
    devices' first), whose count goes to the other messages, or else counts with the other messages;
    never-served devices' messages hold at most UNATTESTED_ERROR_SLOTS places."""
    now = utcnow()
    other = _fingerprint("other", OTHER)
    items = [(_fingerprint(kind, message), kind, message, count, (release_id, kind, message) in attested)
             for (_, kind, message), count in errors.items()]
    stored = HealthError.select().where(HealthError.release == release_id).count()
    unattested = HealthError.select().where((HealthError.release == release_id)
                                            & (HealthError.attested == False)).count()  # noqa: E712
    existing = {fingerprint for (fingerprint,) in HealthError.select(HealthError.fingerprint).where(
        (HealthError.release == release_id)
        & HealthError.fingerprint.in_([item[0] for item in items] + [other])).tuples()}
    evictable = None
    rows: dict = {}

    def add(fingerprint, kind, message, count, by_served):
        row = rows.setdefault(fingerprint, {"release": release_id, "kind": kind, "fingerprint": fingerprint,
                                            "message": message, "count": 0, "last_seen": now,
                                            "attested": by_served})
        row["count"] += count
        row["attested"] = row["attested"] or by_served

    for fingerprint, kind, message, count, by_served in items:
        if fingerprint not in existing and fingerprint not in rows:
            if stored >= MAX_ERRORS_PER_RELEASE:
                if evictable is None:
                    evictable = list(HealthError.select().where(
                        (HealthError.release == release_id) & (HealthError.fingerprint != other))
                        .order_by(HealthError.attested, HealthError.count, HealthError.id.desc())
                        .limit(MAX_ERRORS_PER_RELEASE))
                given_up = next((row for row in evictable if _gives_way(row, count, by_served)), None)
                if given_up is not None:
                    evictable.remove(given_up)
                    given_up.delete_instance()
                    add(other, "other", OTHER, given_up.count, True)
                    stored, unattested = stored - 1, unattested - (not given_up.attested)
            if stored >= MAX_ERRORS_PER_RELEASE or (not by_served and unattested >= UNATTESTED_ERROR_SLOTS):
                fingerprint, kind, message, by_served = other, "other", OTHER, True
            if fingerprint not in existing and fingerprint not in rows:
                stored += 1
                unattested += not by_served
        add(fingerprint, kind, message, count, by_served)
    (HealthError.insert_many(list(rows.values())).on_conflict(
        conflict_target=[HealthError.release, HealthError.fingerprint],
        update={HealthError.count: HealthError.count + EXCLUDED.count, HealthError.last_seen: EXCLUDED.last_seen,
                HealthError.attested: HealthError.attested | EXCLUDED.attested})
     .execute())


def _gives_way(row: HealthError, count: int, by_served: bool) -> bool:
    """Whether a stored message gives its place to a new one counted `count` times in this flush: a
    never-served device's message to any served device's, and any message to a more frequent one
    that is not less attested."""
    return (by_served and not row.attested) or (count > row.count and (by_served or not row.attested))


def _store_flag_sums(flags: dict) -> None:
    """Add these (app, flag key, variant, day) sums, in one statement."""
    rows = [{"app": app_id, "flag_key": flag_key, "variant": variant, "day": day,
             **dict(zip(DEVICE_COUNTERS, sums))} for (app_id, flag_key, variant, day), sums in flags.items()]
    (FlagVariantHealth.insert_many(rows).on_conflict(
        conflict_target=[FlagVariantHealth.app, FlagVariantHealth.flag_key, FlagVariantHealth.variant,
                         FlagVariantHealth.day],
        update={getattr(FlagVariantHealth, name): getattr(FlagVariantHealth, name) + getattr(EXCLUDED, name)
                for name in DEVICE_COUNTERS})
     .execute())


def prune(horizon_days: int, now: dt.datetime | None = None) -> int:
    """Remove health older than the horizon (hourly sums, device rows, error messages not seen since,
    flag variant days), in short transactions; returns how many rows went."""
    cutoff = (now or utcnow()) - dt.timedelta(days=horizon_days)
    return (delete_in_batches(HealthBucket, HealthBucket.bucket < cutoff)
            + delete_in_batches(HealthDevice, HealthDevice.bucket < cutoff)
            + delete_in_batches(HealthError, HealthError.last_seen < cutoff)
            + delete_in_batches(FlagVariantHealth, FlagVariantHealth.day < cutoff.strftime("%Y-%m-%d")))


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
    launched_devices: int
    networks: int = 0
    """Distinct client networks among the launched devices (served_totals only)."""

    def rates(self) -> dict:
        return rates(self.launches, self.crashes, self.js_errors)


def _sums(query) -> tuple[int, ...]:
    row = query.select(*(fn.COALESCE(fn.SUM(getattr(query.model, n)), 0).alias(n) for n in DEVICE_COUNTERS)
                       ).dicts().get()
    return tuple(int(row[n]) for n in DEVICE_COUNTERS)


def _devices(release_id: int):
    return HealthDevice.select().where(HealthDevice.release == release_id)


def totals(release_id: int) -> Totals:
    """Everything reported on the release (what the dashboard shows), attested or not."""
    launched = _devices(release_id).where(HealthDevice.launched == True).count()  # noqa: E712
    return Totals(*_sums(HealthBucket.select().where(HealthBucket.release == release_id)), launched)


def served_totals(release_id: int, unattested_allowance: int, devices_per_network: int = 0) -> Totals:
    """What rollout policies read: the devices a check served this release, plus at most
    `unattested_allowance` others (the first that reported); of those, the first
    `devices_per_network` that reported from each client network (0: all), each with its crashes up
    to its launches. `networks` counts the networks of the launched devices counted."""
    counted = HealthDevice.served == True  # noqa: E712
    if unattested_allowance > 0:
        counted = counted | HealthDevice.id.in_(
            _devices(release_id).select(HealthDevice.id).where(HealthDevice.served == False)  # noqa: E712
            .order_by(HealthDevice.id).limit(unattested_allowance))
    network = fn.COALESCE(HealthDevice.network, HealthDevice.device_id)
    ranked = (HealthDevice.select(
        HealthDevice.launches, HealthDevice.js_errors, HealthDevice.launched, network.alias("network"),
        Case(None, [(HealthDevice.crashes > HealthDevice.launches, HealthDevice.launches)],
             HealthDevice.crashes).alias("crashes"),
        fn.ROW_NUMBER().over(partition_by=[network], order_by=[HealthDevice.id]).alias("rank"))
        .where((HealthDevice.release == release_id) & counted))
    launched_network = Case(None, [(ranked.c.launched == True, ranked.c.network)])  # noqa: E712
    query = ranked.select_from(
        *(fn.COALESCE(fn.SUM(getattr(ranked.c, name)), 0).alias(name) for name in DEVICE_COUNTERS),
        fn.COUNT(launched_network).alias("launched_devices"), fn.COUNT(fn.DISTINCT(launched_network)).alias("networks"))
    if devices_per_network > 0:
        query = query.where(ranked.c.rank <= devices_per_network)
    row = query.dicts().get()
    return Totals(*(int(row[name]) for name in (*DEVICE_COUNTERS, "launched_devices", "networks")))


def served_devices(release_id: int) -> int:
    """Devices whose last check offered or confirmed this release."""
    return Device.select().where(Device.served_release == release_id).count()


def release_health(release: Release, top: int = 10) -> dict:
    """{launches, crashes, jsErrors, failures, devices, launchedDevices, servedDevices, attestedDevices,
    crashRate, errorRate, crashFreeRate, custom, topErrors}: `attestedDevices` of `devices` reported
    after a check served them this release (only those move rollout policies)."""
    found = totals(release.id)
    custom: dict = {}
    failures = 0
    for row in HealthBucket.select(HealthBucket.custom, HealthBucket.failures).where(HealthBucket.release == release.id):
        failures += row.failures
        for name, count in (row.custom or {}).items():
            custom[name] = custom.get(name, 0) + count
    errors = (HealthError.select().where(HealthError.release == release.id)
              .order_by(HealthError.count.desc(), HealthError.id).limit(top))
    return {"releaseId": release.id, "launches": found.launches, "crashes": found.crashes,
            "jsErrors": found.js_errors, "failures": failures, "devices": _devices(release.id).count(),
            "launchedDevices": found.launched_devices, "servedDevices": served_devices(release.id),
            "attestedDevices": _devices(release.id).where(HealthDevice.served == True).count(),  # noqa: E712
            **found.rates(), "custom": custom,
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
