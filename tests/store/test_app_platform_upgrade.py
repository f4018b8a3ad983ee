"""Schema step 12 (issue 24) on the data directories of earlier releases: apps made before it are for
any platform, and an app made as the CodePush multi-tenant server makes one keeps its platform."""
from __future__ import annotations

import pytest
from conftest import RELEASED_DATA_DIRS, Api, make_key, old_box

from otabox.app import create_app
from otabox.config import Config
from otabox.store import migrations


@pytest.mark.empty_database
@pytest.mark.parametrize("fixture", RELEASED_DATA_DIRS, ids=lambda path: path.name)
def test_old_apps_have_no_platform_and_new_ones_keep_theirs(tmp_path, database_url, fixture):
    data_dir = old_box(tmp_path / "data", database_url, fixture)
    app = create_app(Config.from_env(data_dir=data_dir, device_flush_seconds=3600.0))
    box = app.config["BOX"]
    try:
        with box.db.connection_context():
            assert migrations.current_version(box.db) == migrations.latest_version() >= 12
        api = Api(app.test_client(), make_key(box, "admin", "upgrade-admin"))
        old = api.get("/api/v1/apps").json["apps"]
        assert old and all(a["platform"] is None for a in old)
        assert all("production" in a["deployments"] and isinstance(a["collaborators"], list) for a in old)
        made = api.post("/api/v1/apps", {"name": "Upgraded-iOS", "platform": "ios"})
        assert made.status_code == 201 and made.json["app"]["platform"] == "ios"
        assert api.get("/api/v1/apps/Upgraded-iOS").json["platform"] == "ios"
    finally:
        box.close()
