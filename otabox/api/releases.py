"""Management API: releases and their rollouts."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from ..core import apps, bundles, policies, releases
from ..core.executions import execution_json
from ..web import actor, app_for, int_arg, json_body

bp = Blueprint("api_releases", __name__)


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
    return jsonify({"release": releases.release_json(release),
                    "previousRelease": releases.release_json(previous) if previous else None,
                    "execution": execution_json(execution) if execution else None}), 201


@bp.get("/apps/<app_id>/releases")
def list_releases(app_id):
    app = app_for(app_id)
    name = request.args.get("channel")
    channel = apps.find_channel(app, name) if name else None
    rows, total = releases.list_releases(app, channel, int_arg("limit", 20, 1, 500), int_arg("offset", 0, 0, 10**9))
    return jsonify({"releases": releases.releases_json(rows), "total": total})


@bp.get("/apps/<app_id>/releases/<release_id>")
def get_release(app_id, release_id):
    return jsonify(releases.release_json(releases.find_release(app_for(app_id), release_id)))


@bp.patch("/apps/<app_id>/releases/<release_id>")
def update_release(app_id, release_id):
    release = releases.find_release(app_for(app_id, "publisher"), release_id)
    return jsonify(releases.release_json(releases.update_release(release, json_body(), actor())))
