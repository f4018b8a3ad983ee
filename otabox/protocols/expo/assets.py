"""The Expo launch asset download: the full file, or a BSDIFF40 patch from the update the device runs.

Manifests point their launch asset here (`urls.launch_asset_url`), at a URL signed for the app and the
file, so the answer can look at the app's updates: a request that asks for a patch (patches.py says
when one applies) gets `226 IM Used` with the patch; every other one, and every one in doubt, the
full file with 200, as /dl/ serves it. Like every download it is under /dl/: no per-address limit
of the client endpoints, and caching headers of its own. A patch is answered by otabox itself even on object storage
(a 226 cannot travel through a redirect, and patches are small); the full file on object storage is a
redirect to the bucket, as on /dl/.

Blobs are whatever a publisher uploaded, on the dashboard's origin: every answer is an attachment in a
script-less sandbox, and only an expo-updates client (which sends `expo-platform`) is told the asset's
JavaScript type."""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib

from flask import Blueprint, Response, redirect, request, send_file

from ...core.compression import available_codings
from ...core.patches import FORMAT as PATCH_FORMAT
from ...errors import Forbidden, NotFound
from ...store.blobs import is_sha256
from ...web import box, signed_query
from . import encoding, patches
from .export import LAUNCH_ASSET_CONTENT_TYPE, PLATFORMS
from .urls import SIGNED_PURPOSE, signed_subject

bp = Blueprint("expo_assets", __name__)
SANDBOX = "sandbox; default-src 'none'"
MAX_HEADER = 200


def _header(name: str) -> str | None:
    value = request.headers.get(name, "")
    return value[:MAX_HEADER] if value and len(value) <= MAX_HEADER else None


@bp.route("/dl/expo/<app_id>/<sha256>", methods=["GET", "HEAD"])
def launch_asset(app_id, sha256):
    view = box().serving.app(app_id)
    verdict = box().secrets.url_signer.check(SIGNED_PURPOSE, signed_subject(view.id if view else 0, sha256),
                                            *signed_query("expires", "signature"))
    if view is None or verdict != "ok":
        raise Forbidden("the download URL has expired" if verdict == "expired" else "the download URL is not valid",
                        code="url_expired" if verdict == "expired" else "invalid_signature")
    if not is_sha256(sha256):
        raise NotFound("no such file")
    sent_platform = (_header("expo-platform") or "").lower()
    asked = patches.PatchRequest(
        instance_manipulations=_header("a-im"), platform=sent_platform if sent_platform in PLATFORMS else None,
        current_update_id=_header("expo-current-update-id"), requested_update_id=_header("expo-requested-update-id"),
        embedded_update_id=_header("expo-embedded-update-id"))
    requested = patches.requested_update(view, asked)
    if asked.platform is None:
        asked = dataclasses.replace(asked, platform=_platform_of(requested, sha256))
    platform = asked.platform or ""
    choice = patches.choose_patch(view, sha256, asked)
    release_id = requested.release.id if requested and requested.release else None
    metrics, transfers = box().metrics, box().transfers
    if choice.outcome == patches.HIT:
        body = _stored_patch(choice.patch)
        if body is not None:
            metrics.count_patch_request(patches.HIT)
            metrics.count_launch_asset_bytes("patched", len(body))
            if release_id is not None:
                transfers.count_patched(release_id, len(body), _full_size(view, sha256, requested, platform))
            return _patch_response(body, choice.base_id)
        choice = patches.PatchChoice(patches.FALLBACK)
    if choice.outcome is not None:
        metrics.count_patch_request(choice.outcome)
    response = _full_response(view, sha256, expo_client=sent_platform in PLATFORMS)
    if request.method == "GET" and response.status_code in (200, 206):  # not a redirect to the bucket, nor a 304
        metrics.count_launch_asset_bytes("full", response.content_length or 0)
        if release_id is not None:
            transfers.count_full(release_id, response.content_length or 0)
    return response


def _platform_of(requested, sha256: str) -> str | None:
    """The platform a request that sends no `expo-platform` asks for: the one whose launch asset in the
    requested update is the file asked for (None when there is no such update, or several match)."""
    if requested is None:
        return None
    found = [platform for platform, files in requested.bundle.extra.get("files", {}).items()
             if (files.get("launchAsset") or {}).get("sha256") == sha256]
    return found[0] if len(found) == 1 else None


def _full_size(view, sha256: str, requested, platform: str) -> int:
    """What the full answer to this request would have weighed (its coding by Accept-Encoding)."""
    coding, copies = _negotiated(view, sha256)
    return copies[coding]["size"] if coding else requested.bundle.extra["files"][platform]["launchAsset"]["size"]


def _negotiated(view, sha256: str) -> tuple[str | None, dict]:
    """The coding the client prefers among the asset's precompressed copies (None: the file itself)."""
    copies = encoding.encodings_of(view, sha256)
    return encoding.negotiate(request.headers.get("Accept-Encoding"),
                              [c for c in available_codings() if c in copies]), copies


def _stored_patch(patch: dict) -> bytes | None:
    """The patch's bytes, or None when storage lost or damaged them (the full file is sent instead)."""
    try:
        with contextlib.closing(box().store.open(patch["sha256"])) as stream:
            body = stream.read(patch["size"] + 1)
    except (NotFound, OSError):
        return None
    return body if len(body) == patch["size"] and hashlib.sha256(body).hexdigest() == patch["sha256"] else None


def _patch_response(body: bytes, base_update_id: str) -> Response:
    response = Response(body, status=226, mimetype="application/octet-stream")
    response.headers["IM"] = PATCH_FORMAT
    response.headers["expo-base-update-id"] = base_update_id.lower()
    response.headers["Cache-Control"] = "private, no-store"
    return _inert(response)


def _full_response(view, sha256: str, expo_client: bool) -> Response:
    """The full file: the precompressed copy in the coding the client prefers (never for a Range
    request, which means the identity form's bytes), else the file itself."""
    content_type = LAUNCH_ASSET_CONTENT_TYPE if expo_client else "application/octet-stream"
    store = box().store
    direct = store.url(sha256, box().config.url_ttl, content_type)
    if direct:  # a bucket serves the identity form itself
        return _inert(redirect(direct, code=302))
    coding, copies = (None, {}) if request.headers.get("Range") else _negotiated(view, sha256)
    served = copies[coding]["sha256"] if coding else sha256
    path = store.local_path(served)
    if (path is None or not path.exists()) and coding:  # a lost copy: the file itself still serves
        coding, served, path = None, sha256, store.local_path(sha256)
    if path is None or not path.exists():
        raise NotFound("the file is missing from storage", code="file_missing")
    response = send_file(path, mimetype=content_type, conditional=True, etag=served, max_age=3600,
                         as_attachment=True, download_name=sha256)
    if coding:
        response.headers["Content-Encoding"] = coding
    response.headers["Accept-Ranges"] = "bytes"
    response.headers["Vary"] = "expo-platform, A-IM, Expo-Current-Update-ID, Accept-Encoding"
    response.headers["Cache-Control"] = "private, max-age=3600, immutable"
    return _inert(response)


def _inert(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = SANDBOX
    response.headers.setdefault("Content-Disposition", "attachment")
    return response
