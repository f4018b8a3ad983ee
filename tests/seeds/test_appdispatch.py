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
                                                   "assets": [(io.BytesIO(b"x"), "a.png"), (io.BytesIO(b"y"), "b.png")]},
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
