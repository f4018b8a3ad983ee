"""Devices' error, crash and custom events, one by one, in a ring per app (AppDispatch's observe
events and raw telemetry events); project-wide adoption; telemetry time series and flag impacts.

Health reports come from public endpoints, so what they add here is bounded twice: the buffer keeps
the most recent `MAX_PENDING_PER_APP` events per app between two flushes (older ones are counted
in `dropped`), and each flush, after writing an app's events, deletes all but its most recent
`OTABOX_EVENTS_PER_APP`, so an app never holds more than that many rows however many devices report.
Devices no update check has seen (any id can post to the keyless health endpoint) keep at most
`UNSEEN_DEVICES_SHARE` of those rows, and one device id at most `DEVICE_SHARE`, so a flood from
made-up ids (checked once or not) cannot push out the events of the app's real devices.
Launches are not kept one by one: they are in the health aggregates (core/health.py)."""
from __future__ import annotations

import collections
import datetime as dt

from peewee import fn

from ..security.ratelimit import address_key
from ..store.models import (
    App,
    DailyActive,
    Device,
    FlagVariantHealth,
    HealthBucket,
    Release,
    ReleaseStat,
    TelemetryEvent,
    database,
    iso,
    utcnow,
)
from . import flags, health
from .batching import BatchWriter, delete_in_batches

KEPT_TYPES = ("js_error", "crash", "custom")
MAX_PENDING_PER_APP = 1000
UNSEEN_DEVICES_SHARE = 0.2
"""The part of an app's kept events that devices no check has seen may hold (their newest)."""
DEVICE_SHARE = 0.01
"""The part of an app's kept events one device id may hold (its newest): a check makes any id a seen
device, so without it a few ids that checked once could fill the ring."""
ADDRESS_SHARE = 0.1
"""The part of an app's kept events one client address (IPv6: its /64) may add in an hour, so one
address with many ids that checked once needs ten hours to fill the ring."""
REMEMBERED_ADDRESS_HOURS = 100_000
ADOPTION_DAYS = (7, 14, 30, 90)


class EventRing(BatchWriter):
    """Events buffered per app, written in batches, each app's rows cut to its newest `per_app`."""

    thread_name = "otabox-event-flush"

    def __init__(self, interval: float, per_app: int):
        super().__init__(interval)
        self.per_app = per_app
        self._pending: dict[int, collections.deque] = {}
        self._address_hours: collections.OrderedDict = collections.OrderedDict()

    def record(self, app_id: int, release_id: int | None, report: health.HealthReport,
               address: str | None = None) -> None:
        """Buffer the report's kept events, sent from `address`: those its address may still add this
        hour (ADDRESS_SHARE of the ring, remembered per process for the most recent address-hours)."""
        now = utcnow()
        rows = [{"app": app_id, "at": now, "type": e.type, "name": e.name, "message": e.message, "count": e.count,
                 "device_id": report.device_id[:200], "channel": report.channel, "platform": report.platform,
                 "runtime_version": report.runtime_version, "release_id": release_id,
                 "flag_states": dict(e.flag_states)} for e in report.events if e.type in KEPT_TYPES]
        if not rows:
            return
        with self._lock:
            key = (app_id, address_key(address), health.bucket_of(now))
            used = self._address_hours.pop(key, 0)
            rows = rows[:max(max(int(self.per_app * ADDRESS_SHARE), 1) - used, 0)]
            self._address_hours[key] = used + len(rows)
            if len(self._address_hours) > REMEMBERED_ADDRESS_HOURS:
                self._address_hours.popitem(last=False)
            if not rows:
                return
            pending = self._pending.get(app_id)
            if pending is None:
                pending = self._pending[app_id] = collections.deque(maxlen=min(MAX_PENDING_PER_APP, self.per_app))
            self.dropped += max(len(pending) + len(rows) - pending.maxlen, 0)
            pending.extend(rows)

    def _take(self):
        batch, self._pending = self._pending, {}
        return batch or None

    def _restore(self, batch) -> None:
        """A batch the database refused goes back before what came since, within the same bound."""
        for app_id, rows in batch.items():
            newer = self._pending.get(app_id, ())
            self._pending[app_id] = collections.deque([*rows, *newer], maxlen=rows.maxlen)

    def _store(self, batch) -> int:
        """One transaction per app, each taking its events out of the batch once written, so a failure
        leaves only the unwritten apps for `_restore`. Events of apps deleted meanwhile are dropped."""
        written = 0
        live = {app_id for (app_id,) in App.select(App.id).where(App.id.in_(list(batch))).tuples()}
        for app_id in list(batch):
            rows = list(batch[app_id]) if app_id in live else []
            with database.atomic():
                for start in range(0, len(rows), 200):
                    TelemetryEvent.insert_many(rows[start:start + 200]).execute()
                if rows:
                    trim(app_id, self.per_app, {row["device_id"] for row in rows})
            del batch[app_id]
            written += len(rows)
        return written


def trim(app_id: int, keep: int, reporters=()) -> int:
    """Delete all but the app's `keep` most recent events; of the events of devices no check has
    seen, all but the most recent UNSEEN_DEVICES_SHARE of `keep`; and of each device id among
    `reporters` (those that just added events), all but its most recent DEVICE_SHARE of `keep`.
    Returns how many went."""
    per_device = max(int(keep * DEVICE_SHARE), 1)
    over = [device_id for (device_id,) in TelemetryEvent.select(TelemetryEvent.device_id).where(
        (TelemetryEvent.app == app_id) & TelemetryEvent.device_id.in_(list(reporters)))
        .group_by(TelemetryEvent.device_id).having(fn.COUNT(TelemetryEvent.id) > per_device).tuples()] \
        if reporters else []
    unseen = TelemetryEvent.device_id.not_in(Device.select(Device.device_id).where(Device.app == app_id))
    return (sum(_keep_newest(app_id, per_device, TelemetryEvent.device_id == device_id) for device_id in over)
            + _keep_newest(app_id, max(int(keep * UNSEEN_DEVICES_SHARE), 1), unseen)
            + _keep_newest(app_id, keep))


def _keep_newest(app_id: int, keep: int, among=None) -> int:
    """Delete all but the `keep` most recent of the app's events (of those matching `among`)."""
    where = TelemetryEvent.app == app_id
    if among is not None:
        where &= among
    oldest_kept = (TelemetryEvent.select(TelemetryEvent.id).where(where)
                   .order_by(TelemetryEvent.id.desc()).offset(keep - 1).limit(1).scalar())
    if oldest_kept is None:
        return 0
    return TelemetryEvent.delete().where(where & (TelemetryEvent.id < oldest_kept)).execute()


def prune(horizon_days: int, now: dt.datetime | None = None) -> int:
    """Remove kept events older than the retention horizon (the ring bounds their number, this their age)."""
    cutoff = (now or utcnow()) - dt.timedelta(days=horizon_days)
    return delete_in_batches(TelemetryEvent, TelemetryEvent.at < cutoff)


def events_json(app: App, events: list[TelemetryEvent]) -> list[dict]:
    """Kept events, their flag states typed as the flags' values (true, not "true")."""
    reported = flags.reported_values(app.id)
    return [{"id": event.id, "type": event.type, "name": event.name, "message": event.message, "count": event.count,
             "deviceId": event.device_id, "channel": event.channel, "platform": event.platform,
             "runtimeVersion": event.runtime_version, "updateId": event.release_id,
             "flagStates": flags.typed_states(event.flag_states, reported), "createdAt": iso(event.at)}
            for event in events]


def list_events(app: App, types, channel: str | None, platform: str | None, limit: int, offset: int
                ) -> tuple[list[TelemetryEvent], int]:
    """The app's kept events, newest first, filtered by type (one of or a list), channel and platform."""
    query = TelemetryEvent.select().where(TelemetryEvent.app == app)
    if types:
        query = query.where(TelemetryEvent.type.in_(list(types)))
    if channel:
        query = query.where(TelemetryEvent.channel == channel)
    if platform:
        query = query.where(TelemetryEvent.platform == platform)
    return list(query.order_by(TelemetryEvent.id.desc()).limit(limit).offset(offset)), query.count()


# --- adoption, time series, flag impacts -------------------------------------------------------------

def _since_day(days: int) -> str:
    return (utcnow() - dt.timedelta(days=days - 1)).strftime("%Y-%m-%d")


def adoption(app: App, days: int) -> dict:
    """Devices seen in the period (by their checks), per update their last check served them, with
    each update's download count (every download otabox counted since the update was made, its
    `downloaded` counter), and active devices per day."""
    since = utcnow() - dt.timedelta(days=days)
    active = Device.select().where((Device.app == app) & (Device.last_seen >= since))
    by_release = {release_id: count for release_id, count in
                  active.select(Device.served_release, fn.COUNT(Device.id)).group_by(Device.served_release).tuples()}
    releases = {r.id: r for r in Release.select().where(Release.id.in_([k for k in by_release if k] or [0]))}
    downloads = {release_id: int(total or 0) for release_id, total in
                 ReleaseStat.select(ReleaseStat.release, ReleaseStat.count).join(Release)
                 .where((Release.app == app) & (ReleaseStat.action == "downloaded")).tuples()}
    total_active = active.count()
    updates = []
    for release_id, count in sorted(by_release.items(), key=lambda item: -item[1]):
        release = releases.get(release_id)
        updates.append({"updateId": release_id, "channel": release.channel.name if release else None,
                        "activeDevices": count, "downloads": downloads.get(release_id, 0),
                        "share": round(100.0 * count / total_active, 2) if total_active else 0.0})
    daily = [{"day": day, "activeDevices": int(count)} for day, count in
             DailyActive.select(DailyActive.day, fn.COUNT(DailyActive.device_id.distinct()))
             .where((DailyActive.app == app) & (DailyActive.day >= _since_day(days)))
             .group_by(DailyActive.day).order_by(DailyActive.day).tuples()]
    return {"days": days, "totalActiveDevices": total_active, "totalDownloads": sum(downloads.values()),
            "updates": updates, "daily": daily}


def flag_impacts(app: App, days: int) -> list[dict]:
    """Per flag and variant (from health events' flagStates, the value typed): launches, crashes, errors
    and rates."""
    since = _since_day(days)
    reported = flags.reported_values(app.id)
    sums: dict = {}
    for row in (FlagVariantHealth.select(FlagVariantHealth.flag_key, FlagVariantHealth.variant,
                                         *(fn.SUM(getattr(FlagVariantHealth, n)).alias(n)
                                           for n in health.DEVICE_COUNTERS))
                .where((FlagVariantHealth.app == app) & (FlagVariantHealth.day >= since))
                .group_by(FlagVariantHealth.flag_key, FlagVariantHealth.variant)
                .order_by(FlagVariantHealth.flag_key, FlagVariantHealth.variant).dicts()):
        launches, crashes, js_errors = (int(row[n]) for n in health.DEVICE_COUNTERS)
        variant = flags.reported_value(row["variant"], reported.get(row["flag_key"], {}))
        sums[(row["flag_key"], row["variant"])] = {
            "flagKey": row["flag_key"], "variant": variant, "launches": launches, "crashes": crashes,
            "jsErrors": js_errors, **health.rates(launches, crashes, js_errors)}
    return list(sums.values())


def release_impacts(app: App, days: int) -> list[dict]:
    """Per update and channel over the period: launches, crashes, errors and rates."""
    since = health.bucket_of(utcnow() - dt.timedelta(days=days))
    found = []
    for row in (HealthBucket.select(HealthBucket.release, *(fn.SUM(getattr(HealthBucket, n)).alias(n)
                                                            for n in health.DEVICE_COUNTERS))
                .where((HealthBucket.app == app) & (HealthBucket.bucket >= since))
                .group_by(HealthBucket.release).order_by(HealthBucket.release).dicts()):
        release = Release.get_or_none(Release.id == row["release"])
        launches, crashes, js_errors = (int(row[n]) for n in health.DEVICE_COUNTERS)
        found.append({"updateId": row["release"], "channel": release.channel.name if release else None,
                      "launches": launches, "crashes": crashes, "jsErrors": js_errors,
                      **health.rates(launches, crashes, js_errors)})
    return found


def flag_health(flag, days: int) -> dict:
    """core/flags.flag_health's per-variation figures, with the flag-wide sums and rates, and the
    affected devices: distinct devices whose kept errors or crashes (this ring, so at most the app's
    most recent OTABOX_EVENTS_PER_APP events) had the flag in their flagStates, flag-wide and per
    variation."""
    found = flags.flag_health(flag, days)
    since = utcnow() - dt.timedelta(days=days)
    affected: dict[str, set] = {}
    for device_id, states in (TelemetryEvent.select(TelemetryEvent.device_id, TelemetryEvent.flag_states)
                              .where((TelemetryEvent.app == flag.app_id) & (TelemetryEvent.at >= since)
                                     & TelemetryEvent.type.in_(("js_error", "crash"))).tuples()):
        if flag.key in (states or {}):
            affected.setdefault(states[flag.key], set()).add(device_id)
    launches, crashes, js_errors = (sum(v[n] for v in found["variants"]) for n in ("launches", "crashes", "jsErrors"))
    variants = [{**v, "affectedDevices": len(affected.get(health.value_text(v["value"]), ()))}
                for v in found["variants"]]
    return {**found, "launches": launches, "crashes": crashes, "jsErrors": js_errors,
            **health.rates(launches, crashes, js_errors),
            "affectedDevices": len(set().union(*affected.values())) if affected else 0, "variants": variants}
