"""OtaKit's REST API (shared/seeds/000_acfd0ae62e9e4670.txt), every example request sent as written
(`Authorization: Bearer`, /api/v1, JSON bodies), in the order OtaKit's CLI sends them: create the
app, initiate an upload, PUT the zip to the presigned URL, finalize, release, list, delete.

Choices where the document is silent or contradicts itself:
- ids: the document writes "uuid"; otabox's ids are whole numbers, which OtaKit's tools only pass back.
- the base channel: OtaKit's releases without a channel; in otabox it is the app's default channel
  (where devices that name no channel go). A caller that names it OtaKit's way (no channel or
  `"channel": null` on a release, an empty `?channel=` on the list) reads it back as `"channel": null`;
  a list without `channel` (every stream) names every channel, as otabox's own CLI and dashboard read it.
- `minNativeBuild` is a number in the initiate body and in the reply; `uploadUrl` (otabox's CLI's
  name) stays beside `presignedUrl`.
"""
from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

from conftest import check, make_key, make_zip

BASE = "/api/v1"
APP = "com.example.myapp"


def put_zip(client, url: str, data: bytes):
    """Upload the zip to the presigned URL with Content-Type: application/zip, as the document says."""
    parts = urlsplit(url)
    return client.put(f"{parts.path}?{parts.query}", data=data, headers={"Content-Type": "application/zip"})


def upload_bundle(admin, app_id, version: str, data: bytes, **extra) -> dict:
    """initiate → PUT → finalize, the document's two-step upload."""
    initiated = admin.post(f"{BASE}/apps/{app_id}/bundles/initiate", {
        "version": version, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), **extra})
    assert initiated.status_code == 201, initiated.json
    assert put_zip(admin.client, initiated.json["presignedUrl"], data).status_code == 200
    finalized = admin.post(f"{BASE}/apps/{app_id}/bundles/finalize", {"uploadId": initiated.json["uploadId"]})
    assert finalized.status_code == 201, finalized.json
    return finalized.json


def test_the_documented_flow(admin):
    created = admin.post(f"{BASE}/apps", {"slug": APP})
    assert created.status_code == 201
    assert {"id", "slug", "createdAt"} <= set(created.json) and created.json["slug"] == APP
    assert created.json["createdAt"].endswith("Z")
    app_id = created.json["id"]

    data = make_zip({"index.html": "1.0.1"})
    initiated = admin.post(f"{BASE}/apps/{app_id}/bundles/initiate", {
        "version": "1.0.1", "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "minNativeBuild": 100})
    assert initiated.status_code == 201
    assert {"uploadId", "presignedUrl", "storageKey", "expiresAt"} <= set(initiated.json)
    assert initiated.json["uploadUrl"] == initiated.json["presignedUrl"], "otabox's CLI reads uploadUrl"
    assert initiated.json["storageKey"] and initiated.json["expiresAt"].endswith("Z")
    assert put_zip(admin.client, initiated.json["presignedUrl"], data).status_code == 200
    finalized = admin.post(f"{BASE}/apps/{app_id}/bundles/finalize", {"uploadId": initiated.json["uploadId"]})
    assert finalized.status_code == 201
    bundle = finalized.json
    assert {k: bundle[k] for k in ("version", "sha256", "size", "minNativeBuild")} == {
        "version": "1.0.1", "sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "minNativeBuild": 100}
    assert {"id", "createdAt"} <= set(bundle)

    listed = admin.get(f"{BASE}/apps/{app_id}/bundles?limit=20&offset=0")
    assert listed.status_code == 200 and listed.json["total"] == 1
    assert {"id", "version", "sha256", "size", "createdAt"} <= set(listed.json["bundles"][0])

    staging = admin.post(f"{BASE}/apps/{app_id}/releases", {"bundleId": bundle["id"], "channel": "staging"})
    assert staging.status_code == 201
    assert {k: staging.json["release"][k] for k in ("channel", "bundleId", "bundleVersion")} == {
        "channel": "staging", "bundleId": bundle["id"], "bundleVersion": "1.0.1"}
    assert {"id", "promotedAt"} <= set(staging.json["release"]) and staging.json["previousRelease"] is None

    base = admin.post(f"{BASE}/apps/{app_id}/releases", {"bundleId": bundle["id"], "channel": None})
    assert base.status_code == 201
    assert {k: base.json["release"][k] for k in ("channel", "bundleId", "bundleVersion")} == {
        "channel": None, "bundleId": bundle["id"], "bundleVersion": "1.0.1"}
    second = upload_bundle(admin, app_id, "1.0.2", make_zip({"index.html": "1.0.2"}))
    omitted = admin.post(f"{BASE}/apps/{app_id}/releases", {"bundleId": second["id"]})
    assert omitted.status_code == 201 and omitted.json["release"]["channel"] is None
    assert omitted.json["previousRelease"]["bundleVersion"] == "1.0.1"
    assert omitted.json["previousRelease"]["channel"] is None

    only_staging = admin.get(f"{BASE}/apps/{app_id}/releases?channel=staging&limit=20&offset=0")
    assert only_staging.status_code == 200 and only_staging.json["total"] == 1
    assert {"id", "channel", "bundleId", "bundleVersion", "promotedAt"} <= set(only_staging.json["releases"][0])
    only_base = admin.get(f"{BASE}/apps/{app_id}/releases?channel=&limit=20&offset=0")
    assert only_base.status_code == 200 and only_base.json["total"] == 2
    assert [(r["channel"], r["bundleVersion"]) for r in only_base.json["releases"]] == [(None, "1.0.2"),
                                                                                     (None, "1.0.1")]
    every = admin.get(f"{BASE}/apps/{app_id}/releases?limit=20&offset=0")
    assert every.json["total"] == 3
    assert [r["channel"] for r in every.json["releases"]] == ["production", "production", "staging"]

    in_history = admin.delete(f"{BASE}/apps/{app_id}/bundles/{bundle['id']}")
    assert in_history.status_code == 409, "bundles that are part of a release history cannot be deleted"
    assert in_history.json["error"]["details"]["channels"] == ["staging", "production"]
    assert [r["channel"] for r in in_history.json["error"]["details"]["releases"]] == ["staging", "production"]
    assert "or delete the channels" in in_history.json["error"]["message"]
    unused = upload_bundle(admin, app_id, "1.0.3", make_zip({"index.html": "1.0.3"}))
    deleted = admin.delete(f"{BASE}/apps/{app_id}/bundles/{unused['id']}")
    assert deleted.status_code == 200
    assert {k: deleted.json[k] for k in ("deleted", "id")} == {"deleted": True, "id": unused["id"]}


def test_the_app_id_may_be_the_slug_and_devices_on_the_base_channel_get_its_release(client, admin):
    app = admin.post(f"{BASE}/apps", {"slug": APP}).json
    bundle = upload_bundle(admin, APP, "1.0.1", make_zip({"index.html": "1.0.1"}))
    assert admin.post(f"{BASE}/apps/{APP}/releases", {"bundleId": bundle["id"], "channel": None}).status_code == 201
    reply = check(client, app, deviceId="d1", version="builtin")
    assert reply.status_code == 200 and reply.json["bundle"]["version"] == "1.0.1"


def test_bad_input_is_refused_by_name_and_writes_nothing(admin):
    app_id = admin.post(f"{BASE}/apps", {"slug": APP}).json["id"]
    for body, field in (({"version": "1.0.1", "size": 10, "sha256": "x"}, "sha256"),
                        ({"version": "1.0.1", "size": 10, "sha256": "0" * 64, "minNativeBuld": 1}, "minNativeBuld"),
                        ({"size": 10, "sha256": "0" * 64}, "version")):
        refused = admin.post(f"{BASE}/apps/{app_id}/bundles/initiate", body)
        assert refused.status_code == 400 and refused.json["error"]["details"]["field"] == field
    assert admin.post(f"{BASE}/apps/{app_id}/releases", {"bundleId": 99, "channel": None}).status_code == 404
    assert admin.get(f"{BASE}/apps/{app_id}/releases").json == {"releases": [], "total": 0}
    assert admin.post(f"{BASE}/apps/{app_id}/bundles/finalize", {"uploadId": "nope"}).status_code == 404


OTAKIT_CLI = {"Authorization": "Bearer {key}", "User-Agent": "otakit-cli/1.1.2"}


def test_the_requests_of_otakit_s_cli(client, box):
    """@otakit/cli (1.1.2, OtaKit/otakit packages/cli) is not on the npm registry (`npm view @otakit/cli`:
    404, 2026-12-07), so its requests are sent here as its source writes them (src/lib/api.ts,
    upload-workflow.ts): JSON with its User-Agent; initiate with `runtimeVersion` and the native plugins
    it finds (`nativePackages`, which otabox accepts and ignores); the zip PUT to `presignedUrl` with
    Content-Length and Cache-Control; finalize; a release with `"channel": null` (the base channel);
    the lists with `?limit=`, `?channel=` (the base channel) and the bundle deletion. Its auto versions
    carry build metadata (`1.4.0+otk.<commit>.<run>`)."""
    key = make_key(box, "admin", "otakit-cli")
    headers = {name: value.format(key=key) for name, value in OTAKIT_CLI.items()}

    def send(method, path, body=None):
        return client.open(f"{BASE}/apps/{APP}{path}", method=method, json=body, headers=headers)

    assert client.post(f"{BASE}/apps", json={"slug": APP}, headers=headers).status_code == 201
    data = make_zip({"index.html": "otakit"})
    initiated = send("POST", "/bundles/initiate", {
        "version": "1.4.0+otk.0123456789ab.20261207t120000z", "runtimeVersion": "1.4", "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "nativePackages": [{"name": "@capacitor/camera", "version": "6.0.0", "requestedVersion": "^6.0.0",
                            "iosChecksum": "ab" * 32, "androidChecksum": "cd" * 32}]})
    assert initiated.status_code == 201, initiated.json
    parts = urlsplit(initiated.json["presignedUrl"])
    put = client.put(f"{parts.path}?{parts.query}", data=data, headers={
        "Content-Type": "application/zip", "Content-Length": str(len(data)),
        "Cache-Control": "public, max-age=31536000, immutable", "User-Agent": OTAKIT_CLI["User-Agent"]})
    assert put.status_code == 200
    bundle = send("POST", "/bundles/finalize", {"uploadId": initiated.json["uploadId"]})
    assert bundle.status_code == 201 and bundle.json["runtimeVersion"] == "1.4"
    released = send("POST", "/releases", {"bundleId": bundle.json["id"], "channel": None})
    assert released.status_code == 201 and released.json["release"]["channel"] is None
    assert send("GET", "/bundles?limit=20").json["total"] == 1
    base = send("GET", "/releases?channel=&limit=20").json
    assert [(r["channel"], r["bundleId"]) for r in base["releases"]] == [(None, bundle.json["id"])]
    assert send("DELETE", f"/bundles/{bundle.json['id']}").status_code == 409, "in a release history"


def test_every_route_refuses_an_unknown_field_by_name_even_an_empty_one(admin):
    """`?chanel=` is a typo, not the base channel nor every channel: an empty value is absent only
    for a field the route knows."""
    app_id = admin.post(f"{BASE}/apps", {"slug": APP}).json["id"]
    for method, path, body, field, suggestion in (
            ("GET", "/releases?chanel=&limit=20", None, "chanel", "channel"),
            ("GET", "/bundles?limt=20&offset=0", None, "limt", "limit"),
            ("POST", "/bundles/finalize", {"uploadID": "x"}, "uploadID", "uploadId"),
            ("POST", "/releases", {"bundleID": 1, "channel": None}, "bundleID", "bundleId"),
            ("DELETE", "/bundles/1?force=", None, "force", None)):
        refused = admin.client.open(f"{BASE}/apps/{app_id}{path}", method=method, json=body,
                                    headers=admin._headers())
        assert refused.status_code == 400 and refused.json["error"]["code"] == "unknown_field", path
        assert (refused.json["error"]["details"]["field"], refused.json["error"]["details"]["suggestion"]) == (
            field, suggestion)


def test_a_finalize_before_the_upload_leaves_the_session_for_the_upload(admin):
    """"The server checks that the uploaded object exists": a finalize sent too early is refused
    (422 upload_missing) and the session stays, so the PUT and the finalize can follow."""
    app_id = admin.post(f"{BASE}/apps", {"slug": APP}).json["id"]
    data = make_zip({"index.html": "early"})
    initiated = admin.post(f"{BASE}/apps/{app_id}/bundles/initiate", {
        "version": "1.0.1", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}).json
    early = admin.post(f"{BASE}/apps/{app_id}/bundles/finalize", {"uploadId": initiated["uploadId"]})
    assert early.status_code == 422 and early.json["error"]["code"] == "upload_missing"
    assert admin.get(f"{BASE}/apps/{app_id}/bundles").json["total"] == 0
    assert put_zip(admin.client, initiated["presignedUrl"], data).status_code == 200
    finalized = admin.post(f"{BASE}/apps/{app_id}/bundles/finalize", {"uploadId": initiated["uploadId"]})
    assert finalized.status_code == 201 and finalized.json["version"] == "1.0.1"
    again = admin.post(f"{BASE}/apps/{app_id}/bundles/finalize", {"uploadId": initiated["uploadId"]})
    assert again.status_code == 404, "a finalized session is gone"
