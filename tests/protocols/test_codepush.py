"""CodePush through HTTP: the client protocol (update check, reports, diffs) and the management API."""
from __future__ import annotations

import hashlib
import io
import json
import random
import subprocess
import zipfile
from urllib.parse import urlsplit

import pytest
from conftest import ROOT, make_zip

from otabox.core import releases, semver
from otabox.core.bundles import referenced_blobs
from otabox.ops.maintenance import tidy
from otabox.protocols.codepush.updates import SNAKE_CASE, above_range
from otabox.protocols.codepush.package import in_codepush_rollout, package_hash_from_file_hashes, package_hash_from_zip
from otabox.store.models import CodePushActive

NODE_DIR = ROOT / "tests" / "node"
V01 = "/v0.1/public/codepush"
LOGO = random.Random(7).randbytes(20000)
APP = "com.example.demo"
FOR_1_0_0 = {"targetVersions": "1.0.0"}
"""Bundles for the binary version the devices of these tests run."""
V1_FILES = {"CodePush/index.bundle": "v1 code", "CodePush/assets/logo.png": LOGO, "CodePush/old.txt": "gone"}
V2_FILES = {"CodePush/index.bundle": "v2 code", "CodePush/assets/logo.png": LOGO, "CodePush/new.txt": "new"}


# --- helpers ------------------------------------------------------------------------------------

def deployment_key(admin, app, channel="production"):
    return admin.get(f"/api/v1/apps/{app['slug']}/channels/{channel}").json["deploymentKey"]


def update_check(client, key, app_version="1.0.0", **params):
    response = client.get(f"{V01}/update_check", query_string={"deployment_key": key, "app_version": app_version,
                                                              **params})
    assert response.status_code == 200, response.text
    return response.json["update_info"]


def download(client, url):
    parts = urlsplit(url)
    response = client.get(f"{parts.path}?{parts.query}")
    assert response.status_code == 200
    return response.data


def folder_hash(files: dict[str, bytes]) -> str:
    return package_hash_from_file_hashes({p: hashlib.sha256(c).hexdigest() for p, c in files.items()})


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {i.filename: archive.read(i) for i in archive.infolist() if not i.is_dir()}


def as_bytes(files):
    return {p: c.encode() if isinstance(c, str) else c for p, c in files.items()}


@pytest.fixture
def key(admin, demo_app):
    return deployment_key(admin, demo_app)


# --- update check -------------------------------------------------------------------------------

def test_update_check_answers_in_both_styles(client, admin, demo_app, key):
    bundle, release = admin.publish(APP, "1.0.0", files=V1_FILES, bundle_fields=FOR_1_0_0, notes="first")
    camel = client.get("/updateCheck", query_string={"deploymentKey": key, "appVersion": "1.0.0",
                                                     "clientUniqueId": "phone-1"})
    assert camel.status_code == 200
    info = camel.json["updateInfo"]
    assert set(info) == set(SNAKE_CASE)
    assert info["isAvailable"] is True and info["label"] == "v1" == release["label"]
    assert info["packageHash"] == bundle["packageHash"] == package_hash_from_zip(io.BytesIO(make_zip(V1_FILES)))
    assert info["packageSize"] == bundle["size"] and info["description"] == "first"
    assert info["appVersion"] == info["target_binary_range"] == "1.0.0"
    assert download(client, info["downloadURL"]) == make_zip(V1_FILES)
    snake = update_check(client, key, client_unique_id="phone-1")
    assert set(snake) == set(SNAKE_CASE.values())
    assert {SNAKE_CASE[k]: v for k, v in info.items() if k != "downloadURL"} == \
           {k: v for k, v in snake.items() if k != "download_url"}


def test_app_versions_are_coerced_and_bad_requests_refused(client, admin, demo_app, key):
    admin.publish(APP, "1.0.0", files=V1_FILES, bundle_fields=FOR_1_0_0)
    assert update_check(client, key, "1")["target_binary_range"] == "1"
    assert update_check(client, key, "1.0")["is_available"] is True
    bad_version = client.get(f"{V01}/update_check", query_string={"deployment_key": key, "app_version": "abc"})
    assert bad_version.status_code == 400 and "semver" in bad_version.text
    assert client.get(f"{V01}/update_check", query_string={"app_version": "1.0.0"}).status_code == 400
    unknown = client.get(f"{V01}/update_check", query_string={"deployment_key": "x" * 40, "app_version": "1.0.0"})
    assert unknown.status_code == 404


def test_no_release_means_run_the_binary(client, key):
    info = update_check(client, key)
    assert info["is_available"] is False and info["should_run_binary_version"] is True
    assert info["update_app_version"] is False


def test_app_version_outside_the_range(client, admin, demo_app, key):
    v1, _ = admin.publish(APP, "1.0.0", files=V1_FILES, bundle_fields=FOR_1_0_0)
    admin.publish(APP, "2.0.0", files=V2_FILES, bundle_fields={"targetVersions": "^2.0.0"})
    older = update_check(client, key, "1.0.0", package_hash=v1["packageHash"], label="v1")
    assert older["is_available"] is False and older["update_app_version"] is True
    assert older["target_binary_range"] == "^2.0.0"
    newer = update_check(client, key, "3.1.0")
    assert newer["is_available"] is False and newer["should_run_binary_version"] is True
    assert newer["update_app_version"] is False and newer["target_binary_range"] == "^2.0.0"
    assert update_check(client, key, "2.5.0")["label"] == "v2"
    companion = update_check(client, key, "9.9.9", is_companion="true")
    assert companion["is_available"] is True and companion["label"] == "v2"


def test_up_to_date_when_the_hash_matches(client, admin, demo_app, key):
    v1, _ = admin.publish(APP, "1.0.0", files=V1_FILES, bundle_fields=FOR_1_0_0)
    info = update_check(client, key, package_hash=v1["packageHash"], label="v1")
    assert info["is_available"] is False and info["should_run_binary_version"] is False


def test_mandatory_across_a_skipped_release(client, admin, demo_app, key):
    v1, _ = admin.publish(APP, "1.0.0", files=V1_FILES, bundle_fields=FOR_1_0_0)
    v2, _ = admin.publish(APP, "1.0.1", files=V2_FILES, bundle_fields=FOR_1_0_0, mandatory=True)
    admin.publish(APP, "1.0.2", files={"CodePush/index.bundle": "v3"}, bundle_fields=FOR_1_0_0)
    from_v1 = update_check(client, key, package_hash=v1["packageHash"], label="v1")
    assert from_v1["label"] == "v3" and from_v1["is_mandatory"] is True
    from_v2 = update_check(client, key, package_hash=v2["packageHash"], label="v2")
    assert from_v2["label"] == "v3" and from_v2["is_mandatory"] is False
    # code-push-server: a device naming no package runs none of them, so it skips the mandatory v2.
    assert update_check(client, key)["is_mandatory"] is True


def test_partial_rollout_uses_the_codepush_selector(client, admin, demo_app, key):
    admin.publish(APP, "1.0.0", files=V1_FILES, bundle_fields=FOR_1_0_0)
    admin.publish(APP, "1.0.1", files=V2_FILES, bundle_fields=FOR_1_0_0, rollout=40)
    ids = [f"device-{n}" for n in range(60)]
    expected = {i: ("v2" if in_codepush_rollout(i, "v2", 40) else "v1") for i in ids}
    assert set(expected.values()) == {"v1", "v2"}
    assert {i: update_check(client, key, client_unique_id=i)["label"] for i in ids} == expected
    assert update_check(client, key)["label"] == "v1"


def test_disabled_release_is_skipped(client, admin, demo_app, key):
    admin.publish(APP, "1.0.0", files=V1_FILES, bundle_fields=FOR_1_0_0)
    _, v2 = admin.publish(APP, "1.0.1", files=V2_FILES, bundle_fields=FOR_1_0_0)
    assert admin.patch(f"/api/v1/apps/{demo_app['slug']}/releases/{v2['id']}", {"disabled": True}).status_code == 200
    assert update_check(client, key)["label"] == "v1"


def test_rollback_to_builtin_tells_devices_to_run_the_binary(client, admin, demo_app, key):
    v1, _ = admin.publish(APP, "1.0.0", files=V1_FILES, bundle_fields=FOR_1_0_0)
    admin.post(f"/api/v1/apps/{demo_app['slug']}/channels/production/rollback", {"toBuiltin": True})
    info = update_check(client, key, package_hash=v1["packageHash"], label="v1")
    assert info["is_available"] is False and info["should_run_binary_version"] is True


def test_above_range_matches_node_semver_gtr():
    cases = [("2.0.0", "^1.0.0"), ("1.5.0", "^1.0.0"), ("0.9.0", "^1.0.0"), ("3.0.0", ">=1.0.0"),
             ("2.0.0", "1.x || 1.5.x"), ("1.2.0", "<1.0.0 || >2.0.0"), ("1.0.1", "1.0.0"), ("5.0.0", "*"),
             ("2.0.0", "1.0.0 - 1.9.9"), ("1.9.9", "<=1.9.9"), ("2.0.0-beta", "^1.2.3")]
    script = ("const s=require('semver');const c=JSON.parse(require('fs').readFileSync(0,'utf8'));"
              "process.stdout.write(JSON.stringify(c.map(([v,r])=>s.gtr(v,r))))")
    node = subprocess.run(["node", "-e", script], cwd=NODE_DIR, input=json.dumps(cases), capture_output=True,
                          text=True, check=True, timeout=30)
    ours = [above_range(semver.parse_version(v), semver.parse_range(r)) for v, r in cases]
    assert ours == json.loads(node.stdout)


# --- reports ------------------------------------------------------------------------------------

def test_reports_move_release_stats_and_device_records(client, admin, demo_app, key, box):
    bundle, release = admin.publish(APP, "1.0.0", files=V1_FILES, bundle_fields=FOR_1_0_0)
    ok = client.post(f"{V01}/report_status/deploy", json={
        "app_version": "1.0.0", "deployment_key": key, "client_unique_id": "phone-1", "label": "v1",
        "status": "DeploymentSucceeded"})
    assert ok.status_code == 200 and ok.text == "OK"
    assert client.post("/reportStatus/deploy", json={
        "appVersion": "1.0.0", "deploymentKey": key, "clientUniqueId": "phone-2", "label": "v1",
        "status": "DeploymentFailed", "previousLabelOrAppVersion": "1.0.0"}).status_code == 200
    for path in (f"{V01}/report_status/download", "/reportStatus/download"):
        assert client.post(path, json={"deployment_key": key, "label": "v1",
                                       "client_unique_id": "phone-1"}).status_code == 200
    stats = admin.get(f"/api/v1/apps/{demo_app['slug']}/releases/{release['id']}").json["stats"]
    assert (stats["installs"], stats["failures"], stats["downloads"]) == (1, 1, 2)
    box.tracker.flush()
    device = admin.get(f"/api/v1/apps/{demo_app['slug']}/devices/phone-1").json
    assert device["bundleVersion"] == bundle["version"] and device["nativeVersion"] == "1.0.0"
    assert device["channel"] == "production"
    binary = client.post(f"{V01}/report_status/deploy", json={
        "app_version": "1.0.0", "deployment_key": key, "client_unique_id": "phone-1",
        "previous_label_or_app_version": "v1"})
    assert binary.status_code == 200
    box.tracker.flush()
    assert admin.get(f"/api/v1/apps/{demo_app['slug']}/devices/phone-1").json["bundleVersion"] == "builtin"


def test_made_up_versions_in_deploy_reports_add_bounded_counters_that_the_janitor_tidies(client, admin, demo_app,
                                                                                        key, box, monkeypatch):
    """Each deploy report names the app version it runs and the label or version it left, in any
    deployment: 300 reports with made-up names add no counter for the place left (it never had
    one), at most MAX_ACTIVE_KEYS for the new one (the least counted go first, so real labels
    stay), and the janitor removes counters at zero."""
    monkeypatch.setattr(releases, "MAX_ACTIVE_KEYS", 20)
    admin.publish(APP, "1.0.0", files=V1_FILES, bundle_fields=FOR_1_0_0)
    assert admin.post(f"/api/v1/apps/{demo_app['slug']}/channels", {"name": "elsewhere"}).status_code == 201
    other = admin.get(f"/api/v1/apps/{demo_app['slug']}/channels/elsewhere").json["deploymentKey"]
    deploy = f"{V01}/report_status/deploy"
    for n in range(5):
        assert client.post(deploy, json={"app_version": "1.0.0", "deployment_key": key, "label": "v1",
                                         "status": "DeploymentSucceeded", "client_unique_id": f"phone-{n}"}
                           ).status_code == 200
    for n in range(300):
        assert client.post(deploy, json={
            "app_version": f"9.{n}.0-{'x' * 100}", "deployment_key": key, "client_unique_id": f"forger-{n}",
            "previous_label_or_app_version": f"8.{n}.0", "previous_deployment_key": other}).status_code == 200
    with box.db.connection_context():
        counters = {row.key: row.count for row in CodePushActive.select()}
    assert len(counters) == 20 and counters["v1"] == 5 and not any(k.startswith("8.") for k in counters)
    assert client.post(deploy, json={"app_version": "1.0.0", "deployment_key": key, "client_unique_id": "phone-0",
                                     "previous_label_or_app_version": "v1"}).status_code == 200
    with box.db.connection_context():
        CodePushActive.update(count=0).where(CodePushActive.key.startswith("9.")).execute()
        assert tidy(box)["activeCounters"] == 18
        assert {row.key: row.count for row in CodePushActive.select()} == {"v1": 4, "1.0.0": 1}


def test_reports_are_validated(client, key):
    deploy = f"{V01}/report_status/deploy"
    assert client.post(deploy, json={"deployment_key": key}).status_code == 400
    assert client.post(deploy, json={"deployment_key": key, "app_version": "1.0.0", "label": "v1"}).status_code == 400
    assert client.post(deploy, json={"deployment_key": key, "app_version": "1.0.0", "label": "v1",
                                     "status": "Bogus"}).status_code == 400
    assert client.post(f"{V01}/report_status/download", json={"deployment_key": key}).status_code == 400
    assert client.post(f"{V01}/report_status/download", data="not json").status_code == 400


# --- diffs --------------------------------------------------------------------------------------

def test_diff_is_built_once_and_reproduces_the_package(client, admin, demo_app, key, box):
    v1, _ = admin.publish(APP, "1.0.0", files=V1_FILES, bundle_fields=FOR_1_0_0)
    v2, _ = admin.publish(APP, "1.0.1", files=V2_FILES, bundle_fields=FOR_1_0_0)
    info = update_check(client, key, package_hash=v1["packageHash"], label="v1")
    assert info["package_hash"] == v2["packageHash"] and info["package_size"] < v2["size"]
    diff = unzip(download(client, info["download_url"]))
    assert json.loads(diff.pop("hotcodepush.json")) == {"deletedFiles": ["CodePush/old.txt"]}
    assert set(diff) == {"CodePush/index.bundle", "CodePush/new.txt"}
    device = {p: c for p, c in as_bytes(V1_FILES).items() if p != "CodePush/old.txt"} | diff
    assert folder_hash(device) == v2["packageHash"]
    again = update_check(client, key, package_hash=v1["packageHash"], label="v1")
    assert urlsplit(again["download_url"]).path == urlsplit(info["download_url"]).path
    diff_sha = urlsplit(info["download_url"]).path.rsplit("/", 1)[-1]
    with box.db.connection_context():
        assert diff_sha in referenced_blobs()
    full = update_check(client, key)
    assert full["package_size"] == v2["size"]


# --- management API -----------------------------------------------------------------------------

def release_package(admin, app, deployment, files, **info):
    info.setdefault("appVersion", "1.0.0")
    return admin.client.post(f"/apps/{app}/deployments/{deployment}/release/", headers=admin._headers(),
                             content_type="multipart/form-data",
                             data={"package": (io.BytesIO(make_zip(files)), "update.zip"),
                                   "packageInfo": json.dumps(info)})


def test_management_apps_and_deployments(client, admin):
    assert client.get("/authenticated").status_code == 401
    assert admin.get("/authenticated/").json == {"authenticated": True}
    created = admin.post("/apps/", {"name": "MyApp"})
    assert created.status_code == 201
    assert created.json["app"]["name"] == "MyApp"
    assert created.json["app"]["deployments"] == ["Production", "Staging"]  # code-push-server's defaults
    assert admin.post("/apps", {"name": "MyApp"}).status_code == 409
    assert [a["name"] for a in admin.get("/apps").json["apps"]] == ["MyApp"]
    assert admin.patch("/apps/MyApp", {"name": "Renamed"}).json["app"]["name"] == "Renamed"
    assert admin.get("/apps/MyApp").status_code == 404
    production = admin.get("/apps/Renamed/deployments/production").json["deployment"]  # exact, then any case
    assert production["name"] == "Production" and production["package"] is None
    qa = admin.post("/apps/Renamed/deployments", {"name": "QA", "key": "migrated-key-0123456789"})
    assert qa.status_code == 201 and qa.json["deployment"] == {"name": "QA", "key": "migrated-key-0123456789"}
    assert update_check(client, "migrated-key-0123456789")["is_available"] is False
    assert admin.post("/apps/Renamed/deployments", {"name": "QA2", "key": "migrated-key-0123456789"}).status_code == 409
    names = [d["name"] for d in admin.get("/apps/Renamed/deployments").json["deployments"]]
    assert names == ["Production", "QA", "Staging"]
    assert admin.patch("/apps/Renamed/deployments/QA", {"name": "Beta"}).json["deployment"]["name"] == "Beta"
    assert admin.delete("/apps/Renamed/deployments/Beta").status_code == 204
    assert admin.get("/apps/Renamed/deployments/Beta").status_code == 404
    assert admin.delete("/apps/Renamed").status_code == 204
    assert admin.get("/apps").json == {"apps": []}


def test_management_release_patch_and_history(client, admin):
    admin.post("/apps", {"name": "Shop"})
    first = release_package(admin, "Shop", "Staging", V1_FILES, description="one", isMandatory=True)
    assert first.status_code == 201, first.text
    package = first.json["package"]
    assert package["label"] == "v1" and package["appVersion"] == "1.0.0" and package["isMandatory"] is True
    assert package["packageHash"] == package_hash_from_zip(io.BytesIO(make_zip(V1_FILES)))
    assert package["releaseMethod"] == "Upload" and package["rollout"] is None and package["description"] == "one"
    assert release_package(admin, "Shop", "Staging", V1_FILES).status_code == 409
    assert release_package(admin, "Shop", "Staging", V1_FILES, appVersion="2.0.0").status_code == 201
    third = release_package(admin, "Shop", "Staging", V2_FILES, rollout=25)
    assert third.json["package"]["rollout"] == 25 and third.json["package"]["label"] == "v3"
    assert third.json["package"]["diffPackageMap"].keys() == {package["packageHash"]}
    assert release_package(admin, "Shop", "Staging", {"a.js": "x"}).status_code == 409
    patch = "/apps/Shop/deployments/Staging/release"
    assert admin.patch(patch, {"packageInfo": {"rollout": 20}}).status_code == 409
    assert admin.patch(patch, {"packageInfo": {"rollout": 100}}).json["package"]["rollout"] is None
    assert admin.patch(patch, {"packageInfo": {"rollout": 50}}).status_code == 409
    assert admin.patch(patch, {"packageInfo": {"label": "v1", "isDisabled": True}}).json["package"]["isDisabled"]
    assert admin.patch(patch, {"packageInfo": {"label": "v1", "isDisabled": True}}).status_code == 204
    assert admin.patch(patch, {"packageInfo": {"label": "v9", "isDisabled": True}}).status_code == 404
    assert admin.patch(patch, {"packageInfo": {"appVersion": "not a range"}}).status_code == 400
    assert admin.patch(patch, {"packageInfo": {"appVersion": "^3.0.0"}}).json["package"]["appVersion"] == "^3.0.0"
    history = admin.get("/apps/Shop/deployments/Staging/history").json["history"]
    assert [(p["label"], p["appVersion"], p["isDisabled"]) for p in history] == [
        ("v1", "1.0.0", True), ("v2", "2.0.0", False), ("v3", "^3.0.0", False)]
    bad = admin.client.post("/apps/Shop/deployments/Staging/release", headers=admin._headers(),
                            data={"packageInfo": "{}"}, content_type="multipart/form-data")
    assert bad.status_code == 400 and "file" in bad.text


def test_management_promote_rollback_and_metrics(client, admin):
    admin.post("/apps", {"name": "Shop"})
    release_package(admin, "Shop", "Staging", V1_FILES)
    promoted = admin.post("/apps/Shop/deployments/Staging/promote/Production", {"packageInfo": {"isMandatory": True}})
    assert promoted.status_code == 201
    assert promoted.json["package"]["releaseMethod"] == "Promote" and promoted.json["package"]["isMandatory"]
    assert admin.post("/apps/Shop/deployments/Staging/promote/Production", {}).status_code == 409
    release_package(admin, "Shop", "Production", V2_FILES)
    assert admin.post("/apps/Shop/deployments/Production/rollback/v2").status_code == 409
    assert admin.post("/apps/Shop/deployments/Production/rollback/v7").status_code == 404
    rolled = admin.post("/apps/Shop/deployments/Production/rollback/")
    assert rolled.status_code == 201 and rolled.json["package"]["releaseMethod"] == "Rollback"
    assert rolled.json["package"]["packageHash"] == promoted.json["package"]["packageHash"]
    key = admin.get("/apps/Shop/deployments/Production").json["deployment"]["key"]
    assert update_check(client, key)["label"] == "v3"
    client.post(f"{V01}/report_status/download", json={"deployment_key": key, "label": "v3",
                                                       "client_unique_id": "p"})
    metrics = admin.get("/apps/Shop/deployments/Production/metrics").json["metrics"]
    assert metrics["v3"]["downloaded"] == 1 and set(metrics) == {"v1", "v2", "v3"}
    assert admin.post("/apps/Shop/deployments/Staging/rollback").status_code == 404


def test_fast_path_and_flask_routes_answer_alike(flask_app, client, admin, demo_app, key):
    """Update checks are answered before Flask builds a request; the Flask routes must agree."""
    admin.publish(APP, "1.0.0", files=V1_FILES, bundle_fields=FOR_1_0_0)
    cases = [("/updateCheck", {"deploymentKey": key, "appVersion": "1.0.0", "clientUniqueId": "a"}),
             (f"{V01}/update_check", {"deployment_key": key, "app_version": "1.0.0"}),
             (f"{V01}/update_check", {"deployment_key": key, "app_version": "one"}),
             (f"{V01}/update_check", {"deployment_key": "x" * 40, "app_version": "1.0.0"})]
    for path, params in cases:
        fast = client.get(path, query_string=params)
        with flask_app.test_request_context(path, query_string=params):
            slow = flask_app.view_functions[flask_app.url_map.bind("localhost").match(path)[0]]()
        assert (fast.status_code, fast.content_type, fast.get_data()) == (
            slow.status_code, slow.content_type, slow.get_data()), path
    slash = {"deploymentKey": key, "appVersion": "1.0.0", "clientUniqueId": "a"}  # Flask answers this one
    assert client.get("/updateCheck/", query_string=slash).json == client.get("/updateCheck", query_string=slash).json
