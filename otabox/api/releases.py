"""Management API: releases, their rollouts, history, republishing and deletion."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from ..core import apps, bundles, policies, releases
from ..core.executions import execution_json
from ..errors import BadRequest
from ..web import actor, app_for, int_arg, json_body

bp = Blueprint("api_releases", __name__)


def _flag_arg(name: str) -> bool:
    raw = request.args.get(name, "false")
    if raw not in ("true", "false"):
        raise BadRequest(f"{name} must be true or false", details={"field": name})
    return raw == "true"


@bp.post("/apps/<app_id>/releases")
def create_release(app_id):
    """With a `policyId`, the release starts at the policy's first stage and an execution follows it."""
    app = app_for(app_id, "publisher")
    data = json_body()
    execution = None
    if data.get("policyId") is not None:
        release, previous, execution = policies.start_release(app, data, actor(), bundles.find_bundle,
                                                              apps.find_channel)
    else:
        release, previous = releases.create_release(app, data, actor(), bundles.find_bundle, apps.find_channel)
    return jsonify({"release": releases.release_json(release), "groupId": release.group_id,
                    "previousRelease": releases.release_json(previous) if previous else None,
                    "execution": execution_json(execution) if execution else None}), 201


@bp.get("/apps/<app_id>/releases")
def list_releases(app_id):
    app = app_for(app_id)
    name = request.args.get("channel")
    channel = apps.find_channel(app, name) if name else None
    rows, total = releases.list_releases(app, channel, int_arg("limit", 20, 1, 500), int_arg("offset", 0, 0, 10**9),
                                         _flag_arg("includeDeleted"), request.args.get("groupId") or None)
    return jsonify({"releases": releases.releases_json(rows), "total": total})


@bp.get("/apps/<app_id>/releases/<release_id>")
def get_release(app_id, release_id):
    return jsonify(releases.release_json(releases.find_release(app_for(app_id), release_id)))


@bp.patch("/apps/<app_id>/releases/<release_id>")
def update_release(app_id, release_id):
    release = releases.find_release(app_for(app_id, "publisher"), release_id)
    return jsonify(releases.release_json(releases.update_release(release, json_body(), actor())))


@bp.delete("/apps/<app_id>/releases/<release_id>")
def delete_release(app_id, release_id):
    release = releases.find_release(app_for(app_id, "publisher"), release_id)
    return jsonify(releases.release_json(releases.delete_release(release, actor())))


@bp.get("/apps/<app_id>/releases/<release_id>/history")
def release_history(app_id, release_id):
    release = releases.find_release(app_for(app_id), release_id)
    return jsonify({"releaseId": release.id, "events": releases.release_history(release)})


@bp.post("/apps/<app_id>/releases/<release_id>/republish")
def republish(app_id, release_id):
    app = app_for(app_id, "publisher")
    release = releases.find_release(app, release_id)
    created, group = releases.republish(app, release, json_body(), actor(), apps.find_channel)
    return jsonify({"releases": releases.releases_json(created), "groupId": group}), 201
