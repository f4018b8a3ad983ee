"""Management API: devices and their overrides."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from ..core import apps, bundles, devices
from ..errors import BadRequest
from ..web import actor, app_for, int_arg, json_body

bp = Blueprint("api_devices", __name__)


def device_filters() -> dict:
    """The exact-match filters in the query (`isProd`/`isEmulator` as true or false)."""
    filters = {}
    for name in devices.DEVICE_FILTERS:
        value = request.args.get(name)
        if value is None or value == "":
            continue
        if name in ("isProd", "isEmulator"):
            if value not in ("true", "false"):
                raise BadRequest(f"{name} must be true or false", details={"field": name})
            value = value == "true"
        filters[name] = value
    return filters


@bp.get("/apps/<app_id>/devices")
def list_devices(app_id):
    rows, total = devices.list_devices(app_for(app_id), int_arg("limit", 50, 1, 500), int_arg("offset", 0, 0, 10**9),
                                       request.args.get("channel"), request.args.get("version"),
                                       request.args.get("search"), device_filters())
    return jsonify({"devices": [devices.device_json(d) for d in rows], "total": total})


@bp.get("/apps/<app_id>/devices/<device_id>")
def get_device(app_id, device_id):
    return jsonify(devices.device_json(devices.find_device(app_for(app_id), device_id)))


@bp.put("/apps/<app_id>/devices/<device_id>")
def pin_device(app_id, device_id):
    app = app_for(app_id, "publisher")
    data = json_body()
    name, bundle_id = data.get("channel"), data.get("bundleId")
    channel = apps.find_channel(app, name) if name is not None else None
    bundle = bundles.find_bundle(app, bundle_id) if bundle_id is not None else None
    if channel is None and bundle is None:
        raise BadRequest("send channel and/or bundleId to pin the device")
    return jsonify(devices.device_json(devices.set_override(app, device_id, channel, bundle, actor())))


@bp.delete("/apps/<app_id>/devices/<device_id>/override")
def clear_override(app_id, device_id):
    return jsonify(devices.device_json(devices.clear_override(app_for(app_id, "publisher"), device_id, actor())))
