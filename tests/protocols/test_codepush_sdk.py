"""The real CodePush client SDK (code-push@4.2.3 AcquisitionManager + react-native-code-push@9.0.1's
fetch adapter, run by Node) against a live `otabox serve`; releases are published the way the
code-push CLI does (the management API) or through /api/v1."""
from __future__ import annotations

import io
import json
import zipfile
from itertools import count

import pytest
import requests
from codepush_client import CodePushClient, node_folder_hash, node_hash_codes
from conftest import LiveServer, make_zip

from otabox.protocols.codepush.package import in_codepush_rollout

V1_FILES = {"CodePush/index.android.bundle": "v1 " * 2000, "CodePush/assets/img.png": "img " * 3000,
            "CodePush/old.json": "{}"}
V2_FILES = {"CodePush/index.android.bundle": "v2 " * 2000, "CodePush/assets/img.png": "img " * 3000,
            "CodePush/added/new.json": "[1]"}
V3_FILES = {"CodePush/index.android.bundle": "v3 " * 2000}
app_numbers = count(1)


class Publisher:
    """What a CI pipeline does with the code-push CLI, plus /api/v1 for otabox-only controls."""

    def __init__(self, server: LiveServer, key: str):
        self.url = server.url
        self.auth = {"Authorization": f"Bearer {key}"}
        self.app = f"com.example.sdk{next(app_numbers)}"
        assert requests.post(f"{self.url}/apps", json={"name": self.app}, headers=self.auth).status_code == 201

    def deployment_key(self, deployment="Production") -> str:
        reply = requests.get(f"{self.url}/apps/{self.app}/deployments/{deployment}", headers=self.auth)
        return reply.json()["deployment"]["key"]

    def release(self, files, deployment="Production", **info) -> dict:
        info.setdefault("appVersion", "1.0.0")
        reply = requests.post(f"{self.url}/apps/{self.app}/deployments/{deployment}/release", headers=self.auth,
                              files={"package": ("update.zip", make_zip(files))},
                              data={"packageInfo": json.dumps(info)})
        assert reply.status_code == 201, reply.text
        return reply.json()["package"]

    def release_id(self, label: str, channel="production") -> int:
        rows = requests.get(f"{self.url}/api/v1/apps/{self.app}/releases", params={"channel": channel},
                            headers=self.auth).json()["releases"]
        return next(r["id"] for r in rows if r["label"] == label)

    def api(self, method: str, path: str, body=None) -> dict:
        reply = requests.request(method, f"{self.url}/api/v1/apps/{self.app}{path}", json=body, headers=self.auth)
        assert reply.ok, reply.text
        return reply.json()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    live = LiveServer(tmp_path_factory.mktemp("codepush") / "data")
    yield live
    live.stop()


@pytest.fixture(scope="module")
def admin_key(server):
    created = server.cli("keys", "create", "--name", "codepush-ci", "--role", "admin")
    return created.stdout.strip().splitlines()[-1]


@pytest.fixture
def publisher(server, admin_key):
    return Publisher(server, admin_key)


def phone(server, publisher, app_version="1.0.0", client_id="phone-1") -> CodePushClient:
    return CodePushClient(server.url, publisher.deployment_key(), app_version, client_id)


def unzip_to(data: bytes, folder):
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        archive.extractall(folder)
    return folder


def test_no_release(server, publisher):
    assert phone(server, publisher).query() is None


def test_update_available_is_downloaded_and_verified(server, publisher, tmp_path):
    released = publisher.release(V1_FILES, description="first")
    update = phone(server, publisher).query()
    assert update["label"] == "v1" and update["appVersion"] == "1.0.0" and update["description"] == "first"
    assert update["packageHash"] == released["packageHash"] and update["isMandatory"] is False
    body = requests.get(update["downloadUrl"]).content
    assert len(body) == update["packageSize"]
    assert node_folder_hash(unzip_to(body, tmp_path / "v1")) == update["packageHash"]


def test_mandatory_across_a_skipped_release(server, publisher):
    publisher.release(V1_FILES)
    device = phone(server, publisher)
    installed = device.query()
    publisher.release(V2_FILES, isMandatory=True)
    publisher.release(V3_FILES)
    update = device.query(installed)
    assert update["label"] == "v3" and update["isMandatory"] is True


def test_a_phone_on_its_binary_gets_mandatory_from_the_whole_history(server, publisher):
    """code-push-server's "available mandatory update for deployment key and app version but no
    package hash": v1 optional, v2 mandatory, v3 optional; Android on its binary sends no hash."""
    publisher.release(V1_FILES)
    publisher.release(V2_FILES, isMandatory=True)
    publisher.release(V3_FILES)
    update = phone(server, publisher, client_id="fresh-install").query()
    assert update["label"] == "v3" and update["isMandatory"] is True


def test_partial_rollout_keeps_codepush_phones(server, publisher):
    publisher.release(V1_FILES)
    publisher.release(V2_FILES, rollout=30)
    candidates = [f"phone-{n}" for n in range(40)]
    hashes = dict(zip(candidates, node_hash_codes([f"{c}-v2" for c in candidates])))
    inside = [c for c in candidates if abs(hashes[c]) % 100 < 30][:4]
    outside = [c for c in candidates if abs(hashes[c]) % 100 >= 30][:4]
    assert len(inside) == len(outside) == 4
    for client_id in inside + outside:
        assert in_codepush_rollout(client_id, "v2", 30) == (client_id in inside)
        label = phone(server, publisher, client_id=client_id).query()["label"]
        assert label == ("v2" if client_id in inside else "v1")


def test_diff_package_is_applied_and_verified(server, publisher, tmp_path):
    publisher.release(V1_FILES)
    device = phone(server, publisher)
    installed = device.query()
    folder = unzip_to(requests.get(installed["downloadUrl"]).content, tmp_path / "device")
    full = publisher.release(V2_FILES)
    assert installed["packageHash"] in full["diffPackageMap"]
    update = device.query(installed)
    assert update["packageHash"] == full["packageHash"] and update["packageSize"] < full["size"]
    with zipfile.ZipFile(io.BytesIO(requests.get(update["downloadUrl"]).content)) as diff:
        manifest = json.loads(diff.read("hotcodepush.json"))
        for path in manifest["deletedFiles"]:
            (folder / path).unlink()
        diff.extractall(folder, [n for n in diff.namelist() if n != "hotcodepush.json"])
    assert manifest == {"deletedFiles": ["CodePush/old.json"]}
    assert node_folder_hash(folder) == update["packageHash"]


def test_disabled_release_is_not_offered(server, publisher):
    publisher.release(V1_FILES)
    publisher.release(V2_FILES)
    publisher.api("PATCH", f"/releases/{publisher.release_id('v2')}", {"disabled": True})
    assert phone(server, publisher).query()["label"] == "v1"


def test_app_version_outside_the_range(server, publisher):
    publisher.release(V1_FILES, appVersion="^2.0.0")
    assert phone(server, publisher, app_version="1.4.0").query() == {"updateAppVersion": True,
                                                                     "appVersion": "^2.0.0"}
    assert phone(server, publisher, app_version="3.0.0").query() is None
    assert phone(server, publisher, app_version="2.1.0").query()["appVersion"] == "2.1.0"


def test_rollback(server, publisher):
    first = publisher.release(V1_FILES)
    publisher.release(V2_FILES)
    device = phone(server, publisher)
    on_v2 = device.query()
    assert on_v2["label"] == "v2"
    rolled = requests.post(f"{publisher.url}/apps/{publisher.app}/deployments/Production/rollback",
                           headers=publisher.auth)
    assert rolled.status_code == 201
    back = device.query(on_v2)
    assert back["label"] == "v3" and back["packageHash"] == first["packageHash"]
    publisher.api("POST", "/channels/production/rollback", {"toBuiltin": True})
    assert device.query(back) is None


def test_reports_move_the_release_stats(server, publisher):
    publisher.release(V1_FILES)
    device = phone(server, publisher, client_id="reporter")
    update = device.query()
    device.report_download(update)
    device.report_deploy(update, "DeploymentSucceeded", previous_label_or_app_version="1.0.0")
    phone(server, publisher, client_id="other").report_deploy(update, "DeploymentFailed")
    stats = publisher.api("GET", f"/releases/{publisher.release_id('v1')}")["stats"]
    assert (stats["downloads"], stats["installs"], stats["failures"]) == (1, 1, 1)
    device.report_deploy(None, None, previous_label_or_app_version="v1")


def test_patching_a_releases_app_version_retargets_it(server, publisher):
    publisher.release(V1_FILES)
    patched = requests.patch(f"{publisher.url}/apps/{publisher.app}/deployments/Production/release",
                             json={"packageInfo": {"appVersion": "^2.0.0"}}, headers=publisher.auth)
    assert patched.status_code == 200 and patched.json()["package"]["appVersion"] == "^2.0.0"
    assert phone(server, publisher, app_version="1.0.0").query() == {"updateAppVersion": True,
                                                                     "appVersion": "^2.0.0"}
    assert phone(server, publisher, app_version="2.3.0").query()["label"] == "v1"


def test_a_rollback_repeats_the_targets_mandatory_flag(server, publisher):
    publisher.release(V1_FILES, isMandatory=True, description="critical fix")
    device = phone(server, publisher)
    on_v1 = device.query()
    publisher.release(V2_FILES)
    on_v2 = device.query(on_v1)
    rolled = requests.post(f"{publisher.url}/apps/{publisher.app}/deployments/Production/rollback/v1",
                           headers=publisher.auth).json()["package"]
    assert rolled["originalLabel"] == "v1"
    back = device.query(on_v2)
    assert (back["label"], back["isMandatory"], back["description"]) == ("v3", True, "critical fix")


def test_a_cleared_history_offers_nothing(server, publisher):
    publisher.release(V1_FILES)
    cleared = requests.delete(f"{publisher.url}/apps/{publisher.app}/deployments/Production/history",
                              headers=publisher.auth)
    assert cleared.status_code == 204
    assert phone(server, publisher).query() is None
