"""The download endpoint: streams a blob named by a signed, expiring URL, with Range and ETag.

Only the blob's SHA-256 (validated hex) reaches the store; nothing else from the request touches
the filesystem."""
from __future__ import annotations

import re

from flask import Blueprint, redirect, request, send_file

from .errors import Forbidden, NotFound
from .store.blobs import is_sha256
from .web import box

bp = Blueprint("downloads", __name__)
CONTENT_TYPE = re.compile(r"^[a-z]+/[a-z0-9.+-]+$")
SHORT_TYPES = {"zip": "application/zip", "file": "application/octet-stream"}


@bp.route("/dl/<sha256>", methods=["GET", "HEAD"])
def download(sha256):
    kind = request.args.get("type", "zip")
    verdict = box().secrets.url_signer.check("download", f"{sha256}:{kind}", request.args.get("expires"),
                                            request.args.get("signature"))
    if verdict != "ok":
        raise Forbidden("the download URL has expired" if verdict == "expired" else "the download URL is not valid",
                        code="url_expired" if verdict == "expired" else "invalid_signature")
    if not is_sha256(sha256):
        raise NotFound("no such file")
    content_type = SHORT_TYPES.get(kind) or (kind if CONTENT_TYPE.match(kind) else "application/octet-stream")
    store = box().store
    direct = store.url(sha256, box().config.url_ttl)
    if direct:  # a store that serves its own signed URLs (object storage) takes the bytes off this process
        return redirect(direct, code=302)
    path = store.local_path(sha256)
    if path is None or not path.exists():
        raise NotFound("the file is missing from storage", code="file_missing")
    response = send_file(path, mimetype=content_type, conditional=True, etag=sha256, max_age=3600)
    response.headers["Accept-Ranges"] = "bytes"
    response.headers["Cache-Control"] = "private, max-age=3600, immutable"
    return response
