"""Management API: the health of releases (what their devices report)."""
from __future__ import annotations

from flask import Blueprint, jsonify

from ..core import health, releases
from ..fields import IdOrName, Schema, Whole
from ..web import accepts, app_for, query

bp = Blueprint("api_health", __name__)


@bp.get("/apps/<app_id>/releases/<release_id>/health")
@accepts()
def release_health(app_id, release_id):
    release = releases.find_release(app_for(app_id), release_id)
    return jsonify(health.release_health(release))


@bp.get("/apps/<app_id>/health/timeseries")
@accepts(query=Schema({"release": IdOrName(), "days": Whole(1, 90, default=health.DEFAULT_DAYS)}))
def timeseries(app_id):
    app = app_for(app_id)
    release = releases.find_release(app, query()["release"]) if "release" in query() else None
    days = query()["days"]
    return jsonify({"releaseId": release.id if release else None, "days": days,
                    "bucketSeconds": health.BUCKET_SECONDS,
                    "points": health.timeseries(app, release.id if release else None, days)})
