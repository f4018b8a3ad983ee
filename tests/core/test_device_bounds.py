"""Device rows are bounded: phones choose their ids, so the janitor prunes devices not seen for
OTABOX_DEVICE_RETENTION_DAYS (pinned ones stay) and daily-active rows and devices' status events
past OTABOX_HEALTH_RETENTION_DAYS."""
from __future__ import annotations

import datetime as dt

from conftest import check

from otabox.ops.maintenance import tidy
from otabox.store.models import DailyActive, Device, DeviceEvent, utcnow

APP = "com.example.demo"


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
