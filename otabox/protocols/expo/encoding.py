"""Compressed full downloads for Expo: launch assets and manifests honour `Accept-Encoding`.

Launch assets are compressed once, when the export is ingested (`precompress_launch_assets`): a gzip
copy always, a br copy when the `brotli` package is installed, each kept in the blob store under its
own digest and recorded in the bundle's `extra["encodings"]` as `{asset sha256: {coding: {"sha256",
"size"}}}` (and in `extra["blobs"]`, so the copies go with the bundle). Manifests, small and signed per
request, are compressed as they are sent (`encode_reply`). Range requests get the identity form only."""
from __future__ import annotations

import zipfile

from flask import Response, request

from ...core.compression import available_codings, compress
from ...core.serving import AppView

ENCODINGS_KEY = "encodings"


def precompress_launch_assets(box, zip_path, extra: dict) -> dict:
    """Store the encoded copies of every platform's launch asset (read from the uploaded export zip)
    and record them on `extra`."""
    encodings: dict[str, dict] = {}
    for files in extra["files"].values():
        sha256 = files["launchAsset"]["sha256"]
        if sha256 in encodings:
            continue
        with zipfile.ZipFile(zip_path) as archive, archive.open(files["launchAsset"]["path"]) as member:
            data = member.read()
        encodings[sha256] = {}
        for coding in available_codings():
            encoded = compress(data, coding)
            if len(encoded) < len(data):
                staged = box.staging.write_bytes(encoded)
                box.store.put(staged)
                encodings[sha256][coding] = {"sha256": staged.sha256, "size": staged.size}
    extra[ENCODINGS_KEY] = encodings
    extra["blobs"] = sorted(set(extra.get("blobs", ())) | {copy["sha256"] for codings in encodings.values()
                                                           for copy in codings.values()})
    return extra


def encodings_of(view: AppView, sha256: str) -> dict[str, dict]:
    """The encoded copies of a launch asset of this app: {coding: {"sha256", "size"}}."""
    for bundle in view.bundles.values():
        found = bundle.extra.get(ENCODINGS_KEY, {}).get(sha256) if bundle.format == "expo" else None
        if found:
            return found
    return {}


def negotiate(accept_encoding: str | None, offered) -> str | None:
    """The coding of `offered` (best first) the client prefers by `Accept-Encoding` (RFC 9110: q-values,
    `*`, `q=0` refusing), or None for the identity form."""
    weights: dict[str, float] = {}
    for item in (accept_encoding or "").split(","):
        name, _, params = item.strip().partition(";")
        name, quality = name.strip().lower(), 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if name:
            weights[name] = quality
    best, best_weight = None, 0.0
    for coding in offered:
        weight = weights.get(coding, weights.get("*", 0.0))
        if weight > best_weight:
            best, best_weight = coding, weight
    return best


def add_vary(response: Response, *names: str) -> None:
    present = [v.strip() for v in response.headers.get("Vary", "").split(",") if v.strip()]
    response.headers["Vary"] = ", ".join(present + [n for n in names if n.lower() not in map(str.lower, present)])


def encode_reply(response: Response) -> Response:
    """A manifest reply in the coding the client prefers (compressed now: it is signed per request)."""
    body = response.get_data()
    if body:
        add_vary(response, "Accept-Encoding")
        coding = negotiate(request.headers.get("Accept-Encoding"), available_codings())
        if coding is not None:
            response.set_data(compress(body, coding))
            response.headers["Content-Encoding"] = coding
    return response
