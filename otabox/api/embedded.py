"""Management API: the bundles embedded in store binaries (patch bases for devices that never took an update)."""
from __future__ import annotations

from flask import Blueprint, jsonify

from ..core import embedded
from ..web import accepts, actor, app_for, body, box, query, uploaded_file

bp = Blueprint("api_embedded", __name__)


@bp.post("/apps/<app_id>/embedded-bundles")
@accepts(form=embedded.EMBEDDED_FIELDS, files=("file",))
def record_embedded(app_id):
    """Multipart: `platform`, `runtimeVersion` and `updateId` (Expo) or `nativeVersion` (the native
    protocol), and `file`, the bundle inside the binary."""
    app = app_for(app_id, "publisher")
    upload = uploaded_file()
    fields = embedded.parse_fields(body())
    with box().ingestor.slot():
        staged = box().staging.receive(upload.stream, box().config.max_bundle_bytes)
        try:
            row = embedded.record_embedded(app, fields, staged, box().store, actor())
        finally:
            staged.discard()
    return jsonify(embedded.embedded_json(row)), 201


@bp.get("/apps/<app_id>/embedded-bundles")
@accepts(query=embedded.LISTED)
def list_embedded(app_id):
    """Every embedded bundle of the app, and the same per runtime version (Expo) and native version."""
    return jsonify(embedded.grouped_json(embedded.list_embedded(app_for(app_id), query())))
