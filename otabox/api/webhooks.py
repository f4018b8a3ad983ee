"""Management API: webhooks and their deliveries (admin keys not limited to one app)."""
from __future__ import annotations

from flask import Blueprint, jsonify

from ..core import webhooks
from ..security import auth
from ..web import actor, api_key, box, int_arg, json_body

bp = Blueprint("api_webhooks", __name__)


def _admin() -> None:
    auth.require_unscoped(api_key("admin"))


@bp.get("/webhooks")
def list_webhooks():
    _admin()
    return jsonify({"webhooks": [webhooks.webhook_json(w) for w in webhooks.list_webhooks()]})


@bp.post("/webhooks")
def create_webhook():
    _admin()
    b = box()
    webhook, secret = webhooks.create_webhook(json_body(), actor(), b.sealer, b.config.webhook_allow_private)
    return jsonify({**webhooks.webhook_json(webhook), "secret": secret}), 201


@bp.get("/webhooks/<webhook_id>")
def get_webhook(webhook_id):
    _admin()
    return jsonify(webhooks.webhook_json(webhooks.find_webhook(webhook_id)))


@bp.patch("/webhooks/<webhook_id>")
def update_webhook(webhook_id):
    _admin()
    b, data = box(), json_body()
    webhook = webhooks.update_webhook(webhooks.find_webhook(webhook_id), data, actor(), b.sealer,
                                      b.config.webhook_allow_private)
    return jsonify(webhooks.webhook_json(webhook))


@bp.delete("/webhooks/<webhook_id>")
def delete_webhook(webhook_id):
    _admin()
    webhook = webhooks.find_webhook(webhook_id)
    webhooks.delete_webhook(webhook, actor())
    return jsonify({"deleted": True, "id": webhook.id})


@bp.get("/webhooks/<webhook_id>/deliveries")
def deliveries(webhook_id):
    _admin()
    webhook = webhooks.find_webhook(webhook_id)
    return jsonify({"deliveries": webhooks.recent_deliveries(webhook, int_arg("limit", 50, 1, 500))})


@bp.post("/webhooks/<webhook_id>/test")
def test_webhook(webhook_id):
    """Queue a `webhook.test` event for the delivery worker and answer at once (202) with the pending
    delivery; its attempt is listed in deliveries a moment later."""
    _admin()
    webhook = webhooks.find_webhook(webhook_id)
    delivery = box().webhooks.queue_test(webhook)
    return jsonify(webhooks.deliveries_json([delivery])[0]), 202
