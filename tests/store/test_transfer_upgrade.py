"""Schema step 14 on the data directories of earlier releases: their releases start with nothing sent,
and the launch asset downloads of Expo releases count from then on."""
from __future__ import annotations

import pytest
from conftest import RELEASED_DATA_DIRS, Api, make_key, old_box

from otabox.app import create_app
from otabox.config import Config
from otabox.core.transfers import TransferRecorder
from otabox.store import migrations
from otabox.store.models import Release, ReleaseTransfer


@pytest.mark.empty_database
@pytest.mark.parametrize("fixture", RELEASED_DATA_DIRS, ids=lambda path: path.name)
def test_old_releases_count_bytes_sent_from_the_upgrade(tmp_path, database_url, fixture):
    data_dir = old_box(tmp_path / "data", database_url, fixture)
    app = create_app(Config.from_env(data_dir=data_dir, device_flush_seconds=3600.0))
    box = app.config["BOX"]
    try:
        with box.db.connection_context():
            assert migrations.current_version(box.db) == migrations.latest_version() >= 14
            release = Release.select().order_by(Release.id).first()
            slug, release_id = release.app.slug, release.id
            assert ReleaseTransfer.select().count() == 0
        api = Api(app.test_client(), make_key(box, "admin", "upgrade-admin"))
        before = api.get(f"/api/v1/apps/{slug}/releases/{release_id}/transfer")
        assert before.status_code == 200 and before.json["fullBytes"] == 0 and before.json["savedBytes"] == 0
        recorder = TransferRecorder(3600.0)
        recorder.count_full(release_id, 1000)
        recorder.count_patched(release_id, 100, 400)
        recorder.flush()
        after = api.get(f"/api/v1/apps/{slug}/releases/{release_id}/transfer").json
        assert (after["fullBytes"], after["patchedBytes"], after["savedBytes"]) == (1000, 100, 300)
    finally:
        box.close()
