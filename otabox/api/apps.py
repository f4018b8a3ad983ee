"""Management API: apps, channels, branches and user overrides."""
from __future__ import annotations

from flask import Blueprint, jsonify

from ..core import apps, branches, collaborators, devices, releases
from ..errors import BadRequest
from ..fields import Choice, Schema, Text
from ..store.models import App
from ..web import accepts, actor, api_key, app_for, body, box, paging, query

bp = Blueprint("api_apps", __name__)


@bp.post("/apps")
@accepts(body=apps.NEW_APP)
def create_app():
    """`{slug, name?, platform?}` (otabox, OtaKit) answers the app; `{name, platform}` without a slug
    (the CodePush multi-tenant server) makes the app as code-push-server does and answers `{"app": ...}`
    in that server's shape."""
    caller = api_key("admin", unscoped=True)
    data = body()
    if data.get("slug") is None and data.get("name") is not None and data.get("platform") is not None:
        app = apps.create_named_app(data["name"], data["platform"], actor(), owner=caller.user)
        return jsonify({"app": apps.codepush_app_json(app)}), 201
    if data.get("slug") is None:
        raise BadRequest("slug is required (or name and platform, to make the app as the CodePush multi-tenant "
                         "server does)", details={"field": "slug"})
    app = apps.create_app(data["slug"], data.get("name"), actor(), owner=caller.user, platform=data.get("platform"))
    return jsonify(apps.app_json(app)), 201


@bp.get("/apps")
@accepts()
def list_apps():
    caller = api_key("reader")
    return jsonify({"apps": [app_summary(a) for a in caller.visible(App.select().order_by(App.id))]})


def app_summary(app) -> dict:
    """An app with what the apps list shows: devices seen in 30 days, the release of its default
    channel, and (as the CodePush multi-tenant server lists apps) its deployments and collaborators."""
    production = apps.serving_release(app, app.default_channel or "production")
    people = [{"email": c.user.email, "permission": c.permission} for c in collaborators.collaborators(app)]
    return {**apps.app_json(app), "devicesLast30Days": devices.devices_seen(app, 30),
            "productionRelease": releases.release_json(production) if production else None,
            "deployments": apps.deployment_names(app), "collaborators": people}


@bp.get("/apps/<app_id>")
@accepts()
def get_app(app_id):
    app = app_for(app_id)
    channels = app.channels.order_by(apps.Channel.id)
    return jsonify({**apps.app_json(app), "channels": [apps.channel_json(c) for c in channels]})


@bp.patch("/apps/<app_id>")
@accepts(body=apps.APP_SETTINGS)
def update_app(app_id):
    """The app, and the same under `app` in the CodePush multi-tenant server's shape, as that server's
    `PATCH /apps/:appName` (code-push-server's) and its own creation answer `{"app": ...}`."""
    app = apps.update_app(app_for(app_id, "admin"), body(), actor())
    return jsonify({**apps.app_json(app), "app": apps.codepush_app_json(app)})


@bp.delete("/apps/<app_id>")
@accepts()
def delete_app(app_id):
    app = app_for(app_id, "admin")
    apps.delete_app(app, actor(), box().store)
    return jsonify({"deleted": True, "id": app.id})


@bp.post("/apps/<app_id>/rotate-client-key")
@accepts()
def rotate_client_key(app_id):
    app = app_for(app_id, "admin")
    return jsonify(apps.app_json(apps.rotate_client_key(app, actor())))


@bp.get("/apps/<app_id>/channels")
@accepts(query=paging(100))
def list_channels(app_id):
    app = app_for(app_id)
    rows, total = apps.list_channels(app, query()["limit"], query()["offset"])
    return jsonify({"channels": [apps.channel_json(c) for c in rows], "total": total})


@bp.post("/apps/<app_id>/channels")
@accepts(body=apps.NEW_CHANNEL)
def create_channel(app_id):
    """Create a channel, or (as Capgo's POST /channel) change the settings of the one of that name."""
    app = app_for(app_id, "admin")
    data = body()
    settings = {k: v for k, v in data.items() if k != "name"}
    channel, created = apps.upsert_channel(app, data.get("name"), actor(), settings)
    return jsonify(apps.channel_json(channel)), 201 if created else 200


@bp.get("/apps/<app_id>/channels/<name>")
@accepts()
def get_channel(app_id, name):
    return jsonify(apps.channel_json(apps.find_channel(app_for(app_id), name)))


@bp.patch("/apps/<app_id>/channels/<name>")
@accepts(body=apps.CHANNEL_SETTINGS)
def update_channel(app_id, name):
    channel = apps.find_channel(app_for(app_id, "admin"), name)
    return jsonify(apps.channel_json(apps.update_channel(channel, body(), actor())))


@bp.post("/apps/<app_id>/channels/<name>/rotate-key")
@accepts()
def rotate_key(app_id, name):
    channel = apps.find_channel(app_for(app_id, "admin"), name)
    return jsonify(apps.channel_json(apps.rotate_deployment_key(channel, actor())))


@bp.delete("/apps/<app_id>/channels/<name>")
@accepts()
def delete_channel(app_id, name):
    channel = apps.find_channel(app_for(app_id, "admin"), name)
    was_default = apps.delete_channel(channel, actor())
    return jsonify({"deleted": True, "name": name, "wasDefault": was_default,
                    **({"warning": apps.default_channel_gone(name)} if was_default else {})})


@bp.get("/apps/<app_id>/branches")
@accepts()
def list_branches(app_id):
    return jsonify({"branches": [branches.branch_json(b) for b in branches.list_branches(app_for(app_id))]})


@bp.post("/apps/<app_id>/branches")
@accepts(body=branches.NEW_BRANCH)
def create_branch(app_id):
    """A new, empty branch; a channel serves it once its `branch` names it."""
    branch = branches.create_branch(app_for(app_id, "admin"), body(), actor())
    return jsonify(branches.branch_json(branch)), 201


@bp.get("/apps/<app_id>/user-overrides")
@accepts()
def list_user_overrides(app_id):
    found = branches.list_user_overrides(app_for(app_id))
    return jsonify({"overrides": [branches.user_override_json(o) for o in found]})


@bp.post("/apps/<app_id>/user-overrides")
@accepts(body=branches.NEW_USER_OVERRIDE)
def set_user_override(app_id):
    override = branches.set_user_override(app_for(app_id, "admin"), body(), actor())
    return jsonify(branches.user_override_json(override)), 201


@bp.delete("/apps/<app_id>/user-overrides/<override_id>")
@accepts()
def delete_user_override(app_id, override_id):
    override = branches.find_user_override(app_for(app_id, "admin"), override_id)
    branches.delete_user_override(override, actor())
    return jsonify({"deleted": True, "id": override.id})


STATS_DAYS = ("7", "14", "30", "90")


@bp.get("/apps/<app_id>/channels/<name>/stats")
@accepts(query=Schema({"days": Choice(STATS_DAYS, default="30")}))
def channel_stats(app_id, name):
    """Adoption (devices seen in the last `days`: 7, 14, 30 or 90, by bundle version) and daily active devices."""
    app = app_for(app_id)
    channel = apps.find_channel(app, name)
    days = int(query()["days"])
    return jsonify({"channel": name, "days": days, "adoption": releases.adoption(channel, days),
                    "activeByDay": devices.active_devices_by_day(app, name, days)})


@bp.post("/apps/<app_id>/channels/<name>/rollback")
@accepts(body=releases.ROLLBACK)
def rollback(app_id, name):
    channel = apps.find_channel(app_for(app_id, "publisher"), name)
    data = body()
    if releases.dry_run(data):
        previews, serves = releases.preview_rollback(releases.rollback_plan(channel, data))
        return jsonify({"dryRun": True, "release": previews[-1], "releases": previews, "serves": serves})
    created, previous = releases.rollback(channel, data, actor())
    return jsonify({"release": releases.release_json(created[-1]), "releases": releases.releases_json(created),
                    "previousRelease": releases.release_json(previous) if previous else None,
                    "serves": releases.serves(channel)}), 201


@bp.post("/apps/<app_id>/channels/<name>/promote")
@accepts(body=releases.PROMOTION.extend({"to": Text(200, required=True, description="The target channel")}))
def promote(app_id, name):
    app = app_for(app_id, "publisher")
    data = dict(body())
    source = apps.find_channel(app, name)
    target = apps.find_channel(app, data.pop("to"))
    release, previous = releases.promote(app, source, target, data, actor())
    return jsonify({"release": releases.release_json(release),
                    "previousRelease": releases.release_json(previous) if previous else None}), 201
