"""Management API: releases, their rollouts, history, republishing and deletion."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from ..core import apps, bundles, embedded, patches, policies, releases, transfers
from ..core.executions import execution_json
from ..fields import Boolean, Text
from ..web import accepts, actor, app_for, body, box, paging, query

bp = Blueprint("api_releases", __name__)

LIST_QUERY = paging(20).extend({
    "channel": Text(200, description="Empty: the base channel (the default channel; OtaKit), shown as null"),
    "includeDeleted": Boolean(default=False), "groupId": Text(100)})


@bp.post("/apps/<app_id>/releases")
@accepts(body=releases.NEW_RELEASE)
def create_release(app_id):
    """With a `policyId`, the release starts at the policy's first stage and an execution follows it."""
    app = app_for(app_id, "publisher")
    data = body()
    execution = None
    if data.get("policyId") is not None:
        release, previous, execution = policies.start_release(app, data, actor(), bundles.find_bundle,
                                                              apps.find_channel)
    else:
        release, previous = releases.create_release(app, data, actor(), bundles.find_bundle, apps.find_channel)
    shown = base_channel_as_null if data.get("channel") is None else releases.release_json
    return jsonify({"release": shown(release), "groupId": release.group_id,
                    "previousRelease": shown(previous) if previous else None,
                    "execution": execution_json(execution) if execution else None}), 201


def base_channel_as_null(release, stats: dict | None = None) -> dict:
    """A release of the app's default channel as OtaKit shows one of its base channel: `channel`
    null. A caller that names the base channel OtaKit's way (a release without a channel or with
    `"channel": null`, a list with an empty `?channel=`) reads it back that way; otabox's own
    clients name the channel and read its name."""
    return {**releases.release_json(release, stats), "channel": None}


@bp.get("/apps/<app_id>/releases")
@accepts(query=LIST_QUERY)
def list_releases(app_id):
    """`?channel=<name>`: that channel's history; `?channel=` (empty): the base channel's (OtaKit);
    no channel: every channel's."""
    app = app_for(app_id)
    args = query()
    base = request.args.get("channel") == ""  # an empty query value reads as absent in LIST_QUERY
    if base and app.default_channel is None:
        return jsonify({"releases": [], "total": 0})
    channel = apps.find_channel(app, app.default_channel if base else args["channel"]) \
        if base or "channel" in args else None
    rows, total = releases.list_releases(app, channel, args["limit"], args["offset"], args["includeDeleted"],
                                         args.get("groupId"))
    if base:
        stats = releases.release_stats([r.id for r in rows])
        return jsonify({"releases": [base_channel_as_null(r, stats[r.id]) for r in rows], "total": total})
    return jsonify({"releases": releases.releases_json(rows), "total": total})


@bp.get("/apps/<app_id>/releases/<release_id>")
@accepts()
def get_release(app_id, release_id):
    return jsonify(releases.release_json(releases.find_release(app_for(app_id), release_id)))


@bp.patch("/apps/<app_id>/releases/<release_id>")
@accepts(body=releases.RELEASE_CHANGES)
def update_release(app_id, release_id):
    release = releases.find_release(app_for(app_id, "publisher"), release_id)
    return jsonify(releases.release_json(releases.update_release(release, body(), actor())))


@bp.delete("/apps/<app_id>/releases/<release_id>")
@accepts()
def delete_release(app_id, release_id):
    release = releases.find_release(app_for(app_id, "publisher"), release_id)
    return jsonify(releases.release_json(releases.delete_release(release, actor())))


@bp.get("/apps/<app_id>/releases/<release_id>/history")
@accepts()
def release_history(app_id, release_id):
    release = releases.find_release(app_for(app_id), release_id)
    return jsonify({"releaseId": release.id, "events": releases.release_history(release)})


@bp.get("/apps/<app_id>/releases/<release_id>/transfer")
@accepts()
def release_transfer(app_id, release_id):
    """Bytes its launch assets cost so far, in full and as patches, and the saving; and the patches
    made to its bundle, per base (`patches`)."""
    release = releases.find_release(app_for(app_id), release_id)
    view = box().serving.app(str(release.app_id))
    bundle = view.bundles.get(release.bundle_id) if view and release.bundle_id else None
    made = patches.listed(bundle.extra, patches.base_names(view.bundles.values(), embedded.of_view(view))
                          ) if bundle else []
    return jsonify({**transfers.transfer_json(release), "patches": made})


@bp.post("/apps/<app_id>/releases/<release_id>/republish")
@accepts(body=releases.REPUBLISH)
def republish(app_id, release_id):
    app = app_for(app_id, "publisher")
    release = releases.find_release(app, release_id)
    created, group = releases.republish(app, release, body(), actor(), apps.find_channel)
    return jsonify({"releases": releases.releases_json(created), "groupId": group}), 201
