"""Management API: webhooks and their deliveries (admin keys not limited to one app)."""
from __future__ import annotations

from flask import Blueprint, jsonify

from ..core import webhooks
from ..fields import Schema, Whole
from ..web import accepts, actor, api_key, body, box, query

bp = Blueprint("api_webhooks", __name__)


def _admin() -> None:
    api_key("admin", unscoped=True)


@bp.get("/webhooks")
@accepts()
def list_webhooks():
    _admin()
    return jsonify({"webhooks": [webhooks.webhook_json(w) for w in webhooks.list_webhooks()]})


@bp.post("/webhooks")
@accepts(body=webhooks.NEW_WEBHOOK)
def create_webhook():
    _admin()
    b = box()
    webhook, secret = webhooks.create_webhook(body(), actor(), b.sealer, b.config.webhook_allow_private)
    return jsonify({**webhooks.webhook_json(webhook), "secret": secret}), 201


@bp.get("/webhooks/<webhook_id>")
@accepts()
def get_webhook(webhook_id):
    _admin()
    return jsonify(webhooks.webhook_json(webhooks.find_webhook(webhook_id)))


@bp.patch("/webhooks/<webhook_id>")
@accepts(body=webhooks.WEBHOOK)
def update_webhook(webhook_id):
    _admin()
    b, data = box(), body()
    webhook = webhooks.update_webhook(webhooks.find_webhook(webhook_id), data, actor(), b.sealer,
                                      b.config.webhook_allow_private)
    return jsonify(webhooks.webhook_json(webhook))


@bp.delete("/webhooks/<webhook_id>")
@accepts()
def delete_webhook(webhook_id):
    _admin()
    webhook = webhooks.find_webhook(webhook_id)
    webhooks.delete_webhook(webhook, actor())
    return jsonify({"deleted": True, "id": webhook.id})


@bp.get("/webhooks/<webhook_id>/deliveries")
@accepts(query=Schema({"limit": Whole(1, 500, default=50)}))
def deliveries(webhook_id):
    _admin()
    webhook = webhooks.find_webhook(webhook_id)
    return jsonify({"deliveries": webhooks.recent_deliveries(webhook, query()["limit"])})


@bp.post("/webhooks/<webhook_id>/test")
@accepts()
def test_webhook(webhook_id):
    """Queue a `webhook.test` event for the delivery worker and answer at once (202) with the pending
    delivery; its attempt is listed in deliveries a moment later."""
    _admin()
    webhook = webhooks.find_webhook(webhook_id)
    delivery = box().webhooks.queue_test(webhook)
    return jsonify(webhooks.deliveries_json([delivery])[0]), 202
