"""Schema step 17 (issue 25) on the data directories of earlier releases: every channel becomes a
branch of its own name holding its releases, the channel points at it, and a split to another
channel becomes a split to that channel's branch; so every device is served what it was before (the
replay of the recorded answers in test_upgrade.py says so too). After the upgrade, branches and user
overrides work on the old apps."""
from __future__ import annotations

import pytest
from conftest import RELEASED_DATA_DIRS, Api, make_key, old_box

from otabox.app import create_app
from otabox.config import Config
from otabox.store import migrations
from otabox.store.models import Branch, Channel, Release, UserOverride


@pytest.mark.empty_database
@pytest.mark.parametrize("fixture", RELEASED_DATA_DIRS, ids=lambda path: path.name)
def test_every_channel_becomes_a_branch_of_its_name_with_its_releases(tmp_path, database_url, fixture):
    data_dir = old_box(tmp_path / "data", database_url, fixture)
    app = create_app(Config.from_env(data_dir=data_dir, device_flush_seconds=3600.0))
    box = app.config["BOX"]
    try:
        with box.db.connection_context():
            assert migrations.current_version(box.db) == migrations.latest_version() >= 17
            channels = list(Channel.select())
            assert channels and all(c.branch.name == c.name and c.branch.app_id == c.app_id for c in channels)
            assert Branch.select().count() == len(channels)
            releases = list(Release.select())
            assert releases and all(r.branch_id == r.channel.branch_id for r in releases)
            splits = {(c.app.slug, c.name): (c.rollout_branch.name if c.rollout_branch else None, c.rollout_percentage)
                      for c in channels}
            assert UserOverride.select().count() == 0
        if fixture.name == "datadir-0.2.0":  # 0.2.0's alpha split 10% of production to beta-testers
            assert splits[("com.example.alpha", "production")] == ("beta-testers", 10)
        assert all(split == (None, 0) for key, split in splits.items() if key != ("com.example.alpha", "production"))

        api = Api(app.test_client(), make_key(box, "admin", "upgrade-admin"))
        production = api.get("/api/v1/apps/com.example.alpha/channels/production").json
        assert production["branch"] == "production"
        if fixture.name == "datadir-0.2.0":
            assert (production["rolloutBranch"], production["rolloutChannel"]) == ("beta-testers", "beta-testers")
        names = [b["name"] for b in api.get("/api/v1/apps/com.example.alpha/branches").json["branches"]]
        assert {"production", "staging"} <= set(names)
        assert api.post("/api/v1/apps/com.example.alpha/branches", {"name": "beta"}).status_code == 201
        pinned = api.post("/api/v1/apps/com.example.alpha/user-overrides", {"userId": "u1", "branchName": "staging"})
        assert pinned.status_code == 201 and pinned.json["branchName"] == "staging"
        moved = api.patch("/api/v1/apps/com.example.alpha/channels/staging", {"branch": "beta"})
        assert moved.status_code == 200 and moved.json["branch"] == "beta" and moved.json["currentRelease"] is None
    finally:
        box.close()
