"""Release control: releasing a bundle to a channel, rollouts, rollback, promote, republish,
deletion, each release's own history of events, and release JSON.

The decision of which bundle a device gets lives in `decide`; this module changes the history it reads."""
from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

from peewee import fn

from ..errors import BadRequest, Conflict, NotFound
from ..fields import Any, Boolean, Choice, IdOrName, ListOf, Percentage, Schema, Text, Whole
from ..store.models import (
    App,
    Bundle,
    Channel,
    CodePushActive,
    Device,
    Release,
    ReleaseEvent,
    ReleaseStat,
    database,
    iso,
    row_id,
    utcnow,
)
from . import channel_numbers, executions, semver
from .branches import channel_releases
from .bundles import blobs_of, remove_unreferenced_blobs
from .change import changing
from .decide import serving_shares
from .flags import link_release, linked_flags
from .serving import BundleView, channel_history

STAT_NAMES = {"check": "checks", "downloaded": "downloads", "installed": "installs", "failed": "failures"}


def _or(value, default):
    """A clean field's value; absent or null means `default`."""
    return default if value is None else value


APPDISPATCH_NAMES = {"rolloutPercentage": "otabox calls it rollout", "isCritical": "otabox calls it mandatory",
                     "releaseMessage": "otabox calls it notes"}
"""What AppDispatch's publish calls a release's fields, refused by name on otabox's own routes."""
RELEASE_CHANGES = Schema(
    {"rollout": Percentage(nullable=True, description="The share of devices offered the release"),
     "mandatory": Boolean(nullable=True), "notes": Text(10000, nullable=True), "disabled": Boolean(nullable=True),
     "targetVersions": Text(200, nullable=True, check=semver.is_valid_range,
                            expected="a semver range such as ^1.2.0")},
    hints=APPDISPATCH_NAMES)
PROMOTION = RELEASE_CHANGES.only("rollout", "mandatory", "notes", "targetVersions")
GROUP_ID = Text(100, min_length=1, nullable=True, description="Releases made together share it (default: a new UUID)")
NEW_RELEASE = PROMOTION.extend({
    "bundleId": IdOrName(required=True), "channel": Text(200, nullable=True, description="Absent or null: the "
                                                                                        "app's default channel "
                                                                                        "(OtaKit's base channel)"),
    "linkedFlags": Any(description="[{flagId, enabled} or {flagId, value}]: flag values set with the release"),
    "groupId": GROUP_ID, "policyId": IdOrName(nullable=True, description="Follow this rollout policy")})
ROLLBACK = Schema({"toBuiltin": Boolean(nullable=True), "toReleaseId": Whole(1, 2**63 - 1, nullable=True),
                   "platform": Choice(("ios", "android"), nullable=True,
                                      description="Roll back only this platform's devices (default: every platform)"),
                   "dryRun": Boolean(nullable=True, description="Only say what the rollback would do")})
REPUBLISH = Schema({"channels": ListOf(Text(200), min_items=1, max_items=50, unique=True, required=True,
                                       expected="a list of 1 to 50 distinct channel names"),
                    "releaseMessage": Text(10000, nullable=True), "rollout": Percentage(nullable=True),
                    "groupId": GROUP_ID})


SHOWN_ACTIONS = 64
"""Client action counters shown per release, most counted first; the rest are summed as "other" (a
box that stored made-up action names before the protocols mapped them still answers briefly)."""


def release_stats(release_ids: list[int]) -> dict[int, dict]:
    stats = {rid: {"checks": 0, "downloads": 0, "installs": 0, "failures": 0, "actions": {}} for rid in release_ids}
    if release_ids:
        for row in (ReleaseStat.select().where(ReleaseStat.release.in_(release_ids))
                    .order_by(ReleaseStat.count.desc(), ReleaseStat.action)):
            entry = stats[row.release_id]
            actions = entry["actions"]
            if row.action in STAT_NAMES:
                entry[STAT_NAMES[row.action]] = row.count
            elif len(actions) < SHOWN_ACTIONS or row.action in actions:
                actions[row.action] = actions.get(row.action, 0) + row.count
            else:
                actions["other"] = actions.get("other", 0) + row.count
    return stats


def release_json(release: Release, stats: dict | None = None, numbers: dict | None = None) -> dict:
    """`numbers`: channel_numbers.highest_numbers of a page of releases, looked up here when absent."""
    bundle = release.bundle
    return {
        "id": release.id, "channel": release.channel.name, "branch": release.branch.name if release.branch_id else None,
        "kind": release.kind, "label": release.label,
        "bundleId": bundle.id if bundle else None, "bundleVersion": bundle.version if bundle else "builtin",
        "rollout": release.rollout, "mandatory": release.mandatory, "disabled": release.disabled,
        "notes": release.notes, "actor": release.actor, "promotedAt": iso(release.created_at),
        "targetVersions": target_versions(release), "platform": release.platform,
        "runtimeVersion": release.runtime_version, "deleted": release.deleted, "groupId": release.group_id,
        "originalLabel": release.original_label, "originalChannel": release.original_channel,
        "stats": stats if stats is not None else release_stats([release.id])[release.id],
        "channelVersion": channel_version(release, numbers),
    }


def channel_version(release: Release, numbers: dict | None = None) -> int | None:
    """The whole number its channel gave the release's bundle (what Koolbase's SDK holds for it; None
    for the binary's bundle)."""
    key = (release.channel_id, release.bundle_id)
    return (numbers if numbers is not None else channel_numbers.highest_numbers([key])).get(key)


def target_versions(release: Release) -> str | None:
    """The native versions a release targets: its own range, else its bundle's."""
    if release.target_versions:
        return release.target_versions
    return release.bundle.target_versions if release.bundle_id else None


RELEASE_KINDS = ("release", "promote", "rollback", "builtin")
"""How a release came to be (`Release.kind`): published, promoted from another channel, rolled back
to an earlier bundle, or rolled back to the binary's own bundle."""
CODEPUSH_RELEASE_METHODS = {"release": "Upload", "promote": "Promote", "rollback": "Rollback", "builtin": "Rollback"}


def codepush_package(release: Release) -> dict:
    """A release as code-push-server describes a package (`rollout` null once complete), without the
    download URLs: the management API adds those, the `deployment.released` webhook event has none."""
    bundle = release.bundle
    package = {
        "appVersion": (target_versions(release) or "*") if bundle else "*",
        "description": release.notes, "isDisabled": release.disabled, "isMandatory": release.mandatory,
        "label": release.label, "packageHash": (bundle.package_hash or "") if bundle else "",
        "releaseMethod": CODEPUSH_RELEASE_METHODS.get(release.kind, "Upload"), "releasedBy": release.actor,
        "rollout": None if release.rollout >= 100 else release.rollout, "size": bundle.size if bundle else 0,
        "uploadTime": int(release.created_at.replace(tzinfo=dt.timezone.utc).timestamp() * 1000),
    }
    if release.original_label and release.kind in ("promote", "rollback"):
        package["originalLabel"] = release.original_label
        if release.kind == "promote":
            package["originalDeployment"] = release.original_channel
    return package


def releases_json(releases: list[Release]) -> list[dict]:
    stats = release_stats([r.id for r in releases])
    numbers = channel_numbers.highest_numbers((r.channel_id, r.bundle_id) for r in releases)
    return [release_json(r, stats[r.id], numbers) for r in releases]


def _next_label(channel: Channel) -> str:
    return f"v{Release.select().where(channel_releases(channel)).count() + 1}"


def _enabled_newest_first(channel: Channel):
    return (Release.select().where(channel_releases(channel) & (Release.disabled == False))  # noqa: E712
            .order_by(Release.id.desc()))


def current_release(channel: Channel) -> Release | None:
    return _enabled_newest_first(channel).first()


def is_scoped_rollback(release: Release) -> bool:
    """A rollback limited to one platform or runtime version (AppDispatch's POST /v1/ota/rollback):
    devices outside its scope go on with the release below it."""
    return release.kind in ("rollback", "builtin") and (release.platform is not None
                                                        or release.runtime_version is not None)


def serving_releases(channel: Channel) -> tuple[Release | None, Release | None, list[Release]]:
    """The channel's newest enabled release; the newest that is not a scoped rollback (what devices of
    every other platform and runtime get); and the scoped rollbacks above that one, newest first.
    One pass down the history, which stops at the first release that is not a scoped rollback."""
    current, scoped = None, []
    for release in _enabled_newest_first(channel).iterator():
        current = current or release
        if not is_scoped_rollback(release):
            return current, release, scoped
        scoped.append(release)
    return current, None, scoped


def scoped_rollback_json(release: Release) -> dict:
    return {"releaseId": release.id, "label": release.label, "platform": release.platform,
            "runtimeVersion": release.runtime_version,
            "bundleVersion": release.bundle.version if release.bundle_id else "builtin"}


def served_bundle_id(channel: Channel) -> int | None:
    """The id of the bundle the channel serves now (None: nothing, or the binary's own)."""
    current = current_release(channel)
    return current.bundle_id if current else None


def _group_id(data: dict) -> str:
    return _or(data.get("groupId"), None) or str(uuid.uuid4())


def record_event(release_id: int, kind: str, actor: str, details: dict | None = None) -> None:
    """One entry of a release's own history (GET .../releases/:id/history)."""
    ReleaseEvent.create(release=release_id, kind=kind, actor=actor, details=details or {})


def _append(channel: Channel, actor: str, action: str, *, bundle: Bundle | None, kind: str, rollout: int = 100,
            mandatory: bool = False, notes: str = "", details: dict | None = None,
            previous: Release | None = None, origin: Release | None = None, **attributes
            ) -> tuple[Release, Release | None]:
    """Append one event to a channel's history; returns it and the release that was current before
    (`previous`, when the caller already changed the history). `origin`: the release it repeats
    (promotion, rollback, republish); `attributes`: target_versions, platform, runtime_version, group_id."""
    previous = previous or current_release(channel)
    if origin is not None:
        attributes.setdefault("target_versions", origin.target_versions)
        attributes.update(original_label=origin.label, original_channel=origin.channel.name)
    facts = {"app": channel.app.slug, "channel": channel.name, "bundleId": bundle.id if bundle else None,
             "rollout": rollout, "mandatory": mandatory, **(details or {})}
    with changing(actor, action, "release", details=facts, app=channel.app_id) as change:
        release = Release.create(app=channel.app_id, channel=channel, branch=channel.branch_id, bundle=bundle,
                                 kind=kind, label=_next_label(channel), rollout=rollout, mandatory=mandatory,
                                 notes=notes, actor=actor, **attributes)
        if bundle is not None:  # numbered on every channel serving the branch (Koolbase's devices send it back)
            for serving in Channel.select(Channel.id).where(Channel.branch == channel.branch_id).order_by(Channel.id):
                channel_numbers.ensure_number(serving.id, bundle.id, mandatory)
        change.entity_id = release.id
        record_event(release.id, "created", actor, {"kind": kind, **facts})
        rolled_back = action == "release.rolled_back"
        executions.end_for_branch(channel.branch_id, "rolled_back" if rolled_back else "cancelled", actor, {
            "reason": "the channel was rolled back" if rolled_back else "a newer release replaced it",
            "byReleaseId": release.id})
        change.emit(action, channel.app, {"release": release_json(release),
                                          "previousReleaseId": previous.id if previous else None, **(details or {})})
        change.emit("deployment.released", channel.app, {"appName": channel.app.name, "deploymentName": channel.name,
                                                         "package": codepush_package(release)})
    return release, previous


def create_release(app: App, data: dict, actor: str, find_bundle, find_channel) -> tuple[Release, Release | None]:
    """Release a bundle to a channel (the app's default channel, OtaKit's base channel, when none is
    named or the channel is null)."""
    data = NEW_RELEASE.validate(data)
    name = _or(data.get("channel"), app.default_channel)
    if not isinstance(name, str):
        raise BadRequest("channel is required (the app has no default channel)", details={"field": "channel"})
    bundle = find_bundle(app, data["bundleId"])
    channel = find_channel(app, name)
    rollout = _or(data.get("rollout"), 100)
    mandatory = _or(data.get("mandatory"), False)
    notes = data.get("notes")
    links = linked_flags(app, data.get("linkedFlags"))
    targets, group = data.get("targetVersions"), _group_id(data)
    with database.atomic():
        release, previous = _append(channel, actor, "release.created", bundle=bundle, kind="release",
                                    rollout=rollout, mandatory=mandatory,
                                    notes=notes if notes is not None else bundle.notes,
                                    target_versions=targets, group_id=group)
        link_release(release, links, actor)
        return release, previous


def find_release(app: App, release_id) -> Release:
    number = row_id(release_id)
    release = Release.get_or_none((Release.id == number) & (Release.app == app)) if number is not None else None
    if release is None:
        raise NotFound(f"no release {release_id!r} in app {app.slug!r}")
    return release


EVENT_OF_CHANGE = {"rollout": "rollout_changed", "mandatory": "mandatory_changed", "notes": "notes_changed",
                   "disabled": "disabled_changed", "target_versions": "target_versions_changed"}


def update_release(release: Release, data: dict, actor: str) -> Release:
    data = RELEASE_CHANGES.validate(data)
    changes = {"rollout": data.get("rollout"), "mandatory": data.get("mandatory"), "notes": data.get("notes"),
               "disabled": data.get("disabled"), "target_versions": data.get("targetVersions")}
    changes = {k: v for k, v in changes.items() if v is not None}
    if not changes:
        raise BadRequest("nothing to change: send rollout, mandatory, notes, disabled or targetVersions")
    if release.kind == "builtin" and {"rollout", "target_versions"} & set(changes):
        raise BadRequest("a rollback to builtin has no rollout or target", details={"field": "rollout"})
    if changes.get("rollout", 0) > release.rollout and ReleaseEvent.select().where(
            (ReleaseEvent.release == release) & (ReleaseEvent.kind == "rolled_back")).exists():
        raise Conflict(f"release {release.label} was rolled back, so its rollout cannot grow; release its bundle "
                       "again to offer it to more devices", code="rolled_back", details={"field": "rollout"})
    action = "release.rollout_changed" if set(changes) == {"rollout"} else "release.updated"
    before = {k: getattr(release, k) for k in changes}
    with changing(actor, action, "release", release.id, {"before": before, "after": changes},
                  app=release.app_id) as change:
        Release.update(**changes).where(Release.id == release.id).execute()
        for field, value in changes.items():
            if value != before[field]:
                record_event(release.id, EVENT_OF_CHANGE[field], actor, {"from": before[field], "to": value})
        updated = Release.get_by_id(release.id)
        if changes.get("disabled"):
            executions.end_for_release(release.id, "cancelled", actor, {"reason": "release disabled"})
        change.emit("release.updated", release.app, {"release": release_json(updated), "before": before,
                                                     "after": changes})
    return updated


def delete_release(release: Release, actor: str) -> Release:
    """AppDispatch's "delete update": the release is disabled and leaves the history lists (its row,
    bundle and stats stay, so a device that runs it keeps working and its reports still count)."""
    with changing(actor, "release.deleted", "release", release.id,
                  {"channel": release.channel.name, "bundleId": release.bundle_id}, app=release.app_id):
        Release.update(disabled=True, deleted=True).where(Release.id == release.id).execute()
        record_event(release.id, "deleted", actor)
    return Release.get_by_id(release.id)


def release_history(release: Release) -> list[dict]:
    """What happened to a release, oldest first."""
    events = ReleaseEvent.select().where(ReleaseEvent.release == release).order_by(ReleaseEvent.id)
    return [{"type": e.kind, "at": iso(e.at), "actor": e.actor, "details": e.details} for e in events]


def list_releases(app: App, channel: Channel | None, limit: int, offset: int, include_deleted: bool = False,
                  group_id: str | None = None) -> tuple[list[Release], int]:
    query = Release.select().where(Release.app == app)
    if channel is not None:
        query = query.where(channel_releases(channel))
    if not include_deleted:
        query = query.where(Release.deleted == False)  # noqa: E712
    if group_id:
        query = query.where(Release.group_id == group_id)
    return list(query.order_by(Release.id.desc()).limit(limit).offset(offset)), query.count()


@dataclasses.dataclass(frozen=True)
class RollbackPolicy:
    """How one protocol's rollback picks the release it goes back to and what it does to the one it
    leaves. The rest is common: a new history entry repeats the target (its rollout too, with the same
    devices inside it), and devices outside that rollout go on below the target, so the channel serves
    exactly what it served when the target was its newest release; a canary is never widened."""

    history_entries: bool
    """False (otabox): the newest enabled release is rolled back from and disabled, so no device is
    offered it again, to the newest enabled earlier release of another bundle. True (code-push-server's
    management API): the rolled-back-from release is the latest history entry and stays as it is; the
    target is the previous entry, disabled or not (the copy keeps its isDisabled); both must target the
    same app version."""


OTABOX_ROLLBACK = RollbackPolicy(history_entries=False)
CODEPUSH_ROLLBACK = RollbackPolicy(history_entries=True)


DEVICE_PLATFORMS = ("ios", "android")
"""The platforms a rollback restores one by one, and `serves` tells apart."""


def _for_platform(release: Release, platform: str, bundles: dict[int, BundleView]) -> bool:
    """Whether devices of `platform` take the release (its own platform scope and its bundle's)."""
    if release.platform and release.platform != platform:
        return False
    return release.bundle_id is None or bundles[release.bundle_id].serves_platform(platform)


def _bundle_views(rows: list[Release]) -> dict[int, BundleView]:
    ids = {r.bundle_id for r in rows if r.bundle_id is not None}
    return {b.id: BundleView.of(b) for b in Bundle.select().where(Bundle.id.in_(ids))} if ids else {}


@dataclasses.dataclass(frozen=True)
class RollbackStep:
    """One platform's part of a rollback (platform None: every platform alike)."""

    platform: str | None
    current: Release | None
    """The release rolled back from."""
    target: Release | None
    """The release gone back to (None, or a target without a bundle: the binary's own bundle)."""


@dataclasses.dataclass(frozen=True)
class RollbackPlan:
    """What a rollback does: computed once, for the dry run and the rollback alike. One history entry
    per step repeats its target; `disabled` are the releases rolled back from that no device is
    offered again."""

    channel: Channel
    steps: tuple[RollbackStep, ...]
    disabled: tuple[Release, ...]
    policy: RollbackPolicy

    @property
    def current(self) -> Release | None:
        """The newest release rolled back from."""
        return max((s.current for s in self.steps if s.current is not None), key=lambda r: r.id, default=None)

    @staticmethod
    def fields(step: RollbackStep, policy: RollbackPolicy) -> dict:
        """The new history entry's columns for one step: its target's, narrowed to the step's platform."""
        target = step.target
        bundle = target.bundle if target else None
        return {"bundle": bundle, "kind": "rollback" if bundle else "builtin",
                "rollout": target.rollout if target else 100, "mandatory": target.mandatory if target else False,
                "notes": target.notes if target else "", "origin": target,
                "platform": step.platform or (target.platform if target else None),
                "runtime_version": target.runtime_version if target else None,
                "disabled": bool(target and target.disabled and policy.history_entries)}


def _history_entries(channel: Channel) -> list[Release]:
    """Newest first, deleted releases left out (as every history list shows them)."""
    return list(Release.select().where(channel_releases(channel) & (Release.deleted == False))  # noqa: E712
                .order_by(Release.id.desc()))


def _explicit_target(channel: Channel, to_id) -> Release:
    number = row_id(to_id) if isinstance(to_id, int) else None
    target = Release.get_or_none((Release.id == number) & channel_releases(channel)) if number is not None else None
    if target is None:
        raise NotFound(f"no release {to_id!r} in channel {channel.name!r}")
    return target


def _published_together(release: Release, other: Release) -> bool:
    """Releases rolled back together: one group (one publish, one republish) or one version released
    for each platform."""
    return release.id == other.id or release.group_id == other.group_id or (
        release.bundle_id is not None and other.bundle_id is not None
        and release.bundle.version == other.bundle.version)


def _codepush_plan(channel: Channel, to_builtin: bool, to_id, policy: RollbackPolicy) -> RollbackPlan:
    """code-push-server: from the latest history entry to the one before it (or the one named)."""
    entries = _history_entries(channel)
    current = entries[0] if entries else None
    if to_builtin:
        return RollbackPlan(channel, (RollbackStep(None, current, None),), (), policy)
    if current is None:
        raise Conflict("the channel has no release to roll back", code="nothing_to_roll_back")
    target = _explicit_target(channel, to_id) if to_id is not None else (entries[1] if len(entries) > 1 else None)
    if target is None:
        raise Conflict("there is no earlier release to roll back to; roll back to builtin instead",
                       code="nothing_to_roll_back")
    if target_versions(target) != target_versions(current):
        raise Conflict("cannot roll back to a release for a different app version", code="different_app_version")
    return RollbackPlan(channel, (RollbackStep(None, current, target),), (), policy)


def rollback_plan(channel: Channel, data: dict, policy: RollbackPolicy = OTABOX_ROLLBACK) -> RollbackPlan:
    """The releases rolled back from and the ones gone back to (`toReleaseId`, `toBuiltin`, else the
    release each platform was served before), for every platform or only `platform`'s devices.

    otabox's rollback takes back the newest release together with each other platform's newest one
    published with it (see `_published_together`): every platform then gets what it got before."""
    data = ROLLBACK.validate(data)
    to_builtin, to_id, only = bool(data.get("toBuiltin")), data.get("toReleaseId"), data.get("platform")
    if policy.history_entries:
        return _codepush_plan(channel, to_builtin, to_id, policy)
    enabled = list(Release.select().where(channel_releases(channel) & (Release.disabled == False))  # noqa: E712
                   .order_by(Release.id.desc()))
    bundles = _bundle_views(enabled)
    platforms = (only,) if only else DEVICE_PLATFORMS
    newest = {p: next((r for r in enabled if _for_platform(r, p, bundles)), None) for p in platforms}
    current = newest[only] if only else (enabled[0] if enabled else None)
    if current is None and not to_builtin:
        raise Conflict("the channel has no release to roll back" + (f" for {only}" if only else ""),
                       code="nothing_to_roll_back")
    rolled = {p: r for p, r in newest.items() if r is not None and current is not None
              and _published_together(current, r)}
    explicit = _explicit_target(channel, to_id) if to_id is not None and not to_builtin else None
    targets = {}
    for platform, release in rolled.items():
        if to_builtin or explicit is not None:
            targets[platform] = explicit
            continue
        targets[platform] = next((r for r in enabled if r.id < release.id and r.bundle_id != release.bundle_id
                                  and r not in rolled.values() and _for_platform(r, platform, bundles)), None)
        if targets[platform] is None:
            per_platform = only or len({r.id for r in rolled.values()}) > 1
            raise Conflict("there is no earlier release to roll back to" + (f" for {platform}" if per_platform else "")
                           + "; roll back to builtin instead", code="nothing_to_roll_back")
    if only:
        steps = (RollbackStep(only, current, targets.get(only)),)
        others = [p for p in DEVICE_PLATFORMS if p != only]
        disabled = () if current is None or any(_for_platform(current, p, bundles) for p in others) else (current,)
    else:
        same = len({t.id if t else None for t in targets.values()}) <= 1 and len({r.id for r in rolled.values()}) <= 1
        steps = (RollbackStep(None, current, next(iter(targets.values()), None)),) if same else tuple(
            RollbackStep(p, rolled[p], targets[p]) for p in DEVICE_PLATFORMS if p in rolled)
        disabled = tuple({r.id: r for r in rolled.values()}.values())
    return RollbackPlan(channel, steps, disabled, policy)


def rollback(channel: Channel, data: dict, actor: str, policy: RollbackPolicy = OTABOX_ROLLBACK
             ) -> tuple[list[Release], Release | None]:
    """Re-point a channel to earlier releases (or to the binary's bundle) as new history events, one
    per platform whose releases differ, restoring what each platform was served then (see
    RollbackPolicy). Returns the new entries and the newest release rolled back from."""
    with database.atomic():
        plan = rollback_plan(channel, data, policy)
        if plan.disabled:
            Release.update(disabled=True).where(Release.id.in_([r.id for r in plan.disabled])).execute()
        created = []
        for step in plan.steps:
            release, _ = _append(
                channel, actor, "release.rolled_back", previous=step.current,
                details={"rolledBackFrom": step.current.id if step.current else None, "platform": step.platform},
                **plan.fields(step, policy))
            _note_rollback(step.current, step.target, release, actor)
            created.append(release)
        return created, plan.current


def dry_run(data: dict) -> bool:
    """Whether a request asks only what a change would do (`"dryRun": true`)."""
    return bool(ROLLBACK.validate(data).get("dryRun"))


def preview_rollback(plan: RollbackPlan) -> tuple[list[dict], list[dict]]:
    """What the rollback `plan` would append (one entry per step), and what the channel would then
    serve (`serves`), without changing anything (the CLI's --dry-run; the dashboard shows it before
    the operator confirms)."""
    next_id = (Release.select(fn.MAX(Release.id)).scalar() or 0) + 1
    count = Release.select().where(channel_releases(plan.channel)).count()
    planned, previews = [], []
    for number, step in enumerate(plan.steps):
        fields = plan.fields(step, plan.policy)
        origin, bundle = fields.pop("origin"), fields["bundle"]
        release = Release(id=next_id + number, app=plan.channel.app_id, channel=plan.channel,
                          branch=plan.channel.branch_id,
                          label=f"v{count + number + 1}", original_label=origin.label if origin else None, **fields)
        planned.append(release)
        previews.append({"channel": plan.channel.name, "kind": release.kind, "label": release.label,
                         "platform": release.platform, "bundleId": bundle.id if bundle else None,
                         "bundleVersion": bundle.version if bundle else "builtin", "rollout": release.rollout,
                         "mandatory": release.mandatory,
                         "rolledBackFrom": release_json(step.current) if step.current else None})
    return previews, serves(plan.channel, planned, plan.disabled)


def _shares(rows: list[Release], bundles: dict[int, BundleView], source: Channel, weight: int) -> list[dict]:
    return [{"channel": source.name, "release": release.id if release else None,
             "label": release.label if release else None,
             "version": release.bundle.version if release and release.bundle else "builtin",
             "share": round(share * weight / 100, 2)}
            for release, share in serving_shares(channel_history(rows, bundles))]


def serves(channel: Channel, planned: list[Release] = (), disabled: tuple[Release, ...] = ()) -> list[dict]:
    """What share of the channel's devices each release serves (`{"channel", "platform", "release",
    "label", "version", "share"}`, newest first; release None: the binary's own bundle), with `planned`
    appended and `disabled` disabled when given: once for every platform (`platform` null) when they
    are served alike, else per platform. A channel split sends its share to the other
    branch's history. Shares ignore app-version and runtime-version targeting."""
    split = channel.rollout_branch if channel.rollout_branch_id is not None and channel.rollout_percentage > 0 \
        else None
    parts = [(channel, 100 - channel.rollout_percentage if split else 100)] + ([(split, channel.rollout_percentage)]
                                                                             if split else [])
    gone = {r.id for r in disabled}
    per_platform = {p: [] for p in DEVICE_PLATFORMS}
    for source, weight in parts:
        rows = list(Release.select().where(Release.branch == (channel.branch_id if source == channel else source.id))
                    .order_by(Release.id))
        for row in rows:
            if row.id in gone:
                row.disabled = True
        if source == channel:
            rows.extend(planned)
        bundles = _bundle_views(rows)
        for platform, entries in per_platform.items():
            entries.extend(_shares([r for r in rows if _for_platform(r, platform, bundles)], bundles, source, weight))
    first, *others = per_platform.values()
    if all(entries == first for entries in others):
        return [{"platform": None, **entry} for entry in first]
    return [{"platform": platform, **entry} for platform, entries in per_platform.items() for entry in entries]


def _note_rollback(current: Release | None, target: Release | None, created: Release, actor: str) -> None:
    if current is not None:
        record_event(current.id, "rolled_back", actor, {"releaseId": created.id, "toReleaseId": target.id
                                                        if target else None, "toBuiltin": target is None})
    if target is not None:
        record_event(target.id, "rolled_back_to", actor, {"releaseId": created.id,
                                                          "fromReleaseId": current.id if current else None})


def rollback_scoped(channel: Channel, actor: str, platform: str | None, runtime_version: str | None,
                    target: Release | None) -> Release:
    """Roll back only the devices of one platform (and runtime version): to `target`'s bundle, or
    (None) to the binary's own. Nothing is disabled, so the other devices keep what they had."""
    if target is not None and target.bundle_id is None:
        raise Conflict("the target is itself a rollback to the embedded bundle; roll back without a target",
                       code="nothing_to_roll_back")
    with database.atomic():
        current = current_release(channel)
        created, _ = _append(
            channel, actor, "release.rolled_back", bundle=target.bundle if target else None,
            kind="rollback" if target else "builtin", origin=target, platform=platform,
            runtime_version=runtime_version, mandatory=target.mandatory if target else False,
            notes=target.notes if target else "",
            details={"platform": platform, "runtimeVersion": runtime_version})
        _note_rollback(current, target, created, actor)
        return created


def promote(app: App, source: Channel, target: Channel, data: dict, actor: str,
            release: Release | None = None) -> tuple[Release, Release | None]:
    """Release `release` of the source channel (default: its current one) to the target channel."""
    data = PROMOTION.validate(data)
    rollout = _or(data.get("rollout"), 100)
    mandatory = _or(data.get("mandatory"), False)
    notes = data.get("notes")
    targets = data.get("targetVersions")
    with database.atomic():
        picked = release or current_release(source)
        if picked is None or picked.bundle is None:
            raise Conflict(f"channel {source.name!r} serves no bundle to promote", code="nothing_to_promote")
        created, previous = _append(
            target, actor, "release.promoted", bundle=picked.bundle, kind="promote", rollout=rollout,
            mandatory=mandatory, notes=notes if notes is not None else picked.notes, origin=picked,
            details={"from": source.name, "fromReleaseId": picked.id},
            **({"target_versions": targets} if targets else {}))
        record_event(picked.id, "promoted", actor, {"channel": target.name, "releaseId": created.id})
        return created, previous


def republish(app: App, release: Release, data: dict, actor: str, find_channel) -> tuple[list[Release], str]:
    """AppDispatch's republish: release the same bundle again to each of `channels` (one group)."""
    data = REPUBLISH.validate(data)
    names, message = data["channels"], data.get("releaseMessage")
    if release.bundle_id is None:
        raise Conflict("a rollback to the embedded bundle cannot be republished", code="nothing_to_republish")
    channels = [find_channel(app, name) for name in names]
    group = _group_id(data)
    with database.atomic():
        created = [_append(channel, actor, "release.republished", bundle=release.bundle, kind="release",
                           rollout=_or(data.get("rollout"), 100), mandatory=release.mandatory,
                           notes=message if message is not None else release.notes, origin=release,
                           platform=release.platform, group_id=group,
                           details={"fromReleaseId": release.id})[0] for channel in channels]
        record_event(release.id, "republished", actor, {"releaseIds": [r.id for r in created], "groupId": group})
    return created, group


def clear_history(channel: Channel, actor: str, store) -> int:
    """code-push-server's `deployment clear`: forget a channel's whole release history. Bundles only
    that history used go too (with their blob files); bundles another channel released, or a device
    is pinned to, stay. Returns how many releases were removed."""
    with changing(actor, "channel.history_cleared", "channel", channel.id, {"name": channel.name},
                  app=channel.app_id) as change:
        rows = list(Release.select(Release.id, Release.bundle).where(channel_releases(channel)))
        used = {r.bundle_id for r in rows if r.bundle_id is not None}
        Release.delete().where(channel_releases(channel)).execute()
        CodePushActive.delete().where(CodePushActive.channel == channel).execute()
        kept = {r.bundle_id for r in Release.select(Release.bundle).where(Release.bundle.in_(used))} | {
            d.override_bundle_id for d in Device.select(Device.override_bundle).where(Device.override_bundle.in_(used))}
        orphans = list(Bundle.select().where(Bundle.id.in_(used - kept)))
        digests = blobs_of(orphans)
        for bundle in orphans:
            bundle.delete_instance(recursive=True)
        change.details.update(releases=len(rows), bundlesDeleted=[b.id for b in orphans])
    remove_unreferenced_blobs(store, digests)
    return len(rows)


def count_stat(release_id: int, action: str, amount: int = 1) -> None:
    """Add to a release's counter (upsert that works on SQLite and PostgreSQL)."""
    (ReleaseStat.insert(release=release_id, action=action, count=amount)
     .on_conflict(conflict_target=[ReleaseStat.release, ReleaseStat.action],
                  update={ReleaseStat.count: ReleaseStat.count + amount}).execute())


MAX_ACTIVE_KEYS = 200
"""Labels and app versions with an Active counter per deployment. The names come from the devices'
reports, so past this many the least counted (oldest first) go: a real label or app version counts
many devices, a made-up one the one report that named it."""


def move_active(to: tuple[int, str], away: tuple[int, str] | None) -> None:
    """One device's report that it now runs `to` (channel id, label or app version) after `away`:
    code-push-server's Active counters, up for one and down for the other, in one transaction. Only
    a counter that exists goes down (a report naming a place nobody was recorded in adds no row)."""
    channel_id, key = to
    with database.atomic():
        (CodePushActive.insert(channel=channel_id, key=key[:200], count=1)
         .on_conflict(conflict_target=[CodePushActive.channel, CodePushActive.key],
                      update={CodePushActive.count: CodePushActive.count + 1}).execute())
        if away:
            (CodePushActive.update(count=CodePushActive.count - 1)
             .where((CodePushActive.channel == away[0]) & (CodePushActive.key == away[1][:200])).execute())
        _trim_active(channel_id)


def _trim_active(channel_id: int) -> int:
    rows = CodePushActive.select(CodePushActive.id).where(CodePushActive.channel == channel_id)
    extra = rows.count() - MAX_ACTIVE_KEYS
    if extra <= 0:
        return 0
    dropped = [row.id for row in rows.order_by(CodePushActive.count, CodePushActive.id).limit(extra)]
    return CodePushActive.delete().where(CodePushActive.id.in_(dropped)).execute()


def prune_active() -> int:
    """The janitor's round over the Active counters: those at zero go (a deployment shows 0 for a
    label without one), and every deployment keeps at most MAX_ACTIVE_KEYS (rows stored before the
    bound). Returns how many rows went."""
    with database.atomic():
        removed = CodePushActive.delete().where(CodePushActive.count == 0).execute()
    crowded = (CodePushActive.select(CodePushActive.channel).group_by(CodePushActive.channel)
               .having(fn.COUNT(CodePushActive.id) > MAX_ACTIVE_KEYS))
    for row in list(crowded):
        with database.atomic():
            removed += _trim_active(row.channel_id)
    return removed


def active_counts(channel: Channel) -> dict[str, int]:
    """code-push-server's Active counters of a channel, by label or app version."""
    return {row.key: row.count for row in CodePushActive.select().where(CodePushActive.channel == channel)}


def adoption(channel: Channel, days: int | None = None) -> list[dict]:
    """Devices on the channel by the bundle version they run (seen in the last `days` when given)."""
    rows = (Device.select(Device.bundle_version, fn.COUNT(Device.id).alias("devices"))
            .where((Device.app == channel.app_id) & (Device.channel == channel.name)))
    if days is not None:
        rows = rows.where(Device.last_seen >= utcnow() - dt.timedelta(days=days))
    rows = (rows
            .group_by(Device.bundle_version).order_by(fn.COUNT(Device.id).desc()))
    return [{"version": r.bundle_version or "builtin", "devices": r.devices} for r in rows]
