"""Management API: apps and channels."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from ..core import apps, devices, releases
from ..errors import BadRequest
from ..security import auth
from ..store.models import App
from ..web import actor, api_key, app_for, box, int_arg, json_body, optional_json_body

bp = Blueprint("api_apps", __name__)


@bp.post("/apps")
def create_app():
    caller = api_key("admin")
    auth.require_unscoped(caller)
    data = json_body()
    app = apps.create_app(data.get("slug"), data.get("name"), actor(), owner=caller.user)
    return jsonify(apps.app_json(app)), 201


@bp.get("/apps")
def list_apps():
    caller = api_key("reader")
    return jsonify({"apps": [app_summary(a) for a in caller.visible(App.select().order_by(App.id))]})


def app_summary(app) -> dict:
    """An app with what the apps list shows: devices seen in 30 days and the release of its default channel."""
    production = apps.serving_release(app, app.default_channel or "production")
    return {**apps.app_json(app), "devicesLast30Days": devices.devices_seen(app, 30),
            "productionRelease": releases.release_json(production) if production else None}


@bp.get("/apps/<app_id>")
def get_app(app_id):
    app = app_for(app_id)
    channels = app.channels.order_by(apps.Channel.id)
    return jsonify({**apps.app_json(app), "channels": [apps.channel_json(c) for c in channels]})


@bp.patch("/apps/<app_id>")
def update_app(app_id):
    app = app_for(app_id, "admin")
    return jsonify(apps.app_json(apps.update_app(app, json_body(), actor())))


@bp.delete("/apps/<app_id>")
def delete_app(app_id):
    app = app_for(app_id, "admin")
    apps.delete_app(app, actor(), box().store)
    return jsonify({"deleted": True, "id": app.id})


@bp.post("/apps/<app_id>/rotate-client-key")
def rotate_client_key(app_id):
    app = app_for(app_id, "admin")
    return jsonify(apps.app_json(apps.rotate_client_key(app, actor())))


@bp.get("/apps/<app_id>/channels")
def list_channels(app_id):
    rows, total = apps.list_channels(app_for(app_id), int_arg("limit", 100, 1, 500), int_arg("offset", 0, 0, 10**9))
    return jsonify({"channels": [apps.channel_json(c) for c in rows], "total": total})


@bp.post("/apps/<app_id>/channels")
def create_channel(app_id):
    """Create a channel, or (as Capgo's POST /channel) change the settings of the one of that name."""
    app = app_for(app_id, "admin")
    data = json_body()
    settings = {k: v for k, v in data.items() if k != "name"}
    channel, created = apps.upsert_channel(app, data.get("name"), actor(), settings)
    return jsonify(apps.channel_json(channel)), 201 if created else 200


@bp.get("/apps/<app_id>/channels/<name>")
def get_channel(app_id, name):
    return jsonify(apps.channel_json(apps.find_channel(app_for(app_id), name)))


@bp.patch("/apps/<app_id>/channels/<name>")
def update_channel(app_id, name):
    channel = apps.find_channel(app_for(app_id, "admin"), name)
    return jsonify(apps.channel_json(apps.update_channel(channel, json_body(), actor())))


@bp.post("/apps/<app_id>/channels/<name>/rotate-key")
def rotate_key(app_id, name):
    channel = apps.find_channel(app_for(app_id, "admin"), name)
    return jsonify(apps.channel_json(apps.rotate_deployment_key(channel, actor())))


@bp.delete("/apps/<app_id>/channels/<name>")
def delete_channel(app_id, name):
    channel = apps.find_channel(app_for(app_id, "admin"), name)
    apps.delete_channel(channel, actor())
    return jsonify({"deleted": True, "name": name})


STATS_DAYS = (7, 14, 30, 90)


def days_arg() -> int:
    """The `days` a statistic covers: 7, 14, 30 (the default) or 90."""
    raw = request.args.get("days", "")
    if raw == "":
        return 30
    if not raw.isdecimal() or int(raw) not in STATS_DAYS:
        raise BadRequest("days must be 7, 14, 30 or 90", details={"field": "days"})
    return int(raw)


@bp.get("/apps/<app_id>/channels/<name>/stats")
def channel_stats(app_id, name):
    """Adoption (devices seen in the last `days`, by bundle version) and daily active devices."""
    app = app_for(app_id)
    channel = apps.find_channel(app, name)
    days = days_arg()
    return jsonify({"channel": name, "days": days, "adoption": releases.adoption(channel, days),
                    "activeByDay": devices.active_devices_by_day(app, name, days)})


@bp.post("/apps/<app_id>/channels/<name>/rollback")
def rollback(app_id, name):
    channel = apps.find_channel(app_for(app_id, "publisher"), name)
    data = optional_json_body()
    if releases.dry_run(data):
        preview, serves = releases.preview_rollback(releases.rollback_plan(channel, data))
        return jsonify({"dryRun": True, "release": preview, "serves": serves})
    release, previous = releases.rollback(channel, data, actor())
    return jsonify({"release": releases.release_json(release),
                    "previousRelease": releases.release_json(previous) if previous else None,
                    "serves": releases.serves(channel)}), 201


@bp.post("/apps/<app_id>/channels/<name>/promote")
def promote(app_id, name):
    app = app_for(app_id, "publisher")
    data = json_body()
    source = apps.find_channel(app, name)
    if not isinstance(data.get("to"), str):
        raise BadRequest("to (the target channel) is required", details={"field": "to"})
    target = apps.find_channel(app, data["to"])
    release, previous = releases.promote(app, source, target, data, actor())
    return jsonify({"release": releases.release_json(release),
                    "previousRelease": releases.release_json(previous) if previous else None}), 201
