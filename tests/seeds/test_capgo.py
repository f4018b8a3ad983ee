"""Capgo's public API document (shared/seeds/004_40dafb33ad55861e.txt), its requests sent as written.

Choices where the document is silent or contradicts itself, as Capgo's users would expect:
- `authorization: <key>` is the whole header (no "Bearer"), an otabox API key; `Bearer <key>` works too.
- `app_id` is the app's id in Capgo, a reverse-DNS name: otabox's slug.
- `disableAutoUpdate`: ChannelSet types it `"major" | "minor" | "version_number" | "none"`, the Channel
  reply `boolean`. The reply answers the documented boolean (true: some upgrades are blocked) and the
  enum beside it as `disable_auto_update`, the column Capgo's channel rows carry it in, so what a script
  sets it reads back (test_disable_auto_update_is_a_boolean_with_the_channel_set_enum_beside).
- `DELETE /channel` sends only `channel`; the app is the key's when the key reaches one app, and
  `app_id` is required otherwise (a 400 naming it).
- Replies carry ChannelSet's other settings too (`ios`, `android`, `allow_device_self_set`): every
  documented field in both directions. A channel serving the binary's own bundle has
  `version: {"id": null, "name": "builtin"}` (Capgo's name for it).
- The one-device reply has the list's fields (a superset of the document's one-device shape).
- Bundles: otabox keeps them in its own store (`storage_provider` "otabox", `r2_path` the blob's path,
  `bucket_id` and `external_url` null), has no organizations (`owner_org` is the app) and never keeps
  deleted bundles (`deleted` false). `DELETE /bundle` without `version` deletes every bundle nothing
  uses: bundles in a release history stay, as devices may run them; one version in a history is a 409.
- Errors: the document shows none, so they are otabox's {"error": {code, message, details}}.
"""
from __future__ import annotations

import pytest
from conftest import make_key, make_zip

APP = "com.example.demo"
CHANNEL_FIELDS = {"id", "created_at", "name", "app_id", "version", "created_by", "updated_at", "public",
                  "disableAutoUpdateUnderNative", "disableAutoUpdate", "allow_emulator", "allow_dev"}
CHANNEL_SET_ONLY = {"ios", "android", "allow_device_self_set", "disable_auto_update"}
DEVICE_FIELDS = {"created_at", "updated_at", "device_id", "custom_id", "version", "app_id", "platform",
                 "plugin_version", "os_version", "version_build", "is_prod", "is_emulator"}
BUNDLE_FIELDS = {"app_id", "bucket_id", "checksum", "created_at", "deleted", "external_url", "id", "minUpdateVersion",
                 "name", "native_packages", "owner_org", "r2_path", "session_key", "storage_provider", "updated_at",
                 "user_id"}
OK = {"status": "ok"}


@pytest.fixture
def key(box, demo_app):
    return make_key(box, "admin", "capgo-key")


@pytest.fixture
def capgo(client, key):
    """Capgo's requests: `authorization: <key>`, JSON bodies, app_id and page as URL parameters."""
    class Capgo:
        def __init__(self, secret):
            self.headers = {"authorization": secret}

        def get(self, path, **params):
            return client.get(path, query_string=params, headers=self.headers)

        def post(self, path, body):
            return client.post(path, json=body, headers=self.headers)

        def delete(self, path, body):
            return client.delete(path, json=body, headers=self.headers)
    return Capgo(key)


def test_channels_set_read_page_and_delete(capgo, admin, box, demo_app):
    bundle = admin.upload(APP, "1.0.0").json
    channel_set = {"app_id": APP, "channel": "beta", "version": "1.0.0", "public": False,
                   "disableAutoUpdateUnderNative": True, "disableAutoUpdate": "minor", "ios": True, "android": False,
                   "allow_device_self_set": True, "allow_emulator": False, "allow_dev": False}
    created = capgo.post("/channel", channel_set)
    assert created.status_code == 200 and created.json == OK

    listed = capgo.get("/channel", app_id=APP)
    assert listed.status_code == 200 and isinstance(listed.json, list)
    beta = next(c for c in listed.json if c["name"] == "beta")
    assert set(beta) == CHANNEL_FIELDS | CHANNEL_SET_ONLY
    assert beta["app_id"] == APP and beta["version"] == {"id": bundle["id"], "name": "1.0.0"}
    assert {k: beta[k] for k in channel_set if k not in ("app_id", "channel", "version")} == {
        **{k: v for k, v in channel_set.items() if k not in ("app_id", "channel", "version")},
        "disableAutoUpdate": True}, "the documented boolean"
    assert beta["disable_auto_update"] == "minor"
    assert beta["created_by"] == "capgo-key" and beta["updated_at"] >= beta["created_at"]
    assert capgo.get("/channel", app_id=APP, channel="beta").json == beta

    # The settings are otabox's own, not ignored: the channel serves 1.0.0 with the policy flags set.
    own = admin.get(f"/api/v1/apps/{APP}/channels/beta").json
    assert (own["allowDeviceSelfAssign"], own["allowEmulator"], own["allowDev"], own["blockUpgrades"],
            own["android"]) == (True, False, False, "minor", False)
    assert own["currentRelease"]["bundleVersion"] == "1.0.0"

    # Changing some settings leaves the others; the same version is not released again.
    assert capgo.post("/channel", {"app_id": APP, "channel": "beta", "public": True}).json == OK
    beta = capgo.get("/channel", app_id=APP, channel="beta").json
    assert beta["public"] is True and beta["allow_device_self_set"] is True and beta["disableAutoUpdate"] is True
    assert admin.get(f"/api/v1/apps/{APP}").json["defaultChannel"] == "beta"
    assert capgo.post("/channel", {"app_id": APP, "channel": "beta", "version": "1.0.0"}).json == OK
    assert admin.get(f"/api/v1/apps/{APP}/releases").json["total"] == 1

    # "receive array of 50 first channels. You can get the next one by sending page=1"
    for n in range(48):
        assert capgo.post("/channel", {"app_id": APP, "channel": f"extra-{n}"}).status_code == 200
    first, second = capgo.get("/channel", app_id=APP).json, capgo.get("/channel", app_id=APP, page=1).json
    assert (len(first), len(second)) == (50, 1)
    assert len({c["name"] for c in first + second}) == 51

    # DELETE /channel {channel}: this key reaches every app, so it must name the app.
    admin.post("/api/v1/apps", {"slug": "com.example.other"})
    unnamed = capgo.delete("/channel", {"channel": "beta"})
    assert unnamed.status_code == 400 and unnamed.json["error"]["details"]["field"] == "app_id"
    assert capgo.delete("/channel", {"channel": "beta", "app_id": APP}).json == OK
    assert capgo.get("/channel", app_id=APP, channel="beta").status_code == 404
    capgo.headers = {"authorization": make_key(box, "admin", "one-app", app=demo_app["id"])}  # reaches one app
    assert capgo.delete("/channel", {"channel": "extra-0"}).json == OK
    assert capgo.get("/channel", app_id=APP, channel="extra-0").status_code == 404


def test_disable_auto_update_is_a_boolean_with_the_channel_set_enum_beside(capgo, demo_app):
    """The document's Channel reply types disableAutoUpdate as `boolean`; ChannelSet's `disable_update`
    enum reads back as `disable_auto_update` (Capgo's column), in the list and the one-channel reply."""
    for value in ("major", "minor", "version_number", "none"):
        assert capgo.post("/channel", {"app_id": APP, "channel": "production", "disableAutoUpdate": value}).json == OK
        one = capgo.get("/channel", app_id=APP, channel="production").json
        [listed] = [c for c in capgo.get("/channel", app_id=APP).json if c["name"] == "production"]
        for channel in (one, listed):
            assert (channel["disableAutoUpdate"], channel["disable_auto_update"]) == (value != "none", value)
    as_boolean = capgo.post("/channel", {"app_id": APP, "channel": "production", "disableAutoUpdate": True})
    assert as_boolean.status_code == 400 and as_boolean.json["error"]["details"] == {"field": "disableAutoUpdate"}
    assert "major, minor, version_number, none" in as_boolean.json["error"]["message"]


def test_devices_link_read_and_unlink(capgo, client, admin, box, demo_app):
    bundle = admin.upload(APP, "1.0.0").json
    admin.post(f"/api/v1/apps/{APP}/channels", {"name": "beta"})
    checked = client.post("/capgo/updates", json={
        "platform": "ios", "device_id": "phone-1", "app_id": APP, "custom_id": "user-42", "version_build": "2.1.0",
        "version_code": "21", "version_os": "17.0", "version_name": "builtin", "plugin_version": "8.51.14",
        "is_emulator": False, "is_prod": True, "defaultChannel": ""})
    assert checked.status_code == 200
    box.tracker.flush()  # sightings are written in batches

    link = {"app_id": APP, "device_id": "phone-1", "version_id": "1.0.0", "channel": "beta"}
    assert capgo.post("/device", link).json == OK
    own = admin.get(f"/api/v1/apps/{APP}/devices/phone-1").json
    assert own["override"] == {"channel": "beta", "bundleId": bundle["id"]}

    listed = capgo.get("/device", app_id=APP)
    assert listed.status_code == 200 and [d["device_id"] for d in listed.json] == ["phone-1"]
    device = listed.json[0]
    assert set(device) == DEVICE_FIELDS
    assert {k: device[k] for k in ("custom_id", "app_id", "platform", "plugin_version", "os_version", "version_build",
                                   "is_prod", "is_emulator")} == {
        "custom_id": "user-42", "app_id": APP, "platform": "ios", "plugin_version": "8.51.14", "os_version": "17.0",
        "version_build": "2.1.0", "is_prod": True, "is_emulator": False}
    assert device["version"] == {"id": None, "name": "builtin"}
    assert capgo.get("/device", app_id=APP, device_id="phone-1").json == device

    # Only the channel: the bundle override stays (Capgo keeps the two apart).
    assert capgo.post("/device", {"app_id": APP, "device_id": "phone-1", "channel": "production"}).json == OK
    assert admin.get(f"/api/v1/apps/{APP}/devices/phone-1").json["override"] == {
        "channel": "production", "bundleId": bundle["id"]}

    assert capgo.delete("/device", {"device_id": "phone-1", "app_id": APP}).json == OK
    assert admin.get(f"/api/v1/apps/{APP}/devices/phone-1").json["override"] == {"channel": None, "bundleId": None}
    assert capgo.get("/device", app_id=APP, device_id="nobody").status_code == 404
    assert capgo.delete("/device", {"device_id": "nobody", "app_id": APP}).status_code == 404


def test_bundles_list_page_and_delete(capgo, admin, box, demo_app):
    admin.publish(APP, "1.0.0")
    unused = admin.upload(APP, "1.1.0", make_zip({"index.html": "1.1.0"})).json
    admin.upload(APP, "1.2.0", make_zip({"index.html": "1.2.0"}))

    listed = capgo.get("/bundle", app_id=APP)
    assert listed.status_code == 200 and [b["name"] for b in listed.json] == ["1.2.0", "1.1.0", "1.0.0"]
    one = listed.json[1]
    assert set(one) == BUNDLE_FIELDS
    assert (one["id"], one["app_id"], one["checksum"], one["deleted"], one["storage_provider"], one["user_id"]) == (
        unused["id"], APP, unused["sha256"], False, "otabox", "admin")
    assert one["r2_path"].endswith(unused["sha256"]) and one["session_key"] is None
    assert capgo.get("/bundle", app_id=APP, page=1).json == []

    assert capgo.delete("/bundle", {"app_id": APP, "version": "1.1.0"}).json == OK
    assert [b["name"] for b in capgo.get("/bundle", app_id=APP).json] == ["1.2.0", "1.0.0"]
    in_history = capgo.delete("/bundle", {"app_id": APP, "version": "1.0.0"})
    assert in_history.status_code == 409 and in_history.json["error"]["code"] == "bundle_in_use"
    said = in_history.json["error"]["message"]
    assert "'1.0.0'" in said and "production" in said and "deployment clear" in said, said
    assert capgo.delete("/bundle", {"app_id": APP}).json == OK
    assert [b["name"] for b in capgo.get("/bundle", app_id=APP).json] == ["1.0.0"]
    assert capgo.delete("/bundle", {"app_id": APP, "version": "9.9.9"}).status_code == 404


def test_the_key_is_the_whole_authorization_header(client, key, demo_app):
    assert client.get("/channel", query_string={"app_id": APP}, headers={"authorization": key}).status_code == 200
    assert client.get("/channel", query_string={"app_id": APP},
                      headers={"authorization": f"Bearer {key}"}).status_code == 200
    for headers in ({}, {"authorization": "otabox_sk_" + "x" * 43}):
        refused = client.get("/channel", query_string={"app_id": APP}, headers=headers)
        assert refused.status_code == 401 and refused.json["error"]["code"]
    missing = client.get("/channel", query_string={"app_id": APP}).json["error"]["message"]
    assert missing == "an API key is required: send 'authorization: <key>'"


def test_bad_input_is_named_and_writes_nothing(capgo, admin, demo_app):
    cases = [({"app_id": APP, "channel": "beta", "allow_device_self_assign": True}, "allow_device_self_assign",
              "allow_device_self_set"),
             ({"app_id": APP, "channel": "beta", "allowEmulator": False}, "allowEmulator", "allow_emulator")]
    for body, field, suggestion in cases:
        response = capgo.post("/channel", body)
        assert response.status_code == 400 and response.json["error"]["code"] == "unknown_field"
        assert response.json["error"]["details"]["field"] == field
        assert response.json["error"]["details"]["suggestion"] == suggestion
    missing_version = capgo.post("/channel", {"app_id": APP, "channel": "beta", "version": "9.9.9"})
    assert missing_version.status_code == 404
    assert capgo.post("/channel", {"channel": "beta"}).json["error"]["details"] == {"field": "app_id"}
    assert capgo.post("/channel", {"app_id": APP, "channel": "no spaces"}).json["error"]["code"] == "invalid_channel"
    assert capgo.get("/channel", app_id=APP, channel="beta").status_code == 404
    assert capgo.get("/channel", app_id=APP, page="-1").status_code == 400
    assert capgo.get("/channel", app_id="com.example.none").status_code == 404
    unlinked = capgo.post("/device", {"app_id": APP, "device_id": "phone-1"})
    assert unlinked.status_code == 400 and unlinked.json["error"]["details"]["field"] == "version_id"
    assert admin.get(f"/api/v1/apps/{APP}/devices").json["total"] == 0


def test_channels_are_found_by_exact_name_then_ignoring_case(capgo, admin, demo_app):
    """`"channel": "Staging"` changes staging (it does not make a second channel only case tells apart),
    on every route that names a channel."""
    assert capgo.post("/channel", {"app_id": APP, "channel": "Staging", "allow_dev": False}).json == OK
    assert [c["name"] for c in capgo.get("/channel", app_id=APP).json] == ["production", "staging"]
    assert capgo.get("/channel", app_id=APP, channel="STAGING").json["allow_dev"] is False
    assert capgo.post("/device", {"app_id": APP, "device_id": "phone-1", "channel": "Production"}).json == OK
    assert admin.get(f"/api/v1/apps/{APP}/devices/phone-1").json["override"]["channel"] == "production"
    assert capgo.delete("/channel", {"app_id": APP, "channel": "STAGING"}).json == OK
    assert [c["name"] for c in capgo.get("/channel", app_id=APP).json] == ["production"]


def test_an_app_id_that_is_a_shared_name_is_a_409_naming_only_the_apps_the_key_reaches(capgo, client, box, admin):
    """app_id is the slug; a display name works when it is unique among the apps the key reaches."""
    for slug in ("com.example.one", "com.example.two", "com.example.three"):
        admin.post("/api/v1/apps", {"slug": slug, "name": "Shop"})
    shared = capgo.get("/channel", app_id="Shop")
    assert shared.status_code == 409 and shared.json["error"]["code"] == "ambiguous_app_name"
    assert shared.json["error"]["details"]["slugs"] == ["com.example.one", "com.example.two", "com.example.three"]
    one = admin.get("/api/v1/apps/com.example.one").json["id"]
    scoped = {"authorization": make_key(box, "admin", "one-shop", app=one)}
    reached = client.get("/channel", query_string={"app_id": "Shop"}, headers=scoped)
    assert reached.status_code == 200 and {c["app_id"] for c in reached.json} == {"com.example.one"}


@pytest.mark.parametrize("method, path, sent, field, suggestion", [
    ("GET", "/channel", {"app_id": APP, "pages": "1"}, "pages", "page"),
    ("DELETE", "/channel", {"app_id": APP, "name": "beta"}, "name", None),
    ("POST", "/device", {"app_id": APP, "device_id": "d", "versionId": "1.0.0"}, "versionId", "version_id"),
    ("GET", "/device", {"app_id": APP, "deviceId": "d"}, "deviceId", "device_id"),
    ("DELETE", "/device", {"app_id": APP, "device_id": "d", "channel": "production"}, "channel", None),
    ("GET", "/bundle", {"app_id": APP, "limit": "5"}, "limit", None),
    ("DELETE", "/bundle", {"app_id": APP, "versions": "1.0.0"}, "versions", "version")])
def test_every_route_refuses_an_unknown_field_by_name(capgo, demo_app, method, path, sent, field, suggestion):
    """(POST /channel: test_bad_input_is_named_and_writes_nothing.) GET sends its fields as URL
    parameters, the others as a JSON body, as the document says."""
    refused = (capgo.get(path, **sent) if method == "GET" else
               capgo.post(path, sent) if method == "POST" else capgo.delete(path, sent))
    assert refused.status_code == 400 and refused.json["error"]["code"] == "unknown_field"
    assert (refused.json["error"]["details"]["field"], refused.json["error"]["details"]["suggestion"]) == (
        field, suggestion)


@pytest.mark.parametrize("path, sent", [
    ("/channel", {"app_id": APP, "channel": "production"}),
    ("/device", {"app_id": APP, "device_id": "phone-1"}),
    ("/bundle", {"app_id": APP, "version": "1.0.0"})])
def test_a_delete_with_its_fields_in_the_query_is_told_to_send_a_json_body(client, key, demo_app, path, sent):
    """The document sends DELETE's fields as a body ("Send this"), GET's "as URL parameter": a script
    that puts DELETE's in the query learns where they go, not "accepted: none"."""
    refused = client.delete(path, query_string=sent, headers={"authorization": key})
    assert refused.status_code == 400 and refused.json["error"]["code"] == "unknown_field"
    assert refused.json["error"]["message"] == ("app_id is not accepted here: send it in the JSON body "
                                                "(Content-Type: application/json), not in the query string")


def test_a_page_out_of_range_names_its_range_in_whole_numbers(capgo, demo_app):
    refused = capgo.get("/channel", app_id=APP, page="abc")
    assert refused.status_code == 400
    assert refused.json["error"]["message"] == "page must be a whole number from 0 to 1000000"


def test_a_publisher_may_set_a_channels_version_and_only_an_admin_its_other_settings(client, admin, box, demo_app):
    """Setting `version` is a release, which a publisher may make (`otabox release`); creating a channel
    or changing its settings stays the admin's. The whole ChannelSet repeated as it is passes."""
    admin.upload(APP, "1.1.0")
    publisher = {"authorization": make_key(box, "publisher", "ci")}
    released = client.post("/channel", json={"app_id": APP, "channel": "production", "version": "1.1.0"},
                           headers=publisher)
    assert released.status_code == 200 and released.json == OK
    read = client.get("/channel", query_string={"app_id": APP, "channel": "production"}, headers=publisher).json
    assert read["version"]["name"] == "1.1.0"
    same = {k: read[k] for k in ("public", "allow_dev", "ios")}
    resent = client.post("/channel", json={"app_id": APP, "channel": "production", "version": "1.1.0", **same},
                         headers=publisher)
    assert resent.status_code == 200
    changed = client.post("/channel", json={"app_id": APP, "channel": "production", "allow_dev": not read["allow_dev"]},
                          headers=publisher)
    assert changed.status_code == 403 and changed.json["error"]["details"]["fields"] == ["allow_dev"]
    assert changed.json["error"]["message"].startswith("changing a channel's allow_dev needs the admin role")
    created = client.post("/channel", json={"app_id": APP, "channel": "beta", "version": "1.1.0"}, headers=publisher)
    assert created.status_code == 403 and created.json["error"]["message"].startswith(
        "creating channel 'beta' needs the admin role")
    assert "beta" not in [c["name"] for c in client.get("/channel", query_string={"app_id": APP}, headers=publisher).json]


def test_a_key_of_another_app_hears_so_before_any_role(client, admin, box, demo_app):
    other = admin.post("/api/v1/apps", {"slug": "com.example.other", "name": "Other"}).json["id"]
    for role in ("publisher", "admin"):
        elsewhere = {"authorization": make_key(box, role, f"other-{role}", app=other)}
        refused = client.post("/channel", json={"app_id": APP, "channel": "production", "allow_dev": False},
                              headers=elsewhere)
        assert refused.status_code == 403 and refused.json["error"]["message"].endswith("is limited to other apps")
