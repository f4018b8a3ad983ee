"""Schema step 15 on the data directories of earlier releases: their apps start with no embedded
bundles, and one recorded after the upgrade is listed and kept by garbage collection."""
from __future__ import annotations

import io
import uuid

import pytest
from conftest import RELEASED_DATA_DIRS, Api, make_key, old_box

from otabox.app import create_app
from otabox.config import Config
from otabox.core.bundles import referenced_blobs
from otabox.store import migrations
from otabox.store.models import App


@pytest.mark.empty_database
@pytest.mark.parametrize("fixture", RELEASED_DATA_DIRS, ids=lambda path: path.name)
def test_old_apps_start_without_embedded_bundles_and_record_them(tmp_path, database_url, fixture):
    data_dir = old_box(tmp_path / "data", database_url, fixture)
    app = create_app(Config.from_env(data_dir=data_dir, device_flush_seconds=3600.0))
    box = app.config["BOX"]
    try:
        with box.db.connection_context():
            assert migrations.current_version(box.db) == migrations.latest_version() >= 15
            slug = App.select().order_by(App.id).first().slug
        api = Api(app.test_client(), make_key(box, "admin", "upgrade-admin"))
        assert api.get(f"/api/v1/apps/{slug}/embedded-bundles").json["embeddedBundles"] == []
        update_id = str(uuid.uuid4())
        recorded = api.client.post(
            f"/api/v1/apps/{slug}/embedded-bundles", content_type="multipart/form-data",
            headers={"Authorization": f"Bearer {api.key}"},
            data={"file": (io.BytesIO(b"var embedded = 1;"), "main.jsbundle"), "platform": "ios",
                  "runtimeVersion": "1.0.0", "updateId": update_id})
        assert recorded.status_code == 201, recorded.json
        listed = api.get(f"/api/v1/apps/{slug}/embedded-bundles").json
        assert [e["updateId"] for e in listed["embeddedBundles"]] == [update_id]
        with box.db.connection_context():
            assert recorded.json["sha256"] in referenced_blobs()
    finally:
        box.close()
