"""Capgo fidelity (issue 15): the public (default) channel, disableAutoUpdateUnderNative and the
"version_number" mode with their Capgo refusal codes, and the device fields the plugin reports;
the refusal codes also as the real `@capgo/cli probe` reads them."""
from __future__ import annotations

import pytest
from conftest import make_zip
from test_capacitor import APP, FILES_V1, as_query, info, start_live, updates

API = f"/api/v1/apps/{APP}"


def test_public_channel_is_the_default_channel(client, admin, demo_app):
    admin.publish(APP, "1.0.1", channel="staging", files=FILES_V1)
    admin.patch(f"{API}/channels/staging", {"allowDeviceSelfAssign": True, "public": True})
    assert updates(client).json["version"] == "1.0.1"
    listed = client.get("/capgo/channel_self", query_string=as_query()).json
    assert [(c["name"], c["public"]) for c in listed] == [("staging", True)]
    assert client.put("/capgo/channel_self", json=info()).json["channel"] == "staging"
    admin.patch(f"{API}/channels/staging", {"public": False})
    refused = updates(client).json
    assert refused == {"kind": "blocked", "error": "no_channel", "message": "no default channel or override"}
    assert updates(client, defaultChannel="staging").json["version"] == "1.0.1"


@pytest.mark.parametrize("version_name,version_build,code,extra", [
    ("builtin", "2.0.0", "disable_auto_update_under_native", {"old": "2.0.0"}),
    ("1.0.0", "1.6.0", "disable_auto_update_under_native", {"old": "1.0.0"}),
])
def test_under_native_refusal(client, admin, demo_app, version_name, version_build, code, extra):
    admin.publish(APP, "1.5.0", files=FILES_V1)
    reply = updates(client, version_name=version_name, version_build=version_build).json
    assert reply == {"kind": "blocked", "error": code, "message": "Cannot revert under native version",
                     "version": "1.5.0", **extra}
    admin.patch(f"{API}/channels/production", {"disableAutoUpdateUnderNative": False})
    assert updates(client, version_name=version_name, version_build=version_build).json["version"] == "1.5.0"


def test_version_number_mode_refuses_below_min_update_version(client, admin, demo_app):
    admin.patch(f"{API}/channels/production", {"disableAutoUpdate": "version_number"})
    admin.publish(APP, "2.1.0", files=FILES_V1, bundle_fields={"minUpdateVersion": "2.0.0"})
    reply = updates(client, version_name="1.9.0").json
    assert reply == {"kind": "blocked", "error": "disable_auto_update_to_metadata",
                     "message": "Cannot upgrade version, min update version > current version",
                     "version": "2.1.0", "old": "1.9.0", "major": True}
    assert updates(client, version_name="2.0.0").json["version"] == "2.1.0"
    assert updates(client, version_name="builtin", version_build="2.0.5").json["version"] == "2.1.0"


def test_devices_keep_what_the_plugin_reports_and_filter_by_it(client, admin, box, demo_app):
    admin.publish(APP, "1.0.1", files=FILES_V1)
    updates(client, device_id="tester", custom_id="user-42", plugin_version="8.51.14", version_os="17.4",
            is_emulator=True, is_prod=False)
    updates(client, device_id="customer", custom_id="", plugin_version="8.40.0", version_os="14")
    box.tracker.flush()
    device = admin.get(f"{API}/devices/tester").json
    assert {k: device[k] for k in ("customId", "pluginVersion", "osVersion", "isProd", "isEmulator")} == {
        "customId": "user-42", "pluginVersion": "8.51.14", "osVersion": "17.4", "isProd": False, "isEmulator": True}
    by = {query: [d["deviceId"] for d in admin.get(f"{API}/devices?{query}").json["devices"]]
          for query in ("customId=user-42", "isEmulator=true", "isProd=true", "pluginVersion=8.40.0", "search=user")}
    assert by == {"customId=user-42": ["tester"], "isEmulator=true": ["tester"], "isProd=true": ["customer"],
                  "pluginVersion=8.40.0": ["customer"], "search=user": ["tester"]}
    assert admin.get(f"{API}/devices?isProd=maybe").status_code == 400
    client.post("/capgo/stats", json=info(device_id="tester", action="set", custom_id="user-43",
                                          version_name="1.0.1"))
    client.put("/capgo/channel_self", json=info(device_id="customer", custom_id="user-44"))
    client.put("/capgo/channel_self", json=info(device_id="fresh", custom_id="user-45"))
    box.tracker.flush()  # reports outside checks are buffered like sightings
    assert admin.get(f"{API}/devices/tester").json["customId"] == "user-43"
    assert admin.get(f"{API}/devices/customer").json["customId"] == "user-44"
    assert admin.get(f"{API}/devices/fresh").status_code == 404  # getChannel only reads: no row for a new id
    check = client.get(f"/api/v1/apps/{APP}/check", query_string={"deviceId": "tester", "platform": "ios"},
                       headers={"X-Client-Key": demo_app["clientKey"]})
    assert check.status_code == 200
    box.tracker.flush()
    assert admin.get(f"{API}/devices/tester").json["customId"] == "user-43"  # the native check reports none


# --- the real @capgo/cli probe reads the refusal codes ----------------------------------------------

@pytest.fixture(scope="module")
def probed(tmp_path_factory):
    server, api, project = start_live(tmp_path_factory.mktemp("capgo-probe"), native_version="2.0.0")
    yield server, api, project
    server.stop()


def probe_release(probed, version: str, **fields) -> None:
    server, api, _ = probed
    bundle = api.post(f"{server.url}{API}/bundles", data={"version": version, **fields},
                      files={"file": ("b.zip", make_zip({"index.html": version}))}).json()
    assert api.post(f"{server.url}{API}/releases", json={"bundleId": bundle["id"]}).status_code == 201


def test_probe_explains_the_under_native_and_version_number_refusals(probed):
    server, api, project = probed
    probe_release(probed, "1.5.0")
    output = project.run("probe", "--platform", "ios")
    assert "Error code: disable_auto_update_under_native" in output.stdout + output.stderr
    api.patch(f"{server.url}{API}/channels/production", json={"disableAutoUpdate": "version_number"})
    probe_release(probed, "3.0.0", minUpdateVersion="2.5.0")
    output = project.run("probe", "--platform", "ios")
    assert "Error code: disable_auto_update_to_metadata" in output.stdout + output.stderr
