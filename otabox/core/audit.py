"""The audit log: every management mutation, who did it and what changed (entries are written by
`change.changing`, with the change they tell about)."""
from __future__ import annotations

from ..errors import BadRequest
from ..store.models import AuditEntry, iso


class Actor(str):
    """Who acts: the name the audit log and release history show (a person's email, an API key's
    name, or "cli"), which also remembers the token the request came with (None for a dashboard
    session or the CLI), so every core operation that takes an actor string records both."""

    token: str | None

    def __new__(cls, name: str, token: str | None = None):
        actor = super().__new__(cls, name)
        actor.token = token
        return actor


ENTITY_TYPES = ("app", "branch", "bundle", "channel", "context", "device", "embedded_bundle", "flag", "key", "release",
                "rollout_execution", "rollout_policy", "secret", "segment", "signing_key", "token", "upload", "user",
                "user_override", "webhook")
"""The entity types entries are recorded under (tests/core/test_audit_vocabulary.py keeps it whole)."""
ACTION_FAMILIES = ("app", "branch", "bundle", "channel", "collaborator", "context", "device", "embedded_bundle",
                   "flag", "key", "patch", "release", "rollout", "rollout_policy", "secret_key", "segment",
                   "signing_key", "token", "upload", "url_key", "user", "user_override", "webhook")
"""What actions begin with before their dot (`release.created`), kept whole by the same test."""


def entry_json(entry: AuditEntry) -> dict:
    return {"id": entry.id, "at": iso(entry.at), "actor": entry.actor, "token": entry.token, "action": entry.action,
            "entityType": entry.entity_type, "entityId": entry.entity_id, "details": entry.details}


def check_action(action: str) -> None:
    """Refuse an action no entry can have (`bogus`, `relase.created`): an empty list would read as
    "nothing happened", so it is a 400 listing the families, as AppDispatch's audit filter answers.
    A known family with a verb nothing recorded yet (`release.archived`) is an honest empty list."""
    family, _, verb = action.partition(".")
    if not verb or family not in ACTION_FAMILIES:
        raise BadRequest(f"unknown action {action!r}: give <family>.<verb> (e.g. release.created) with <family> "
                         f"one of {', '.join(ACTION_FAMILIES)}",
                         details={"field": "action", "accepted": list(ACTION_FAMILIES)})


def query(limit: int = 100, before: int | None = None, action: str | tuple[str, ...] | None = None,
          entity_type: str | None = None, entity_id: str | None = None, app_id: int | None = None) -> list[dict]:
    """The newest entries first; `app_id`: only that app's; `action`: one action or any of several."""
    if isinstance(action, str) and action:
        check_action(action)
    rows = AuditEntry.select().order_by(AuditEntry.id.desc()).limit(limit)
    if app_id is not None:
        rows = rows.where(AuditEntry.app_id == app_id)
    if before:
        rows = rows.where(AuditEntry.id < before)
    if isinstance(action, tuple):
        rows = rows.where(AuditEntry.action.in_(action))
    elif action:
        rows = rows.where(AuditEntry.action == action)
    if entity_type:
        rows = rows.where(AuditEntry.entity_type == entity_type)
    if entity_id:
        rows = rows.where(AuditEntry.entity_id == entity_id)
    return [entry_json(e) for e in rows]
