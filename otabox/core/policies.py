"""Rollout policies and the executions that follow them.

A policy is a list of stages (`percentage`, `minDevices`, `minServedDevices`, `minDurationMinutes`)
and thresholds (`errorRate`, `crashRate` in percent of launches, `minLaunches`, `action`). A release
started under a policy begins at its first stage's percentage, and an execution records where it is.
`evaluate` (run by the scheduler, ops/scheduler.py) moves each running execution on: once the current
stage has lasted `minDurationMinutes`, `minDevices` distinct devices reported an `app_launch` on the
release and `minServedDevices` devices were served it by a check, the rollout rises to the next stage
(or, at the last stage, the execution completes); once the release has `minLaunches` launches and its
crash or error rate exceeds a threshold, the execution pauses or rolls the channel back with the same
operation as a manual rollback. Actions taken by the policy name it as their actor (`policy:<name>`).

Health reports carry only the public client key, so the figures a policy reads are those of devices
a check served the release (core/health.served_totals). With `requireServedDevices` (the default) no
other device counts; without it, at most `OTABOX_POLICY_UNATTESTED_DEVICES` others do, for clients
that report under an id their checks do not send. Of those, at most `OTABOX_POLICY_DEVICES_PER_NETWORK`
per client network count (the first that reported), each with its crashes up to its launches, and a
threshold is judged only once at least `MIN_DEVICES_TO_JUDGE` launched devices count, no fewer than
the stage's `minDevices` and `minServedDevices`, on two networks or more (when networks are weighed):
one phone, or one address making up ids, never decides a rollback."""
from __future__ import annotations

import datetime as dt

from ..errors import BadRequest, Conflict, NotFound
from ..fields import Boolean, Choice, ListOf, Nested, Number, Percentage, Schema, Text, Whole
from ..store.models import App, Release, RolloutExecution, RolloutPolicy, database, iso, row_id, utcnow
from . import executions, health, releases
from .change import changing
from .executions import ACTIVE

ACTIONS = ("auto-rollback", "pause")
DEFAULT_ACTION = "auto-rollback"
DEFAULT_MIN_LAUNCHES = 50
MAX_STAGES = 20
MAX_MINUTES = 366 * 24 * 60
MAX_DEVICES = 10**9
MIN_DEVICES_TO_JUDGE = 2
DEVICES_PER_NETWORK = 3
"""OTABOX_POLICY_DEVICES_PER_NETWORK's default (see otabox/config.py)."""


# --- policies ------------------------------------------------------------------------------------

STAGE = Schema({"percentage": Percentage(low=1, required=True),
                "minDevices": Whole(0, MAX_DEVICES, nullable=True, description="Default 0"),
                "minServedDevices": Whole(0, MAX_DEVICES, nullable=True,
                                          description="Default 0: devices a check served the release to"),
                "minDurationMinutes": Number(0, MAX_MINUTES, nullable=True, description="Default 0")})
THRESHOLDS = Schema({"errorRate": Number(0, 100, nullable=True), "crashRate": Number(0, 100, nullable=True),
                     "minLaunches": Whole(0, MAX_DEVICES, nullable=True,
                                          description=f"Default {DEFAULT_MIN_LAUNCHES}"),
                     "action": Choice(ACTIONS, nullable=True, description=f"Default {DEFAULT_ACTION}")})
POLICY = Schema({"name": Text(100, min_length=1, strip=True),
                 "stages": ListOf(Nested(STAGE), min_items=1, max_items=MAX_STAGES,
                                  expected=f"a list of 1 to {MAX_STAGES} stages"),
                 "thresholds": Nested(THRESHOLDS, nullable=True),
                 "requireServedDevices": Boolean(nullable=True, description="Default true: count only devices "
                                                                            "a check served the release to")})
"""A rollout policy's fields (a change sends some of them; a new policy needs name and stages)."""
NEW_POLICY = POLICY.extend({"name": POLICY.fields["name"].but(required=True),
                            "stages": POLICY.fields["stages"].but(required=True)})


def _or(value, default):
    return default if value is None else value


def parse_stages(raw: list[dict]) -> list[dict]:
    """Clean stages (STAGE) with their defaults; percentages must rise."""
    stages = []
    for stage in raw:
        parsed = {"percentage": stage["percentage"], "minDevices": _or(stage.get("minDevices"), 0),
                  "minServedDevices": _or(stage.get("minServedDevices"), 0),
                  "minDurationMinutes": _or(stage.get("minDurationMinutes"), 0)}
        if stages and parsed["percentage"] <= stages[-1]["percentage"]:
            raise BadRequest("stage percentages must rise from one stage to the next",
                             details={"field": "percentage"})
        stages.append(parsed)
    return stages


def parse_thresholds(raw: dict | None) -> dict:
    """Clean thresholds (THRESHOLDS) with their defaults."""
    raw = raw or {}
    return {"errorRate": raw.get("errorRate"), "crashRate": raw.get("crashRate"),
            "minLaunches": _or(raw.get("minLaunches"), DEFAULT_MIN_LAUNCHES),
            "action": _or(raw.get("action"), DEFAULT_ACTION)}


def _active_executions(policy: RolloutPolicy):
    return RolloutExecution.select().where((RolloutExecution.policy == policy) & RolloutExecution.status.in_(ACTIVE))


def policy_json(policy: RolloutPolicy) -> dict:
    return {"id": policy.id, "appId": policy.app_id, "name": policy.name, "stages": policy.stages,
            "thresholds": policy.thresholds, "requireServedDevices": policy.require_served_devices,
            "activeExecutions": _active_executions(policy).count(),
            "createdAt": iso(policy.created_at), "updatedAt": iso(policy.updated_at)}


def _ensure_unique(app: App, name: str, policy_id: int | None = None) -> None:
    query = RolloutPolicy.select().where((RolloutPolicy.app == app) & (RolloutPolicy.name == name))
    if policy_id is not None:
        query = query.where(RolloutPolicy.id != policy_id)
    if query.exists():
        raise Conflict(f"a rollout policy named {name!r} exists already", code="duplicate_policy")


def create_policy(app: App, data: dict, actor: str) -> RolloutPolicy:
    data = NEW_POLICY.validate(data)
    name, stages, thresholds = data["name"], parse_stages(data["stages"]), parse_thresholds(data.get("thresholds"))
    require_served = _or(data.get("requireServedDevices"), True)
    with changing(actor, "rollout_policy.created", "rollout_policy",
                  details={"app": app.slug, "name": name, "stages": stages, "thresholds": thresholds,
                           "requireServedDevices": require_served}, signal=None, app=app) as change:
        _ensure_unique(app, name)
        policy = RolloutPolicy.create(app=app, name=name, stages=stages, thresholds=thresholds,
                                      require_served_devices=require_served)
        change.entity_id = policy.id
    return policy


def _find(model, app: App, raw_id, what: str):
    """The app's row of `model` with this id (from a URL or JSON), or NotFound."""
    number = row_id(raw_id)
    row = model.get_or_none((model.id == number) & (model.app == app)) if number is not None else None
    if row is None:
        raise NotFound(f"no {what} {raw_id!r} in app {app.slug!r}")
    return row


def find_policy(app: App, policy_id) -> RolloutPolicy:
    """By id, or (as `policyId` is documented: an id or a name) by the name a policy is unique by."""
    if isinstance(policy_id, str) and row_id(policy_id) is None:
        policy = RolloutPolicy.get_or_none((RolloutPolicy.app == app) & (RolloutPolicy.name == policy_id))
        if policy is not None:
            return policy
    return _find(RolloutPolicy, app, policy_id, "rollout policy")


def list_policies(app: App) -> list[RolloutPolicy]:
    return list(RolloutPolicy.select().where(RolloutPolicy.app == app).order_by(RolloutPolicy.id))


def update_policy(policy: RolloutPolicy, data: dict, actor: str) -> RolloutPolicy:
    data = POLICY.validate(data)
    changes = {}
    if data.get("name") is not None:
        changes["name"] = data["name"]
    if data.get("stages") is not None:
        changes["stages"] = parse_stages(data["stages"])
    if "thresholds" in data:
        changes["thresholds"] = parse_thresholds(data["thresholds"])
    if data.get("requireServedDevices") is not None:
        changes["require_served_devices"] = data["requireServedDevices"]
    if not changes:
        raise BadRequest("nothing to change: send name, stages, thresholds or requireServedDevices")
    with changing(actor, "rollout_policy.updated", "rollout_policy", policy.id, changes, signal=None,
                  app=policy.app_id):
        if _active_executions(policy).exists():
            raise Conflict("the policy cannot change while one of its executions runs; pause is not enough: "
                           "cancel or finish it first", code="policy_in_use")
        if "name" in changes:
            _ensure_unique(policy.app, changes["name"], policy.id)
        RolloutPolicy.update(**changes, updated_at=utcnow()).where(RolloutPolicy.id == policy.id).execute()
    return RolloutPolicy.get_by_id(policy.id)


def delete_policy(policy: RolloutPolicy, actor: str) -> None:
    with changing(actor, "rollout_policy.deleted", "rollout_policy", policy.id, {"name": policy.name}, signal=None,
                  app=policy.app_id):
        if _active_executions(policy).exists():
            raise Conflict("the policy is in use by a running or paused execution", code="policy_in_use")
        policy.delete_instance()


# --- starting a release under a policy --------------------------------------------------------------

def start_release(app: App, data: dict, actor: str, find_bundle, find_channel) -> tuple[Release, Release | None,
                                                                                      RolloutExecution]:
    """`POST .../releases` with a `policyId`: the release starts at the first stage's percentage."""
    policy = find_policy(app, data.get("policyId"))
    if data.get("rollout") is not None:
        raise BadRequest("a release under a policy starts at the policy's first stage; leave rollout out",
                         details={"field": "rollout"})
    with database.atomic():
        release, previous = releases.create_release(app, {**data, "rollout": policy.stages[0]["percentage"]}, actor,
                                                    find_bundle, find_channel)
        execution = RolloutExecution.create(app=app, release=release, policy=policy, policy_name=policy.name,
                                            status="running", stage=1)
        executions.log(execution, "started", actor, {"policyId": policy.id})
    return release, previous, execution


# --- executions ------------------------------------------------------------------------------------

def find_execution(app: App, execution_id) -> RolloutExecution:
    return _find(RolloutExecution, app, execution_id, "rollout execution")


def list_executions(app: App, status: str | None, limit: int, offset: int, release_id: int | None = None
                    ) -> tuple[list[RolloutExecution], int]:
    query = RolloutExecution.select().where(RolloutExecution.app == app)
    if release_id is not None:
        query = query.where(RolloutExecution.release == release_id)
    if status:
        query = query.where(RolloutExecution.status == status)
    return list(query.order_by(RolloutExecution.id.desc()).limit(limit).offset(offset)), query.count()


def _conflict(execution: RolloutExecution, verb: str) -> Conflict:
    return Conflict(f"cannot {verb} an execution that is {execution.status}", code="invalid_execution_state",
                    details={"status": execution.status})


def _transition(execution: RolloutExecution, verb: str, kind: str, status: str, expected: tuple[str, ...],
                actor: str) -> RolloutExecution:
    with database.atomic():
        execution = RolloutExecution.get_by_id(execution.id)
        if execution.status not in expected or not executions.set_status(execution, status, expected):
            raise _conflict(execution, verb)
        executions.log(execution, kind, actor)
    return RolloutExecution.get_by_id(execution.id)


def pause(execution: RolloutExecution, actor: str) -> RolloutExecution:
    return _transition(execution, "pause", "paused", "paused", ("running",), actor)


def resume(execution: RolloutExecution, actor: str) -> RolloutExecution:
    return _transition(execution, "resume", "resumed", "running", ("paused",), actor)


def cancel(execution: RolloutExecution, actor: str) -> RolloutExecution:
    return _transition(execution, "cancel", "cancelled", "cancelled", ACTIVE, actor)


def advance(execution: RolloutExecution, actor: str) -> RolloutExecution:
    """Move to the next stage now, whatever its gates say (or complete at the last stage)."""
    with database.atomic():
        execution = RolloutExecution.get_by_id(execution.id)
        if execution.status not in ACTIVE or execution.policy_id is None:
            raise _conflict(execution, "advance")
        if not _step(execution, actor, {"reason": "advanced by hand"}):
            raise _conflict(execution, "advance")
    return RolloutExecution.get_by_id(execution.id)


def _step(execution: RolloutExecution, actor: str, details: dict) -> bool:
    """Raise the rollout to the next stage, or complete at the last one (inside a transaction)."""
    stages = execution.policy.stages
    status = execution.status
    if execution.stage >= len(stages):
        if not executions.set_status(execution, "completed", (status,)):
            return False
        executions.log(execution, "completed", actor, details)
        return True
    stage = stages[execution.stage]
    if not executions.set_status(execution, status, (status,), stage=execution.stage + 1,
                                 stage_started_at=utcnow()):
        return False
    releases.update_release(Release.get_by_id(execution.release_id), {"rollout": stage["percentage"]}, actor)
    executions.log(execution, "advanced", actor, details, percentage=stage["percentage"])
    return True


def actor_of(execution: RolloutExecution) -> str:
    return f"policy:{execution.policy_name}"


def breach(found: health.Totals, thresholds: dict, stage: dict, networks_weighed: bool = True) -> dict | None:
    """The first threshold the release's figures exceed, or None: also below minLaunches, below
    MIN_DEVICES_TO_JUDGE launched devices or the stage's minDevices and minServedDevices, and (when
    `networks_weighed`) with all of them on one network."""
    devices = max(MIN_DEVICES_TO_JUDGE, stage.get("minDevices", 0), stage.get("minServedDevices", 0))
    if found.launches < thresholds.get("minLaunches", DEFAULT_MIN_LAUNCHES) or not found.launches \
            or found.launched_devices < devices or (networks_weighed and found.networks < 2):
        return None
    figures = found.rates()
    for metric in ("crashRate", "errorRate"):
        limit = thresholds.get(metric)
        if limit is not None and figures[metric] > limit:
            return {"metric": metric, "value": figures[metric], "threshold": limit, "launches": found.launches,
                    "crashes": found.crashes, "jsErrors": found.js_errors, "launchedDevices": found.launched_devices,
                    "networks": found.networks, "action": thresholds["action"]}
    return None


def evaluate(execution_id: int, now: dt.datetime | None = None, unattested_allowance: int = 0,
             devices_per_network: int = DEVICES_PER_NETWORK) -> str | None:
    """Move one running execution on if it should; returns what happened (None: nothing). A policy
    without requireServedDevices counts at most `unattested_allowance` devices no check served; at
    most `devices_per_network` devices count per client network (0: any number).
    One transaction, and every change is a compare-and-set on the state read, so running it twice
    at once (two processes) acts once."""
    now = now or utcnow()
    with database.atomic():
        execution = RolloutExecution.get_or_none(RolloutExecution.id == execution_id)
        if execution is None or execution.status != "running" or execution.policy_id is None:
            return None
        actor = actor_of(execution)
        release = Release.get_by_id(execution.release_id)
        current = releases.current_release(release.channel)
        if release.disabled or current is None or current.id != release.id:
            if executions.set_status(execution, "cancelled", ("running",)):
                executions.log(execution, "cancelled", actor, {"reason": "the release is no longer served"})
                return "cancelled"
            return None
        policy = execution.policy
        found = health.served_totals(release.id, 0 if policy.require_served_devices else unattested_allowance,
                                     devices_per_network)
        stage = policy.stages[execution.stage - 1]
        exceeded = breach(found, policy.thresholds, stage, networks_weighed=devices_per_network > 0)
        if exceeded:
            return _act_on_breach(execution, release, exceeded, actor)
        waited = (now - execution.stage_started_at).total_seconds()
        if waited >= stage["minDurationMinutes"] * 60 and found.launched_devices >= stage["minDevices"] \
                and _served_enough(release.id, stage.get("minServedDevices", 0)):
            last = execution.stage >= len(policy.stages)
            if _step(execution, actor, {"launchedDevices": found.launched_devices, "launches": found.launches,
                                        **found.rates()}):
                return "completed" if last else "advanced"
    return None


def _served_enough(release_id: int, wanted: int) -> bool:
    return not wanted or health.served_devices(release_id) >= wanted


def _act_on_breach(execution: RolloutExecution, release: Release, exceeded: dict, actor: str) -> str | None:
    status = "paused" if exceeded["action"] == "pause" else "rolled_back"
    if not executions.set_status(execution, status, ("running",)):
        return None
    executions.log(execution, "threshold_exceeded", actor, exceeded)
    executions.log(execution, status, actor, {"reason": f"{exceeded['metric']} above the threshold"})
    if status == "rolled_back":
        channel = release.channel
        try:
            releases.rollback(channel, {}, actor)
        except Conflict:  # the channel's first release: devices go back to their binary's bundle
            releases.rollback(channel, {"toBuiltin": True}, actor)
    return status


def evaluate_running(now: dt.datetime | None = None, unattested_allowance: int = 0,
                     devices_per_network: int = DEVICES_PER_NETWORK) -> dict[int, str]:
    """Evaluate every running execution (see `evaluate`); returns what happened to each that moved."""
    moved = {}
    for (execution_id,) in RolloutExecution.select(RolloutExecution.id).where(
            RolloutExecution.status == "running").order_by(RolloutExecution.id).tuples():
        outcome = evaluate(execution_id, now, unattested_allowance, devices_per_network)
        if outcome:
            moved[execution_id] = outcome
    return moved

