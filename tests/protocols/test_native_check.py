"""The native update check and the signed download endpoint, through HTTP."""
from __future__ import annotations

import base64
import hashlib
import time

import pytest
from conftest import check, make_zip, unsigned
from cryptography.hazmat.primitives.serialization import load_pem_public_key


def local(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


@pytest.fixture
def released(admin, demo_app):
    data = make_zip({"index.html": "v1.1"})
    return admin.publish("com.example.demo", "1.1.0", zip_bytes=data, bundle_fields={"notes": "fixes"}).bundle, data


def test_device_on_builtin_gets_the_release_with_a_signed_url_and_signature(client, demo_app, released):
    bundle, data = released
    reply = check(client, demo_app, version="builtin", nativeBuild=100, deviceId="abc", channel="production").json
    assert reply["updateAvailable"] is True
    offered = reply["bundle"]
    assert {k: offered[k] for k in ("id", "version", "sha256", "size", "mandatory", "notes")} == {
        "id": bundle["id"], "version": "1.1.0", "sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
        "mandatory": False, "notes": "fixes"}
    assert offered["expiresAt"].endswith("Z") and "signature=" in offered["url"] and "expires=" in offered["url"]
    public_key = load_pem_public_key(client.get("/api/v1/signing-key").json["publicKey"].encode())
    public_key.verify(base64.b64decode(offered["signature"]), hashlib.sha256(data).digest())


def test_no_update_for_the_same_version_another_platform_or_an_old_binary(admin, client, demo_app):
    ios_only = admin.upload("com.example.demo", "2.0.0", platform="ios", minNativeBuild=200).json
    admin.release("com.example.demo", ios_only["id"])
    no_update = {"updateAvailable": False}
    assert unsigned(check(client, demo_app, version="2.0.0", nativeBuild=300).json) == {**no_update,
                                                                                        "reason": "up_to_date"}
    assert unsigned(check(client, demo_app, platform="android", nativeBuild=300).json) == {
        **no_update, "reason": "other_platform"}
    assert unsigned(check(client, demo_app, nativeBuild=100).json) == {**no_update, "reason": "native_build_too_low"}
    assert check(client, demo_app, nativeBuild=200).json["updateAvailable"] is True


def test_no_release_means_no_update(client, demo_app):
    assert unsigned(check(client, demo_app, version="builtin").json) == {"updateAvailable": False, "reason": "no_release"}


def test_client_key_is_required(client, demo_app, released):
    missing = client.get("/api/v1/apps/com.example.demo/check?platform=ios")
    assert missing.status_code == 401 and missing.json["error"]["code"] == "invalid_client_key"
    wrong = check(client, demo_app, client_key="otabox_ck_wrong")
    assert wrong.status_code == 401
    unknown_app = client.get("/api/v1/apps/com.example.nope/check", headers={"X-Client-Key": "x"})
    assert unknown_app.status_code == 404


def test_bad_check_parameters_are_400(client, demo_app):
    assert check(client, demo_app, platform="windows").json["error"]["details"] == {"field": "platform"}
    assert check(client, demo_app, nativeBuild="12a").status_code == 400


def test_download_streams_the_bundle_with_etag_and_ranges(client, demo_app, released):
    _, data = released
    url = local(check(client, demo_app).json["bundle"]["url"])
    full = client.get(url)
    assert full.status_code == 200 and full.data == data
    assert full.headers["Content-Type"] == "application/zip"
    assert full.headers["Content-Length"] == str(len(data))
    assert full.headers["ETag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    part = client.get(url, headers={"Range": "bytes=10-"})
    assert part.status_code == 206 and part.data == data[10:]
    assert part.headers["Content-Range"] == f"bytes 10-{len(data) - 1}/{len(data)}"


def test_tampered_or_expired_download_urls_are_403(client, box, demo_app, released):
    url = local(check(client, demo_app).json["bundle"]["url"])
    sha = url.split("/dl/")[1].split("?")[0]
    other = url.replace(sha, "0" * 64)
    assert client.get(other).json["error"]["code"] == "invalid_signature"
    assert client.get(url.replace("signature=", "signature=x")).status_code == 403
    assert client.get(url.replace("type=zip", "type=file")).status_code == 403
    query, _ = box.secrets.url_signer.query("download", f"{sha}:zip", ttl=-10)
    expired = client.get(f"/dl/{sha}?type=zip&{query}")
    assert expired.status_code == 403 and expired.json["error"]["code"] == "url_expired"
    assert client.get(f"/dl/../../etc/passwd?type=zip&{query}").status_code in (403, 404)


def test_signed_url_for_a_missing_file_is_404(client, box, demo_app, released):
    bundle, _ = released
    url = local(check(client, demo_app).json["bundle"]["url"])
    box.store.delete(bundle["sha256"])
    missing = client.get(url)
    assert missing.status_code == 404 and missing.json["error"]["code"] == "file_missing"


def test_public_url_setting_shapes_generated_urls(tmp_path):
    from conftest import Api, make_key

    from otabox.app import create_app
    from otabox.config import Config

    app = create_app(Config.from_env(data_dir=tmp_path / "d", public_url="https://ota.example.com/"))
    api = Api(app.test_client(), make_key(app.config["BOX"]))
    created = api.post("/api/v1/apps", {"slug": "com.example.pub"}).json
    bundle = api.upload("com.example.pub", "1.0.0").json
    api.release("com.example.pub", bundle["id"])
    url = check(api.client, created).json["bundle"]["url"]
    assert url.startswith("https://ota.example.com/dl/")
    app.config["BOX"].close()


def test_url_expiry_follows_the_configured_ttl(client, demo_app, released, box):
    expires_at = check(client, demo_app).json["bundle"]["url"].split("expires=")[1].split("&")[0]
    remaining = int(expires_at) - time.time()
    assert box.config.url_ttl - 1 <= remaining <= box.config.url_ttl + 61  # rounded up to the minute


def test_fast_path_and_flask_route_answer_alike(flask_app, client, demo_app, released):
    """The check is answered before Flask builds a request; the Flask route (used for anything the
    fast path passes on) must give the same bytes, errors included."""
    cases = [({"platform": "ios", "deviceId": "x"}, demo_app["clientKey"]),
             ({"platform": "ios", "version": "1.1.0"}, demo_app["clientKey"]),
             ({"platform": "windows"}, demo_app["clientKey"]),
             ({"platform": "ios"}, "wrong")]
    for params, key in cases:
        fast = client.get("/api/v1/apps/com.example.demo/check", query_string=params, headers={"X-Client-Key": key})
        with flask_app.test_request_context("/api/v1/apps/com.example.demo/check", query_string=params,
                                            headers={"X-Client-Key": key}):
            slow = flask_app.view_functions["native.check"]("com.example.demo")
        assert (fast.status_code, fast.content_type, fast.get_data()) == (
            slow.status_code, slow.content_type, slow.get_data())
    assert fast.headers["Content-Type"] == "application/json"
    head = client.head("/api/v1/apps/com.example.demo/check?platform=ios",
                       headers={"X-Client-Key": demo_app["clientKey"]})
    assert head.status_code == 200


def test_a_store_with_its_own_urls_gets_a_redirect(client, box, demo_app, released, monkeypatch):
    """Object stores (a later backend) serve the bytes themselves: the signed URL redirects there."""
    url = local(check(client, demo_app).json["bundle"]["url"])
    monkeypatch.setattr(box.store, "url", lambda sha256, expires_in: f"https://objects.example/{sha256}?sig=x")
    response = client.get(url)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("https://objects.example/")
    tampered = client.get(url.replace("signature=", "signature=x"))
    assert tampered.status_code == 403


def test_an_unexpected_failure_on_the_fast_path_is_a_json_500(client, demo_app, monkeypatch):
    from otabox.protocols.native import updates as native

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(native, "answer_check", broken)
    response = check(client, demo_app)
    assert response.status_code == 500
    assert response.json == {"error": {"code": "internal", "message": "internal server error", "details": {}}}
