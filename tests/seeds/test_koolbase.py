"""Koolbase's OTA document (shared/seeds/002_52ac8180869887fd.txt), its examples sent as written.

The document's choices where it is silent, made as Koolbase's users would expect:
- ids: Koolbase's are UUID strings; otabox's are whole numbers, given as strings (`id`, `project_id`)
  so typed clients keep working; the project is the app, named in the path by its id or its slug.
- times: ISO 8601 in UTC with a Z, as the document; otabox adds milliseconds (2026-03-23T23:29:30.123Z).
- `storage_path`: where the file lives in otabox's store (`<sha[:2]>/<sha256>`), not an R2 key.
- statuses and bodies the document does not show: upload 201 with the bundle; the list a JSON array of
  bundles, newest first; activate and PATCH 200 with the bundle; delete 204 without a body.
- PATCH "toggles" the mandatory flag: without a body it flips; `{"mandatory": true}` sets it.
- errors: the document shows none, so they are otabox's {"error": {code, message, details}}.
- "Max 50MB": otabox's own OTABOX_MAX_BUNDLE_MB limit applies (413 past it).
"""
from __future__ import annotations

import hashlib
import io
import re

import pytest
from conftest import make_key, make_zip

APP = "com.example.demo"
DOCUMENTED_BUNDLE = {"id", "project_id", "channel", "version", "checksum", "storage_path", "file_size", "mandatory",
                     "active", "release_notes", "created_at", "updated_at"}
DOCUMENTED_UPDATE = {"has_update", "version", "checksum", "mandatory", "download_url", "release_notes", "file_size"}
ISO = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$"


@pytest.fixture
def dashboard(client, box, demo_app):
    """`Authorization: Bearer YOUR_DASHBOARD_TOKEN`: an otabox API key (a publisher's would do)."""
    return {"Authorization": f"Bearer {make_key(box, 'admin')}"}


def upload(client, headers, project, zip_bytes, **fields):
    """The document's curl: -F bundle=@./my_bundle.zip -F channel=... -F mandatory=... -F release_notes=..."""
    form = {"bundle": (io.BytesIO(zip_bytes), "my_bundle.zip"), **fields}
    return client.post(f"/v1/projects/{project}/ota/upload", data=form, headers=headers,
                       content_type="multipart/form-data")


def check(client, demo_app, **params):
    """The document's SDK check: GET /v1/sdk/ota/check?channel=production&version=0, x-api-key."""
    return client.get("/v1/sdk/ota/check", query_string={"channel": "production", "version": "0", **params},
                      headers={"x-api-key": demo_app["clientKey"]})


def test_the_documented_flow_upload_list_activate_check_toggle_delete(client, box, dashboard, demo_app):
    project = demo_app["id"]
    zip_bytes = make_zip({"index.html": "banner v1"})

    uploaded = upload(client, dashboard, project, zip_bytes, channel="production", mandatory="false",
                      release_notes="Updated banner and config")
    assert uploaded.status_code == 201, uploaded.json
    bundle = uploaded.json
    assert set(bundle) == DOCUMENTED_BUNDLE
    assert bundle["project_id"] == str(project) and isinstance(bundle["id"], str)
    assert (bundle["channel"], bundle["version"], bundle["mandatory"], bundle["active"]) == ("production", 1, False,
                                                                                            False)
    assert bundle["checksum"] == "sha256:" + hashlib.sha256(zip_bytes).hexdigest()
    assert bundle["file_size"] == len(zip_bytes) and bundle["release_notes"] == "Updated banner and config"
    assert bundle["storage_path"].endswith(hashlib.sha256(zip_bytes).hexdigest())
    for moment in ("created_at", "updated_at"):
        assert re.match(ISO, bundle[moment])

    # Not active yet: the SDK is told of nothing ("When no update is available").
    assert check(client, demo_app).json == {"has_update": False}

    listed = client.get(f"/v1/projects/{project}/ota/bundles", headers=dashboard)
    assert listed.status_code == 200 and listed.json == [bundle]

    activated = client.post(f"/v1/projects/{project}/ota/bundles/{bundle['id']}/activate", headers=dashboard)
    assert activated.status_code == 200 and activated.json["active"] is True and activated.json["version"] == 1

    # The document's SDK check response, field for field.
    reply = check(client, demo_app).json
    assert set(reply) == DOCUMENTED_UPDATE
    assert {k: reply[k] for k in ("has_update", "version", "checksum", "mandatory", "release_notes", "file_size")} == {
        "has_update": True, "version": 1, "checksum": bundle["checksum"], "mandatory": False,
        "release_notes": "Updated banner and config", "file_size": len(zip_bytes)}
    url = reply["download_url"]
    assert client.get(url[url.index("/dl/"):]).data == zip_bytes
    assert check(client, demo_app, version="1").json == {"has_update": False}

    toggled = client.patch(f"/v1/projects/{project}/ota/bundles/{bundle['id']}", headers=dashboard)
    assert toggled.status_code == 200 and toggled.json["mandatory"] is True
    assert check(client, demo_app).json["mandatory"] is True
    kept = client.patch(f"/v1/projects/{project}/ota/bundles/{bundle['id']}", json={"mandatory": True},
                        headers=dashboard)
    assert kept.json["mandatory"] is True

    # The next upload to the channel is version 2; devices on 1 get it once it is activated.
    second = upload(client, dashboard, APP, make_zip({"index.html": "banner v2"}), channel="production").json
    assert (second["version"], second["mandatory"], second["active"], second["release_notes"]) == (2, False, False, "")
    assert check(client, demo_app, version="1").json == {"has_update": False}
    client.post(f"/v1/projects/{APP}/ota/bundles/{second['id']}/activate", headers=dashboard)
    assert check(client, demo_app, version="1").json["version"] == 2
    listed = client.get(f"/v1/projects/{APP}/ota/bundles", headers=dashboard).json
    assert [(b["version"], b["active"]) for b in listed] == [(2, True), (1, False)]

    # The active bundle cannot be deleted; the one before it can (its file stays: a release history names it).
    refused = client.delete(f"/v1/projects/{project}/ota/bundles/{second['id']}", headers=dashboard)
    assert refused.status_code == 409 and refused.json["error"]["code"] == "bundle_active"
    gone = client.delete(f"/v1/projects/{project}/ota/bundles/{bundle['id']}", headers=dashboard)
    assert gone.status_code == 204 and gone.data == b""
    assert [b["version"] for b in client.get(f"/v1/projects/{APP}/ota/bundles", headers=dashboard).json] == [2]
    assert box.store.exists(hashlib.sha256(zip_bytes).hexdigest())


def test_delete_removes_the_file_when_nothing_else_uses_it(client, box, dashboard, demo_app):
    zip_bytes = make_zip({"index.html": "never activated"})
    bundle = upload(client, dashboard, APP, zip_bytes).json
    digest = hashlib.sha256(zip_bytes).hexdigest()
    assert box.store.exists(digest)
    assert client.delete(f"/v1/projects/{APP}/ota/bundles/{bundle['id']}", headers=dashboard).status_code == 204
    assert not box.store.exists(digest)
    assert client.get(f"/api/v1/apps/{APP}/bundles", headers=dashboard).json["total"] == 0
    assert client.delete(f"/v1/projects/{APP}/ota/bundles/{bundle['id']}", headers=dashboard).status_code == 404


def test_versions_are_per_channel_and_development_is_created_on_first_use(client, dashboard, demo_app):
    """"Target channel: production, staging, or development. Defaults to production." otabox apps start
    with production and staging; the first upload to development creates it."""
    first = upload(client, dashboard, APP, make_zip({"a": "1"})).json
    assert (first["channel"], first["version"]) == ("production", 1)
    staging = upload(client, dashboard, APP, make_zip({"a": "2"}), channel="staging").json
    development = upload(client, dashboard, APP, make_zip({"a": "3"}), channel="development").json
    again = upload(client, dashboard, APP, make_zip({"a": "4"}), channel="development").json
    assert [(b["channel"], b["version"]) for b in (staging, development, again)] == [
        ("staging", 1), ("development", 1), ("development", 2)]
    channels = client.get(f"/api/v1/apps/{APP}/channels", headers=dashboard).json["channels"]
    assert "development" in {c["name"] for c in channels}


def test_releases_made_elsewhere_get_the_next_number_on_their_channel(client, admin, dashboard, demo_app):
    """A bundle released with otabox's own API (or CodePush, Capgo) is numbered when first released,
    so Koolbase devices and the list see it too."""
    upload(client, dashboard, APP, make_zip({"a": "1"}))
    admin.publish(APP, "2.0.0")
    listed = client.get(f"/v1/projects/{APP}/ota/bundles", headers=dashboard).json
    assert [(b["version"], b["active"]) for b in listed] == [(2, True), (1, False)]
    assert check(client, demo_app).json["version"] == 2


def test_bad_requests_are_named_and_write_nothing(client, dashboard, demo_app):
    zip_bytes = make_zip()
    cases = [({"mandatory": "maybe"}, 400, "mandatory"), ({"channel": "beta"}, 404, "channel"),
             ({"releaseNotes": "x"}, 400, "releaseNotes")]
    for fields, status, field in cases:
        response = upload(client, dashboard, APP, zip_bytes, **fields)
        assert response.status_code == status, response.json
        assert response.json["error"]["details"]["field"] == field
    typo = upload(client, dashboard, APP, zip_bytes, releaseNotes="x").json["error"]
    assert typo["code"] == "unknown_field" and typo["details"]["suggestion"] == "release_notes"
    no_file = client.post(f"/v1/projects/{APP}/ota/upload", data={"channel": "production"}, headers=dashboard,
                          content_type="multipart/form-data")
    assert no_file.status_code == 400 and no_file.json["error"]["details"]["field"] == "bundle"
    not_a_zip = upload(client, dashboard, APP, b"not a zip", channel="development")
    assert not_a_zip.status_code in (400, 422) and "error" in not_a_zip.json
    assert client.get(f"/v1/projects/{APP}/ota/bundles", headers=dashboard).json == []
    assert client.get(f"/api/v1/apps/{APP}/bundles", headers=dashboard).json["total"] == 0
    assert "development" not in {c["name"] for c in client.get(f"/api/v1/apps/{APP}/channels",
                                                                 headers=dashboard).json["channels"]}
    bad_flag = client.patch(f"/v1/projects/{APP}/ota/bundles/1", json={"mandatory": "yes"}, headers=dashboard)
    assert bad_flag.status_code == 400 and bad_flag.json["error"]["details"] == {"field": "mandatory"}
    assert client.post(f"/v1/projects/{APP}/ota/bundles/999/activate", headers=dashboard).status_code == 404
    assert client.get("/v1/projects/com.example.none/ota/bundles", headers=dashboard).status_code == 404


def test_the_dashboard_token_is_required(client, box, demo_app):
    assert client.get(f"/v1/projects/{APP}/ota/bundles").status_code == 401
    reader = {"Authorization": f"Bearer {make_key(box, 'reader')}"}
    assert client.get(f"/v1/projects/{APP}/ota/bundles", headers=reader).status_code == 200
    refused = upload(client, reader, APP, make_zip())
    assert refused.status_code == 403 and refused.json["error"]["code"] == "forbidden"


def test_uploads_waiting_for_activation_survive_deleting_unused_bundles(client, admin, dashboard, demo_app):
    waiting = upload(client, dashboard, APP, make_zip({"a": "waiting"})).json
    admin.upload(APP, "3.0.0")
    deleted = admin.client.delete(f"/api/v1/apps/{APP}/bundles?unused=true", headers=admin._headers()).json
    assert len(deleted["ids"]) == 1
    assert [b["id"] for b in client.get(f"/v1/projects/{APP}/ota/bundles", headers=dashboard).json] == [waiting["id"]]


def test_channels_and_apps_with_numbered_bundles_can_be_deleted(client, admin, dashboard, demo_app):
    upload(client, dashboard, APP, make_zip({"a": "1"}), channel="development")
    active = upload(client, dashboard, APP, make_zip({"a": "2"})).json
    client.post(f"/v1/projects/{APP}/ota/bundles/{active['id']}/activate", headers=dashboard)
    assert admin.client.delete(f"/api/v1/apps/{APP}/channels/development", headers=admin._headers()).status_code == 200
    assert [b["channel"] for b in client.get(f"/v1/projects/{APP}/ota/bundles", headers=dashboard).json] == [
        "production"]
    assert admin.client.delete(f"/api/v1/apps/{APP}", headers=admin._headers()).status_code == 200
    assert client.get(f"/v1/projects/{APP}/ota/bundles", headers=dashboard).status_code == 404


def test_otabox_s_own_api_shows_the_numbers_and_the_active_bundle(client, admin, dashboard, demo_app):
    """What the dashboard and the CLI read: each bundle's number per channel with `active`, each
    release's `channelVersion`, and the channel's current release with the active bundle's number."""
    first = upload(client, dashboard, APP, make_zip({"a": "1"}), mandatory="true").json
    second = upload(client, dashboard, APP, make_zip({"a": "2"})).json
    staged = upload(client, dashboard, APP, make_zip({"a": "3"}), channel="staging").json
    client.post(f"/v1/projects/{APP}/ota/bundles/{first['id']}/activate", headers=dashboard)
    client.post(f"/v1/projects/{APP}/ota/bundles/{second['id']}/activate", headers=dashboard)
    otabox_bundles = admin.get(f"/api/v1/apps/{APP}/bundles").json["bundles"]
    assert [b["channelVersions"] for b in otabox_bundles] == [
        [{"channel": "staging", "version": 1, "mandatory": False, "active": False}],
        [{"channel": "production", "version": 2, "mandatory": False, "active": True}],
        [{"channel": "production", "version": 1, "mandatory": True, "active": False}]]
    assert staged["version"] == 1
    releases = admin.get(f"/api/v1/apps/{APP}/releases?channel=production").json["releases"]
    assert [(r["bundleVersion"].split("+")[0], r["channelVersion"]) for r in releases] == [("2.0.0", 2),
                                                                                          ("1.0.0", 1)]
    production = admin.get(f"/api/v1/apps/{APP}/channels/production").json
    assert production["currentRelease"]["channelVersion"] == 2
    builtin = admin.post(f"/api/v1/apps/{APP}/channels/production/rollback", {"toBuiltin": True}).json
    assert builtin["release"]["channelVersion"] is None


def test_the_channel_is_found_as_every_channel_is(client, dashboard, demo_app):
    """Exact name first, then ignoring case: `channel=Production` uploads to production, and
    `channel=Development` makes the standard development channel, not a second spelling of it."""
    upper = upload(client, dashboard, APP, make_zip({"a": "1"}), channel="Production").json
    assert (upper["channel"], upper["version"]) == ("production", 1)
    development = upload(client, dashboard, APP, make_zip({"a": "2"}), channel="Development").json
    assert (development["channel"], development["version"]) == ("development", 1)
    again = upload(client, dashboard, APP, make_zip({"a": "3"}), channel="DEVELOPMENT").json
    assert (again["channel"], again["version"]) == ("development", 2)
    names = [c["name"] for c in client.get(f"/api/v1/apps/{APP}/channels", headers=dashboard).json["channels"]]
    assert names == ["production", "staging", "development"]
    # The project by its display name (unique here), and the SDK naming its channel in another case.
    by_name = client.post(f"/v1/projects/Demo/ota/bundles/{upper['id']}/activate", headers=dashboard)
    assert by_name.status_code == 200 and by_name.json["active"] is True
    assert check(client, demo_app, channel="Production").json["version"] == 1


@pytest.mark.parametrize("method, path, body, field", [
    ("GET", "/ota/bundles?chanel=production", None, "chanel"),
    ("POST", "/ota/bundles/1/activate", {"mandatory": True}, "mandatory"),
    ("PATCH", "/ota/bundles/1", {"mandatroy": True}, "mandatory"),
    ("DELETE", "/ota/bundles/1?force=true", None, "force")])
def test_every_dashboard_route_refuses_an_unknown_field_by_name(client, dashboard, demo_app, method, path, body,
                                                              field):
    """(The upload's form fields: test_bad_requests_are_named_and_write_nothing.) The name in `field`
    is the one refused, or, for a near miss, the one suggested."""
    refused = client.open(f"/v1/projects/{APP}{path}", method=method, json=body, headers=dashboard)
    error = refused.json["error"]
    assert refused.status_code == 400 and error["code"] == "unknown_field"
    assert field in (error["details"]["field"], error["details"]["suggestion"])
