"""Schema step 13 on every earlier release's data dir: old audit entries name the app they concern,
so an app's own log (AppDispatch's per-project audit log) includes what happened before the upgrade."""
from __future__ import annotations

import pytest
from conftest import RELEASED_DATA_DIRS, Api, database_rows, make_key, old_box

from otabox.app import create_app
from otabox.config import Config


@pytest.mark.empty_database
@pytest.mark.parametrize("fixture", RELEASED_DATA_DIRS, ids=lambda p: p.name)
def test_old_audit_entries_name_their_app(tmp_path, database_url, fixture):
    data_dir = old_box(tmp_path / "data", database_url, fixture)
    before = database_rows(data_dir, 'SELECT count(*) FROM "auditentry"', database_url)
    app = create_app(Config.from_env(data_dir=data_dir, device_flush_seconds=3600.0))
    box = app.config["BOX"]
    try:
        rows = database_rows(data_dir, 'SELECT a.entity_type, a.entity_id, p.slug FROM "auditentry" a '
                                       'LEFT JOIN "app" p ON p.id = a.app_id ORDER BY a.id', database_url)
        assert [(len(rows),)] == before
        named = {(entity_type, entity_id): slug for entity_type, entity_id, slug in rows}
        assert named[("key", "1")] is None  # the box's own
        assert named[("app", "2")] == "com.example.beta"
        assert named[("channel", "2")] == "com.example.alpha"  # {"allowEmulator": false}: found by its channel
        assert named[("release", "12")] == "com.example.expo"
        assert {slug for _, _, slug in rows} == {None, "com.example.alpha", "com.example.beta", "codepush.Gamma",
                                                  "com.example.expo"}

        api = Api(app.test_client(), make_key(box, "admin", "upgrade-admin"))
        headers = {"X-Project": "com.example.beta"}
        log = api.get("/v1/ota/audit-log", headers=headers).json["entries"]
        assert [(e["entity_type"], e["entity_id"]) for e in log] == [("update", "9"), ("build", "5"), ("app", "2")]
    finally:
        box.close()
