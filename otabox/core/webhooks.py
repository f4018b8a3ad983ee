"""Webhooks: who is told about which events, and how a delivery is signed and shaped.

A webhook's secret is generated when not given and shown once (in the reply that creates it); it is
stored sealed (security.sealing), since signing needs the secret itself. Every delivery carries
`X-Otabox-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`; a receiver
recomputes it over the raw body and compares in constant time, and rejects old `t` values to stop
replays. The sending itself is ops/webhooks.py."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
import time

from ..errors import BadRequest, Invalid, NotFound
from ..fields import Boolean, Choice, IdOrName, ListOf, Schema, Text
from ..security.egress import EgressRefused, resolve
from ..store.models import App, Delivery, DeliveryAttempt, OutboxEvent, Webhook, database, iso, row_id, utcnow
from . import outbox
from .apps import find_app
from .change import changing

FORMATS = ("json", "slack", "codepush")
"""json: otabox's envelope; slack: a line of text; codepush: the CodePush multi-tenant server's flat
`deployment.released` body (such a webhook hears that event only)."""
CODEPUSH_EVENTS = ["deployment.released"]
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
DELIVERY_STATUSES = (PENDING, DELIVERED, FAILED)
"""A delivery is pending until an attempt succeeds (delivered) or the last attempt fails (failed)."""
SECRET_PREFIX = "whsec_"
SIGNATURE_HEADER = "X-Otabox-Signature"
MAX_EVENTS = 50


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, body: bytes, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, body: bytes, header: str, tolerance: int = 300, now: float | None = None) -> bool:
    """What a receiver does: parse the header, recompute, compare in constant time, bound the age."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    if not fields.get("t", "").isdecimal() or "v1" not in fields:
        return False
    timestamp = int(fields["t"])
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = signature(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields["v1"])


def seal_context(webhook_id: int) -> bytes:
    """Binds a sealed secret to its webhook, so a sealed value copied to another row does not open."""
    return f"webhook:{webhook_id}".encode()


def webhook_json(webhook: Webhook) -> dict:
    return {"id": webhook.id, "url": webhook.url, "events": webhook.events, "appId": webhook.app_id,
            "isActive": webhook.is_active, "format": webhook.format, "createdAt": iso(webhook.created_at),
            "updatedAt": iso(webhook.updated_at)}


WEBHOOK = Schema({
    "url": Text(2000, min_length=1), "events": ListOf(Choice(("*", *outbox.EVENTS)), min_items=1, max_items=MAX_EVENTS,
                                                      expected=f"a list of event names ({', '.join(outbox.EVENTS)}) "
                                                               "or [\"*\"]"),
    "isActive": Boolean(), "format": Choice(FORMATS),
    "appId": IdOrName(nullable=True, description="Only this app's events (null: every app's)"),
    "secret": Text(200, min_length=16, nullable=True, description="Default: a new random secret")})
NEW_WEBHOOK = WEBHOOK.extend({"url": WEBHOOK.fields["url"].but(required=True)})


def _url(value, allow_private: bool) -> str:
    try:
        resolve(value, allow_private)
    except EgressRefused as exc:
        raise Invalid(f"the webhook URL is refused: {exc}", code="webhook_url_refused",
                      details={"field": "url"}) from None
    return value


def _fields(data: dict, allow_private: bool, creating: bool) -> dict:
    """Validated (NEW_WEBHOOK or WEBHOOK) columns of a webhook."""
    data = (NEW_WEBHOOK if creating else WEBHOOK).validate(data)
    fields = {}
    if "url" in data:
        fields["url"] = _url(data["url"], allow_private)
    if creating or "events" in data:
        default = CODEPUSH_EVENTS if data.get("format") == "codepush" else ["*"]
        fields["events"] = sorted(set(data.get("events", default)))
    if "isActive" in data:
        fields["is_active"] = data["isActive"]
    if "format" in data:
        fields["format"] = data["format"]
    if "appId" in data:
        fields["app"] = None if data["appId"] is None else _app(data["appId"])
    return fields


def _check_format(format: str, events: list[str]) -> None:
    if format == "codepush" and events != CODEPUSH_EVENTS:
        raise BadRequest("a webhook in the codepush format hears deployment.released only",
                         details={"field": "events"})


def _app(value) -> App:
    try:
        return find_app(str(value))
    except NotFound:
        raise BadRequest(f"no app {value!r}", details={"field": "appId"}) from None


def create_webhook(data: dict, actor: str, sealer, allow_private: bool) -> tuple[Webhook, str]:
    """The new webhook and its secret (shown this once)."""
    fields = _fields(data, allow_private, creating=True)
    _check_format(fields.get("format", "json"), fields["events"])
    secret = data.get("secret") or new_secret()
    with changing(actor, "webhook.created", "webhook", signal=None) as change:
        webhook = Webhook.create(**fields, secret_sealed="")
        Webhook.update(secret_sealed=sealer.seal(secret, seal_context(webhook.id))).where(
            Webhook.id == webhook.id).execute()
        change.entity_id, change.app_id = webhook.id, webhook.app_id
        change.details = {"url": webhook.url, "events": webhook.events, "appId": webhook.app_id}
    return Webhook.get_by_id(webhook.id), secret


def find_webhook(webhook_id) -> Webhook:
    number = row_id(webhook_id)
    webhook = Webhook.get_or_none(Webhook.id == number) if number is not None else None
    if webhook is None:
        raise NotFound(f"no webhook {webhook_id!r}")
    return webhook


def list_webhooks(app_id: int | None = None) -> list[Webhook]:
    query = Webhook.select().order_by(Webhook.id)
    if app_id is not None:
        query = query.where(Webhook.app == app_id)
    return list(query)


def update_webhook(webhook: Webhook, data: dict, actor: str, sealer, allow_private: bool) -> Webhook:
    fields = _fields(data, allow_private, creating=False)
    _check_format(fields.get("format", webhook.format), fields.get("events", webhook.events))
    if data.get("secret") is not None:
        fields["secret_sealed"] = sealer.seal(data["secret"], seal_context(webhook.id))
    if not fields:
        raise BadRequest("nothing to change: send url, events, appId, isActive, format or secret")
    shown = {k: ("(new)" if k == "secret" else v) for k, v in data.items()
             if k != "secret" or "secret_sealed" in fields}
    with changing(actor, "webhook.updated", "webhook", webhook.id, shown, signal=None, app=webhook.app_id):
        Webhook.update(**fields, updated_at=utcnow()).where(Webhook.id == webhook.id).execute()
    return Webhook.get_by_id(webhook.id)


def delete_webhook(webhook: Webhook, actor: str) -> None:
    with changing(actor, "webhook.deleted", "webhook", webhook.id, {"url": webhook.url}, signal=None,
                  app=webhook.app_id):
        webhook.delete_instance(recursive=True)


def secret_of(webhook: Webhook, sealer) -> str:
    return sealer.unseal(webhook.secret_sealed, seal_context(webhook.id))


def queue_test(webhook: Webhook) -> Delivery:
    """A `webhook.test` event for this webhook alone, as a delivery the caller sends at once."""
    with database.atomic():
        row = outbox.emit(outbox.TEST_EVENT, webhook.app, {"webhookId": webhook.id, "message": "otabox test event"},
                          webhooks=[webhook])
        return Delivery.get(Delivery.outbox_event == row.id)


# --- what a delivery sends ---------------------------------------------------------------------------

def slack_text(body: dict) -> str:
    """One line a person reads in a Slack channel."""
    data, app = body.get("data") or {}, body.get("app") or {}
    where = f"[{app.get('slug')}] " if app else ""
    release = data.get("release") or {}
    execution = data.get("execution") or {}
    if release:
        detail = f"{release.get('channel')} {release.get('label')}: {release.get('bundleVersion')} at " \
                 f"{release.get('rollout')}%"
    elif execution:
        detail = f"release {execution.get('releaseId')} ({execution.get('channel')}) under " \
                 f"{execution.get('policyName')!r}: stage {execution.get('stage')}, {execution.get('percentage')}%"
    elif data.get("bundle"):
        detail = f"bundle {data['bundle'].get('version')} ({data['bundle'].get('platform')})"
    elif data.get("channel"):
        detail = f"channel {data['channel'].get('name')}: {json.dumps(data.get('changes', {}))}"
    else:
        detail = data.get("message") or (data.get("app") or {}).get("slug") or ""
    if "metric" in data:
        detail += f" — {data['metric']} {data['value']}% > {data['threshold']}%"
    return f"otabox {where}{body['event']}: {detail}".strip()


def codepush_body(body: dict) -> dict:
    """A `deployment.released` event as the CodePush multi-tenant server sends it: `app` is the app's
    name, `release` its label, appVersion and description."""
    data = body["data"]
    return {"event": body["event"], "app": data["appName"], "deployment": data["deploymentName"],
            "release": {key: data["package"][key] for key in ("label", "appVersion", "description")},
            "timestamp": body["createdAt"]}


def render(webhook: Webhook, event: OutboxEvent) -> bytes:
    body = outbox.body_of(event)
    if webhook.format == "slack":
        payload = {"text": slack_text(body)}
    elif webhook.format == "codepush" and body["event"] == "deployment.released":
        payload = codepush_body(body)
    else:
        payload = body
    return json.dumps(payload, separators=(",", ":")).encode()


def headers(webhook: Webhook, event: OutboxEvent, delivery_id: str, body: bytes, secret: str,
            version: str) -> dict:
    return {"Content-Type": "application/json", "User-Agent": f"otabox-webhooks/{version}",
            "X-Otabox-Event": event.event, "X-Otabox-Delivery": delivery_id,
            SIGNATURE_HEADER: signature(secret, body)}


# --- delivery records -----------------------------------------------------------------------------------

def delivery_json(delivery: Delivery, attempts: list[DeliveryAttempt]) -> dict:
    return {"id": delivery.id, "eventId": delivery.outbox_event_id, "event": delivery.outbox_event.event,
            "status": delivery.status, "attempts": [
                {"attempt": index, "at": iso(a.at), "statusCode": a.status_code, "durationMs": a.duration_ms,
                 "error": a.error} for index, a in enumerate(attempts, 1)],
            "nextAttemptAt": iso(delivery.next_attempt_at) if delivery.status == PENDING else None,
            "createdAt": iso(delivery.created_at), "finishedAt": iso(delivery.finished_at)}


def deliveries_json(rows: list[Delivery]) -> list[dict]:
    attempts: dict = {}
    if rows:
        for attempt in (DeliveryAttempt.select().where(DeliveryAttempt.delivery.in_([r.id for r in rows]))
                        .order_by(DeliveryAttempt.id)):
            attempts.setdefault(attempt.delivery_id, []).append(attempt)
    return [delivery_json(row, attempts.get(row.id, [])) for row in rows]


def recent_deliveries(webhook: Webhook, limit: int) -> list[dict]:
    """The webhook's newest deliveries, each with its attempts (status code, duration, error)."""
    return deliveries_json(list(Delivery.select().where(Delivery.webhook == webhook)
                                .order_by(Delivery.created_at.desc(), Delivery.id).limit(limit)))


def record_attempt(delivery: Delivery, outcome, max_attempts: int, backoff) -> Delivery:
    """Store one attempt's outcome: delivered, failed for good, or pending again after `backoff(n)` s.
    `max_attempts` 1 makes a one-shot delivery (the test button)."""
    now = utcnow()
    attempts = delivery.attempts + 1
    changes = {"attempts": attempts}
    if outcome.ok:
        changes.update(status=DELIVERED, finished_at=now)
    elif attempts >= max_attempts:
        changes.update(status=FAILED, finished_at=now)
    else:
        changes["next_attempt_at"] = now + dt.timedelta(seconds=backoff(attempts))
    with database.atomic():
        if not Delivery.select().where(Delivery.id == delivery.id).exists():
            return delivery  # its webhook was deleted during the attempt
        DeliveryAttempt.create(delivery=delivery.id, at=now, status_code=outcome.status_code,
                               duration_ms=outcome.duration_ms, error=outcome.error)
        Delivery.update(**changes).where(Delivery.id == delivery.id).execute()
    return Delivery.get_by_id(delivery.id)
