"""A 0.1.0 data directory upgraded to schema step 4: its releases have empty health, no execution,
and the outbox, leases and webhooks work on it."""
from __future__ import annotations

import pytest
from conftest import Api, make_key, make_zip, old_box

from otabox.app import create_app
from otabox.config import Config
from otabox.store import migrations
from otabox.store.models import Release


@pytest.mark.empty_database
def test_old_releases_get_empty_health_and_new_features_work(tmp_path, database_url):
    data_dir = old_box(tmp_path / "data", database_url)
    app = create_app(Config.from_env(data_dir=data_dir, device_flush_seconds=3600.0))
    box = app.config["BOX"]
    try:
        with box.db.connection_context():
            assert migrations.current_version(box.db) == migrations.latest_version() >= 4
        api = Api(app.test_client(), make_key(box, "admin", "upgrade-admin"))
        with box.db.connection_context():
            old = Release.select().order_by(Release.id).first()
            slug = old.app.slug
        health = api.get(f"/api/v1/apps/{slug}/releases/{old.id}/health").json
        assert (health["launches"], health["devices"], health["crashRate"], health["topErrors"]) == (0, 0, None, [])
        assert api.get(f"/api/v1/apps/{slug}/rollout-executions").json == {"executions": [], "total": 0}
        assert api.get("/api/v1/webhooks").json == {"webhooks": []}
        policy = api.post(f"/api/v1/apps/{slug}/rollout-policies", {"name": "p", "stages": [{"percentage": 50}]}).json
        bundle = api.upload(slug, "9.9.9", make_zip()).json
        started = api.release(slug, bundle["id"], policyId=policy["id"]).json
        assert started["release"]["rollout"] == 50 and started["execution"]["status"] == "running"
        with box.db.connection_context():
            assert box.scheduler.loop.run_once()  # takes the lease on the upgraded database
    finally:
        box.close()
