"""Schema step 3 (issue 15) on the 0.1.0 data dir: old rows get values that keep serving what they
served, and adding NOT NULL columns to a table others reference deletes nothing."""
from __future__ import annotations

import sqlite3

import pytest
from conftest import OLD_DATA_DIR, copy_data_dir
from peewee import BooleanField

from otabox.box import Box
from otabox.config import Config
from otabox.store import migrations

pytestmark = pytest.mark.sqlite_only  # reads and alters the SQLite file around the step


def upgraded(tmp_path) -> sqlite3.Connection:
    data_dir = copy_data_dir(OLD_DATA_DIR, tmp_path / "data")
    before = sqlite3.connect(data_dir / "otabox.db")
    counts = {table: before.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
              for table in ("release", "releasestat", "bundle", "device", "deviceevent")}
    before.close()
    Box(Config.from_env(data_dir=data_dir)).close()
    db = sqlite3.connect(data_dir / "otabox.db")
    assert {table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in counts} == counts
    return db


def test_old_rows_get_values_that_keep_serving_what_they_served(tmp_path):
    db = upgraded(tmp_path)
    assert set(db.execute("SELECT default_channel FROM app")) == {("production",)}
    assert set(db.execute("SELECT disable_auto_update_under_native, rollout_branch_id, rollout_percentage, "
                          "min_runtime_version FROM channel")) == {(0, None, 0, None)}
    assert set(db.execute("SELECT min_update_version, message, git_commit_hash, git_branch FROM bundle")) == {
        (None, "", None, None)}
    assert set(db.execute("SELECT target_versions, platform, runtime_version, deleted, group_id, original_label "
                          "FROM release")) == {(None, None, None, 0, None, None)}
    assert set(db.execute("SELECT custom_id, plugin_version, os_version, is_prod, is_emulator FROM device")) == {
        (None, None, None, None, None)}
    releases = db.execute("SELECT id, kind, actor FROM release ORDER BY id").fetchall()
    events = db.execute("SELECT release_id, kind, details, actor FROM releaseevent ORDER BY release_id").fetchall()
    assert events == [(rid, "created", f'{{"kind":"{kind}"}}', actor) for rid, kind, actor in releases]


def test_a_not_null_column_is_added_without_rebuilding_the_table(tmp_path, monkeypatch):
    """Peewee's SQLite rebuild would drop `channel`, and with it every release (ON DELETE CASCADE)."""
    step = migrations.Step(migrations.latest_version() + 1, "a flag on channels",
                           lambda schema: schema.add_column("channel", "later_flag", BooleanField(default=True)))
    monkeypatch.setattr(migrations, "STEPS", [*migrations.STEPS, step])
    db = upgraded(tmp_path)
    assert set(db.execute("SELECT later_flag FROM channel")) == {(1,)}
    assert ("later_flag", "INTEGER", 1) in {(c[1], c[2], c[3]) for c in db.execute("PRAGMA table_info(channel)")}
