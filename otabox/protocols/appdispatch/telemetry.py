"""AppDispatch's adoption (`/v1/ota/insights/adoption`), telemetry (`/v1/ota/telemetry/timeseries`,
`flag-impacts`, `events`) and observe events (`/v1/ota/observe/events`), with `X-Project`, over
core/health.py's aggregates and core/telemetry.py's ring of events (what the public health endpoints
reported; an app keeps its most recent OTABOX_EVENTS_PER_APP). Read-only: a reader may see them.

Where the document is silent: `days` is the period everywhere (adoption takes 7, 14, 30 or 90 as
documented; the others 1 to 90, default 7); observe pages are `page` (from 1) of 50 as documented;
telemetry events page with `limit`/`offset` like the other lists; flag impacts are per flag variation
and, separately, per update with its channel (otabox's aggregates are not crossed with each other)."""
from __future__ import annotations

from flask import Blueprint, jsonify

from ...core import health, telemetry
from ...fields import Choice, Schema, Text, Whole
from ...web import accepts, paging, query
from .management import project

bp = Blueprint("appdispatch_telemetry", __name__)
DAYS = Schema({"days": Whole(1, 90, default=health.DEFAULT_DAYS)})
ADOPTION = Schema({"days": Choice(tuple(str(d) for d in telemetry.ADOPTION_DAYS), default="7",
                                  description="7, 14, 30 or 90")})
FILTERS = {"type": Choice(telemetry.KEPT_TYPES), "channel": Text(200), "platform": Text(50)}
EVENTS = paging(50).extend(FILTERS)
OBSERVE_PAGE = 50
OBSERVE = Schema({**FILTERS, "page": Whole(1, 10**6, default=1)})


@bp.get("/v1/ota/insights/adoption")
@accepts(query=ADOPTION)
def adoption():
    return jsonify(telemetry.adoption(project(), int(query()["days"])))


@bp.get("/v1/ota/telemetry/timeseries")
@accepts(query=DAYS)
def timeseries():
    """Hourly devices, launches, errors and crashes of the whole project."""
    days = query()["days"]
    return jsonify({"days": days, "bucketSeconds": health.BUCKET_SECONDS,
                    "points": health.timeseries(project(), None, days)})


@bp.get("/v1/ota/telemetry/flag-impacts")
@accepts(query=DAYS)
def flag_impacts():
    app, days = project(), query()["days"]
    return jsonify({"days": days, "flags": telemetry.flag_impacts(app, days),
                    "updates": telemetry.release_impacts(app, days)})


def _events(args: dict, limit: int, offset: int) -> tuple[list[dict], int]:
    app = project()
    found, total = telemetry.list_events(app, [args["type"]] if "type" in args else telemetry.KEPT_TYPES,
                                         args.get("channel"), args.get("platform"), limit, offset)
    return telemetry.events_json(app, found), total


@bp.get("/v1/ota/telemetry/events")
@accepts(query=EVENTS)
def events():
    args = query()
    found, total = _events(args, args["limit"], args["offset"])
    return jsonify({"events": found, "total": total})


@bp.get("/v1/ota/observe/events")
@accepts(query=OBSERVE)
def observe_events():
    args = query()
    found, total = _events(args, OBSERVE_PAGE, (args["page"] - 1) * OBSERVE_PAGE)
    return jsonify({"events": found, "page": args["page"],
                    "pageSize": OBSERVE_PAGE, "total": total})
