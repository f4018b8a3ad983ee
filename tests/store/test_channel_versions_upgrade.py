"""Schema step 11 on the data directories of 0.1.0 and 0.2.0: every release of a bundle keeps the
number in its label as the bundle's whole-number version on its channel (the number Koolbase devices
hold), and the next upload to the channel gets the next number."""
from __future__ import annotations

import io

import pytest
from conftest import ROOT, make_key, make_zip, old_box

from otabox.app import create_app
from otabox.config import Config
from otabox.store.models import ChannelVersion, Release

FIXTURES = sorted(p.with_suffix("") for p in (ROOT / "tests" / "fixtures").glob("datadir-*.json"))


@pytest.mark.empty_database
@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda path: path.name)
def test_release_numbers_devices_hold_are_kept(tmp_path, database_url, fixture):
    app = create_app(Config.from_env(data_dir=old_box(tmp_path / "data", database_url, fixture),
                                     device_flush_seconds=3600.0))
    box = app.config["BOX"]
    try:
        with box.db.connection_context():
            releases = list(Release.select().where(Release.bundle.is_null(False)).order_by(Release.id))
            numbered = {(v.channel_id, v.number): v.bundle_id for v in ChannelVersion.select()}
            expected = {(r.channel_id, int(r.label[1:])): r.bundle_id for r in releases}
            current = next(r for r in reversed(releases) if not r.disabled and r.channel.name == "production")
            slug, client_key = current.app.slug, current.app.client_key
            highest = max(n for (channel, n) in numbered if channel == current.channel_id)
        assert releases and numbered == expected

        client = app.test_client()
        held = client.get("/v1/sdk/ota/check", query_string={"channel": "production", "version": current.label[1:]},
                          headers={"x-api-key": client_key})
        assert held.json == {"has_update": False}, "a device on the current release's number runs it"
        uploaded = client.post(f"/v1/projects/{slug}/ota/upload", data={"bundle": (io.BytesIO(make_zip()), "b.zip")},
                               headers={"Authorization": f"Bearer {make_key(box, 'admin', 'upgrade-admin')}"},
                               content_type="multipart/form-data")
        assert uploaded.status_code == 201 and uploaded.json["version"] == highest + 1
    finally:
        box.close()
