"""The Flutter (Koolbase-shaped) JSON check, GET /v1/sdk/ota/check, through HTTP."""
from __future__ import annotations

import hashlib
import io

import pytest
from conftest import make_zip

from otabox.security import encryption

APP = "com.example.demo"


def check(client, app, key=None, **params):
    return client.get("/v1/sdk/ota/check", query_string=params,
                      headers={"x-api-key": key if key is not None else app["clientKey"]})


def test_update_has_koolbase_shape_with_channel_release_number(client, admin, demo_app):
    zip_bytes = make_zip({"index.html": "one"})
    admin.publish(APP, "1.0.0", zip_bytes=zip_bytes, bundle_fields={"notes": "notes 1.0.0"}, mandatory=True)
    reply = check(client, demo_app, channel="production", version="0").json
    assert set(reply) == {"has_update", "version", "checksum", "mandatory", "download_url", "release_notes",
                          "file_size"}
    assert reply["has_update"] is True and reply["version"] == 1 and reply["mandatory"] is True
    assert reply["checksum"] == "sha256:" + hashlib.sha256(zip_bytes).hexdigest()
    assert reply["file_size"] == len(zip_bytes) and reply["release_notes"] == "notes 1.0.0"
    url = reply["download_url"]
    assert client.get(url[url.index("/dl/"):]).data == zip_bytes


def test_integer_versions_number_the_channel_bundles(client, admin, demo_app):
    """A bundle keeps its number on a channel: a rollback offers the earlier bundle under its own number."""
    admin.publish(APP, "1.0.0")
    admin.publish(APP, "1.1.0")
    assert check(client, demo_app, version="1").json["version"] == 2
    assert check(client, demo_app, version="2").json == {"has_update": False}
    assert check(client, demo_app).json["version"] == 2

    rollback = admin.post(f"/api/v1/apps/{APP}/channels/production/rollback", {})
    assert rollback.status_code in (200, 201), rollback.json
    assert check(client, demo_app, version="2").json["version"] == 1
    assert check(client, demo_app, version="1").json == {"has_update": False}
    admin.publish(APP, "1.2.0")
    assert check(client, demo_app, version="1").json["version"] == 3


def test_other_channel_and_no_release(client, admin, demo_app):
    assert check(client, demo_app).json == {"has_update": False}
    assert admin.post(f"/api/v1/apps/{APP}/channels", {"name": "beta"}).status_code == 201
    admin.publish(APP, "2.0.0", channel="beta")
    assert check(client, demo_app).json == {"has_update": False}
    assert check(client, demo_app, channel="beta").json["version"] == 1


def test_encrypted_bundles_are_not_offered(client, admin, demo_app):
    private_pem, _ = encryption.generate_key_pair()
    out = io.BytesIO()
    sealed = encryption.encrypt_bundle(make_zip(), private_pem, out)
    bundle = admin.upload(APP, "1.0.0", out.getvalue(), sessionKey=sealed.session_key,
                          encryptedChecksum=sealed.checksum).json
    admin.release(APP, bundle["id"])
    assert check(client, demo_app).json == {"has_update": False}


def test_check_is_recorded(client, admin, box, demo_app):
    admin.publish(APP, "1.0.0")
    check(client, demo_app, version="1", platform="android", device_id="flutter-1")
    box.tracker.flush()
    device = admin.get(f"/api/v1/apps/{APP}/devices/flutter-1").json
    assert (device["platform"], device["bundleVersion"], device["channel"]) == ("android", "1.0.0", "production")


@pytest.mark.parametrize("key, params, status, code", [
    ("", {}, 401, "invalid_client_key"),
    ("otabox_ck_wrong", {}, 401, "invalid_client_key"),
    (None, {"version": "v1"}, 400, "bad_request"),
    (None, {"platform": "web"}, 400, "bad_request"),
])
def test_bad_requests(client, demo_app, key, params, status, code):
    response = check(client, demo_app, key=key, **params)
    assert response.status_code == status and response.json["error"]["code"] == code


def test_rate_limited_with_retry_after(tmp_path, monkeypatch):
    from otabox.app import create_app
    from otabox.config import Config

    monkeypatch.setenv("OTABOX_CLIENT_RATE_PER_MINUTE", "2")
    app = create_app(Config.from_env(data_dir=tmp_path / "data", device_flush_seconds=3600.0))
    try:
        client = app.test_client()
        headers = {"x-api-key": "otabox_ck_unknown", "x-device-id": "d1"}
        codes = [client.get("/v1/sdk/ota/check", headers=headers).status_code for _ in range(3)]
        assert codes == [401, 401, 429]
        limited = client.get("/v1/sdk/ota/check", headers=headers)
        assert limited.json["error"]["code"] == "too_many_requests" and int(limited.headers["Retry-After"]) >= 1
    finally:
        app.config["BOX"].close()


def test_build_number_meets_min_native_build(client, admin, demo_app):
    bundle = admin.upload(APP, "1.0.0", make_zip({"index.html": "b"}), minNativeBuild=120).json
    admin.release(APP, bundle["id"])
    assert check(client, demo_app).json == {"has_update": False, "reason": "build_number_required"}
    assert check(client, demo_app, build_number="119").json == {"has_update": False}
    assert check(client, demo_app, build_number="120").json["version"] == 1
    assert check(client, demo_app, native_build="500").json["version"] == 1
    bad = check(client, demo_app, build_number="12a")
    assert bad.status_code == 400 and bad.json["error"]["details"] == {"field": "build_number"}
