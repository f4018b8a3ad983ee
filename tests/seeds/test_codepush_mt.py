"""The CodePush multi-tenant server's API reference (shared/seeds/003_9d184ddace342685.txt), every
example request sent as written (path under /api/v1, `Authorization: Bearer`, body), in the order a
team moving to otabox would send them, and each answer compared with the document.

Choices where the document is silent or contradicts itself are stated where they are made:
- statuses: the document lists 200 and 201 without saying which route gives which; creations answer 201.
- errors: the document's shape is `{"error": {"code", "message", "details"}}`, which otabox's is too;
  the codes are otabox's (e.g. `not_found`, `conflict`) since the document shows one code only.
- `POST /apps/MyApp-iOS/deployments {"name": "Staging"}`: the document's own `POST /apps` reply says a
  new app has Production and Staging already, so adding Staging as written is a 409; it succeeds once
  Staging is deleted (the test does both).
- `PATCH .../releases/:label {"rollout": 50}` on a complete release: the document shows it, so the
  rollout may go down on this route; devices already on the release keep it (only new devices follow
  the new share). code-push-server's own CLI route keeps its increase-only rule.
- webhooks: the document shows the event body but no route to configure one; a webhook made with
  `POST /api/v1/webhooks {"format": "codepush"}` receives exactly that body.
"""
from __future__ import annotations

import datetime as dt
import io
import json
import time

import pytest
from conftest import Api, make_key, make_zip

from otabox.app import create_app
from otabox.config import Config
from otabox.core import users
from otabox.protocols.codepush.updates import in_codepush_rollout

BASE = "/api/v1"
EMAIL = "user@example.com"
PASSWORD = "correct horse battery staple"
PACKAGE_FILES = {"CodePush/index.bundle": "bug fixes and improvements"}
PACKAGE_INFO = {"appVersion": "1.0.0", "description": "Bug fixes and improvements", "isMandatory": False,
                "rollout": 100}


@pytest.fixture
def seed_app(tmp_path):
    """A box whose webhooks may call this machine (the receiver), delivered by hand, with the
    document's (and otabox's default) limit of 1000 requests an hour per token."""
    config = Config.from_env(data_dir=tmp_path / "data", device_flush_seconds=3600.0, webhook_allow_private=True,
                             address_rate_per_minute=0, api_requests_per_hour=1000)
    app = create_app(config)
    app.config["BOX"].webhooks.loop.stop()
    yield app
    app.config["BOX"].close()


@pytest.fixture
def owner(seed_app):
    """user@example.com, the organization's admin, with the access token their first sign-in gave."""
    box = seed_app.config["BOX"]
    with box.db.connection_context():
        users.create_user(EMAIL, "admin", PASSWORD, "test")
    browser = seed_app.test_client()
    csrf = browser.post(f"{BASE}/session", json={"email": EMAIL, "password": PASSWORD}).json["csrfToken"]
    made = browser.post(f"{BASE}/auth/tokens", json={"friendlyName": "laptop"}, headers={"X-CSRF-Token": csrf})
    return Api(seed_app.test_client(), made.json["accessToken"])


def release_package(api: Api, app: str, deployment: str, files: dict, info: dict):
    """`POST /apps/:appName/deployments/:deploymentName/release` as the document writes it: a multipart
    `package` file and `packageInfo` JSON."""
    return api.client.post(f"{BASE}/apps/{app}/deployments/{deployment}/release", headers=api._headers(),
                           content_type="multipart/form-data",
                           data={"package": (io.BytesIO(make_zip(files)), "package.zip"),
                                 "packageInfo": json.dumps(info)})


def parse_iso(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_access_tokens(owner):
    made = owner.post(f"{BASE}/auth/tokens", {"friendlyName": "My CLI Token", "ttl": 86400000})
    assert made.status_code == 201
    assert {"accessToken", "friendlyName", "expires"} <= set(made.json)
    assert made.json["friendlyName"] == "My CLI Token" and made.json["accessToken"]
    assert made.json["expires"].endswith("Z"), "an ISO time, as the document shows"
    assert abs(parse_iso(made.json["expires"]).timestamp() - (time.time() + 86400)) < 60
    cli = Api(owner.client, made.json["accessToken"])
    listed = cli.get(f"{BASE}/auth/tokens")
    assert listed.status_code == 200
    assert [t["friendlyName"] for t in listed.json["tokens"]] == ["laptop", "My CLI Token"]
    assert made.json["accessToken"] not in listed.get_data(as_text=True)
    assert owner.delete(f"{BASE}/auth/tokens/My CLI Token").status_code == 200
    assert cli.get(f"{BASE}/apps").status_code == 401


def test_apps_deployments_releases_and_collaborators(seed_app, owner):
    made = owner.post(f"{BASE}/apps", {"name": "MyApp-iOS", "platform": "ios"})
    assert made.status_code == 201
    assert made.json == {"app": {"name": "MyApp-iOS", "platform": "ios", "deployments": ["Production", "Staging"]}}
    again = owner.post(f"{BASE}/apps", {"name": "MyApp-iOS", "platform": "ios"})
    assert again.status_code == 409 and set(again.json["error"]) == {"code", "message", "details"}
    assert again.json["error"]["details"] == {"parameter": "name", "reason": "Name already exists"}

    listed = owner.get(f"{BASE}/apps")
    assert listed.status_code == 200
    app = next(a for a in listed.json["apps"] if a["name"] == "MyApp-iOS")
    assert {k: app[k] for k in ("name", "platform", "deployments", "collaborators")} == {
        "name": "MyApp-iOS", "platform": "ios", "deployments": ["Production", "Staging"],
        "collaborators": [{"email": EMAIL, "permission": "Owner"}]}
    assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} <= set(listed.headers.keys())
    assert listed.headers["X-RateLimit-Limit"] == "1000"

    deployments = owner.get(f"{BASE}/apps/MyApp-iOS/deployments")
    assert deployments.status_code == 200
    assert [(d["name"], bool(d["key"]), d["package"]) for d in deployments.json["deployments"]] == [
        ("Production", True, None), ("Staging", True, None)]
    documented = owner.post(f"{BASE}/apps/MyApp-iOS/deployments", {"name": "Staging"})
    assert documented.status_code == 409, "the app has Staging already (see the module's docstring)"
    assert documented.json["error"]["message"] == "A deployment named 'Staging' already exists."
    assert documented.json["error"]["details"] == {"parameter": "name", "reason": "Name already exists"}
    assert owner.delete(f"{BASE}/apps/MyApp-iOS/deployments/Staging").status_code == 204
    added = owner.post(f"{BASE}/apps/MyApp-iOS/deployments", {"name": "Staging"})
    assert added.status_code == 201 and added.json["deployment"]["name"] == "Staging"
    renamed = owner.patch(f"{BASE}/apps/MyApp-iOS/deployments/staging", {"name": "QA"})
    assert renamed.status_code == 200 and renamed.json["deployment"]["name"] == "QA", "found ignoring case"

    released = release_package(owner, "MyApp-iOS", "Production", PACKAGE_FILES, PACKAGE_INFO)
    assert released.status_code == 201, released.data
    assert released.json["package"]["rollout"] == 100, "as the releases list shows it"
    production = owner.get(f"{BASE}/apps/MyApp-iOS/deployments").json["deployments"][0]
    package = production["package"]
    assert {"appVersion", "description", "label", "packageHash", "blobUrl", "size", "releaseMethod",
            "uploadTime"} <= set(package)
    assert (package["appVersion"], package["description"], package["label"], package["releaseMethod"]) == (
        "1.0.0", "Bug fixes and improvements", "v1", "Upload")
    assert package["blobUrl"].startswith("http") and package["size"] > 0 and isinstance(package["uploadTime"], int)

    history = owner.get(f"{BASE}/apps/MyApp-iOS/deployments/Production/releases")
    assert history.status_code == 200
    [entry] = history.json["releases"]
    assert {k: entry[k] for k in ("label", "appVersion", "description", "isMandatory", "rollout")} == {
        "label": "v1", "appVersion": "1.0.0", "description": "Bug fixes and improvements", "isMandatory": False,
        "rollout": 100}
    assert isinstance(entry["size"], int) and isinstance(entry["uploadTime"], int)
    assert entry["metrics"] == {"totalActive": 0, "downloaded": 0, "installed": 0, "failed": 0}

    changed = owner.patch(f"{BASE}/apps/MyApp-iOS/deployments/Production/releases/v1",
                          {"rollout": 50, "isMandatory": True})
    assert changed.status_code == 200
    assert (changed.json["package"]["rollout"], changed.json["package"]["isMandatory"]) == (50, True)
    entry = owner.get(f"{BASE}/apps/MyApp-iOS/deployments/Production/releases").json["releases"][0]
    assert (entry["rollout"], entry["isMandatory"]) == (50, True)
    cli_route = owner.patch("/apps/MyApp-iOS/deployments/Production/release", {"packageInfo": {"rollout": 40}})
    assert cli_route.status_code == 409, "code-push-server's CLI route keeps its increase-only rule"

    box = seed_app.config["BOX"]
    with box.db.connection_context():
        users.create_user("dev@example.com", "member", PASSWORD, "test")
    collaborator = owner.post(f"{BASE}/apps/MyApp-iOS/collaborators",
                              {"email": "dev@example.com", "permission": "Collaborator"})
    assert collaborator.status_code == 201
    people = owner.get(f"{BASE}/apps/MyApp-iOS/collaborators").json["collaborators"]
    assert [(p["email"], p["permission"]) for p in people] == [("dev@example.com", "Collaborator"),
                                                               (EMAIL, "Owner")]
    assert owner.delete(f"{BASE}/apps/MyApp-iOS/collaborators/dev@example.com").status_code == 200

    renamed_app = owner.patch(f"{BASE}/apps/MyApp-iOS", {"name": "MyApp-iOS-Renamed"})
    assert renamed_app.status_code == 200 and renamed_app.json["name"] == "MyApp-iOS-Renamed"
    assert renamed_app.json["app"] == {"name": "MyApp-iOS-Renamed", "platform": "ios",
                                       "deployments": ["Production", "QA"]}, "as POST /apps answers"
    assert owner.get(f"{BASE}/apps/MyApp-iOS-Renamed/deployments").status_code == 200
    assert owner.get(f"{BASE}/apps/MyApp-iOS/deployments").json["error"]["code"] == "not_found"
    assert owner.delete(f"{BASE}/apps/MyApp-iOS-Renamed").status_code == 200
    assert owner.get(f"{BASE}/apps/MyApp-iOS-Renamed").status_code == 404


def test_a_shrunk_rollout_keeps_the_devices_that_have_the_release(seed_app, owner):
    owner.post(f"{BASE}/apps", {"name": "MyApp-Android", "platform": "android"})
    release_package(owner, "MyApp-Android", "Production", PACKAGE_FILES, PACKAGE_INFO)
    key = owner.get(f"{BASE}/apps/MyApp-Android/deployments").json["deployments"][0]["key"]
    client = seed_app.test_client()

    def check(device: str, package_hash: str | None = None) -> dict:
        query = {"deployment_key": key, "app_version": "1.0.0", "client_unique_id": device,
                 **({"package_hash": package_hash} if package_hash else {})}
        return client.get("/v0.1/public/codepush/update_check", query_string=query).json["update_info"]

    outside = [f"phone-{n}" for n in range(200) if not in_codepush_rollout(f"phone-{n}", "v1", 50)]
    inside = next(f"phone-{n}" for n in range(200) if in_codepush_rollout(f"phone-{n}", "v1", 50))
    offered = check(outside[0])
    assert offered["is_available"] is True, "at 100% every device gets v1"
    lowered = owner.patch(f"{BASE}/apps/MyApp-Android/deployments/Production/releases/v1", {"rollout": 50})
    assert lowered.status_code == 200
    kept = check(outside[0], offered["package_hash"])
    assert (kept["is_available"], kept["should_run_binary_version"]) == (False, False), "it keeps v1 (up to date)"
    assert check(outside[1])["is_available"] is False, "a new device outside the new 50% gets nothing"
    assert check(inside)["is_available"] is True


def test_apps_are_found_by_name_only_when_the_name_is_unique(owner):
    owner.post(f"{BASE}/apps", {"slug": "com.example.one", "name": "Shop"})
    owner.post(f"{BASE}/apps", {"slug": "com.example.two", "name": "Shop"})
    shared = owner.get(f"{BASE}/apps/Shop/deployments")
    assert shared.status_code == 409
    assert shared.json["error"]["details"] == {"name": "Shop", "slugs": ["com.example.one", "com.example.two"]}
    assert owner.get(f"{BASE}/apps/com.example.one/deployments").status_code == 200
    owner.post(f"{BASE}/apps/com.example.one/channels", {"name": "Beta"})
    assert owner.get(f"{BASE}/apps/com.example.one/channels/beta").json["name"] == "Beta", "case ignored"
    owner.post(f"{BASE}/apps/com.example.one/channels", {"name": "beta"})
    assert owner.get(f"{BASE}/apps/com.example.one/channels/beta").json["name"] == "beta", "exact name first"
    both = owner.get(f"{BASE}/apps/com.example.one/channels/BETA")
    assert both.status_code == 409 and both.json["error"]["code"] == "ambiguous_channel_name"


def test_bad_input_is_a_json_error_and_writes_nothing(owner):
    for body in ({"name": "MyApp-iOS", "platform": "symbian"}, {"name": "", "platform": "ios"},
                 {"name": "MyApp-iOS", "platform": "ios", "plaftorm": "ios"}, {"name": "MyApp-iOS"}):
        refused = owner.post(f"{BASE}/apps", body)
        assert refused.status_code == 400, body
        assert set(refused.json["error"]) == {"code", "message", "details"}
    assert owner.get(f"{BASE}/apps").json["apps"] == []
    owner.post(f"{BASE}/apps", {"name": "MyApp-iOS", "platform": "ios"})
    for body in ({"rollout": 101}, {"rollout": "half"}, {"isMandatory": "yes"}, {"rolout": 50}):
        refused = owner.patch(f"{BASE}/apps/MyApp-iOS/deployments/Production/releases/v1", body)
        assert refused.status_code in (400, 404) and "error" in refused.json, body


def test_the_deployment_released_webhook_body(seed_app, owner, receiver):
    hook = owner.post(f"{BASE}/webhooks", {"url": receiver.url + "/seed", "format": "codepush"})
    assert hook.status_code == 201 and hook.json["events"] == ["deployment.released"]
    otabox_hook = owner.post(f"{BASE}/webhooks", {"url": receiver.url + "/own", "events": ["deployment.released"]})
    assert otabox_hook.status_code == 201
    mixed = owner.post(f"{BASE}/webhooks", {"url": receiver.url, "format": "codepush", "events": ["*"]})
    assert mixed.status_code == 400 and mixed.json["error"]["details"] == {"field": "events"}
    owner.post(f"{BASE}/apps", {"name": "MyApp-iOS", "platform": "ios"})
    assert release_package(owner, "MyApp-iOS", "Production", PACKAGE_FILES, PACKAGE_INFO).status_code == 201
    box = seed_app.config["BOX"]
    with box.db.connection_context():
        started = box.webhooks.deliver_due()
    assert len([attempt.result() for attempt in started]) == 2  # the deliveries run on worker threads
    by_path = {r["path"]: r["body"] for r in receiver.received}
    seed = by_path["/otabox/seed"]
    assert set(seed) == {"event", "app", "deployment", "release", "timestamp"}
    assert {k: seed[k] for k in ("event", "app", "deployment", "release")} == {
        "event": "deployment.released", "app": "MyApp-iOS", "deployment": "Production",
        "release": {"label": "v1", "appVersion": "1.0.0", "description": "Bug fixes and improvements"}}
    assert abs(parse_iso(seed["timestamp"]).timestamp() - time.time()) < 60
    assert by_path["/otabox/own"]["data"]["appName"] == "MyApp-iOS", "otabox's own webhooks keep otabox's envelope"


def test_every_management_route_refuses_an_unknown_field_by_name(owner):
    owner.post(f"{BASE}/apps", {"name": "MyApp-iOS", "platform": "ios"})
    assert release_package(owner, "MyApp-iOS", "Production", PACKAGE_FILES, PACKAGE_INFO).status_code == 201
    app = f"{BASE}/apps/MyApp-iOS"
    for method, path, body, field, suggestion in (
            ("POST", f"{BASE}/auth/tokens", {"friendlyName": "x", "tll": 5}, "tll", "ttl"),
            ("GET", f"{BASE}/auth/tokens?x=1", None, "x", None),
            ("DELETE", f"{BASE}/auth/tokens/laptop?x=1", None, "x", None),
            ("PATCH", app, {"nmae": "MyApp"}, "nmae", "name"),
            ("GET", f"{app}/deployments?x=1", None, "x", None),
            ("POST", f"{app}/deployments", {"nam": "QA"}, "nam", "name"),
            ("PATCH", f"{app}/deployments/Production", {"nam": "QA"}, "nam", "name"),
            ("GET", f"{app}/deployments/Production/releases?x=1", None, "x", None),
            ("PATCH", f"{app}/deployments/Production/releases/v1", {"isMandatroy": True}, "isMandatroy",
             "isMandatory"),
            ("POST", f"{app}/collaborators", {"email": EMAIL, "permision": "Collaborator"}, "permision",
             "permission")):
        refused = owner.client.open(path, method=method, json=body, headers=owner._headers())
        assert refused.status_code == 400 and refused.json["error"]["code"] == "unknown_field", path
        assert (refused.json["error"]["details"]["field"], refused.json["error"]["details"]["suggestion"]) == (
            field, suggestion), path
    typo = release_package(owner, "MyApp-iOS", "Production", PACKAGE_FILES, {**PACKAGE_INFO, "isMandatry": False})
    assert typo.json["error"]["details"]["field"] == "packageInfo.isMandatry"
    assert len(owner.get(f"{app}/deployments/Production/releases").json["releases"]) == 1
