"""Schema step 10 on the data directories of earlier releases: their deployments start with no
Active counter (an update check never counted), and deploy reports count from then on."""
from __future__ import annotations

import pytest
from conftest import RELEASED_DATA_DIRS, Api, make_key, old_box

from otabox.app import create_app
from otabox.config import Config
from otabox.store import migrations
from otabox.store.models import Channel


@pytest.mark.empty_database
@pytest.mark.parametrize("fixture", RELEASED_DATA_DIRS, ids=lambda path: path.name)
def test_old_deployments_count_active_devices_from_reports(tmp_path, database_url, fixture):
    data_dir = old_box(tmp_path / "data", database_url, fixture)
    app = create_app(Config.from_env(data_dir=data_dir, device_flush_seconds=3600.0))
    box = app.config["BOX"]
    try:
        with box.db.connection_context():
            assert migrations.current_version(box.db) == migrations.latest_version() >= 10
            channel = Channel.select().order_by(Channel.id).first()
            slug, name, key = channel.app.slug, channel.name, channel.deployment_key
        client = app.test_client()
        api = Api(client, make_key(box, "admin", "upgrade-admin"))
        before = api.get(f"/apps/{slug}/deployments/{name}/metrics")
        assert before.status_code == 200
        assert all(entry["active"] == 0 for entry in before.json["metrics"].values())
        reported = client.post("/v0.1/public/codepush/report_status/deploy",
                               json={"deployment_key": key, "app_version": "9.9.9", "client_unique_id": "p"})
        assert reported.status_code == 200
        assert api.get(f"/apps/{slug}/deployments/{name}/metrics").json["metrics"]["9.9.9"] == {"active": 1}
    finally:
        box.close()
