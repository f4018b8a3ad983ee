"""Schema step 19 on the data directories of earlier releases: the janitor's removal of devices not
seen for a while, old daily-active rows and old device events reads indexes instead of scanning each
table once per batch of 500, and removes what the retention settings say."""
from __future__ import annotations

import datetime as dt

import pytest
from conftest import RELEASED_DATA_DIRS, old_box

from otabox.box import Box
from otabox.config import Config
from otabox.core import devices
from otabox.store import migrations
from otabox.store.models import DailyActive, Device, DeviceEvent, utcnow

RETENTION_COLUMNS = {"device": ("last_seen",), "dailyactive": ("day",), "deviceevent": ("at",)}


@pytest.mark.empty_database
@pytest.mark.parametrize("fixture", RELEASED_DATA_DIRS, ids=lambda path: path.name)
def test_upgraded_boxes_index_and_prune_what_retention_removes(tmp_path, database_url, fixture):
    box = Box(Config.from_env(data_dir=old_box(tmp_path / "data", database_url, fixture)))
    try:
        with box.db.connection_context():
            assert migrations.current_version(box.db) == migrations.latest_version() >= 19
            for table, columns in RETENTION_COLUMNS.items():
                assert columns in {tuple(index.columns) for index in box.db.get_indexes(table)}, table
            kept = Device.select().count()
            assert kept > 0 and DailyActive.select().count() > 0 and DeviceEvent.select().count() > 0
            long_ago = utcnow() - dt.timedelta(days=400)
            stale = Device.select().order_by(Device.id).first()
            Device.update(last_seen=long_ago, override_channel=None, override_bundle=None).where(
                Device.id == stale.id).execute()
            DailyActive.update(day="2020-01-01").execute()
            DeviceEvent.update(at=long_ago).execute()
            removed = devices.prune(180, 90)
            assert removed["deviceRows"] == 1 and Device.select().count() == kept - 1
            assert DailyActive.select().count() == 0 and DeviceEvent.select().count() == 0
    finally:
        box.close()
