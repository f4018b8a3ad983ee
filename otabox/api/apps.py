"""Management API: apps and channels."""
from __future__ import annotations

from flask import Blueprint, jsonify

from ..core import apps, releases
from ..security import auth
from ..store.models import App
from ..web import actor, api_key, app_for, box, json_body, optional_json_body

bp = Blueprint("api_apps", __name__)


@bp.post("/apps")
def create_app():
    key = api_key("admin")
    auth.require_unscoped(key)
    data = json_body()
    app = apps.create_app(data.get("slug"), data.get("name"), actor())
    return jsonify(apps.app_json(app)), 201


@bp.get("/apps")
def list_apps():
    key = api_key("reader")
    query = App.select().order_by(App.id)
    if key.app_id is not None:
        query = query.where(App.id == key.app_id)
    return jsonify({"apps": [apps.app_json(a) for a in query]})


@bp.get("/apps/<app_id>")
def get_app(app_id):
    app = app_for(app_id)
    channels = app.channels.order_by(apps.Channel.id)
    return jsonify({**apps.app_json(app), "channels": [apps.channel_json(c) for c in channels]})


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
    app = app_for(app_id)
    return jsonify({"channels": [apps.channel_json(c) for c in app.channels.order_by(apps.Channel.id)]})


@bp.post("/apps/<app_id>/channels")
def create_channel(app_id):
    app = app_for(app_id, "admin")
    data = json_body()
    settings = {k: v for k, v in data.items() if k != "name"}
    return jsonify(apps.channel_json(apps.create_channel(app, data.get("name"), actor(), settings))), 201


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


@bp.get("/apps/<app_id>/channels/<name>/stats")
def channel_stats(app_id, name):
    from ..core.devices import active_devices_by_day

    app = app_for(app_id)
    channel = apps.find_channel(app, name)
    return jsonify({"channel": name, "adoption": releases.adoption(channel),
                    "activeByDay": active_devices_by_day(app, name)})


@bp.post("/apps/<app_id>/channels/<name>/rollback")
def rollback(app_id, name):
    channel = apps.find_channel(app_for(app_id, "publisher"), name)
    release, previous = releases.rollback(channel, optional_json_body(), actor())
    return jsonify({"release": releases.release_json(release),
                    "previousRelease": releases.release_json(previous) if previous else None}), 201


@bp.post("/apps/<app_id>/channels/<name>/promote")
def promote(app_id, name):
    app = app_for(app_id, "publisher")
    data = json_body()
    source = apps.find_channel(app, name)
    if not isinstance(data.get("to"), str):
        from ..errors import BadRequest
        raise BadRequest("to (the target channel) is required", details={"field": "to"})
    target = apps.find_channel(app, data["to"])
    release, previous = releases.promote(app, source, target, data, actor())
    return jsonify({"release": releases.release_json(release),
                    "previousRelease": releases.release_json(previous) if previous else None}), 201
