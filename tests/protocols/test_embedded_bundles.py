"""The bundles embedded in store binaries (POST/GET /api/v1/apps/:app/embedded-bundles, `otabox expo
embed`): recorded per runtime or native version, and an Expo device that never took an update (its
current update is the embedded one) gets its first update as a 226 patch from the embedded bundle;
anything in doubt still answers the full asset."""
from __future__ import annotations

import io
import uuid

import bsdiff4
import pytest
from conftest import make_zip
from support import run_otabox
from test_expo import APP, get_manifest, manifest_of
from test_expo_patches import bundle_text, launch_request, publish_release

from otabox.ops.maintenance import collect_garbage
from otabox.store.models import AuditEntry, EmbeddedBundle

EMBEDDED_ID = str(uuid.UUID(int=27))


def embed(admin, data: bytes, app=APP, **fields):
    form = {"file": (io.BytesIO(data), "main.jsbundle"), **fields}
    return admin.client.post(f"/api/v1/apps/{app}/embedded-bundles", data=form, content_type="multipart/form-data",
                             headers={"Authorization": f"Bearer {admin.key}"})


def embedded_launch_bytes() -> bytes:
    return bundle_text("0.9.0").encode()


@pytest.fixture
def on_embedded(admin, client, box, demo_app, tmp_path):
    """The binary's launch bundle recorded for runtime 1.0.0 on iOS, then update 1.0.1 released and the
    patch maker run."""
    recorded = embed(admin, embedded_launch_bytes(), platform="ios", runtimeVersion="1.0.0",
                     updateId=EMBEDDED_ID.upper())
    assert recorded.status_code == 201, recorded.json
    fixture, bundle, _ = publish_release(admin, tmp_path, "1.0.1")
    manifest = manifest_of(get_manifest(client, expo_embedded_update_id=EMBEDDED_ID))
    with box.db.connection_context():
        made = box.patch_maker.run()
    return {"recorded": recorded.json, "manifest": manifest, "new_bytes": fixture.bundles["ios"][1],
            "made": made, "bundle": bundle}


def test_an_embedded_bundle_is_recorded_and_listed_per_runtime_version(admin, on_embedded):
    recorded = on_embedded["recorded"]
    assert {k: recorded[k] for k in ("platform", "runtimeVersion", "nativeVersion", "updateId", "size")} == {
        "platform": "ios", "runtimeVersion": "1.0.0", "nativeVersion": None, "updateId": EMBEDDED_ID,
        "size": len(embedded_launch_bytes())}
    assert embed(admin, make_zip(), platform="android", nativeVersion="3.1.0").status_code == 201
    listed = admin.get(f"/api/v1/apps/{APP}/embedded-bundles").json
    assert [group["runtimeVersion"] for group in listed["runtimeVersions"]] == ["1.0.0"]
    assert listed["runtimeVersions"][0]["embeddedBundles"] == [recorded]
    assert [(g["nativeVersion"], [e["platform"] for e in g["embeddedBundles"]]) for g in listed["nativeVersions"]] == [
        ("3.1.0", ["android"])]
    only = admin.get(f"/api/v1/apps/{APP}/embedded-bundles?runtimeVersion=2.0.0").json
    assert only["embeddedBundles"] == [] and only["runtimeVersions"] == []


def test_uploading_the_same_binarys_bundle_again_replaces_it(admin, box, on_embedded):
    again = embed(admin, b"another build", platform="ios", runtimeVersion="1.0.0", updateId=EMBEDDED_ID)
    assert again.status_code == 201 and again.json["id"] == on_embedded["recorded"]["id"]
    assert again.json["size"] == len(b"another build")
    with box.db.connection_context():
        assert EmbeddedBundle.select().count() == 1
        assert AuditEntry.select().where(AuditEntry.action == "embedded_bundle.recorded").count() == 2


@pytest.mark.parametrize("fields, status, field", [
    ({"platform": "ios", "runtimeVersion": "1", "updateId": EMBEDDED_ID, "channel": "x"}, 400, "channel"),
    ({"platform": "ios", "runtimeVersion": "1", "updateid": EMBEDDED_ID}, 400, "updateid"),
    ({"platform": "web", "runtimeVersion": "1", "updateId": EMBEDDED_ID}, 400, "platform"),
    ({"platform": "ios", "runtimeVersion": "1"}, 400, "updateId"),
    ({"platform": "ios", "runtimeVersion": "1", "updateId": "not-a-uuid"}, 400, "updateId"),
    ({"platform": "ios", "runtimeVersion": "1", "nativeVersion": "1", "updateId": EMBEDDED_ID}, 400, "runtimeVersion"),
    ({"platform": "ios"}, 400, "runtimeVersion"),
    ({"platform": "ios", "nativeVersion": "1", "updateId": EMBEDDED_ID}, 400, "updateId"),
    ({"platform": "ios", "nativeVersion": "1"}, 422, "file"),  # the native builtin bundle is a zip
], ids=["unknown", "misspelt", "platform", "no-update-id", "bad-update-id", "both-versions", "no-version",
        "native-update-id", "native-not-zip"])
def test_embedded_fields_are_strict(admin, box, demo_app, fields, status, field):
    refused = embed(admin, b"not a zip", **fields)
    assert refused.status_code == status, refused.json
    assert field in str(refused.json["error"]), refused.json
    with box.db.connection_context():
        assert EmbeddedBundle.select().count() == 0


def test_a_device_that_never_took_an_update_gets_a_patch_from_the_embedded_bundle(client, on_embedded):
    for headers in ({"expo_embedded_update_id": EMBEDDED_ID}, {}):  # the SDK sends it; without it, still the base
        answer = launch_request(client, on_embedded["manifest"], EMBEDDED_ID.upper(), **headers)
        assert answer.status_code == 226, headers
        assert answer.headers["expo-base-update-id"] == EMBEDDED_ID
        assert bsdiff4.patch(embedded_launch_bytes(), answer.data) == on_embedded["new_bytes"]


@pytest.mark.parametrize("case", ["other-runtime", "other-platform", "unknown-embedded", "other-app"])
def test_an_embedded_base_of_another_runtime_platform_or_app_gets_the_full_asset(admin, client, box, on_embedded,
                                                                                 tmp_path, case):
    current = EMBEDDED_ID
    platform = "ios"
    if case == "other-runtime":
        current = str(uuid.uuid4())
        assert embed(admin, embedded_launch_bytes(), platform="ios", runtimeVersion="2.0.0",
                     updateId=current).status_code == 201
    elif case == "other-platform":
        platform = "android"
    elif case == "unknown-embedded":
        current = str(uuid.uuid4())
    else:
        assert admin.post("/api/v1/apps", {"slug": "com.example.other", "name": "Other"}).status_code == 201
        current = str(uuid.uuid4())
        assert embed(admin, embedded_launch_bytes(), app="com.example.other", platform="ios", runtimeVersion="1.0.0",
                     updateId=current).status_code == 201
    with box.db.connection_context():
        box.patch_maker.run()
    answer = launch_request(client, on_embedded["manifest"], current, platform=platform,
                            expo_embedded_update_id=current)
    assert answer.status_code == 200 and "IM" not in answer.headers
    if platform == "ios":
        assert answer.data == on_embedded["new_bytes"]


def test_the_embedded_bundle_survives_garbage_collection(box, on_embedded, monkeypatch):
    monkeypatch.setattr("otabox.ops.maintenance.BLOB_GRACE_SECONDS", -60)
    with box.db.connection_context():
        collect_garbage(box)
    assert box.store.exists(on_embedded["recorded"]["sha256"])


def test_otabox_expo_embed_records_the_bundle(box, demo_app, tmp_path):
    bundle = tmp_path / "main.jsbundle"
    bundle.write_bytes(embedded_launch_bytes())
    ran = run_otabox("expo", "embed", "--app", APP, "--platform", "android", "--runtime-version", "1.0.0",
                     "--update-id", EMBEDDED_ID, str(bundle), "--data-dir", str(box.config.data_dir))
    assert ran.returncode == 0, ran.stderr
    assert "runtime version 1.0.0" in ran.stdout
    refused = run_otabox("expo", "embed", "--app", APP, "--platform", "android", "--runtime-version", "1.0.0",
                         str(bundle), "--data-dir", str(box.config.data_dir))
    assert refused.returncode == 1 and "updateId" in refused.stderr
    with box.db.connection_context():
        rows = [(e.platform, e.runtime_version, e.update_id, e.size) for e in EmbeddedBundle.select()]
    assert rows == [("android", "1.0.0", EMBEDDED_ID, len(embedded_launch_bytes()))]
