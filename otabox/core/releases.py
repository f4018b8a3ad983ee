"""Release control: releasing a bundle to a channel, rollouts, rollback, promote, and release JSON.

The decision of which bundle a device gets lives in `decide`; this module changes the history it reads."""
from __future__ import annotations

from peewee import fn

from ..errors import BadRequest, Conflict, NotFound
from ..store.generation import bump_generation
from ..store.models import App, Bundle, Channel, Release, ReleaseStat, database, iso, row_id
from . import audit, executions, outbox

STAT_NAMES = {"check": "checks", "downloaded": "downloads", "installed": "installs", "failed": "failures"}


def _flag(data: dict, name: str, default=None):
    value = data.get(name, default)
    if value is not None and not isinstance(value, bool):
        raise BadRequest(f"{name} must be true or false", details={"field": name})
    return value


def _rollout(data: dict, default=None):
    value = data.get("rollout", default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or not 0 <= value <= 100:
        raise BadRequest("rollout must be a whole percentage from 0 to 100", details={"field": "rollout"})
    return int(value)


def _notes(data: dict):
    value = data.get("notes")
    if value is not None and (not isinstance(value, str) or len(value) > 10000):
        raise BadRequest("notes must be a string of at most 10000 characters", details={"field": "notes"})
    return value


def release_stats(release_ids: list[int]) -> dict[int, dict]:
    stats = {rid: {"checks": 0, "downloads": 0, "installs": 0, "failures": 0, "actions": {}} for rid in release_ids}
    if release_ids:
        for row in ReleaseStat.select().where(ReleaseStat.release.in_(release_ids)):
            entry = stats[row.release_id]
            if row.action in STAT_NAMES:
                entry[STAT_NAMES[row.action]] = row.count
            else:
                entry["actions"][row.action] = row.count
    return stats


def release_json(release: Release, stats: dict | None = None) -> dict:
    bundle = release.bundle
    return {
        "id": release.id, "channel": release.channel.name, "kind": release.kind, "label": release.label,
        "bundleId": bundle.id if bundle else None, "bundleVersion": bundle.version if bundle else "builtin",
        "rollout": release.rollout, "mandatory": release.mandatory, "disabled": release.disabled,
        "notes": release.notes, "actor": release.actor, "promotedAt": iso(release.created_at),
        "stats": stats if stats is not None else release_stats([release.id])[release.id],
    }


def releases_json(releases: list[Release]) -> list[dict]:
    stats = release_stats([r.id for r in releases])
    return [release_json(r, stats[r.id]) for r in releases]


def _next_label(channel: Channel) -> str:
    return f"v{Release.select().where(Release.channel == channel).count() + 1}"


def current_release(channel: Channel) -> Release | None:
    return (Release.select().where((Release.channel == channel) & (Release.disabled == False))  # noqa: E712
            .order_by(Release.id.desc()).first())


def _append(channel: Channel, actor: str, action: str, *, bundle: Bundle | None, kind: str, rollout: int = 100,
            mandatory: bool = False, notes: str = "", details: dict | None = None,
            previous: Release | None = None) -> tuple[Release, Release | None]:
    """Append one event to a channel's history; returns it and the release that was current before
    (`previous`, when the caller already changed the history)."""
    previous = previous or current_release(channel)
    release = Release.create(app=channel.app_id, channel=channel, bundle=bundle, kind=kind,
                             label=_next_label(channel), rollout=rollout, mandatory=mandatory, notes=notes,
                             actor=actor)
    audit.record(actor, action, "release", release.id, {
        "app": channel.app.slug, "channel": channel.name, "bundleId": bundle.id if bundle else None,
        "rollout": rollout, "mandatory": mandatory, **(details or {})})
    rolled_back = action == "release.rolled_back"
    executions.end_for_channel(channel.id, "rolled_back" if rolled_back else "cancelled", actor, {
        "reason": "the channel was rolled back" if rolled_back else "a newer release replaced it",
        "byReleaseId": release.id})
    outbox.emit(action, channel.app, {"release": release_json(release),
                                      "previousReleaseId": previous.id if previous else None, **(details or {})})
    bump_generation()
    return release, previous


def create_release(app: App, data: dict, actor: str, find_bundle, find_channel) -> tuple[Release, Release | None]:
    if not isinstance(data.get("channel"), str):
        raise BadRequest("channel is required", details={"field": "channel"})
    if data.get("bundleId") is None:
        raise BadRequest("bundleId is required", details={"field": "bundleId"})
    bundle = find_bundle(app, data["bundleId"])
    channel = find_channel(app, data["channel"])
    rollout = _rollout(data, 100)
    mandatory = _flag(data, "mandatory", False)
    notes = _notes(data)
    with database.atomic():
        return _append(channel, actor, "release.created", bundle=bundle, kind="release", rollout=rollout,
                       mandatory=mandatory, notes=notes if notes is not None else bundle.notes)


def find_release(app: App, release_id) -> Release:
    number = row_id(release_id)
    release = Release.get_or_none((Release.id == number) & (Release.app == app)) if number is not None else None
    if release is None:
        raise NotFound(f"no release {release_id!r} in app {app.slug!r}")
    return release


def update_release(release: Release, data: dict, actor: str) -> Release:
    changes = {"rollout": _rollout(data), "mandatory": _flag(data, "mandatory"), "notes": _notes(data),
               "disabled": _flag(data, "disabled")}
    changes = {k: v for k, v in changes.items() if v is not None}
    if not changes:
        raise BadRequest("nothing to change: send rollout, mandatory, notes or disabled")
    if release.kind == "builtin" and "rollout" in changes:
        raise BadRequest("a rollback to builtin has no rollout", details={"field": "rollout"})
    with database.atomic():
        Release.update(**changes).where(Release.id == release.id).execute()
        action = "release.rollout_changed" if set(changes) == {"rollout"} else "release.updated"
        before = {k: getattr(release, k) for k in changes}
        audit.record(actor, action, "release", release.id, {"before": before, "after": changes})
        updated = Release.get_by_id(release.id)
        if changes.get("disabled"):
            executions.end_for_release(release.id, "cancelled", actor, {"reason": "release disabled"})
        outbox.emit("release.updated", release.app, {"release": release_json(updated), "before": before,
                                                     "after": changes})
        bump_generation()
    return updated


def list_releases(app: App, channel: Channel | None, limit: int, offset: int) -> tuple[list[Release], int]:
    query = Release.select().where(Release.app == app)
    if channel is not None:
        query = query.where(Release.channel == channel)
    return list(query.order_by(Release.id.desc()).limit(limit).offset(offset)), query.count()


def rollback(channel: Channel, data: dict, actor: str) -> tuple[Release, Release | None]:
    """Re-point a channel to an earlier release (or to the binary's bundle) as a new history event.

    The release rolled back from is disabled, so no device is offered it again and a second rollback
    goes further back instead of returning to it."""
    to_builtin = _flag(data, "toBuiltin", False)
    to_id = data.get("toReleaseId")
    with database.atomic():
        current = current_release(channel)
        if to_builtin:
            target_bundle = None
        elif to_id is not None:
            number = row_id(to_id) if isinstance(to_id, int) else None
            target = Release.get_or_none((Release.id == number) & (Release.channel == channel)) \
                if number is not None else None
            if target is None:
                raise NotFound(f"no release {to_id!r} in channel {channel.name!r}")
            target_bundle = target.bundle
        else:
            if current is None:
                raise Conflict("the channel has no release to roll back", code="nothing_to_roll_back")
            earlier = (Release.select().where((Release.channel == channel) & (Release.disabled == False)  # noqa: E712
                                              & (Release.id < current.id)).order_by(Release.id.desc()))
            target = next((r for r in earlier if r.bundle_id != current.bundle_id), None)
            if target is None:
                raise Conflict("there is no earlier release to roll back to; roll back to builtin instead",
                               code="nothing_to_roll_back")
            target_bundle = target.bundle
        if current is not None:
            Release.update(disabled=True).where(Release.id == current.id).execute()
        return _append(channel, actor, "release.rolled_back", bundle=target_bundle,
                       kind="builtin" if to_builtin else "rollback", previous=current,
                       details={"rolledBackFrom": current.id if current else None})


def promote(app: App, source: Channel, target: Channel, data: dict, actor: str) -> tuple[Release, Release | None]:
    rollout = _rollout(data, 100)
    mandatory = _flag(data, "mandatory", False)
    notes = _notes(data)
    with database.atomic():
        current = current_release(source)
        if current is None or current.bundle is None:
            raise Conflict(f"channel {source.name!r} serves no bundle to promote", code="nothing_to_promote")
        return _append(target, actor, "release.promoted", bundle=current.bundle, kind="promote", rollout=rollout,
                       mandatory=mandatory, notes=notes if notes is not None else current.notes,
                       details={"from": source.name, "fromReleaseId": current.id})


def count_stat(release_id: int, action: str, amount: int = 1) -> None:
    """Add to a release's counter (upsert that works on SQLite and PostgreSQL)."""
    (ReleaseStat.insert(release=release_id, action=action, count=amount)
     .on_conflict(conflict_target=[ReleaseStat.release, ReleaseStat.action],
                  update={ReleaseStat.count: ReleaseStat.count + amount}).execute())


def adoption(channel: Channel) -> list[dict]:
    from ..store.models import Device

    rows = (Device.select(Device.bundle_version, fn.COUNT(Device.id).alias("devices"))
            .where((Device.app == channel.app_id) & (Device.channel == channel.name))
            .group_by(Device.bundle_version).order_by(fn.COUNT(Device.id).desc()))
    return [{"version": r.bundle_version or "builtin", "devices": r.devices} for r in rows]
