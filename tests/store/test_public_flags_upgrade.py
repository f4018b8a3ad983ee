"""Schema step 16 on the data directories of earlier releases: their apps keep requiring the client
key for AppDispatch's flag definitions until an admin turns publicFlagDefinitions on (their user-list
targeting keys were never public), apps made after the upgrade are public, and devices' events go to
the new ring per app."""
from __future__ import annotations

import json

import pytest
from conftest import RELEASED_DATA_DIRS, Api, old_box

from otabox.app import create_app
from otabox.config import Config
from otabox.store import migrations
from otabox.store.models import TelemetryEvent


@pytest.mark.empty_database
@pytest.mark.parametrize("fixture", RELEASED_DATA_DIRS, ids=lambda path: path.name)
def test_old_apps_keep_their_flag_definitions_private_until_an_admin_opens_them(tmp_path, database_url, fixture):
    data_dir = old_box(tmp_path / "data", database_url, fixture)
    admin_key = json.loads((fixture.parent / f"{fixture.name}.json").read_text())["adminKey"]
    app = create_app(Config.from_env(data_dir=data_dir, device_flush_seconds=3600.0))
    box = app.config["BOX"]
    try:
        with box.db.connection_context():
            assert migrations.current_version(box.db) == migrations.latest_version() >= 16
        client = app.test_client()
        admin = Api(client, admin_key)
        apps = admin.get("/api/v1/apps").json["apps"]
        assert apps and all(a["publicFlagDefinitions"] is False for a in apps)
        old = apps[0]
        admin.post(f"/api/v1/apps/{old['slug']}/flags", {"key": "beta", "flagType": "boolean"})
        url = f"/v1/ota/flag-definitions/{old['slug']}?channel=production"
        assert client.get(url).status_code == 401
        assert "beta" in [f["key"] for f in client.get(url, headers={"X-Client-Key": old["clientKey"]}).json["flags"]]
        opened = admin.patch(f"/api/v1/apps/{old['slug']}", {"publicFlagDefinitions": True})
        assert opened.status_code == 200 and opened.json["publicFlagDefinitions"] is True
        assert client.get(url).status_code == 200

        new = admin.post("/api/v1/apps", {"slug": "com.example.after-upgrade"}).json
        assert new["publicFlagDefinitions"] is True
        assert client.get("/v1/ota/flag-definitions/com.example.after-upgrade").status_code == 200

        report = {"projectSlug": old["slug"], "deviceId": "d-1", "platform": "ios", "channel": "production",
                  "events": [{"type": "crash", "count": 1, "message": "boom"}]}
        assert client.post("/v1/ota/health-metrics", json=report).status_code == 204
        box.events.flush()
        with box.db.connection_context():
            assert [(e.type, e.message) for e in TelemetryEvent.select()] == [("crash", "boom")]
    finally:
        box.close()
