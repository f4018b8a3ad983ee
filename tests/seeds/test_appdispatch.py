"""AppDispatch's management API (shared/seeds/001_84439e3998bbed08.txt) driven with the document's own
example requests, as written, in the order a team moving to otabox would send them.

The document shows request bodies but almost no answers. Where it is silent, the choices made are:
- a single resource comes back under its name (`{"build": ...}`, `{"update": ...}`, `{"channel": ...}`),
  a list under its plural with `total` where it pages, as the one documented answer (republish's
  `{"updates": [...], "groupId"}`) does;
- errors are otabox's `{"error": {code, message, details}}`: the document shows no error shape;
- a build's `assets` are the files of an `npx expo export` dist, each named by its path in it: the
  document says "Bundle and asset files" and builds carry an Expo config and runtime version;
- `POST /v1/ota/updates` (not in the document) takes publish's body plus `buildId`, as the issue pins.
"""
from __future__ import annotations

import io
import re
import uuid

import pytest
from conftest import make_key
from expo_fixture import make_export

PROJECT = "com.example.dispatch"
SECRET = "whsec_your_signing_secret"


@pytest.fixture
def dispatch(admin, client, box):
    """`Authorization: Bearer <key>` and `X-Project: <slug>`, as the document's curl example sends them."""
    assert admin.post("/api/v1/apps", {"slug": PROJECT, "name": "Dispatch"}).status_code == 201

    class Dispatch:
        headers = {"Authorization": f"Bearer {admin.key}", "X-Project": PROJECT}

        def open(self, method, path, json=None, **kw):
            return client.open(path, method=method, headers={**self.headers, **kw.pop("headers", {})}, json=json, **kw)

        def get(self, path, **kw):
            return self.open("GET", path, **kw)

        def post(self, path, json=None, **kw):
            return self.open("POST", path, json, **kw)

        def patch(self, path, json=None, **kw):
            return self.open("PATCH", path, json, **kw)

        def delete(self, path, **kw):
            return self.open("DELETE", path, **kw)

    return Dispatch()


def export_assets(tmp_path, platform="ios", with_metadata=True):
    """The multipart `assets` files of an Expo export: (file, path-in-dist) pairs."""
    fixture = make_export(tmp_path / f"dist-{platform}-{with_metadata}", platforms=(platform,))
    paths = [p for p in sorted(fixture.dist_dir.rglob("*")) if p.is_file()]
    files = [(io.BytesIO(p.read_bytes()), p.relative_to(fixture.dist_dir).as_posix()) for p in paths
             if with_metadata or p.name != "metadata.json"]
    return fixture, files


def upload_build(dispatch, tmp_path, platform="ios", **fields):
    _, files = export_assets(tmp_path, platform)
    form = {"runtimeVersion": "1.0.0", "platform": platform, "message": "Fix checkout crash",
            "expoConfig": '{"name": "dispatch", "slug": "dispatch"}', "gitCommitHash": "4f2a9c1",
            "gitBranch": "main", **fields, "assets": files}
    return dispatch.post("/v1/ota/builds", data=form, content_type="multipart/form-data")


# --- authentication and X-Project ------------------------------------------------------------------

def test_management_routes_need_the_x_project_header_and_name_it(dispatch, client, admin):
    no_project = client.get("/v1/ota/updates", headers={"Authorization": f"Bearer {admin.key}"})
    assert no_project.status_code == 400
    assert no_project.json["error"]["code"] == "project_required" and "X-Project" in no_project.json["error"]["message"]
    unknown = dispatch.get("/v1/ota/updates", headers={"X-Project": "com.example.nobody"})
    assert unknown.status_code == 404
    assert unknown.json["error"]["code"] == "project_not_found" and "X-Project" in unknown.json["error"]["message"]
    assert client.get("/v1/ota/updates", headers={"X-Project": PROJECT}).status_code == 401
    assert dispatch.get("/v1/ota/updates").json == {"updates": [], "total": 0}


def test_public_routes_take_no_x_project(client, dispatch):
    """health-metrics is public as documented: no key and no X-Project."""
    report = {"projectSlug": PROJECT, "deviceId": "device-xyz", "channel": "production", "platform": "ios",
              "runtimeVersion": "49.0.0", "updateUuid": "abc-123", "events": [
                  {"type": "js_error", "message": "TypeError: undefined is not an object", "count": 3,
                   "flagStates": {"new-checkout": True, "theme": "dark"}}, {"type": "app_launch", "count": 1}]}
    assert client.post("/v1/ota/health-metrics", json=report).status_code == 204


def test_a_key_limited_to_another_project_is_refused(dispatch, client, box, admin):
    other = admin.post("/api/v1/apps", {"slug": "com.example.other"}).json
    scoped = make_key(box, "admin", "scoped", app=_app_row(box, other["id"]))
    response = client.get("/v1/ota/builds", headers={"Authorization": f"Bearer {scoped}", "X-Project": PROJECT})
    assert response.status_code == 403


def _app_row(box, app_id):
    from otabox.store.models import App
    with box.db.connection_context():
        return App.get_by_id(app_id)


# --- builds and publishing -------------------------------------------------------------------------

def test_build_numbers_count_builds_not_every_bundle_of_the_app(dispatch, admin, tmp_path):
    for version in ("2.0.0", "2.0.1"):
        assert admin.upload(PROJECT, version).status_code == 201
    assert upload_build(dispatch, tmp_path).status_code == 201
    assert upload_build(dispatch, tmp_path, platform="android").status_code == 201
    versions = [b["version"] for b in admin.get(f"/api/v1/apps/{PROJECT}/bundles").json["bundles"]]
    assert sorted(v for v in versions if "+" in v) == ["1.0.0+appdispatch.1", "1.0.0+appdispatch.2"]


def test_upload_a_build_with_assets_then_publish_it_at_10_percent_critical(dispatch, tmp_path, client):
    """The issue's headline: 10% critical with a message must not become 100% non-mandatory and empty."""
    uploaded = upload_build(dispatch, tmp_path)
    assert uploaded.status_code == 201, uploaded.json
    build = uploaded.json["build"]
    assert {k: build[k] for k in ("runtimeVersion", "platform", "message", "gitCommitHash", "gitBranch",
                                  "expoConfig")} == {
        "runtimeVersion": "1.0.0", "platform": "ios", "message": "Fix checkout crash", "gitCommitHash": "4f2a9c1",
        "gitBranch": "main", "expoConfig": {"name": "dispatch", "slug": "dispatch"}}
    assert dispatch.get("/v1/ota/builds").json["builds"] == [build]

    published = dispatch.post(f"/v1/ota/builds/{build['id']}/publish", {
        "channel": "production", "rolloutPercentage": 10, "isCritical": True, "releaseMessage": "v2.1 release"})
    assert published.status_code == 201, published.json
    update = published.json["update"]
    assert (update["rolloutPercentage"], update["isCritical"], update["releaseMessage"]) == (10, True, "v2.1 release")
    assert update["buildId"] == build["id"] and update["channel"] == "production"
    assert published.json["groupId"] == update["groupId"]
    # The release otabox serves is the same one.
    release = dispatch.get(f"/api/v1/apps/{PROJECT}/releases/{update['id']}").json
    assert (release["rollout"], release["mandatory"], release["notes"]) == (10, True, "v2.1 release")


def test_the_documented_publish_body_with_linked_flags(dispatch, tmp_path, admin):
    flag = admin.post(f"/api/v1/apps/{PROJECT}/flags", {"key": "new-checkout", "flagType": "boolean"}).json
    build = upload_build(dispatch, tmp_path).json["build"]
    body = {"channel": "production", "rolloutPercentage": 100, "isCritical": False, "releaseMessage": "v2.1 release",
            "groupId": "optional-uuid", "linkedFlags": [{"flagId": flag["id"], "enabled": True}]}
    published = dispatch.post(f"/v1/ota/builds/{build['id']}/publish", body)
    assert published.status_code == 201, published.json
    assert published.json["groupId"] == "optional-uuid"
    assert published.json["update"]["rolloutPercentage"] == 100 and not published.json["update"]["isCritical"]


def test_post_updates_is_publishing_the_build(dispatch, tmp_path):
    build = upload_build(dispatch, tmp_path, platform="android").json["build"]
    created = dispatch.post("/v1/ota/updates", {"buildId": build["id"], "channel": "staging", "rolloutPercentage": 25,
                                                "isCritical": True, "releaseMessage": "staged", "groupId": "g-1"})
    assert created.status_code == 201, created.json
    assert {k: created.json["update"][k] for k in ("buildId", "channel", "rolloutPercentage", "isCritical",
                                                   "releaseMessage", "groupId", "platform")} == {
        "buildId": build["id"], "channel": "staging", "rolloutPercentage": 25, "isCritical": True,
        "releaseMessage": "staged", "groupId": "g-1", "platform": "android"}


def test_a_build_without_metadata_json_takes_its_one_bundle_as_the_launch_asset(dispatch, tmp_path):
    _, files = export_assets(tmp_path, with_metadata=False)
    uploaded = dispatch.post("/v1/ota/builds", data={"runtimeVersion": "1.0.0", "platform": "ios", "assets": files},
                             content_type="multipart/form-data")
    assert uploaded.status_code == 201, uploaded.json


def test_assets_sent_with_curls_base_names_are_found_by_the_paths_metadata_json_names(dispatch, tmp_path, client):
    """`curl -F assets=@_expo/static/js/ios/index-<hash>.hbc` sends `index-<hash>.hbc` as the file name:
    a base name one path in metadata.json ends with is that file."""
    _, files = export_assets(tmp_path)
    base_named = [(data, name.rsplit("/", 1)[-1]) for data, name in files]
    uploaded = dispatch.post("/v1/ota/builds", data={"runtimeVersion": "1.0.0", "platform": "ios",
                                                     "assets": base_named}, content_type="multipart/form-data")
    assert uploaded.status_code == 201, uploaded.json
    published = dispatch.post(f"/v1/ota/builds/{uploaded.json['build']['id']}/publish", {"channel": "production"})
    assert published.status_code == 201, published.json


def test_a_file_metadata_json_names_but_no_part_is_is_named_with_curls_way_to_send_its_path(dispatch, tmp_path):
    _, files = export_assets(tmp_path)
    launch = next(name for _, name in files if name.endswith(".hbc") or name.endswith(".js"))
    without_launch = [(data, name) for data, name in files if name != launch]
    refused = dispatch.post("/v1/ota/builds", data={"runtimeVersion": "1.0.0", "platform": "ios",
                                                    "assets": without_launch}, content_type="multipart/form-data")
    assert refused.status_code == 422, refused.json
    assert refused.json["error"]["details"]["missing"] == [launch]
    message = refused.json["error"]["message"]
    assert launch in message and f"-F 'assets=@{launch};filename={launch}'" in message and "zip" not in message
    assert dispatch.get("/v1/ota/builds").json["total"] == 0


def test_bad_builds_are_refused_and_leave_nothing(dispatch, tmp_path):
    cases = [({"platform": "ios"}, "runtimeVersion"), ({"runtimeVersion": "1.0.0", "platform": "web"}, "platform"),
             ({"runtimeVersion": "1.0.0", "platform": "ios", "assets": None}, "assets"),
             ({"runtimeVersion": "1.0.0", "platform": "ios", "expoConfig": "{not json"}, "expoConfig")]
    for fields, field in cases:
        form = {"assets": export_assets(tmp_path)[1], **fields}
        form = {k: v for k, v in form.items() if v is not None}
        response = dispatch.post("/v1/ota/builds", data=form, content_type="multipart/form-data")
        assert response.status_code == 400, (field, response.json)
        assert response.json["error"]["details"]["field"] == field
    broken = dispatch.post("/v1/ota/builds", data={"runtimeVersion": "1.0.0", "platform": "ios",
                                                   "assets": [(io.BytesIO(b"x"), "a.png"),
                                                              (io.BytesIO(b"y"), "b.png")]},
                           content_type="multipart/form-data")
    assert broken.status_code == 400 and broken.json["error"]["details"]["field"] == "assets"
    json_body = dispatch.post("/v1/ota/builds", {"runtimeVersion": "1.0.0"})
    assert json_body.status_code == 400 and json_body.json["error"]["code"] == "expected_multipart"
    assert dispatch.get("/v1/ota/builds").json["total"] == 0


def test_publish_refuses_bad_values_by_name_and_releases_nothing(dispatch, tmp_path):
    build = upload_build(dispatch, tmp_path).json["build"]
    for body, field in (({"channel": "production", "rolloutPercentage": 101}, "rolloutPercentage"),
                        ({"channel": "production", "isCritical": "yes"}, "isCritical"),
                        ({"rolloutPercentage": 10}, "channel"),
                        ({"channel": "production", "rollout": 10}, "rollout")):
        response = dispatch.post(f"/v1/ota/builds/{build['id']}/publish", body)
        assert response.status_code == 400, response.json
        assert response.json["error"]["details"]["field"] == field
    assert dispatch.post(f"/v1/ota/builds/{build['id']}/publish", {"channel": "nightly"}).status_code == 404
    assert dispatch.get("/v1/ota/updates").json["total"] == 0


def test_delete_a_build(dispatch, tmp_path):
    build = upload_build(dispatch, tmp_path).json["build"]
    assert dispatch.delete(f"/v1/ota/builds/{build['id']}").json == {"deleted": True, "id": build["id"]}
    assert dispatch.get("/v1/ota/builds").json["total"] == 0
    published = upload_build(dispatch, tmp_path, platform="android").json["build"]
    dispatch.post(f"/v1/ota/builds/{published['id']}/publish", {"channel": "production"})
    in_use = dispatch.delete(f"/v1/ota/builds/{published['id']}")
    assert in_use.status_code == 409 and in_use.json["error"]["code"] == "bundle_in_use"
    assert in_use.json["error"]["details"]["channels"] == ["production"]
    assert "production (v1 (release" in in_use.json["error"]["message"]
    assert "clear those channels' history" in in_use.json["error"]["message"]


def test_reading_one_build_or_update_which_the_document_lists_no_route_for_names_the_methods_there(dispatch):
    """The document reads builds and updates as lists only (`GET /v1/ota/builds`, `GET /v1/ota/updates`):
    a GET of one is a 405 that says what the path takes."""
    for path, allowed in (("/v1/ota/builds/7", ["DELETE"]), ("/v1/ota/updates/7", ["DELETE", "PATCH"])):
        refused = dispatch.get(path)
        assert refused.status_code == 405 and refused.json["error"]["code"] == "method_not_allowed"
        assert sorted(refused.json["error"]["details"]["allowed"]) == allowed
        assert refused.json["error"]["message"] == f"GET is not accepted on {path}: it takes " + ", ".join(
            refused.json["error"]["details"]["allowed"])


# --- updates -------------------------------------------------------------------------------------

def published_update(dispatch, tmp_path, channel="production", platform="ios", **publish):
    build = upload_build(dispatch, tmp_path, platform=platform).json["build"]
    response = dispatch.post(f"/v1/ota/builds/{build['id']}/publish", {"channel": channel, **publish})
    assert response.status_code == 201, response.json
    return response.json["update"]


def test_list_patch_and_delete_updates(dispatch, tmp_path):
    update = published_update(dispatch, tmp_path, rolloutPercentage=10, isCritical=True,
                              releaseMessage="v2.1 release")
    assert dispatch.get("/v1/ota/updates").json == {"updates": [update], "total": 1}
    assert dispatch.get("/v1/ota/updates?channel=staging").json["total"] == 0

    patched = dispatch.patch(f"/v1/ota/updates/{update['id']}", {"rolloutPercentage": 50, "isCritical": False})
    assert patched.status_code == 200, patched.json
    assert (patched.json["update"]["rolloutPercentage"], patched.json["update"]["isCritical"]) == (50, False)
    paused = dispatch.patch(f"/v1/ota/updates/{update['id']}", {"isEnabled": False}).json["update"]
    assert paused["isEnabled"] is False
    refused = dispatch.patch(f"/v1/ota/updates/{update['id']}", {"rolloutPercent": 60})
    assert refused.status_code == 400 and refused.json["error"]["details"]["suggestion"] == "rolloutPercentage"

    history = dispatch.get(f"/v1/ota/updates/{update['id']}/history").json
    assert history["updateId"] == update["id"]
    assert [e["type"] for e in history["history"]] == ["created", "rollout_changed", "mandatory_changed",
                                                       "disabled_changed"]

    assert dispatch.delete(f"/v1/ota/updates/{update['id']}").json == {"deleted": True, "id": update["id"]}
    assert dispatch.get("/v1/ota/updates").json["total"] == 0
    assert dispatch.patch("/v1/ota/updates/999999", {"isCritical": True}).status_code == 404


def test_republish_to_two_channels_as_documented(dispatch, tmp_path):
    assert dispatch.post("/v1/ota/channels", {"name": "canary", "branchName": "canary"}).status_code == 201
    update = published_update(dispatch, tmp_path, isCritical=True, releaseMessage="v2.1 release")
    response = dispatch.post(f"/v1/ota/updates/{update['id']}/republish",
                             {"channels": ["staging", "canary"], "releaseMessage": "Republished with fix"})
    assert response.status_code == 201, response.json
    body = response.json
    assert set(body) == {"updates", "groupId"}
    assert [u["channel"] for u in body["updates"]] == ["staging", "canary"]
    assert all(u["groupId"] == body["groupId"] and u["releaseMessage"] == "Republished with fix"
               and u["buildId"] == update["buildId"] and u["isCritical"] for u in body["updates"])
    assert dispatch.get(f"/v1/ota/updates?groupId={body['groupId']}").json["total"] == 2


def test_republish_without_channels_republishes_to_the_updates_own_channel(dispatch, tmp_path):
    """`channels` is optional in the document ("or with updated release notes"): its own channel."""
    update = published_update(dispatch, tmp_path)
    again = dispatch.post(f"/v1/ota/updates/{update['id']}/republish", {"releaseMessage": "new notes"}).json
    assert [(u["channel"], u["releaseMessage"]) for u in again["updates"]] == [("production", "new notes")]
    missing = dispatch.post(f"/v1/ota/updates/{update['id']}/republish", {"channels": ["nightly"]})
    assert missing.status_code == 404 and dispatch.get("/v1/ota/updates").json["total"] == 2


# --- rollback ------------------------------------------------------------------------------------

EXPO_CHECK = {"expo-protocol-version": "1", "expo-platform": "ios", "expo-runtime-version": "1.0.0",
              "expo-channel-name": "production", "accept": "multipart/mixed,application/expo+json,application/json",
              "eas-client-id": "client-1"}


def test_rollback_to_embedded_and_to_an_update(dispatch, tmp_path, client):
    first = published_update(dispatch, tmp_path)
    second = published_update(dispatch, tmp_path)
    to_first = dispatch.post("/v1/ota/rollback", {"runtimeVersion": "1.0.0", "platform": "ios",
                                                  "channel": "production", "rollbackToUpdateId": first["id"]})
    assert to_first.status_code == 201, to_first.json
    assert to_first.json["update"]["buildId"] == first["buildId"] and to_first.json["update"]["isRollback"]

    running = re.search(rb'"id":\s*"([0-9a-f-]{36})"', client.get(f"/expo/{PROJECT}/manifest", headers=EXPO_CHECK).data)

    # The document's body without rollbackToUpdateId: back to the embedded update.
    embedded = dispatch.post("/v1/ota/rollback", {"runtimeVersion": "1.0.0", "platform": "ios",
                                                  "channel": "production"})
    assert embedded.status_code == 201, embedded.json
    assert embedded.json["update"]["isEmbedded"] and embedded.json["update"]["buildId"] is None
    manifest = client.get(f"/expo/{PROJECT}/manifest", headers={
        **EXPO_CHECK, "expo-current-update-id": running.group(1).decode(),
        "expo-embedded-update-id": str(uuid.uuid4())})
    assert manifest.status_code == 200 and b"rollBackToEmbedded" in manifest.data
    assert second["id"] != first["id"]


def test_rollback_as_written_names_an_update_this_project_lacks(dispatch, tmp_path):
    """The document's example names update 123, which this project does not have: 404, nothing written."""
    published_update(dispatch, tmp_path)
    response = dispatch.post("/v1/ota/rollback", {"runtimeVersion": "1.0.0", "platform": "ios",
                                                  "channel": "production", "rollbackToUpdateId": 123})
    assert response.status_code == 404
    assert dispatch.get("/v1/ota/updates").json["total"] == 1
    bad = dispatch.post("/v1/ota/rollback", {"runtimeVersion": "1.0.0", "platform": "web", "channel": "production"})
    assert bad.status_code == 400 and bad.json["error"]["details"]["field"] == "platform"


# --- channels ------------------------------------------------------------------------------------

def test_channels_as_the_document_shows_them(dispatch):
    names = [c["name"] for c in dispatch.get("/v1/ota/channels").json["channels"]]
    assert names == ["production", "staging"]
    created = dispatch.post("/v1/ota/channels", {"name": "canary", "branchName": "canary"})
    assert created.status_code == 201 and created.json["channel"]["branchName"] == "canary"
    # The document's PATCH names branches: an unknown one is a 404 naming it, and nothing changes.
    documented = {"branchName": "new-branch", "rolloutBranchName": "canary", "rolloutPercentage": 10,
                  "minRuntimeVersion": "2.0.0"}
    missing = dispatch.patch("/v1/ota/channels/production", documented)
    assert missing.status_code == 404 and missing.json["error"]["details"] == {"branch": "new-branch"}
    assert dispatch.get("/v1/ota/channels").json["channels"][0]["rolloutPercentage"] == 0
    assert dispatch.post("/v1/ota/branches", {"name": "new-branch"}).status_code == 201
    split = dispatch.patch("/v1/ota/channels/production", documented)
    assert split.status_code == 200, split.json
    assert {k: split.json["channel"][k] for k in documented} == documented
    assert dispatch.post("/v1/ota/channels", {"name": "staging", "branchName": "staging"}).status_code == 409
    assert dispatch.delete("/v1/ota/channels/canary").json == {"deleted": True, "name": "canary", "wasDefault": False}
    assert dispatch.get("/v1/ota/channels").json["channels"][0]["rolloutBranchName"] is None
    same = dispatch.patch("/v1/ota/channels/production", {"rolloutBranchName": "new-branch", "rolloutPercentage": 5})
    assert same.status_code == 400 and same.json["error"]["details"]["field"] == "rolloutBranch"


# --- branches and user overrides -----------------------------------------------------------------

def manifest_id(client, channel="production", user=None):
    """The Expo update id a device on `channel` (of user `user`) is served, None for no update."""
    headers = {**EXPO_CHECK, "expo-channel-name": channel,
               **({"expo-extra-params": f'user-id="{user}"'} if user else {})}
    answer = client.get(f"/expo/{PROJECT}/manifest", headers=headers)
    assert answer.status_code in (200, 204), answer.data
    found = re.search(rb'"id":\s*"([0-9a-f-]{36})"', answer.data)
    return found.group(1).decode() if found else None


def test_branches_as_the_document_shows_them(dispatch, tmp_path, client):
    """The document's order: the app's own "staging" channel goes, then the branch and a channel
    pointing at it are made as written; publishing to a channel publishes to its branch."""
    assert [b["name"] for b in dispatch.get("/v1/ota/branches").json["branches"]] == ["production", "staging"]
    assert dispatch.delete("/v1/ota/channels/staging").status_code == 200
    made = dispatch.post("/v1/ota/branches", {"name": "staging"})
    assert made.status_code == 201, made.json
    assert made.json["branch"]["name"] == "staging" and made.json["branch"]["channels"] == []
    assert dispatch.post("/v1/ota/branches", {"name": "staging"}).status_code == 409
    assert dispatch.post("/v1/ota/branches", {"names": "x"}).json["error"]["details"]["suggestion"] == "name"
    channel = dispatch.post("/v1/ota/channels", {"name": "staging", "branchName": "staging"})
    assert channel.status_code == 201 and channel.json["channel"]["branchName"] == "staging"

    # A second channel on the same branch serves what is published through either.
    assert dispatch.post("/v1/ota/channels", {"name": "qa", "branchName": "staging"}).status_code == 201
    update = published_update(dispatch, tmp_path, channel="qa")
    assert update["branchName"] == "staging"
    assert manifest_id(client, "staging") == manifest_id(client, "qa") is not None
    listed = {b["name"]: b for b in dispatch.get("/v1/ota/branches").json["branches"]}
    assert listed["staging"]["channels"] == ["staging", "qa"] and listed["staging"]["updateCount"] == 1

    # Pointing production at the branch: production's devices get the branch's update.
    assert manifest_id(client, "production") is None
    assert dispatch.patch("/v1/ota/channels/production", {"branchName": "staging"}).status_code == 200
    assert manifest_id(client, "production") == manifest_id(client, "staging")

    in_use = dispatch.delete("/v1/ota/branches/staging")
    assert in_use.status_code == 409 and in_use.json["error"]["details"]["channels"] == ["production", "staging", "qa"]
    assert in_use.json["error"]["message"] == ("channels production, staging, qa serve branch 'staging'; point them "
                                               "at another branch first")
    assert dispatch.delete("/v1/ota/branches/nope").status_code == 404
    assert dispatch.patch("/v1/ota/channels/production", {"branchName": "production"}).status_code == 200
    assert dispatch.post("/v1/ota/branches", {"name": "old"}).status_code == 201
    assert dispatch.delete("/v1/ota/branches/old").json == {"deleted": True, "name": "old"}


def test_a_split_sends_a_stable_share_of_devices_to_the_rollout_branch(dispatch, tmp_path, client):
    for name in ("new-branch", "canary"):
        assert dispatch.post("/v1/ota/branches", {"name": name}).status_code == 201
    assert dispatch.post("/v1/ota/channels", {"name": "canary", "branchName": "canary"}).status_code == 201
    documented = {"branchName": "new-branch", "rolloutBranchName": "canary", "rolloutPercentage": 10,
                  "minRuntimeVersion": "1.0.0"}
    assert dispatch.patch("/v1/ota/channels/production", documented).status_code == 200
    main = published_update(dispatch, tmp_path, channel="production")
    assert main["branchName"] == "new-branch" and main["channel"] == "production"
    published_update(dispatch, tmp_path, channel="canary")
    canary_id = manifest_id(client, "canary")
    served = []
    for n in range(200):
        headers = {**EXPO_CHECK, "eas-client-id": f"device-{n}"}
        body = client.get(f"/expo/{PROJECT}/manifest", headers=headers).data
        served.append(re.search(rb'"id":\s*"([0-9a-f-]{36})"', body).group(1).decode())
    share = sum(s == canary_id for s in served)
    assert 5 <= share <= 40, share  # 10% of 200, give or take
    again = [re.search(rb'"id":\s*"([0-9a-f-]{36})"', client.get(f"/expo/{PROJECT}/manifest", headers={
        **EXPO_CHECK, "eas-client-id": f"device-{n}"}).data).group(1).decode() for n in range(20)]
    assert again == served[:20]  # deterministic per device


def test_deleting_a_branch_a_channel_splits_to_is_refused_naming_the_split(dispatch):
    """Like a branch a channel serves: deleting it would move the split's devices back unannounced."""
    assert dispatch.post("/v1/ota/branches", {"name": "canary"}).status_code == 201
    split = {"rolloutBranchName": "canary", "rolloutPercentage": 50}
    assert dispatch.patch("/v1/ota/channels/staging", split).status_code == 200
    refused = dispatch.delete("/v1/ota/branches/canary")
    assert refused.status_code == 409 and refused.json["error"]["code"] == "branch_in_use"
    assert refused.json["error"]["details"] == {"branch": "canary", "channels": [], "splits": ["staging"]}
    assert refused.json["error"]["message"] == ("channels staging split devices to branch 'canary'; end the split "
                                                "(rolloutBranchName: null) first")
    staging = next(c for c in dispatch.get("/v1/ota/channels").json["channels"] if c["name"] == "staging")
    assert (staging["rolloutBranchName"], staging["rolloutPercentage"]) == ("canary", 50)
    assert dispatch.patch("/v1/ota/channels/staging", {"rolloutBranchName": None}).status_code == 200
    assert dispatch.delete("/v1/ota/branches/canary").json == {"deleted": True, "name": "canary"}


def test_user_overrides_as_the_document_shows_them(dispatch, tmp_path, client):
    documented = {"userId": "user-123", "branchName": "beta-testers", "note": "QA tester for v2.1"}
    unknown = dispatch.post("/v1/ota/user-overrides", documented)
    assert unknown.status_code == 404 and unknown.json["error"]["details"] == {"branch": "beta-testers"}
    assert dispatch.post("/v1/ota/branches", {"name": "beta-testers"}).status_code == 201
    assert dispatch.post("/v1/ota/channels", {"name": "beta", "branchName": "beta-testers"}).status_code == 201
    published_update(dispatch, tmp_path, channel="production")
    published_update(dispatch, tmp_path, channel="beta")
    production, beta = manifest_id(client, "production"), manifest_id(client, "beta")
    assert production != beta and manifest_id(client, "production", "user-123") == production

    made = dispatch.post("/v1/ota/user-overrides", documented)
    assert made.status_code == 201, made.json
    override = made.json["override"]
    assert {k: override[k] for k in documented} == documented
    assert dispatch.get("/v1/ota/user-overrides").json == {"overrides": [override]}
    # The user's devices get the branch on any channel; other users, and a per-install id, do not.
    assert manifest_id(client, "production", "user-123") == beta
    assert manifest_id(client, "staging", "user-123") == beta
    assert manifest_id(client, "production", "user-456") == production
    assert manifest_id(client, "production") == production
    assert dispatch.post("/v1/ota/user-overrides", {**documented, "userid": "x"}).status_code == 400

    deleted = dispatch.delete(f"/v1/ota/user-overrides/{override['id']}")
    assert deleted.json == {"deleted": True, "id": override["id"]}
    assert manifest_id(client, "production", "user-123") == production
    assert dispatch.delete(f"/v1/ota/user-overrides/{override['id']}").status_code == 404
    actions = [e["action"] for e in dispatch.get("/v1/ota/audit-log").json["entries"]]
    assert {"user_override.set", "user_override.deleted", "branch.created"} <= set(actions)


# --- audit log -----------------------------------------------------------------------------------

def test_audit_log_paging_as_documented(dispatch, tmp_path):
    published_update(dispatch, tmp_path, rolloutPercentage=10)
    documented = dispatch.get("/v1/ota/audit-log?limit=100&before=500")
    assert documented.status_code == 200
    entries = documented.json["entries"]
    assert entries and all(e["id"] < 500 for e in entries)
    assert set(entries[0]) == {"id", "action", "entity_type", "entity_id", "actor", "details", "createdAt"}
    assert len(dispatch.get("/v1/ota/audit-log").json["entries"]) == len(entries)  # default 200
    assert dispatch.get("/v1/ota/audit-log?limit=201").status_code == 400
    page = dispatch.get("/v1/ota/audit-log?limit=2").json["entries"]
    rest = dispatch.get(f"/v1/ota/audit-log?limit=200&before={page[-1]['id']}").json["entries"]
    assert [e["id"] for e in page + rest] == [e["id"] for e in entries]
    created = dispatch.get("/v1/ota/audit-log?action=release.created&entity_type=release").json["entries"]
    assert len(created) == 1 and created[0]["entity_type"] == "update"
    one = dispatch.get(f"/v1/ota/audit-log?entity_id={created[0]['entity_id']}&entity_type=release").json
    assert [e["id"] for e in one["entries"]] == [created[0]["id"]]


def test_audit_log_filters_in_the_documents_names(dispatch, tmp_path):
    """The document's examples (`action=build.published`, `entity_type=update`) find the published
    build, and entries read in the same names, as AppDispatch's webhooks do."""
    published_update(dispatch, tmp_path)
    published = dispatch.get("/v1/ota/audit-log?action=build.published").json["entries"]
    assert [(e["action"], e["entity_type"]) for e in published] == [("build.published", "update")]
    updates = dispatch.get("/v1/ota/audit-log?entity_type=update").json["entries"]
    assert [e["id"] for e in updates] == [e["id"] for e in published]
    uploaded = dispatch.get("/v1/ota/audit-log?action=build.uploaded&entity_type=build").json["entries"]
    assert [(e["action"], e["entity_type"]) for e in uploaded] == [("build.uploaded", "build")]
    assert dispatch.get("/v1/ota/audit-log?action=update.created").json["entries"] == published
    assert dispatch.get("/v1/ota/audit-log?action=flag.created").json["entries"] == []


@pytest.mark.parametrize("query, field, named", [("action=builds.published", "action", "build.published"),
                                                 ("action=deploy", "action", "update.rolled_back"),
                                                 ("entity_type=updates", "entity_type", "update")])
def test_an_unknown_audit_filter_is_refused_naming_the_accepted_values(dispatch, query, field, named):
    refused = dispatch.get(f"/v1/ota/audit-log?{query}")
    assert refused.status_code == 400, refused.json
    assert refused.json["error"]["details"]["field"] == field and named in refused.json["error"]["message"]


def test_the_audit_log_is_the_projects_own(dispatch, tmp_path, admin, client, box):
    """Each project reads its own entries, so a key limited to the project may read them too."""
    published_update(dispatch, tmp_path)
    other = admin.post("/api/v1/apps", {"slug": "com.example.other"}).json
    theirs = dispatch.get("/v1/ota/audit-log", headers={"X-Project": "com.example.other"}).json["entries"]
    assert [(e["action"], e["entity_id"]) for e in theirs] == [("app.created", str(other["id"]))]
    scoped = make_key(box, "admin", "project-admin", app=_app_row(box, other["id"]))
    response = client.get("/v1/ota/audit-log", headers={"Authorization": f"Bearer {scoped}",
                                                        "X-Project": "com.example.other"})
    assert response.status_code == 200 and response.json["entries"] == theirs


# --- webhooks ------------------------------------------------------------------------------------

@pytest.fixture
def resolvable(monkeypatch):
    """The document's webhook host, resolved to a public address (the tests have no DNS)."""
    import socket
    real = socket.getaddrinfo

    def fake(host, port, *args, **kwargs):
        if host == "your-app.example.com":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]
        return real(host, port, *args, **kwargs)
    monkeypatch.setattr(socket, "getaddrinfo", fake)


def test_webhooks_with_appdispatch_event_names(dispatch, tmp_path, admin, resolvable):
    created = dispatch.post("/v1/ota/webhooks", {"url": "https://your-app.example.com/webhook",
                                                 "events": ["build.published", "channel.updated"],
                                                 "secret": SECRET})
    assert created.status_code == 201, created.json
    webhook = created.json["webhook"]
    assert webhook["events"] == ["build.published", "channel.updated"] and webhook["secret"] == SECRET
    everything = dispatch.post("/v1/ota/webhooks", {"url": "https://your-app.example.com/webhook", "events": [
        "build.uploaded", "build.published", "update.created", "update.rolled_back", "channel.updated",
        "flag.updated", "rollout.advanced", "rollout.rolled_back"]}).json["webhook"]

    published_update(dispatch, tmp_path)
    dispatch.patch("/v1/ota/channels/production", {"minRuntimeVersion": "1.0.0"})
    dispatch.post("/v1/ota/rollback", {"runtimeVersion": "1.0.0", "platform": "ios", "channel": "production"})
    admin.post(f"/api/v1/apps/{PROJECT}/flags", {"key": "new-checkout", "flagType": "boolean"})
    told = [d["event"] for d in dispatch.get(f"/v1/ota/webhooks/{webhook['id']}/deliveries").json["deliveries"]]
    assert sorted(told) == ["build.published", "channel.updated"]
    told_all = [d["event"] for d in
                dispatch.get(f"/v1/ota/webhooks/{everything['id']}/deliveries").json["deliveries"]]
    assert sorted(told_all) == ["build.published", "build.uploaded", "channel.updated", "flag.updated",
                                "update.created", "update.rolled_back"]

    paused = dispatch.patch(f"/v1/ota/webhooks/{webhook['id']}", {"isActive": False})
    assert paused.status_code == 200 and paused.json["webhook"]["isActive"] is False
    listed = dispatch.get("/v1/ota/webhooks").json["webhooks"]
    assert [w["id"] for w in listed] == [webhook["id"], everything["id"]]
    assert dispatch.delete(f"/v1/ota/webhooks/{webhook['id']}").json == {"deleted": True, "id": webhook["id"]}


def test_webhooks_belong_to_their_project(dispatch, admin, resolvable):
    webhook = dispatch.post("/v1/ota/webhooks", {"url": "https://your-app.example.com/webhook",
                                                 "events": ["build.published"]}).json["webhook"]
    admin.post("/api/v1/apps", {"slug": "com.example.other"})
    other = {"X-Project": "com.example.other"}
    assert dispatch.get("/v1/ota/webhooks", headers=other).json["webhooks"] == []
    assert dispatch.delete(f"/v1/ota/webhooks/{webhook['id']}", headers=other).status_code == 404
    bad = dispatch.post("/v1/ota/webhooks", {"url": "https://your-app.example.com/webhook", "events": ["build.done"]})
    assert bad.status_code == 400 and bad.json["error"]["details"]["field"] == "events[0]"


@pytest.mark.parametrize("name", ["../escape.hbc", "/etc/passwd.hbc", "_expo/./x.hbc"])
def test_an_asset_path_outside_the_export_is_refused_and_leaves_nothing(dispatch, name):
    response = dispatch.post("/v1/ota/builds", data={"runtimeVersion": "1.0.0", "platform": "ios",
                                                     "assets": [(io.BytesIO(b"console.log(1)"), name)]},
                             content_type="multipart/form-data")
    assert 400 <= response.status_code < 500, response.data[:300]
    assert response.json["error"]["message"]
    assert dispatch.get("/v1/ota/builds").json["total"] == 0
