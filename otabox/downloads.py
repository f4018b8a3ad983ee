"""The download endpoint: streams a blob named by a signed, expiring URL, with Range and ETag.

Only the blob's SHA-256 (validated hex) reaches the store; nothing else from the request touches
the filesystem.

Blobs are whatever a publisher uploaded, and /dl/ shares the dashboard's origin, so nothing served
here may run there: a browser that opens a download gets it as an attachment, in a sandbox without
any script, and never with a type it would render actively (HTML, SVG, XML, JavaScript...): only
the inert types below keep their own; everything else is application/octet-stream. Update clients
check hashes, not content types."""
from __future__ import annotations

import re

from flask import Blueprint, redirect, request, send_file
from werkzeug.wsgi import wrap_file

from .core.bundles import record_file_missing
from .errors import Forbidden, NotFound
from .store.blobs import is_sha256
from .web import box, signed_query

bp = Blueprint("downloads", __name__)
SHORT_TYPES = {"zip": "application/zip", "file": "application/octet-stream"}
INERT_TYPE = re.compile(r"^(image/(png|jpeg|gif|webp|avif|bmp|x-icon|vnd\.microsoft\.icon)|font/[a-z0-9.+-]+|"
                        r"audio/[a-z0-9.+-]+|video/[a-z0-9.+-]+|application/(zip|octet-stream|json|wasm)|text/plain)$")
"""Types a browser shows or plays but never runs; every other type is served as octet-stream."""
DOWNLOAD_CSP = "sandbox; default-src 'none'"


def served_type(kind: str, expo_client: bool = False) -> str:
    """The Content-Type a download of `kind` (a short name or the uploader's content type) is sent with:
    its own when inert, or to expo-updates (whose asset downloads the spec requires to carry the
    asset's type; a browser cannot add Expo's headers to a navigation, and a page of another origin
    cannot without a CORS preflight that /dl/ never grants), else application/octet-stream."""
    kind = SHORT_TYPES.get(kind, kind)
    return kind if INERT_TYPE.match(kind) or (expo_client and MEDIA_TYPE.match(kind)) else "application/octet-stream"


MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
EXPO_PLATFORMS = ("ios", "android")


@bp.route("/dl/<sha256>", methods=["GET", "HEAD"])
def download(sha256):
    kind, expires, signature = signed_query("type", "expires", "signature")
    verdict = box().secrets.url_signer.check("download", f"{sha256}:{kind}", expires, signature)
    if verdict != "ok":
        raise Forbidden("the download URL has expired" if verdict == "expired" else "the download URL is not valid",
                        code="url_expired" if verdict == "expired" else "invalid_signature")
    if not is_sha256(sha256):
        raise NotFound("no such file")
    store = box().store
    direct = store.url(sha256, box().config.url_ttl)
    if direct:  # a store that serves its own signed URLs (object storage) takes the bytes off this process
        return redirect(direct, code=302)
    path = store.local_path(sha256)
    if path is None or not path.exists():
        record_file_missing(sha256, True, "download")  # its bundle is no longer offered
        raise NotFound("the file is missing from storage", code="file_missing")
    expo_client = request.headers.get("expo-platform", "").lower() in EXPO_PLATFORMS
    response = send_file(path, mimetype=served_type(kind, expo_client), conditional=True, etag=sha256,
                         max_age=3600, as_attachment=True, download_name=sha256)
    response.headers["Accept-Ranges"] = "bytes"
    response.headers["Vary"] = "expo-platform"
    response.headers["Cache-Control"] = "private, max-age=3600, immutable"
    if response.status_code == 206:
        _send_range_from_file(response, path)
    return response


def _send_range_from_file(response, path) -> None:
    """Werkzeug answers a Range with an iterator over the part, which waitress drains on one of its few
    worker threads, blocked for as long as a client takes to read it (eight slow readers would hold
    them all). The part as the server's file wrapper, positioned at its first byte and cut at
    Content-Length, is sent by waitress's event loop instead, as whole downloads are."""
    part = open(path, "rb")
    part.seek(response.content_range.start)
    previous, response.response = response.response, wrap_file(request.environ, part)
    previous.close()


@bp.after_request
def inert(response):
    """Every /dl/ answer (the file, a redirect, an error) is inert on the dashboard's origin (and
    `nosniff`, like every otabox response)."""
    response.headers["Content-Security-Policy"] = DOWNLOAD_CSP
    if response.status_code < 300 and "Content-Disposition" not in response.headers:
        response.headers["Content-Disposition"] = "attachment"
    return response
