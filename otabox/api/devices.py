"""Management API: devices and their overrides."""
from __future__ import annotations

from flask import Blueprint, jsonify

from ..core import apps, bundles, devices
from ..errors import BadRequest
from ..web import accepts, actor, app_for, body, paging, query

bp = Blueprint("api_devices", __name__)


@bp.get("/apps/<app_id>/devices")
@accepts(query=paging(50).extend(devices.DEVICE_QUERY.fields))
def list_devices(app_id):
    app = app_for(app_id)
    args = query()
    rows, total = devices.list_devices(app, args["limit"], args["offset"], args.get("channel"), args.get("version"),
                                       args.get("search"), {k: v for k, v in args.items() if k in devices.DEVICE_FILTERS})
    return jsonify({"devices": [devices.device_json(d) for d in rows], "total": total})


@bp.get("/apps/<app_id>/devices/<device_id>")
@accepts()
def get_device(app_id, device_id):
    return jsonify(devices.device_json(devices.find_device(app_for(app_id), device_id)))


@bp.put("/apps/<app_id>/devices/<device_id>")
@accepts(body=devices.PIN)
def pin_device(app_id, device_id):
    app = app_for(app_id, "publisher")
    data = body()
    name, bundle_id = data.get("channel"), data.get("bundleId")
    channel = apps.find_channel(app, name) if name is not None else None
    bundle = bundles.find_bundle(app, bundle_id) if bundle_id is not None else None
    if channel is None and bundle is None:
        raise BadRequest("send channel and/or bundleId to pin the device")
    return jsonify(devices.device_json(devices.set_override(app, device_id, channel, bundle, actor())))


@bp.delete("/apps/<app_id>/devices/<device_id>/override")
@accepts()
def clear_override(app_id, device_id):
    return jsonify(devices.device_json(devices.clear_override(app_for(app_id, "publisher"), device_id, actor())))
