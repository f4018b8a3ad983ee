"""Management API: bundles (multipart and two-step uploads) and the upload URL."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from ..core import bundles, numbered_bundles
from ..errors import BadRequest, Forbidden, Gone
from ..fields import Boolean, Choice, Schema, Text
from ..store.models import iso
from ..web import accepts, actor, app_for, base_url, body, box, paging, query, signed_query, uploaded_file

bp = Blueprint("api_bundles", __name__)


@bp.post("/apps/<app_id>/bundles")
@accepts(form=bundles.BUNDLE_FIELDS, files=("file",))
def upload_bundle(app_id):
    app = app_for(app_id, "publisher")
    upload = uploaded_file()
    fields = bundles.parse_fields(body())
    with box().ingestor.slot():
        staged = box().staging.receive(upload.stream, box().config.max_bundle_bytes)
        bundle = box().ingestor.ingest(app, fields, staged, actor())
    return jsonify(bundles.bundle_json(bundle)), 201


@bp.post("/apps/<app_id>/bundles/initiate")
@accepts(body=bundles.UPLOAD)
def initiate(app_id):
    app = app_for(app_id, "publisher")
    b = box()
    upload = bundles.initiate_upload(app, body(), b.config.upload_ttl, b.config.max_bundle_bytes, actor())
    url = b.store.upload_url(bundles.upload_object(upload.id), upload.size, b.config.upload_ttl)
    if url is None:  # otabox receives the bytes itself (a store with its own URLs takes them directly)
        query, _ = b.secrets.url_signer.query("upload", upload.id, b.config.upload_ttl)
        url = f"{base_url()}/uploads/{upload.id}?{query}"
    # presignedUrl and storageKey are OtaKit's names; uploadUrl (the same URL) is otabox's CLI's.
    return jsonify({"uploadId": upload.id, "presignedUrl": url, "uploadUrl": url,
                    "storageKey": bundles.upload_object(upload.id), "expiresAt": iso(upload.expires_at)}), 201


@bp.post("/apps/<app_id>/bundles/finalize")
@accepts(body=Schema({"uploadId": Text(100, min_length=1, required=True)}))
def finalize(app_id):
    app = app_for(app_id, "publisher")
    upload_id = body()["uploadId"]
    return jsonify(bundles.bundle_json(bundles.finalize_upload(box(), app, upload_id, actor()))), 201


@bp.get("/apps/<app_id>/bundles")
@accepts(query=paging(20).extend({"version": Text(100, description="Only the bundles of this version")}))
def list_bundles(app_id):
    app = app_for(app_id)
    rows, total = bundles.list_bundles(app, query()["limit"], query()["offset"], query().get("version"))
    numbers = numbered_bundles.bundle_numbers(app, [b.id for b in rows])
    return jsonify({"bundles": [{**bundles.bundle_json(b), "channelVersions": numbers[b.id]} for b in rows],
                    "total": total})


@bp.get("/apps/<app_id>/bundles/<bundle_id>")
@accepts()
def get_bundle(app_id, bundle_id):
    return jsonify(bundles.bundle_json(bundles.find_bundle(app_for(app_id), bundle_id)))


@bp.delete("/apps/<app_id>/bundles")
@accepts(query=Schema({"unused": Boolean()}))
def delete_unused_bundles(app_id):
    """`?unused=true`: delete every bundle no release history, device pin or channel number uses."""
    app = app_for(app_id, "admin")
    if not query().get("unused"):
        raise BadRequest("only unused bundles can be deleted together: add ?unused=true", details={"field": "unused"})
    return jsonify({"deleted": True, "ids": bundles.delete_unused_bundles(app, actor(), box().store)})


@bp.delete("/apps/<app_id>/bundles/<bundle_id>")
@accepts(query=Schema({"platform": Choice(bundles.PLATFORMS, description="With a version: only this platform's")}))
def delete_bundle(app_id, bundle_id):
    """Delete a bundle by id, or by version (each platform's, unless ?platform= picks one)."""
    app = app_for(app_id, "admin")
    platform = query().get("platform")
    ids = bundles.delete_bundles(app, bundles.find_bundles(app, bundle_id, platform), actor(), box().store)
    return jsonify({"deleted": True, "id": ids[0], "ids": ids})


uploads_bp = Blueprint("uploads", __name__)


@uploads_bp.put("/uploads/<upload_id>")
def put_upload(upload_id):
    """The signed upload URL of a two-step upload: no bearer key, the signature is the permission (like
    a download URL, it is not a management route: its body is the bundle, its query the signature)."""
    verdict = box().secrets.url_signer.check("upload", upload_id, *signed_query("expires", "signature"))
    if verdict == "invalid":
        raise Forbidden("the upload URL is not valid", code="invalid_signature")
    if verdict == "expired":
        raise Gone("the upload URL has expired", code="upload_expired")
    upload = bundles.live_upload(upload_id)
    bundles.receive_upload(box(), upload, request.stream)
    return jsonify({"uploadId": upload.id, "received": True})
