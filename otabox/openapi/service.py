"""What the app itself serves: liveness, metrics, this document, signed downloads (app.py, downloads.py)."""
from __future__ import annotations

from .shapes import BLOB, header, json_errors, obj, operation, path, PUBLIC, query, reply, SIGNED, STRING, TEXT


def paths() -> dict:
    return {
        "/healthz": {"get": operation("Liveness", "service", reply(obj({"status": {"const": "ok"}})),
                                      security=PUBLIC)},
        "/metrics": {"get": operation("Prometheus metrics (needs OTABOX_METRICS_TOKEN unless OTABOX_METRICS_PUBLIC=1)",
                                      "service", {
            **reply(STRING, media_type=TEXT), **json_errors(401)}, security=[{}, {"metricsToken": []}])},
        "/dl/{sha256}": {
            "get": operation("Download a blob by signed URL (Range and ETag supported), always as an attachment "
                             "in a script-less sandbox; active content types are sent as application/octet-stream",
                             "transfer", {
                **reply(BLOB, media_type="*/*"), **reply(BLOB, 206, "*/*"), **reply(status=304),
                **json_errors(403, 404, 416)},
                [path("sha256", "The blob's SHA-256 in hex"),
                 query("type", description="zip, file or a content type; part of the signature "
                       "(each signed parameter once, the path without a trailing slash)", required=True), *SIGNED,
                 header("Range")], security=PUBLIC),
        },
        "/api/v1/openapi.json": {
            "get": operation("This document", "management", reply({"type": "object"}), security=PUBLIC),
        },
    }
