"""Webhooks and their deliveries (api/webhooks.py)."""
from __future__ import annotations

from ...core import webhooks
from ..shapes import (
    array, AUTH, BOOLEAN, DELETED, INTEGER, json_errors, KEYED, nullable, obj, operation, path, ref, reply, STRING,
    TIMESTAMP)


def schemas() -> dict:
    attempt = obj({"attempt": INTEGER, "at": TIMESTAMP, "statusCode": nullable(INTEGER), "durationMs": {
        "type": "number"}, "error": STRING})
    return {
        "Webhook": obj({"id": INTEGER, "url": STRING, "events": array(STRING), "appId": nullable(INTEGER),
                        "isActive": BOOLEAN, "format": {"enum": list(webhooks.FORMATS)}, "createdAt": TIMESTAMP,
                        "updatedAt": TIMESTAMP}),
        "WebhookDelivery": obj({"id": STRING, "eventId": STRING, "event": STRING,
                                "status": {"enum": list(webhooks.DELIVERY_STATUSES)}, "attempts": array(attempt),
                                "nextAttemptAt": nullable(TIMESTAMP), "createdAt": TIMESTAMP,
                                "finishedAt": nullable(TIMESTAMP)}),
    }


def paths() -> dict:
    api = "/api/v1"
    tag = "health and rollouts"
    webhook_id = path("webhook_id", schema=INTEGER)
    return {
        f"{api}/webhooks": {
            "get": operation("Webhooks", tag, {**reply(obj({"webhooks": array(ref("Webhook"))})),
                                               **json_errors(*KEYED)}),
            "post": operation("Create a webhook; the reply shows its secret, once", tag, {
                **reply({"allOf": [ref("Webhook"), obj({"secret": STRING})]}, 201),
                **json_errors(400, *KEYED, 422)}),
        },
        f"{api}/webhooks/{{webhook_id}}": {
            "get": operation("A webhook", tag, {**reply(ref("Webhook")), **json_errors(*AUTH)}, [webhook_id]),
            "patch": operation("Change a webhook (a new secret too)", tag, {
                **reply(ref("Webhook")), **json_errors(400, *AUTH, 422)}, [webhook_id]),
            "delete": operation("Delete a webhook with its deliveries", tag, {
                **reply(DELETED), **json_errors(*AUTH)}, [webhook_id]),
        },
        f"{api}/webhooks/{{webhook_id}}/deliveries": {
            "get": operation("The webhook's recent deliveries with every attempt", tag, {
                **reply(obj({"deliveries": array(ref("WebhookDelivery"))})), **json_errors(400, *AUTH)},
                [webhook_id]),
        },
        f"{api}/webhooks/{{webhook_id}}/test": {
            "post": operation("Queue a webhook.test event for the delivery worker; the reply is its pending "
                              "delivery", tag, {**reply(ref("WebhookDelivery"), 202), **json_errors(*AUTH, 409)},
                              [webhook_id]),
        },
    }
