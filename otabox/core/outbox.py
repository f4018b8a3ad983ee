"""The outbox: events about changes, written in the same transaction as the change itself.

`emit` is called by core operations inside their transaction. It stores the event and one pending
delivery per webhook that wants it; the delivery loop (ops/webhooks.py) sends them afterwards, off
the request that made the change. A change that is committed therefore always has its event, and an
event exists only for a committed change, whatever happens to the process in between (kill -9
included); a delivery whose answer was lost is sent again with the same delivery id (at least once)."""
from __future__ import annotations

import uuid

from ..store.models import App, Delivery, OutboxEvent, Webhook, iso, utcnow

EVENTS = ("bundle.created", "release.created", "release.updated", "release.rolled_back", "release.promoted",
          "rollout.advanced", "rollout.paused", "rollout.completed", "rollout.rolled_back",
          "health.threshold_exceeded", "channel.updated", "app.created", "deployment.released")
"""`deployment.released` is the CodePush multi-tenant server's event: every new entry in a channel's
history (release, promotion, rollback), with the entry in code-push-server's package shape."""
TEST_EVENT = "webhook.test"


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def app_summary(app: App | None) -> dict | None:
    return {"id": app.id, "slug": app.slug, "name": app.name} if app is not None else None


def wants(webhook: Webhook, event: str, app_id: int | None) -> bool:
    return (webhook.app_id is None or webhook.app_id == app_id) and (event in webhook.events or "*" in webhook.events)


def emit(event: str, app: App | None, data: dict, webhooks: list[Webhook] | None = None) -> OutboxEvent | None:
    """Record `event` for every active webhook that wants it (call inside the change's transaction).

    `webhooks` limits the recipients (a test delivery); by default every matching active one."""
    app_id = app.id if app is not None else None
    if webhooks is None:
        webhooks = [w for w in Webhook.select().where(Webhook.is_active == True)  # noqa: E712
                    if wants(w, event, app_id)]
    if not webhooks:
        return None
    now = utcnow()
    row = OutboxEvent.create(id=new_id("evt"), event=event, app_id=app_id, created_at=now, payload={
        "event": event, "createdAt": iso(now), "app": app_summary(app), "data": data})
    Delivery.insert_many([{"id": new_id("dlv"), "outbox_event": row.id, "webhook": w.id, "next_attempt_at": now,
                           "created_at": now} for w in webhooks]).execute()
    return row


def body_of(row: OutboxEvent) -> dict:
    """The delivered JSON: {id, event, createdAt, app, data}."""
    return {"id": row.id, **row.payload}
