"""Koolbase's OTA dashboard API, mapped onto numbered bundles (core/numbered_bundles.py).

    POST   /v1/projects/{project_id}/ota/upload                      multipart: bundle, channel, mandatory,
                                                                     release_notes → 201 the bundle
    GET    /v1/projects/{project_id}/ota/bundles                     → [bundle, ...], newest first
    POST   /v1/projects/{project_id}/ota/bundles/{bundle_id}/activate → the bundle, now active
    PATCH  /v1/projects/{project_id}/ota/bundles/{bundle_id}          {"mandatory": bool} (absent: toggled)
    DELETE /v1/projects/{project_id}/ota/bundles/{bundle_id}          → 204

Authentication is the dashboard token as `Authorization: Bearer <token>`: an otabox API key or access
token. The project is an app, named by its id or slug. A Koolbase bundle is a bundle with its number
on a channel; its `id` is that number's row id, given as a string as Koolbase's ids are, and its
`project_id` the app's id, likewise. Errors are otabox's (the document shows no error body)."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify

from ...core import numbered_bundles, releases
from ...fields import Boolean, Schema, Text
from ...store.blobs import blob_name
from ...store.models import App, ChannelVersion, iso
from ...web import accepts, actor, app_for, body, box, uploaded_file

bp = Blueprint("koolbase_management", __name__)
PREFIX = "/v1/projects/<project_id>/ota"

UPLOAD = Schema({"channel": Text(64, min_length=1, default="production",
                                 description="production, staging or development (created on first use), or "
                                             "another channel of the app"),
                 "mandatory": Boolean(default=False), "release_notes": Text(10000, default="")})
MANDATORY = Schema({"mandatory": Boolean(description="Default: the opposite of the bundle's flag (a toggle)")})


def bundle_json(app: App, row: ChannelVersion, served_bundle: int | None) -> dict:
    bundle = row.bundle
    return {"id": str(row.id), "project_id": str(app.id), "channel": row.channel.name, "version": row.number,
            "checksum": f"sha256:{bundle.sha256}", "storage_path": blob_name(bundle.sha256), "file_size": bundle.size,
            "mandatory": row.mandatory, "active": served_bundle == row.bundle_id, "release_notes": bundle.notes,
            "created_at": iso(row.created_at), "updated_at": iso(row.updated_at)}


def _one(app: App, row: ChannelVersion) -> Response:
    return jsonify(bundle_json(app, row, releases.served_bundle_id(row.channel)))


@bp.post(f"{PREFIX}/upload")
@accepts(form=UPLOAD, files=("bundle",))
def upload(project_id):
    app = app_for(project_id, "publisher")
    file = uploaded_file("bundle")
    data = body()
    numbered_bundles.upload_channel(app, data["channel"])  # an unknown channel is refused before the file is read
    b = box()
    with b.ingestor.slot():
        staged = b.staging.receive(file.stream, b.config.max_bundle_bytes)
        row = numbered_bundles.upload(b.ingestor, app, data["channel"], data["mandatory"], data["release_notes"],
                                      staged, actor())
    return _one(app, row), 201


@bp.get(f"{PREFIX}/bundles")
@accepts()
def list_bundles(project_id):
    app = app_for(project_id)
    rows = numbered_bundles.listing(app)
    served = {row.channel_id: releases.served_bundle_id(row.channel) for row in rows}
    return jsonify([bundle_json(app, row, served[row.channel_id]) for row in rows])


@bp.post(f"{PREFIX}/bundles/<bundle_id>/activate")
@accepts()
def activate(project_id, bundle_id):
    app = app_for(project_id, "publisher")
    return _one(app, numbered_bundles.activate(app, numbered_bundles.find(app, bundle_id), actor()))


@bp.patch(f"{PREFIX}/bundles/<bundle_id>")
@accepts(body=MANDATORY)
def set_mandatory(project_id, bundle_id):
    app = app_for(project_id, "publisher")
    row = numbered_bundles.find(app, bundle_id)
    mandatory = body().get("mandatory", not row.mandatory)
    return _one(app, numbered_bundles.set_mandatory(row, mandatory, actor()))


@bp.delete(f"{PREFIX}/bundles/<bundle_id>")
@accepts()
def delete(project_id, bundle_id):
    app = app_for(project_id, "admin")
    numbered_bundles.delete(app, numbered_bundles.find(app, bundle_id), actor(), box().store)
    return Response(status=204)
