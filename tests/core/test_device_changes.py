"""A change to one device (a self-assigned channel, an admin pin) is applied to that device alone:
the app's serving picture is not rebuilt, the next check still sees it, in this process and in
another one, and forgetting a choice that was never made writes nothing."""
from __future__ import annotations

import requests
from conftest import LiveServer, make_zip

from otabox.store.generation import current_state
from otabox.store.models import Device

APP = "com.example.demo"


def info(device_id: str, **fields) -> dict:
    return {"platform": "ios", "device_id": device_id, "app_id": APP, "version_name": "builtin",
            "version_build": "1.0.0", "plugin_version": "8.51.14", "is_emulator": False, "is_prod": True, **fields}


def served(client, device_id: str) -> str:
    return client.post("/capgo/updates", json=info(device_id)).json["version"]


def setup_channels(admin):
    for channel, version in (("production", "1.0.0"), ("staging", "2.0.0")):
        bundle = admin.upload(APP, version, make_zip({"index.html": version})).json
        admin.release(APP, bundle["id"], channel)
    admin.patch(f"/api/v1/apps/{APP}/channels/staging", {"allowDeviceSelfAssign": True})


def test_self_assignment_updates_one_device_in_place(admin, client, demo_app, box):
    setup_channels(admin)
    assert served(client, "phone") == "1.0.0"
    view = box.serving.app(APP)
    with box.db.connection_context():
        generation, changes = current_state()
    assert client.post("/capgo/channel_self", json=info("phone", channel="staging")).status_code == 200
    assert served(client, "phone") == "2.0.0" and served(client, "other") == "1.0.0"
    assert box.serving.app(APP) is view  # the same picture, changed for one device
    assert client.delete("/capgo/channel_self", json=info("phone")).status_code == 200
    assert served(client, "phone") == "1.0.0"
    admin.put(f"/api/v1/apps/{APP}/devices/qa", {"channel": "staging"})
    assert served(client, "qa") == "2.0.0" and box.serving.app(APP) is view
    admin.delete(f"/api/v1/apps/{APP}/devices/qa/override")
    assert served(client, "qa") == "1.0.0"
    with box.db.connection_context():
        assert current_state() == (generation, changes + 4)


def test_forgetting_or_repeating_a_choice_writes_nothing(admin, client, demo_app, box):
    setup_channels(admin)
    with box.db.connection_context():
        before = (Device.select().count(), current_state())
    assert client.delete("/capgo/channel_self", json=info("never-seen")).status_code == 200
    admin.patch(f"/api/v1/apps/{APP}/channels/staging", {"allowDeviceSelfAssign": False})
    assert client.delete("/capgo/channel_self", json=info("never-seen-either")).status_code == 200
    with box.db.connection_context():
        assert Device.select().count() == before[0]
        assert current_state()[1] == before[1][1]
    admin.patch(f"/api/v1/apps/{APP}/channels/staging", {"allowDeviceSelfAssign": True})
    client.post("/capgo/channel_self", json=info("phone", channel="staging"))
    with box.db.connection_context():
        once = current_state()[1]
    client.post("/capgo/channel_self", json=info("phone", channel="staging"))
    with box.db.connection_context():
        assert current_state()[1] == once


def test_another_process_sees_a_self_assignment_at_once(tmp_path):
    data_dir = tmp_path / "shared-data"
    first, second = LiveServer(data_dir), LiveServer(data_dir)
    try:
        key = first.cli("keys", "create", "--name", "ci").stdout.strip().splitlines()[-1]
        auth = {"Authorization": f"Bearer {key}"}
        requests.post(f"{first.url}/api/v1/apps", json={"slug": APP}, headers=auth)
        for channel, version in (("production", "1.0.0"), ("staging", "2.0.0")):
            bundle = requests.post(f"{first.url}/api/v1/apps/{APP}/bundles", headers=auth, data={"version": version},
                                   files={"file": ("b.zip", make_zip({"index.html": version}))}).json()
            requests.post(f"{first.url}/api/v1/apps/{APP}/releases", headers=auth,
                          json={"bundleId": bundle["id"], "channel": channel})
        requests.patch(f"{first.url}/api/v1/apps/{APP}/channels/staging", headers=auth,
                       json={"allowDeviceSelfAssign": True})

        def version_on(server):
            return requests.post(f"{server.url}/capgo/updates", json=info("phone")).json()["version"]

        assert version_on(second) == "1.0.0"
        requests.post(f"{first.url}/capgo/channel_self", json=info("phone", channel="staging"))
        assert version_on(second) == "2.0.0"
        requests.delete(f"{first.url}/capgo/channel_self", json=info("phone"))
        assert version_on(second) == "1.0.0"
    finally:
        first.stop()
        second.stop()
