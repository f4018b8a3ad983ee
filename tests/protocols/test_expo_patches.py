"""Expo Updates bundle diffing as expo-updates (SDK 55+, enableBsdiffPatchSupport) asks for it: the
launch asset request with `A-IM: bsdiff` and the update ids answers `226 IM Used` with a BSDIFF40
patch that bspatch turns into the exact new launch asset, once the patch maker made it; anything in
doubt answers the full asset with 200."""
from __future__ import annotations

import hashlib
import random
import shutil
import subprocess
import uuid
from urllib.parse import urlsplit

import bsdiff4
import pytest
from conftest import Api, make_key
from test_expo import APP, export_zip, get_manifest, manifest_of, upload_expo

from otabox.app import create_app
from otabox.config import Config
from otabox.core import patches
from otabox.ops.maintenance import collect_garbage
from otabox.store.models import AuditEntry, ReleaseTransfer

WORDS = ["function", "return", "const", "let", "var", "this", "props", "state", "render", "React",
         "createElement", "useState", "useEffect", "null", "undefined", "true", "false", "=>", "{", "}"]


def bundle_text(version: str, size: int = 60_000) -> str:
    """A JS-like bundle whose releases differ in a few places, as consecutive builds of an app do."""
    rng = random.Random(1)
    words = [rng.choice(WORDS) + str(rng.randrange(1000)) for _ in range(size // 8)]
    for position in (10, len(words) // 2, len(words) - 5):
        words[position] = f"/*v{version}*/"
    return " ".join(words)


def publish(admin, tmp_path, version, bundle_text, runtime="1.0.0"):
    """Upload an export whose launch assets hold `bundle_text` and release it to production."""
    fixture, data = export_zip(tmp_path, f"dist-{version}-{runtime}", bundle_text=bundle_text)
    bundle = upload_expo(admin, data, version, runtime)
    assert bundle.status_code == 201, bundle.json
    assert admin.release(APP, bundle.json["id"], "production").status_code == 201
    return fixture, bundle.json, None


def publish_release(admin, tmp_path, version, runtime="1.0.0"):
    return publish(admin, tmp_path, version, bundle_text(version), runtime)


def launch_request(client, manifest, current_id, platform="ios", **headers):
    url = urlsplit(manifest["launchAsset"]["url"])
    sent = {"expo-platform": platform, "expo-api-version": "1", "a-im": "bsdiff",
            "expo-current-update-id": current_id, "expo-requested-update-id": manifest["id"],
            "expo-runtime-version": "1.0.0", **{k.replace("_", "-"): v for k, v in headers.items()}}
    return client.get(f"{url.path}?{url.query}", headers={k: v for k, v in sent.items() if v is not None})


@pytest.fixture
def two_updates(admin, client, box, demo_app, tmp_path):
    """1.0.0 then 1.0.1 on production; the manifests a device saw for each, and the patch maker run."""
    old_fixture, _, _ = publish_release(admin, tmp_path, "1.0.0")
    old = manifest_of(get_manifest(client))
    new_fixture, new_bundle, _ = publish_release(admin, tmp_path, "1.0.1")
    new = manifest_of(get_manifest(client, expo_current_update_id=old["id"]))
    with box.db.connection_context():
        made = box.patch_maker.run()
    return {"old": old, "new": new, "old_bytes": old_fixture.bundles["ios"][1],
            "new_bytes": new_fixture.bundles["ios"][1], "made": made, "bundle": new_bundle}


def test_a_device_on_the_previous_update_gets_a_bsdiff_patch_that_rebuilds_the_launch_asset(client, two_updates):
    answer = launch_request(client, two_updates["new"], two_updates["old"]["id"].upper())
    assert answer.status_code == 226
    assert answer.headers["IM"] == "bsdiff"
    assert answer.headers["expo-base-update-id"] == two_updates["old"]["id"].lower()
    assert answer.headers["Cache-Control"] == "private, no-store"
    assert answer.data.startswith(b"BSDIFF40")
    rebuilt = bsdiff4.patch(two_updates["old_bytes"], answer.data)
    assert rebuilt == two_updates["new_bytes"]
    assert hashlib.sha256(rebuilt).hexdigest() == hashlib.sha256(two_updates["new_bytes"]).hexdigest()
    full = launch_request(client, two_updates["new"], two_updates["old"]["id"], a_im=None)
    assert full.status_code == 200 and full.data == two_updates["new_bytes"]
    assert len(answer.data) <= patches.WORTH_RATIO * patches.compressed_size(full.data)


@pytest.mark.parametrize("platform", ["ios", "android"])
def test_a_patch_request_without_expo_platform_gets_the_patch_of_the_requested_assets_platform(
        admin, client, box, demo_app, tmp_path, platform):
    """expo-updates sends Expo-Platform on asset requests, but otabox does not depend on it: the
    requested update's launch asset names the platform."""
    old_fixture, _, _ = publish_release(admin, tmp_path, "1.0.0")
    old = manifest_of(get_manifest(client, platform=platform))
    new_fixture, _, _ = publish_release(admin, tmp_path, "1.0.1")
    new = manifest_of(get_manifest(client, platform=platform, expo_current_update_id=old["id"]))
    with box.db.connection_context():
        box.patch_maker.run()
    answer = launch_request(client, new, old["id"], platform=None)
    assert answer.status_code == 226 and answer.headers["IM"] == "bsdiff"
    assert bsdiff4.patch(old_fixture.bundles[platform][1], answer.data) == new_fixture.bundles[platform][1]


@pytest.mark.skipif(shutil.which("bspatch") is None, reason="Debian's bsdiff package (bspatch) is not installed")
def test_the_original_bspatch_applies_the_served_patch(client, two_updates, tmp_path):
    """The format expo-updates applies is the original bspatch's: Debian's bspatch rebuilds the asset."""
    answer = launch_request(client, two_updates["new"], two_updates["old"]["id"])
    assert answer.status_code == 226
    (tmp_path / "old").write_bytes(two_updates["old_bytes"])
    (tmp_path / "patch").write_bytes(answer.data)
    subprocess.run(["bspatch", str(tmp_path / "old"), str(tmp_path / "new"), str(tmp_path / "patch")], check=True)
    assert (tmp_path / "new").read_bytes() == two_updates["new_bytes"]


def test_patches_are_made_once_recorded_and_audited(box, client, two_updates):
    assert [outcome["format"] for outcome in two_updates["made"]] == ["bsdiff", "bsdiff"]  # ios and android
    with box.db.connection_context():
        assert box.patch_maker.run() == []  # nothing left to make
        actions = [entry.action for entry in AuditEntry.select().where(AuditEntry.action.startswith("patch."))]
        extra = box.serving.app(APP).bundles[two_updates["bundle"]["id"]].extra
    assert actions == ["patch.made", "patch.made"]
    for outcome in two_updates["made"]:
        assert outcome["sha256"] in extra["blobs"] and box.store.exists(outcome["sha256"])


def test_until_the_patch_is_made_the_full_asset_is_served(admin, client, box, demo_app, tmp_path):
    publish_release(admin, tmp_path, "1.0.0")
    old = manifest_of(get_manifest(client))
    new_fixture, _, _ = publish_release(admin, tmp_path, "1.0.1")
    new = manifest_of(get_manifest(client, expo_current_update_id=old["id"]))
    answer = launch_request(client, new, old["id"])
    assert answer.status_code == 200 and answer.data == new_fixture.bundles["ios"][1]
    assert "IM" not in answer.headers


@pytest.mark.parametrize("headers", [
    {"expo-current-update-id": str(uuid.uuid4())},                       # an update otabox never served
    {"expo-current-update-id": "not-a-uuid"},                            # malformed
    {"expo-current-update-id": None},                                    # no base at all
    {"expo-requested-update-id": str(uuid.uuid4())},                     # an unknown target
    {"expo-platform": "android"},                                        # the other platform's asset asked for
    {"a-im": "vcdiff"},                                                  # a manipulation otabox does not make
    {"expo-embedded-update-id": "CURRENT"},                              # the base is the embedded update
], ids=["unknown", "malformed", "missing", "unknown-target", "other-platform", "vcdiff", "embedded"])
def test_any_doubt_about_the_base_answers_the_full_asset(client, two_updates, headers):
    if headers.get("expo-embedded-update-id") == "CURRENT":
        headers = {"expo-embedded-update-id": two_updates["old"]["id"]}
    answer = launch_request(client, two_updates["new"], two_updates["old"]["id"], **headers)
    assert answer.status_code == 200
    assert answer.data == two_updates["new_bytes"]
    assert "IM" not in answer.headers and "expo-base-update-id" not in answer.headers


def test_a_base_of_another_app_or_runtime_gets_the_full_asset(admin, client, box, two_updates, tmp_path):
    assert admin.post("/api/v1/apps", {"slug": "com.example.other", "name": "Other"}).status_code == 201
    other = admin.upload("com.example.other", "9.0.0", (tmp_path / "dist-1.0.0-1.0.0.zip").read_bytes(),
                         format="expo", runtimeVersion="1.0.0")
    assert admin.release("com.example.other", other.json["id"]).status_code == 201
    foreign = manifest_of(client.get("/expo/com.example.other/manifest", headers={
        "expo-protocol-version": "1", "expo-platform": "ios", "expo-runtime-version": "1.0.0",
        "accept": "multipart/mixed"}))
    answer = launch_request(client, two_updates["new"], foreign["id"])
    assert answer.status_code == 200 and answer.data == two_updates["new_bytes"]

    publish_release(admin, tmp_path, "2.0.0", runtime="2.0.0")
    other_runtime = manifest_of(get_manifest(client, runtime="2.0.0"))
    answer = launch_request(client, two_updates["new"], other_runtime["id"])
    assert answer.status_code == 200 and answer.data == two_updates["new_bytes"]


def test_a_truncated_or_missing_patch_in_storage_answers_the_full_asset(client, box, two_updates):
    patch_sha = next(o["sha256"] for o in two_updates["made"])
    paths = [box.store.local_path(o["sha256"]) for o in two_updates["made"]]
    for path in paths:
        path.write_bytes(path.read_bytes()[:20])
    answer = launch_request(client, two_updates["new"], two_updates["old"]["id"])
    assert answer.status_code == 200 and answer.data == two_updates["new_bytes"]
    for path in paths:
        path.unlink()
    assert not box.store.exists(patch_sha)
    answer = launch_request(client, two_updates["new"], two_updates["old"]["id"])
    assert answer.status_code == 200 and answer.data == two_updates["new_bytes"]


def test_a_forged_or_foreign_launch_asset_url_is_refused(client, two_updates):
    url = urlsplit(two_updates["new"]["launchAsset"]["url"])
    assert client.get(f"{url.path}?{url.query.replace('signature=', 'signature=x')}").status_code == 403
    assert client.get(f"{url.path.replace(APP, 'com.example.nope')}?{url.query}").status_code == 403
    assert client.get(url.path).status_code == 403


def test_pairs_too_large_for_the_memory_budget_and_patches_not_worth_it_are_skipped(
        admin, client, box, demo_app, tmp_path):
    publish(admin, tmp_path, "1.0.0", bundle_text=bundle_text("1.0.0", size=4000))
    publish(admin, tmp_path, "1.0.1", bundle_text="".join(random.Random(2).choice("abcdef") for _ in range(4000)))
    with box.db.connection_context():
        assert [o for o in box.patch_maker.run()] == [{"skipped": "not_smaller"}] * 2
    publish(admin, tmp_path, "1.0.2", bundle_text=bundle_text("1.0.2", size=4000))
    box.config.patch_max_input_mb = 0
    with box.db.connection_context():
        assert {o["skipped"] for o in box.patch_maker.run()} == {"too_large"}
    old = manifest_of(get_manifest(client))
    assert launch_request(client, old, old["id"]).status_code == 200


def test_patches_go_with_their_bundles_and_survive_gc_while_they_live(admin, box, two_updates):
    patch_shas = {o["sha256"] for o in two_updates["made"]}
    with box.db.connection_context():
        collect_garbage(box)
    assert all(box.store.exists(sha) for sha in patch_shas)
    assert admin.delete(f"/api/v1/apps/{APP}").status_code == 200
    assert not any(box.store.exists(sha) for sha in patch_shas)


def test_metrics_count_patch_hits_misses_fallbacks_and_bytes(box, client, two_updates):
    box.config.metrics_public = True
    patched = launch_request(client, two_updates["new"], two_updates["old"]["id"])
    assert patched.status_code == 226
    assert launch_request(client, two_updates["new"], two_updates["new"]["id"]).status_code == 200  # no patch: miss
    assert launch_request(client, two_updates["new"], str(uuid.uuid4())).status_code == 200  # unknown base: fallback
    assert launch_request(client, two_updates["new"], str(uuid.uuid4()), a_im=None).status_code == 200  # not asked
    text = client.get("/metrics").get_data(as_text=True)
    assert 'otabox_patch_requests_total{outcome="hit"} 1' in text
    assert 'otabox_patch_requests_total{outcome="miss"} 1' in text
    assert 'otabox_patch_requests_total{outcome="fallback"} 1' in text
    assert f'otabox_launch_asset_bytes_total{{form="patched"}} {len(patched.data)}' in text
    assert f'otabox_launch_asset_bytes_total{{form="full"}} {3 * len(two_updates["new_bytes"])}' in text


def test_each_release_shows_bytes_sent_in_full_and_patched_and_the_saving(admin, box, client, two_updates):
    patched = launch_request(client, two_updates["new"], two_updates["old"]["id"])
    full = launch_request(client, two_updates["new"], two_updates["old"]["id"], a_im=None)
    assert (patched.status_code, full.status_code) == (226, 200)
    box.transfers.flush()
    release_id = admin.get(f"/api/v1/apps/{APP}/releases?channel=production").json["releases"][0]["id"]
    answer = admin.get(f"/api/v1/apps/{APP}/releases/{release_id}/transfer")
    assert answer.status_code == 200
    size = len(two_updates["new_bytes"])
    made = {m["sha256"]: m for m in two_updates["made"]}
    assert {k: v for k, v in answer.json.items() if k != "patches"} == {
        "releaseId": release_id, "fullDownloads": 1, "fullBytes": size, "patchedDownloads": 1,
        "patchedBytes": len(patched.data), "savedBytes": size - len(patched.data)}
    assert sorted((p["base"], p["format"]) for p in answer.json["patches"]) == [
        ("1.0.0 (android)", "bsdiff"), ("1.0.0 (ios)", "bsdiff")]  # the patch sizes per base, on the release page
    assert {p["size"] for p in answer.json["patches"]} == {m["size"] for m in made.values()}
    assert admin.delete(f"/api/v1/apps/{APP}").status_code == 200  # the counts go with the release
    with box.db.connection_context():
        assert ReleaseTransfer.select().count() == 0


def test_with_a_bucket_patches_are_made_from_it_and_answered_by_otabox(tmp_path, s3_bucket, monkeypatch):
    """A 226 cannot travel through a redirect: the patch comes from otabox; the full asset is a redirect."""
    for name, value in s3_bucket.env.items():
        monkeypatch.setenv(name, value)
    flask_app = create_app(Config.from_env(data_dir=tmp_path / "data"))
    box, client = flask_app.config["BOX"], flask_app.test_client()
    try:
        admin = Api(client, make_key(box, "admin", "admin"))
        assert admin.post("/api/v1/apps", {"slug": APP, "name": "Demo"}).status_code == 201
        old_fixture, _, _ = publish_release(admin, tmp_path, "1.0.0")
        old = manifest_of(get_manifest(client))
        new_fixture, _, _ = publish_release(admin, tmp_path, "1.0.1")
        new = manifest_of(get_manifest(client, expo_current_update_id=old["id"]))
        with box.db.connection_context():
            made = box.patch_maker.run()
        assert made and not (tmp_path / "data" / "blobs").exists()  # the patches are in the bucket
        answer = launch_request(client, new, old["id"])
        assert answer.status_code == 226
        assert bsdiff4.patch(old_fixture.bundles["ios"][1], answer.data) == new_fixture.bundles["ios"][1]
        full = launch_request(client, new, old["id"], a_im=None)
        assert full.status_code == 302 and full.headers["Location"].startswith(s3_bucket.endpoint_url)
    finally:
        box.close()
