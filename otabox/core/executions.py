"""Rollout executions as records: their JSON, their event log, and ending them.

policies.py drives executions (start, advance, pause, roll back); this lower module holds what
releases.py needs too: a new release, promotion or rollback on a channel ends the executions still
running there, since the release they walk is no longer what the channel serves."""
from __future__ import annotations

from ..store.models import ExecutionEvent, Release, RolloutExecution, iso, utcnow
from .change import changing

ACTIVE = ("running", "paused")
STATUSES = ("running", "paused", "completed", "rolled_back", "cancelled")
WEBHOOK_EVENTS = {"advanced": "rollout.advanced", "paused": "rollout.paused", "completed": "rollout.completed",
                  "rolled_back": "rollout.rolled_back", "threshold_exceeded": "health.threshold_exceeded"}
"""Execution events that are also webhook events."""


def event_json(event: ExecutionEvent) -> dict:
    return {"at": iso(event.at), "kind": event.kind, "stage": event.stage, "percentage": event.percentage,
            "actor": event.actor, "details": event.details}


def execution_json(execution: RolloutExecution, with_events: bool = True) -> dict:
    release = execution.release
    data = {"id": execution.id, "releaseId": execution.release_id, "policyId": execution.policy_id,
            "policyName": execution.policy_name, "status": execution.status, "stage": execution.stage,
            "stages": len(execution.policy.stages) if execution.policy_id else None,
            "percentage": release.rollout, "channel": release.channel.name,
            "bundleVersion": release.bundle.version if release.bundle_id else "builtin",
            "stageStartedAt": iso(execution.stage_started_at), "createdAt": iso(execution.created_at),
            "updatedAt": iso(execution.updated_at)}
    if with_events:
        data["events"] = [event_json(e) for e in execution.events.order_by(ExecutionEvent.id)]
    return data


def log(execution: RolloutExecution, kind: str, actor: str, details: dict | None = None,
        percentage: int | None = None) -> None:
    """Append to the execution's own log and the audit log; tell webhooks what they subscribe to.
    Call inside the transaction that changed the execution."""
    release = Release.get_by_id(execution.release_id)
    percentage = release.rollout if percentage is None else percentage
    with changing(actor, f"rollout.{kind}", "rollout_execution", execution.id,
                  {"releaseId": execution.release_id, "policy": execution.policy_name, "stage": execution.stage,
                   "percentage": percentage, **(details or {})}, signal=None, app=release.app_id) as change:
        ExecutionEvent.create(execution=execution.id, kind=kind, stage=execution.stage, percentage=percentage,
                              actor=actor, details=details or {})
        if kind in WEBHOOK_EVENTS:
            fresh = RolloutExecution.get_by_id(execution.id)
            change.emit(WEBHOOK_EVENTS[kind], release.app, {"execution": execution_json(fresh, with_events=False),
                                                            **(details or {})})


def set_status(execution: RolloutExecution, status: str, expected: tuple[str, ...], **changes) -> bool:
    """Compare-and-set: change the execution only if its status is still one of `expected` (and its
    stage still the one read), so two evaluators can never both act on one state."""
    updated = (RolloutExecution.update(status=status, updated_at=utcnow(), **changes)
               .where((RolloutExecution.id == execution.id) & RolloutExecution.status.in_(expected)
                      & (RolloutExecution.stage == execution.stage)).execute())
    if updated:
        execution.status = status
        for name, value in changes.items():
            setattr(execution, name, value)
    return bool(updated)


def _end(query, status: str, actor: str, details: dict) -> None:
    for execution in query.where(RolloutExecution.status.in_(ACTIVE)):
        if set_status(execution, status, ACTIVE):
            log(execution, "rolled_back" if status == "rolled_back" else "cancelled", actor, details)


def end_for_branch(branch_id: int, status: str, actor: str, details: dict) -> None:
    """End the executions running on a branch whose history just moved on."""
    releases = Release.select(Release.id).where(Release.branch == branch_id)
    _end(RolloutExecution.select().where(RolloutExecution.release.in_(releases)), status, actor, details)


def end_for_release(release_id: int, status: str, actor: str, details: dict) -> None:
    _end(RolloutExecution.select().where(RolloutExecution.release == release_id), status, actor, details)
