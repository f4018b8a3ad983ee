"""Management API: the health of releases (what their devices report)."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from ..core import health, releases
from ..web import app_for, int_arg

bp = Blueprint("api_health", __name__)


@bp.get("/apps/<app_id>/releases/<release_id>/health")
def release_health(app_id, release_id):
    release = releases.find_release(app_for(app_id), release_id)
    return jsonify(health.release_health(release))


@bp.get("/apps/<app_id>/health/timeseries")
def timeseries(app_id):
    app = app_for(app_id)
    release = releases.find_release(app, request.args["release"]) if request.args.get("release") else None
    days = int_arg("days", health.DEFAULT_DAYS, 1, 90)
    return jsonify({"releaseId": release.id if release else None, "days": days,
                    "bucketSeconds": health.BUCKET_SECONDS,
                    "points": health.timeseries(app, release.id if release else None, days)})
