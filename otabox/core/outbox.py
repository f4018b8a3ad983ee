"""The outbox: events about changes, written in the same transaction as the change itself.

`emit` is called by core operations inside their transaction. It stores the event and one pending
delivery per webhook that wants it; the delivery loop (ops/webhooks.py) sends them afterwards, off
the request that made the change. A change that is committed therefore always has its event, and an
event exists only for a committed change, whatever happens to the process in between (kill -9
included); a delivery whose answer was lost is sent again with the same delivery id (at least once)."""
from __future__ import annotations

import uuid

from ..store.models import App, Delivery, OutboxEvent, Webhook, iso, utcnow

APPDISPATCH_EVENTS = {"build.uploaded": ("bundle.created",),
                      "build.published": ("release.created", "release.republished"),
                      "update.created": ("release.created", "release.promoted", "release.republished"),
                      "update.rolled_back": ("release.rolled_back",)}
"""AppDispatch's webhook event names and the otabox events each stands for (channel.updated,
flag.updated, rollout.advanced and rollout.rolled_back have the same name in both). A webhook that
names one of them gets a copy of the otabox event under that name; "*" means otabox's names only,
so no change is told twice."""
EVENTS = ("bundle.created", "release.created", "release.updated", "release.rolled_back", "release.promoted",
          "rollout.advanced", "rollout.paused", "rollout.completed", "rollout.rolled_back",
          "health.threshold_exceeded", "channel.updated", "flag.updated", "app.created", "deployment.released",
          *APPDISPATCH_EVENTS)
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
    """Record `event` for every active webhook that wants it (call inside the change's transaction),
    and its AppDispatch names for the webhooks that name them.

    `webhooks` limits the recipients (a test delivery); by default every matching active one."""
    app_id = app.id if app is not None else None
    if webhooks is not None:
        return _record(event, app, data, webhooks)
    active = list(Webhook.select().where(Webhook.is_active == True))  # noqa: E712
    for name, sources in APPDISPATCH_EVENTS.items():
        if event in sources:
            _record(name, app, data, [w for w in active if name in w.events and wants(w, name, app_id)])
    return _record(event, app, data, [w for w in active if wants(w, event, app_id)])


def _record(event: str, app: App | None, data: dict, webhooks: list[Webhook]) -> OutboxEvent | None:
    if not webhooks:
        return None
    now = utcnow()
    row = OutboxEvent.create(id=new_id("evt"), event=event, app_id=app.id if app is not None else None,
                             created_at=now, payload={"event": event, "createdAt": iso(now),
                                                      "app": app_summary(app), "data": data})
    Delivery.insert_many([{"id": new_id("dlv"), "outbox_event": row.id, "webhook": w.id, "next_attempt_at": now,
                           "created_at": now} for w in webhooks]).execute()
    return row


def body_of(row: OutboxEvent) -> dict:
    """The delivered JSON: {id, event, createdAt, app, data}."""
    return {"id": row.id, **row.payload}
