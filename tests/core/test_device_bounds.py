"""Device rows are bounded: phones choose their ids, so the janitor prunes devices not seen for
OTABOX_DEVICE_RETENTION_DAYS (pinned ones stay) and daily-active rows and devices' status events
past OTABOX_HEALTH_RETENTION_DAYS."""
from __future__ import annotations

import datetime as dt

from conftest import Api, check, configured_app, make_key

from otabox.ops.maintenance import tidy
from otabox.store.models import DailyActive, Device, DeviceEvent, utcnow

APP = "com.example.demo"
API = f"/api/v1/apps/{APP}"


def test_the_janitor_prunes_devices_not_seen_and_old_device_telemetry(admin, client, box, demo_app):
    for device in ("gone", "pinned", "recent"):
        assert check(client, demo_app, deviceId=device).status_code == 200
    events = [{"deviceId": device, "type": "failed", "message": "boom"} for device in ("gone", "recent")]
    assert client.post(f"/api/v1/apps/{APP}/events", json=events,
                       headers={"X-Client-Key": demo_app["clientKey"]}).status_code == 200
    box.tracker.flush()
    assert admin.put(f"/api/v1/apps/{APP}/devices/pinned", {"channel": "production"}).status_code == 200
    unseen = utcnow() - dt.timedelta(days=box.config.device_retention_days + 1)
    old = utcnow() - dt.timedelta(days=box.config.health_retention_days + 1)
    with box.db.connection_context():
        Device.update(last_seen=unseen).where(Device.device_id.in_(["gone", "pinned"])).execute()
        DailyActive.update(day=old.strftime("%Y-%m-%d")).where(DailyActive.device_id != "recent").execute()
        DeviceEvent.update(at=old).where(DeviceEvent.device_id == "gone").execute()
        done = tidy(box)
    assert (done["deviceRows"], done["dailyActiveRows"], done["deviceEventRows"]) == (1, 2, 1)
    devices = admin.get(f"/api/v1/apps/{APP}/devices").json["devices"]
    assert sorted(d["deviceId"] for d in devices) == ["pinned", "recent"]
    with box.db.connection_context():
        assert [d.device_id for d in DailyActive.select()] == ["recent"]
        assert [e.device_id for e in DeviceEvent.select()] == ["recent"]
    assert check(client, demo_app, deviceId="gone").status_code == 200  # a device that comes back is recorded afresh
    box.tracker.flush()
    assert admin.get(f"/api/v1/apps/{APP}/devices/gone").status_code == 200


def capgo_info(device_id: str, **fields) -> dict:
    return {"app_id": APP, "device_id": device_id, "platform": "ios", "version_name": "builtin",
            "version_build": "1.0.0", "version_code": "1", "version_os": "17.0", "plugin_version": "8.51.14",
            "is_emulator": False, "is_prod": True, **fields}


def test_an_address_adds_at_most_its_daily_budget_of_new_devices(tmp_path):
    """1 000 checks from fresh ids of one address made 1 000 device and daily-active rows (7.8 GB a
    day at the address limit); now an address adds OTABOX_NEW_DEVICES_PER_ADDRESS_PER_DAY. Past it
    the device is answered as before, not recorded, and /metrics counts it; devices with a row are
    updated whatever the budget, and another address has its own."""
    with configured_app(tmp_path, new_devices_per_address_per_day=3, metrics_public=True) as app:
        box, client = app.config["BOX"], app.test_client()
        admin = Api(client, make_key(box, "admin", "admin"))
        admin.post("/api/v1/apps", {"slug": APP})
        admin.publish(APP, "1.0.0")
        answers = [client.post("/capgo/updates", json=capgo_info(f"fresh-{n}")).json for n in range(6)]
        assert all(answer["version"] == "1.0.0" for answer in answers)
        box.tracker.flush()
        again = client.post("/capgo/updates", json=capgo_info("fresh-0", custom_id="user-7"))
        assert again.json["version"] == "1.0.0"
        other = {"REMOTE_ADDR": "198.51.100.7"}
        assert client.post("/capgo/updates", json=capgo_info("elsewhere"), environ_base=other).status_code == 200
        box.tracker.flush()
        devices = {d["deviceId"]: d for d in admin.get(f"/api/v1/apps/{APP}/devices").json["devices"]}
        assert sorted(devices) == ["elsewhere", "fresh-0", "fresh-1", "fresh-2"]
        assert devices["fresh-0"]["customId"] == "user-7"
        with box.db.connection_context():
            assert DailyActive.select().count() == 4
        assert 'otabox_over_budget_dropped_total{budget="new_devices"} 3' in client.get("/metrics").text


def test_reading_a_device_channel_makes_no_device_row(client, admin, box, demo_app):
    """Capgo's getChannel (PUT /capgo/channel_self) only reads: a fresh id gets its answer and no
    row; a device the app knows has what it reports updated."""
    admin.publish(APP, "1.0.0")
    for device in ("reader-1", "reader-2"):
        answer = client.put("/capgo/channel_self", json=capgo_info(device, custom_id="user-1"))
        assert answer.status_code == 200 and answer.json["channel"] == "production", answer.json
    assert client.post("/capgo/updates", json=capgo_info("known")).status_code == 200
    box.tracker.flush()
    assert client.put("/capgo/channel_self", json=capgo_info("known", custom_id="user-9")).status_code == 200
    box.tracker.flush()
    devices = admin.get(f"/api/v1/apps/{APP}/devices").json["devices"]
    assert [(d["deviceId"], d["customId"]) for d in devices] == [("known", "user-9")]


def test_a_device_row_keeps_no_more_of_each_field_than_a_client_sends(client, admin, box, demo_app):
    """Fields up to 200 characters are read as sent (the check is answered from them) and stored
    only as long as any real client's: a made-up device's row was 1.8 KB."""
    admin.publish(APP, "1.0.0")
    long = "v" * 200
    answer = client.post("/capgo/updates", json=capgo_info("padded", custom_id=long, version_os=long,
                                                           plugin_version=long,
                                                           version_build=long[:100], defaultChannel=long))
    assert answer.status_code == 200, answer.json
    box.tracker.flush()
    device = admin.get(f"{API}/devices/padded").json
    assert {k: len(device[k]) for k in ("customId", "osVersion", "pluginVersion", "nativeVersion", "channel")} == {
        "customId": 100, "osVersion": 50, "pluginVersion": 50, "nativeVersion": 100, "channel": 64}


def test_choosing_a_channel_from_fresh_ids_meets_the_new_device_budget(tmp_path):
    """setChannel writes the device's row itself: from fresh ids past the address's budget it is
    refused (429 in Capgo's shape), while known devices and other addresses still choose."""
    with configured_app(tmp_path, new_devices_per_address_per_day=2) as app:
        box, client = app.config["BOX"], app.test_client()
        admin = Api(client, make_key(box, "admin", "admin"))
        admin.post("/api/v1/apps", {"slug": APP})
        admin.publish(APP, "1.0.0")
        assert admin.patch(f"{API}/channels/staging", {"allowDeviceSelfAssign": True}).status_code == 200
        chosen = [client.post("/capgo/channel_self", json=capgo_info(f"chooser-{n}", channel="staging"))
                  for n in range(3)]
        assert [c.status_code for c in chosen] == [200, 200, 429]
        assert chosen[2].json["error"] == "too_many_requests" and int(chosen[2].headers["Retry-After"]) > 0
        again = client.post("/capgo/channel_self", json=capgo_info("chooser-0", channel="staging"))
        elsewhere = client.post("/capgo/channel_self", json=capgo_info("chooser-9", channel="staging"),
                                environ_base={"REMOTE_ADDR": "198.51.100.7"})
        assert again.status_code == elsewhere.status_code == 200
        devices = admin.get(f"{API}/devices").json["devices"]
        assert sorted(d["deviceId"] for d in devices) == ["chooser-0", "chooser-1", "chooser-9"]
