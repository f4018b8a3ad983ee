"""CodePush fidelity (issue 15) through HTTP: promote and rollback provenance, rollback copying the
target's flags, clearing a deployment's history, and the multi-tenant seed's paths under /api/v1."""
from __future__ import annotations

import io
import json

from conftest import Api, make_key, make_zip
from test_codepush import V01, V1_FILES, V2_FILES, release_package, update_check

V3_FILES = {"CodePush/index.bundle": "v3 code"}


def history(admin, app="Shop", deployment="Production") -> list[dict]:
    return admin.get(f"/apps/{app}/deployments/{deployment}/history").json["history"]


def test_promote_and_rollback_entries_name_their_origin(client, admin):
    admin.post("/apps", {"name": "Shop"})
    release_package(admin, "Shop", "Staging", V1_FILES, description="first", isMandatory=True)
    admin.post("/apps/Shop/deployments/Staging/promote/Production", {})
    release_package(admin, "Shop", "Production", V2_FILES, description="second")
    rolled = admin.post("/apps/Shop/deployments/Production/rollback").json["package"]
    assert (rolled["releaseMethod"], rolled["originalLabel"]) == ("Rollback", "v1")
    assert "originalDeployment" not in rolled
    assert (rolled["isMandatory"], rolled["description"]) == (True, "first")  # copied from v1
    promoted, upload, rollback = history(admin)
    assert (promoted["originalLabel"], promoted["originalDeployment"]) == ("v1", "Staging")
    assert "originalLabel" not in upload and rollback["originalLabel"] == "v1"
    key = admin.get("/apps/Shop/deployments/Production").json["deployment"]["key"]
    assert update_check(client, key)["is_mandatory"] is True


def test_promote_may_give_the_release_another_app_version(client, admin):
    admin.post("/apps", {"name": "Shop"})
    release_package(admin, "Shop", "Staging", V1_FILES)
    promoted = admin.post("/apps/Shop/deployments/Staging/promote/Production",
                          {"packageInfo": {"appVersion": "^2.0.0"}})
    assert promoted.status_code == 201 and promoted.json["package"]["appVersion"] == "^2.0.0"
    assert history(admin, deployment="Staging")[0]["appVersion"] == "1.0.0"
    key = admin.get("/apps/Shop/deployments/Production").json["deployment"]["key"]
    assert update_check(client, key, "2.1.0")["is_available"] is True
    assert update_check(client, key, "1.0.0")["is_available"] is False


def test_clearing_a_history_keeps_bundles_used_elsewhere(client, admin, box):
    admin.post("/apps", {"name": "Shop"})
    release_package(admin, "Shop", "Staging", V1_FILES)
    admin.post("/apps/Shop/deployments/Staging/promote/Production", {})
    release_package(admin, "Shop", "Staging", V2_FILES)
    release_package(admin, "Shop", "Staging", V3_FILES)
    bundles = {b["version"]: b for b in admin.get("/api/v1/apps/codepush.Shop/bundles").json["bundles"]}
    pinned = next(b for v, b in bundles.items() if v.endswith(".3"))
    admin.put("/api/v1/apps/codepush.Shop/devices/qa", {"bundleId": pinned["id"]})
    publisher = Api(client, make_key(box, "publisher", "ci"))
    assert publisher.delete("/apps/Shop/deployments/Staging/history").status_code == 403
    cleared = admin.delete("/apps/Shop/deployments/Staging/history")
    assert cleared.status_code == 204 and history(admin, deployment="Staging") == []
    left = sorted(b["version"] for b in admin.get("/api/v1/apps/codepush.Shop/bundles").json["bundles"])
    assert left == sorted(v for v in bundles if not v.endswith(".2"))  # v1 is in Production, v3 is pinned
    audited = admin.get("/api/v1/audit-log?action=channel.history_cleared").json["entries"][0]["details"]
    assert audited["releases"] == 3 and len(audited["bundlesDeleted"]) == 1
    again = release_package(admin, "Shop", "Staging", V2_FILES)
    assert again.status_code == 201 and again.json["package"]["label"] == "v1"
    assert admin.delete("/apps/Shop/deployments/Nope/history").status_code == 404


def test_the_seed_paths_under_api_v1(client, admin):
    admin.post("/apps", {"name": "Shop"})
    base = "/api/v1/apps/Shop/deployments"
    assert [d["name"] for d in admin.get(base).json["deployments"]] == ["Production", "Staging"]
    created = admin.post(base, {"name": "Canary"})
    assert created.status_code == 201 and created.json["deployment"]["name"] == "Canary"
    assert admin.patch(f"{base}/Canary", {"name": "canary-2"}).json["deployment"]["name"] == "canary-2"
    assert admin.delete(f"{base}/canary-2").status_code == 204
    missing = admin.get("/api/v1/apps/Nope/deployments")
    assert missing.status_code == 404 and missing.json["error"]["code"] == "not_found"
    released = admin.client.post(f"{base}/Production/release", headers=admin._headers(),
                                 content_type="multipart/form-data",
                                 data={"package": (io.BytesIO(make_zip(V1_FILES)), "u.zip"),
                                       "packageInfo": json.dumps({"appVersion": "1.0.0", "rollout": 50})})
    assert released.status_code == 201 and released.json["package"]["rollout"] == 50
    key = admin.get(f"{base}").json["deployments"][0]["key"]
    client.post(f"{V01}/report_status/download", json={"deployment_key": key, "label": "v1",
                                                       "client_unique_id": "p"})
    listed = admin.get(f"{base}/Production/releases").json["releases"]
    assert [(r["label"], r["metrics"]) for r in listed] == [
        ("v1", {"totalActive": 0, "downloaded": 1, "installed": 0, "failed": 0})]
    patched = admin.patch(f"{base}/Production/releases/v1", {"rollout": 80, "isMandatory": True})
    assert (patched.json["package"]["rollout"], patched.json["package"]["isMandatory"]) == (80, True)
    shrink = admin.patch(f"{base}/Production/releases/v1", {"rollout": 20})
    assert shrink.status_code == 200 and shrink.json["package"]["rollout"] == 20, "the seed's route may lower it"
    cli_shrink = admin.patch("/apps/Shop/deployments/Production/release", {"packageInfo": {"rollout": 10}})
    assert cli_shrink.status_code == 409, "code-push-server's own route keeps its increase-only rule"
    assert admin.patch(f"{base}/Production/releases/v9", {"rollout": 90}).status_code == 404
    bad = admin.patch(f"{base}/Production/releases/v1", {"rollout": "all"})
    assert bad.status_code == 400 and bad.json["error"]["code"] == "bad_request"


def test_metrics_count_reports_as_code_push_server_does(client, admin):
    """An update check alone counts nothing; a deploy report moves one active device from the label
    (or app version) it left to the one it runs; a failure counts as failed only."""
    admin.post("/apps", {"name": "Shop"})
    release_package(admin, "Shop", "Production", V1_FILES)
    key = admin.get("/apps/Shop/deployments/Production").json["deployment"]["key"]
    for device in range(40):
        update_check(client, key, client_unique_id=f"phone-{device}")
    metrics = lambda: admin.get("/apps/Shop/deployments/Production/metrics").json["metrics"]  # noqa: E731
    assert metrics() == {"v1": {"active": 0, "downloaded": 0, "failed": 0, "installed": 0}}
    report = f"{V01}/report_status/deploy"
    assert client.post(report, json={"deployment_key": key, "app_version": "1.0.0",
                                     "client_unique_id": "phone-1"}).status_code == 200
    assert metrics()["1.0.0"] == {"active": 1}
    client.post(report, json={"deployment_key": key, "app_version": "1.0.0", "label": "v1",
                              "status": "DeploymentSucceeded", "previous_label_or_app_version": "1.0.0",
                              "client_unique_id": "phone-1"})
    client.post(report, json={"deployment_key": key, "app_version": "1.0.0", "label": "v1",
                              "status": "DeploymentFailed", "client_unique_id": "phone-2"})
    assert metrics() == {"v1": {"active": 1, "downloaded": 0, "failed": 1, "installed": 1}, "1.0.0": {"active": 0}}
