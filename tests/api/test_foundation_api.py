"""The management API through HTTP: apps, channels, keys and roles, bundles, releases, errors."""
from __future__ import annotations

import datetime as dt
import io
import stat
import zipfile

import pytest
from conftest import Api, check, make_key, make_zip

from otabox.store.models import ApiKey, Bundle, Device, utcnow


def blob_files(box):
    return sorted(p.name for p in (box.config.data_dir / "blobs").rglob("*") if p.is_file())


def staged_files(box):
    return sorted(p.name for p in (box.config.data_dir / "tmp").iterdir())


# --- apps and channels -------------------------------------------------------------------------

def test_create_app_returns_its_identity_and_default_channels(admin, demo_app):
    assert demo_app["slug"] == "com.example.demo"
    assert demo_app["name"] == "Demo"
    assert demo_app["clientKey"].startswith("otabox_ck_")
    assert isinstance(demo_app["id"], int) and demo_app["createdAt"].endswith("Z")
    channels = admin.get("/api/v1/apps/com.example.demo/channels").json["channels"]
    assert [c["name"] for c in channels] == ["production", "staging"]
    assert all(c["currentRelease"] is None and len(c["deploymentKey"]) >= 30 for c in channels)
    by_id = admin.get(f"/api/v1/apps/{demo_app['id']}").json
    assert by_id["slug"] == "com.example.demo" and len(by_id["channels"]) == 2


@pytest.mark.parametrize("slug", ["demo", "com..x", ".com.x", "com.example/app", "", "com.ex ample", 42])
def test_app_slug_must_be_reverse_dns(admin, slug):
    response = admin.post("/api/v1/apps", {"slug": slug})
    assert response.status_code == 422
    assert response.json["error"]["code"] == "invalid_slug"
    assert response.json["error"]["details"] == {"field": "slug"}


def test_duplicate_app_is_a_conflict(admin, demo_app):
    response = admin.post("/api/v1/apps", {"slug": "com.example.demo"})
    assert response.status_code == 409
    assert response.json["error"]["code"] == "conflict"


def test_channels_can_be_added_configured_and_removed(admin, demo_app):
    created = admin.post("/api/v1/apps/com.example.demo/channels", {"name": "beta"})
    assert created.status_code == 201 and created.json["name"] == "beta"
    again = admin.post("/api/v1/apps/com.example.demo/channels", {"name": "beta", "allowDev": False})
    assert again.status_code == 200 and again.json["id"] == created.json["id"] and again.json["allowDev"] is False
    assert admin.post("/api/v1/apps/com.example.demo/channels", {"name": "bad name!"}).status_code == 422
    patched = admin.patch("/api/v1/apps/com.example.demo/channels/beta",
                          {"blockUpgrades": "major", "allowDeviceSelfAssign": True})
    assert patched.json["blockUpgrades"] == "major" and patched.json["allowDeviceSelfAssign"] is True
    rotated = admin.post("/api/v1/apps/com.example.demo/channels/beta/rotate-key")
    assert rotated.json["deploymentKey"] != created.json["deploymentKey"]
    assert admin.delete("/api/v1/apps/com.example.demo/channels/beta").json == {"deleted": True, "name": "beta",
                                                                                "wasDefault": False}
    missing = admin.get("/api/v1/apps/com.example.demo/channels/beta")
    assert missing.status_code == 404 and missing.json["error"]["code"] == "not_found"


def test_deleting_the_default_channel_says_the_app_has_none_now(admin, demo_app, client):
    deleted = admin.delete("/api/v1/apps/com.example.demo/channels/production")
    assert deleted.status_code == 200 and deleted.json["wasDefault"] is True
    assert "no updates" in deleted.json["warning"] and "--default" in deleted.json["warning"]
    assert admin.get("/api/v1/apps/com.example.demo").json["defaultChannel"] is None


def test_deleting_an_app_removes_its_bundle_files(admin, demo_app, box):
    admin.upload("com.example.demo", "1.0.0")
    assert blob_files(box)
    response = admin.delete("/api/v1/apps/com.example.demo")
    assert response.json == {"deleted": True, "id": demo_app["id"]}
    assert blob_files(box) == []
    assert admin.get("/api/v1/apps/com.example.demo").status_code == 404


# --- keys and roles ----------------------------------------------------------------------------

def test_requests_without_or_with_an_unknown_key_get_401(client, demo_app):
    no_key = client.get("/api/v1/apps")
    assert no_key.status_code == 401 and no_key.json["error"]["code"] == "unauthorized"
    bad = client.get("/api/v1/apps", headers={"Authorization": "Bearer otabox_sk_nope"})
    assert bad.status_code == 401 and "unknown" in bad.json["error"]["message"]


@pytest.mark.sqlite_only
def test_keys_are_stored_only_as_hashes(box, admin):
    key = make_key(box, "reader", "hash-check")
    with box.db.connection_context():
        row = ApiKey.get(ApiKey.name == "hash-check")
    assert key.startswith("otabox_sk_") and len(key) >= len("otabox_sk_") + 43
    assert key not in (row.key_hash, row.name) and len(row.key_hash) == 64
    assert key.encode() not in (box.config.data_dir / "otabox.db").read_bytes()


def test_reader_can_read_but_not_change(client, box, admin, demo_app):
    reader = Api(client, make_key(box, "reader"))
    assert reader.get("/api/v1/apps").json["apps"][0]["slug"] == "com.example.demo"
    denied = reader.post("/api/v1/apps", {"slug": "com.example.other"})
    assert denied.status_code == 403 and denied.json["error"]["details"] == {"required": "admin", "role": "reader"}
    assert reader.upload("com.example.demo", "1.0.0").status_code == 403


def test_publisher_uploads_and_releases_but_cannot_create_apps(client, box, admin, demo_app):
    publisher = Api(client, make_key(box, "publisher"))
    bundle = publisher.upload("com.example.demo", "1.0.0")
    assert bundle.status_code == 201
    assert publisher.release("com.example.demo", bundle.json["id"]).status_code == 201
    assert publisher.post("/api/v1/apps", {"slug": "com.example.other"}).status_code == 403


def test_app_scoped_key_sees_and_touches_only_its_app(client, box, admin, demo_app):
    admin.post("/api/v1/apps", {"slug": "com.example.other"})
    with box.db.connection_context():
        from otabox.store.models import App
        scoped = Api(client, make_key(box, "admin", "scoped", App.get(App.slug == "com.example.demo")))
    assert [a["slug"] for a in scoped.get("/api/v1/apps").json["apps"]] == ["com.example.demo"]
    other = scoped.get("/api/v1/apps/com.example.other/bundles")
    assert other.status_code == 403 and other.json["error"]["code"] == "forbidden"
    assert scoped.upload("com.example.demo", "1.0.0").status_code == 201


# --- bundles -----------------------------------------------------------------------------------

def test_upload_stores_the_file_under_its_sha256_and_answers_the_bundle(admin, demo_app, box):
    data = make_zip()
    response = admin.upload("com.example.demo", "1.2.3", data, platform="ios", minNativeBuild=12, notes="first")
    assert response.status_code == 201
    body = response.json
    import hashlib
    assert body["sha256"] == hashlib.sha256(data).hexdigest() and body["size"] == len(data)
    assert (body["version"], body["platform"], body["minNativeBuild"], body["notes"]) == ("1.2.3", "ios", 12, "first")
    stored = box.config.data_dir / "blobs" / body["sha256"][:2] / body["sha256"]
    assert stored.read_bytes() == data
    assert staged_files(box) == []


def test_same_version_twice_is_a_conflict_and_leaves_nothing_behind(admin, demo_app, box):
    admin.upload("com.example.demo", "1.0.0")
    before = blob_files(box)
    response = admin.upload("com.example.demo", "1.0.0", make_zip({"index.html": "other"}))
    assert response.status_code == 409 and response.json["error"]["code"] == "duplicate_version"
    assert blob_files(box) == before and staged_files(box) == []


def _zip_with(entry: zipfile.ZipInfo, content=b"x") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.html", "ok")
        archive.writestr(entry, content)
    return buffer.getvalue()


def _symlink_entry():
    info = zipfile.ZipInfo("link")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.parametrize("payload,code", [
    (b"not a zip at all", "invalid_zip"),
    (make_zip({"../evil.js": "x"}), "unsafe_zip_entry"),
    (make_zip({"/etc/passwd": "x"}), "unsafe_zip_entry"),
    (make_zip({"a\\..\\b": "x"}), "unsafe_zip_entry"),
    (_zip_with(_symlink_entry(), b"/etc/passwd"), "unsafe_zip_entry"),
    (b"", "invalid_zip"),
])
def test_unsafe_or_broken_zips_are_refused_with_422(admin, demo_app, box, payload, code):
    response = admin.upload("com.example.demo", "1.0.0", payload)
    assert response.status_code == 422
    assert response.json["error"]["code"] == code
    assert blob_files(box) == [] and staged_files(box) == []
    with box.db.connection_context():
        assert Bundle.select().count() == 0


def test_zip_level_encryption_is_refused(admin, demo_app):
    data = bytearray(make_zip({"index.html": "secret"}))
    # Set the "encrypted" general-purpose flag in both the local and the central header.
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(signature)
        data[at + offset] |= 0x01
    response = admin.upload("com.example.demo", "1.0.0", bytes(data))
    assert response.status_code == 422 and response.json["error"]["code"] == "encrypted_zip"


def test_zip_bombs_are_refused(tmp_path):
    from otabox.app import create_app
    from otabox.config import Config

    app = create_app(Config.from_env(data_dir=tmp_path / "d", max_uncompressed_mb=1, max_zip_entries=10))
    api = Api(app.test_client(), make_key(app.config["BOX"]))
    api.post("/api/v1/apps", {"slug": "com.example.bomb"})
    bomb = make_zip({"zeros.bin": b"\0" * (3 * 1024 * 1024)})
    assert len(bomb) < 20_000
    response = api.upload("com.example.bomb", "1.0.0", bomb)
    assert response.status_code == 422 and response.json["error"]["code"] == "zip_bomb"
    many = api.upload("com.example.bomb", "1.0.1", make_zip({f"f{i}": "x" for i in range(11)}))
    assert many.status_code == 422 and many.json["error"]["code"] == "zip_too_many_entries"
    app.config["BOX"].close()


def test_bundles_over_the_size_limit_get_413(tmp_path):
    import os as _os

    from otabox.app import create_app
    from otabox.config import Config

    app = create_app(Config.from_env(data_dir=tmp_path / "d", max_bundle_mb=1))
    box = app.config["BOX"]
    api = Api(app.test_client(), make_key(box))
    api.post("/api/v1/apps", {"slug": "com.example.big"})
    big = make_zip({"random.bin": _os.urandom(1024 * 1024 + 10)})
    response = api.upload("com.example.big", "1.0.0", big)
    assert response.status_code == 413 and response.json["error"]["code"] == "too_large"
    assert blob_files(box) == [] and staged_files(box) == []
    box.close()


@pytest.mark.parametrize("fields,field", [
    ({"version": "1.0"}, "version"), ({"version": "latest"}, "version"), ({"version": "1.0.0", "platform": "web"}, "platform"),
    ({"version": "1.0.0", "minNativeBuild": "abc"}, "minNativeBuild"), ({"version": "1.0.0", "targetVersions": ">>1"}, "targetVersions"),
])
def test_bad_bundle_fields_are_400_with_the_field_named(admin, demo_app, fields, field):
    version = fields.pop("version")
    response = admin.upload("com.example.demo", version, **fields)
    assert response.status_code == 400
    assert response.json["error"]["details"]["field"] == field


def test_upload_needs_multipart_with_a_file(admin, demo_app):
    response = admin.post("/api/v1/apps/com.example.demo/bundles", {"version": "1.0.0"})
    assert response.status_code == 400 and response.json["error"]["code"] == "expected_multipart"


def test_bundle_list_is_paged_newest_first(admin, demo_app):
    for patch in range(3):
        admin.upload("com.example.demo", f"1.0.{patch}", make_zip({"index.html": str(patch)}))
    page = admin.get("/api/v1/apps/com.example.demo/bundles?limit=2&offset=0").json
    assert page["total"] == 3 and [b["version"] for b in page["bundles"]] == ["1.0.2", "1.0.1"]
    rest = admin.get("/api/v1/apps/com.example.demo/bundles?limit=2&offset=2").json
    assert [b["version"] for b in rest["bundles"]] == ["1.0.0"]
    assert admin.get("/api/v1/apps/com.example.demo/bundles?limit=x").status_code == 400


def test_bundle_list_filters_by_version(admin, demo_app):
    for version, platform in (("1.0.0", "ios"), ("1.0.0", "android"), ("1.1.0", "all")):
        admin.upload("com.example.demo", version, make_zip({"index.html": version + platform}), platform=platform)
    found = admin.get("/api/v1/apps/com.example.demo/bundles?version=1.0.0").json
    assert found["total"] == 2 and sorted(b["platform"] for b in found["bundles"]) == ["android", "ios"]
    assert admin.get("/api/v1/apps/com.example.demo/bundles?version=9.9.9").json == {"bundles": [], "total": 0}


def test_the_apps_list_shows_devices_of_the_last_30_days_and_the_production_release(admin, client, demo_app, box):
    listed = admin.get("/api/v1/apps").json["apps"][0]
    assert (listed["devicesLast30Days"], listed["productionRelease"]) == (0, None)
    bundle = admin.upload("com.example.demo", "1.0.0").json
    admin.release("com.example.demo", bundle["id"], rollout=40)
    admin.release("com.example.demo", bundle["id"], "staging")
    for device in ("a", "b", "c"):
        check(client, demo_app, deviceId=device, version="builtin")
    box.tracker.flush()
    with box.db.connection_context():
        Device.update(last_seen=utcnow() - dt.timedelta(days=31)).where(Device.device_id == "c").execute()
    listed = admin.get("/api/v1/apps").json["apps"][0]
    assert listed["devicesLast30Days"] == 2
    production = listed["productionRelease"]
    assert (production["channel"], production["bundleVersion"], production["rollout"]) == ("production", "1.0.0", 40)


def test_delete_bundle_refuses_released_ones_and_removes_unused_files(admin, demo_app, box):
    released = admin.upload("com.example.demo", "1.0.0").json
    admin.release("com.example.demo", released["id"])
    in_use = admin.delete(f"/api/v1/apps/com.example.demo/bundles/{released['id']}")
    assert in_use.status_code == 409 and in_use.json["error"]["code"] == "bundle_in_use"
    spare = admin.upload("com.example.demo", "2.0.0", make_zip({"only-in-two.txt": "2"})).json
    assert admin.delete(f"/api/v1/apps/com.example.demo/bundles/{spare['id']}").json == {
        "deleted": True, "id": spare["id"], "ids": [spare["id"]]}
    assert spare["sha256"] not in blob_files(box) and released["sha256"] in blob_files(box)
    assert admin.get(f"/api/v1/apps/com.example.demo/bundles/{spare['id']}").status_code == 404


# --- two-step upload ---------------------------------------------------------------------------

def _initiate(admin, data, **extra):
    import hashlib
    body = {"version": "3.0.0", "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), **extra}
    return admin.post("/api/v1/apps/com.example.demo/bundles/initiate", body)


def _path(url):
    return url.split("://", 1)[1].split("/", 1)[1].join(["/", ""])


def test_two_step_upload_creates_the_bundle(admin, demo_app, client, box):
    data = make_zip({"index.html": "two-step"})
    ticket = _initiate(admin, data, platform="android", notes="ci")
    assert ticket.status_code == 201 and ticket.json["uploadUrl"].startswith("http://localhost/uploads/")
    put = client.put(_path(ticket.json["uploadUrl"]), data=data)
    assert put.status_code == 200, put.json
    done = admin.post("/api/v1/apps/com.example.demo/bundles/finalize", {"uploadId": ticket.json["uploadId"]})
    assert done.status_code == 201
    assert (done.json["version"], done.json["platform"], done.json["notes"]) == ("3.0.0", "android", "ci")
    assert staged_files(box) == []


def test_two_step_upload_with_other_bytes_is_refused_and_removed(admin, demo_app, client, box):
    data = make_zip({"index.html": "announced"})
    ticket = _initiate(admin, data).json
    client.put(_path(ticket["uploadUrl"]), data=make_zip({"index.html": "different"})[:len(data)].ljust(len(data), b"x"))
    done = admin.post("/api/v1/apps/com.example.demo/bundles/finalize", {"uploadId": ticket["uploadId"]})
    assert done.status_code == 422 and done.json["error"]["code"] == "checksum_mismatch"
    assert staged_files(box) == [] and blob_files(box) == []
    again = admin.post("/api/v1/apps/com.example.demo/bundles/finalize", {"uploadId": ticket["uploadId"]})
    assert again.status_code == 404


def test_upload_url_must_be_signed_and_unexpired(admin, demo_app, client, box):
    data = make_zip()
    ticket = _initiate(admin, data).json
    tampered = _path(ticket["uploadUrl"]).replace("signature=", "signature=A")
    assert client.put(tampered, data=data).json["error"]["code"] == "invalid_signature"
    with box.db.connection_context():
        import datetime as dt

        from otabox.store.models import Upload
        Upload.update(expires_at=dt.datetime(2000, 1, 1)).execute()
    done = admin.post("/api/v1/apps/com.example.demo/bundles/finalize", {"uploadId": ticket["uploadId"]})
    assert done.status_code == 410 and done.json["error"]["code"] == "upload_expired"


# --- releases ----------------------------------------------------------------------------------

def test_release_answers_the_release_and_the_one_it_replaced(admin, demo_app):
    first = admin.upload("com.example.demo", "1.0.0").json
    second = admin.upload("com.example.demo", "1.1.0", make_zip({"index.html": "1.1"})).json
    one = admin.release("com.example.demo", first["id"], notes="hello")
    assert one.status_code == 201
    assert one.json["previousRelease"] is None
    release = one.json["release"]
    assert (release["channel"], release["bundleId"], release["bundleVersion"], release["mandatory"],
            release["notes"]) == ("production", first["id"], "1.0.0", False, "hello")
    two = admin.release("com.example.demo", second["id"], mandatory=True).json
    assert two["previousRelease"]["id"] == release["id"] and two["release"]["mandatory"] is True
    listed = admin.get("/api/v1/apps/com.example.demo/releases?channel=production").json
    assert listed["total"] == 2 and [r["bundleVersion"] for r in listed["releases"]] == ["1.1.0", "1.0.0"]
    channel = admin.get("/api/v1/apps/com.example.demo/channels/production").json
    assert channel["currentRelease"]["bundleVersion"] == "1.1.0"


def test_release_of_unknown_bundle_or_channel_is_404(admin, demo_app):
    bundle = admin.upload("com.example.demo", "1.0.0").json
    assert admin.release("com.example.demo", 999).status_code == 404
    assert admin.release("com.example.demo", bundle["id"], channel="nope").status_code == 404
    bad = admin.release("com.example.demo", bundle["id"], rollout=150)
    assert bad.status_code == 400 and bad.json["error"]["details"] == {"field": "rollout"}


# --- errors everywhere --------------------------------------------------------------------------

def test_unknown_routes_and_methods_answer_json(client):
    missing = client.get("/no/such/thing")
    assert missing.status_code == 404 and missing.json["error"]["code"] == "not_found"
    wrong = client.delete("/healthz")
    assert wrong.status_code == 405 and wrong.json["error"]["code"] == "method_not_allowed"


def test_bad_json_is_400(admin, demo_app):
    response = admin.client.post("/api/v1/apps", data="{nope", headers={**admin._headers(),
                                                                        "Content-Type": "application/json"})
    assert response.status_code == 400 and response.json["error"]["code"] == "invalid_json"
    wrong_type = admin.post("/api/v1/apps", [1, 2])
    assert wrong_type.status_code == 400 and wrong_type.json["error"]["code"] == "invalid_json"


def test_health_and_signing_key_need_no_key(client):
    assert client.get("/healthz").json == {"status": "ok"}
    key = client.get("/api/v1/signing-key").json
    assert key["algorithm"] == "ed25519" and key["publicKey"].startswith("-----BEGIN PUBLIC KEY-----")


def test_every_mutation_is_audited(admin, demo_app):
    bundle = admin.upload("com.example.demo", "1.0.0").json
    admin.release("com.example.demo", bundle["id"])
    entries = admin.get("/api/v1/audit-log").json["entries"]
    assert [e["action"] for e in entries][:3] == ["release.created", "bundle.created", "app.created"]
    assert entries[0]["actor"] == "admin" and entries[0]["entityType"] == "release"
    with_release = admin.get("/api/v1/audit-log?entityType=bundle").json["entries"]
    assert [e["details"]["version"] for e in with_release] == ["1.0.0"]


def test_client_key_can_be_rotated(admin, client, demo_app):
    from conftest import check, unsigned

    rotated = admin.post("/api/v1/apps/com.example.demo/rotate-client-key")
    assert rotated.status_code == 200 and rotated.json["clientKey"] != demo_app["clientKey"]
    assert check(client, demo_app).status_code == 401
    assert unsigned(check(client, demo_app, client_key=rotated.json["clientKey"]).json) == {
        "updateAvailable": False, "reason": "no_release"}
    assert admin.get("/api/v1/audit-log?action=app.client_key_rotated").json["entries"][0]["entityId"] == str(
        demo_app["id"])
