"""The schema version in the database, upgrades under a lock with a backup first, and refusals."""
from __future__ import annotations

import hashlib
import multiprocessing
import re
import sqlite3
import subprocess
import sys

import pytest
from click.testing import CliRunner
from conftest import OLD_DATA_DIR, ROOT, copy_data_dir, free_port
from peewee import SqliteDatabase, TextField

from otabox.box import Box
from otabox.cli import main as otabox_cli
from otabox.config import Config
from otabox.store import migrations
from otabox.store.db import open_database
from otabox.store.models import ALL_MODELS

pytestmark = pytest.mark.sqlite_only  # the database file, its backup copy and file lock; tests/store/test_upgrade.py upgrades on both engines



def schema_of(path) -> dict:
    """Tables with their columns (name, type, nullable) and indexes (columns, unique)."""
    db = SqliteDatabase(str(path))
    try:
        return {table: ({(c.name, c.data_type.upper(), c.null) for c in db.get_columns(table)},
                        {(tuple(i.columns), i.unique) for i in db.get_indexes(table)})
                for table in db.get_tables()}
    finally:
        db.close()


def version_of(path) -> int | None:
    row = sqlite3.connect(path).execute("SELECT value FROM state WHERE key = 'schema_version'").fetchone()
    return row[0] if row else None


@pytest.fixture
def old_data_dir(tmp_path):
    data_dir = tmp_path / "data"
    return copy_data_dir(OLD_DATA_DIR, data_dir)


def extra_step(version_offset=1, apply=None):
    """A step after the newest one, as the next release would add."""
    def add_note(schema):
        schema.add_column("app", "note", TextField(null=True))
    return migrations.Step(migrations.latest_version() + version_offset, "add app.note", apply or add_note)


def test_a_new_database_gets_the_newest_version(tmp_path):
    box = Box(Config.from_env(data_dir=tmp_path / "data"))
    box.close()
    assert version_of(tmp_path / "data" / "otabox.db") == migrations.latest_version()


def test_an_upgraded_old_database_has_the_schema_of_a_new_one(tmp_path, old_data_dir):
    Box(Config.from_env(data_dir=old_data_dir)).close()
    Box(Config.from_env(data_dir=tmp_path / "fresh")).close()
    assert schema_of(old_data_dir / "otabox.db") == schema_of(tmp_path / "fresh" / "otabox.db")
    assert {m._meta.table_name for m in ALL_MODELS} <= set(schema_of(old_data_dir / "otabox.db"))


def test_pending_steps_run_once_after_a_backup(monkeypatch, old_data_dir):
    monkeypatch.setattr(migrations, "STEPS", [*migrations.STEPS, extra_step()])
    box = Box(Config.from_env(data_dir=old_data_dir))
    box.close()
    assert box.upgrade.from_version == 1 and box.upgrade.to_version == migrations.latest_version()
    backup = old_data_dir / "otabox.db.before-1"
    assert box.upgrade.backup == str(backup) and oct(backup.stat().st_mode & 0o777) == "0o600"
    assert "note" not in {c[1] for c in sqlite3.connect(backup).execute("PRAGMA table_info(app)")}
    assert "note" in {c[1] for c in sqlite3.connect(old_data_dir / "otabox.db").execute("PRAGMA table_info(app)")}
    assert sqlite3.connect(old_data_dir / "otabox.db").execute("SELECT count(*) FROM app").fetchone() == (4,)
    again = Box(Config.from_env(data_dir=old_data_dir))
    again.close()
    assert again.upgrade is None


def test_a_failing_step_leaves_the_database_as_it_was(monkeypatch, old_data_dir):
    def half_then_fail(schema):
        schema.add_column("app", "note", TextField(null=True))
        schema.db.execute_sql("UPDATE app SET name = 'changed'")
        raise RuntimeError("disk on fire")

    before = sqlite3.connect(old_data_dir / "otabox.db").execute("SELECT name FROM app ORDER BY id").fetchall()
    monkeypatch.setattr(migrations, "STEPS", [*migrations.STEPS, extra_step(apply=half_then_fail)])
    with pytest.raises(migrations.SchemaError, match="disk on fire; the database was left as it was"):
        Box(Config.from_env(data_dir=old_data_dir))
    db = sqlite3.connect(old_data_dir / "otabox.db")
    assert db.execute("SELECT name FROM app ORDER BY id").fetchall() == before
    assert "note" not in {c[1] for c in db.execute("PRAGMA table_info(app)")}
    assert version_of(old_data_dir / "otabox.db") is None  # still the 0.1.0 database, unstamped


def _upgrade_in_child(data_dir, marker):
    def slow_step(schema):
        with open(marker, "a") as out:
            out.write("ran\n")
        schema.add_column("app", "note", TextField(null=True))

    migrations.STEPS.append(extra_step(apply=slow_step))
    db, _ = open_database(Config.from_env(data_dir=data_dir).db_url)
    db.close()


def test_processes_starting_together_upgrade_once(tmp_path, old_data_dir):
    marker = tmp_path / "ran"
    context = multiprocessing.get_context("fork")
    children = [context.Process(target=_upgrade_in_child, args=(old_data_dir, marker)) for _ in range(3)]
    for child in children:
        child.start()
    for child in children:
        child.join(30)
    assert [child.exitcode for child in children] == [0, 0, 0]
    assert marker.read_text() == "ran\n"


def test_a_database_newer_than_the_code_is_refused_in_one_line(old_data_dir):
    Box(Config.from_env(data_dir=old_data_dir)).close()
    db = sqlite3.connect(old_data_dir / "otabox.db")
    db.execute("UPDATE state SET value = 99 WHERE key = 'schema_version'")
    db.commit()
    for command in (["serve", "--port", str(free_port())], ["doctor"], ["keys", "list"]):
        result = subprocess.run([sys.executable, str(ROOT / "otabox.py"), *command, "--data-dir", str(old_data_dir)],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 1, command
        assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
        assert "schema version 99, newer than this otabox knows" in result.stderr


def test_migrate_shows_and_applies_and_other_commands_wait_for_it(monkeypatch, old_data_dir):
    monkeypatch.setattr(migrations, "STEPS", [*migrations.STEPS, extra_step()])
    runner = CliRunner()
    refused = runner.invoke(otabox_cli, ["keys", "list", "--data-dir", str(old_data_dir)])
    assert refused.exit_code == 1 and "run `otabox migrate`" in refused.output
    dry = runner.invoke(otabox_cli, ["migrate", "--dry-run", "--data-dir", str(old_data_dir)])
    assert dry.exit_code == 0 and f"pending {migrations.latest_version()}: add app.note" in dry.output
    assert not (old_data_dir / "otabox.db.before-1").exists()
    done = runner.invoke(otabox_cli, ["migrate", "--data-dir", str(old_data_dir)])
    assert done.exit_code == 0 and "otabox.db.before-1" in done.output
    assert version_of(old_data_dir / "otabox.db") == migrations.latest_version()
    assert runner.invoke(otabox_cli, ["keys", "list", "--data-dir", str(old_data_dir)]).exit_code == 0
    doctor = runner.invoke(otabox_cli, ["doctor", "--data-dir", str(old_data_dir)])
    assert f"schema version {migrations.latest_version()} (current)" in doctor.output


def test_the_dry_run_describes_every_step_in_a_users_words(old_data_dir):
    """What `migrate --dry-run` lists is read by whoever upgrades: no internal ticket numbers, and the
    README's step numbers are the ones it shows."""
    dry = CliRunner().invoke(otabox_cli, ["migrate", "--dry-run", "--data-dir", str(old_data_dir)])
    pending = [line for line in dry.output.splitlines() if line.startswith("  pending ")]
    assert dry.exit_code == 0 and len(pending) == migrations.latest_version() - 1
    assert not [line for line in pending if re.search(r"\bissue \d", line)]
    (branches,) = [line for line in pending if ": branches" in line]
    step = int(branches.split()[1].rstrip(":"))
    assert f"the upgrade to schema {step} gave every existing channel one" in (ROOT / "README.md").read_text()


def test_an_old_key_limited_to_one_app_stays_limited_to_it(old_data_dir):
    """A 0.1.0 key with an app scope becomes a token of the service account scoped to that app."""
    key = "otabox_sk_" + "s" * 43
    db = sqlite3.connect(old_data_dir / "otabox.db")
    db.execute("INSERT INTO apikey (name, role, app_id, key_hash, created_at) VALUES (?, ?, 2, ?, ?)",
               ("beta-ci", "publisher", hashlib.sha256(key.encode()).hexdigest(), "2026-01-02 03:04:05.000000"))
    db.commit()
    db.close()
    Box(Config.from_env(data_dir=old_data_dir)).close()
    db = sqlite3.connect(old_data_dir / "otabox.db")
    rows = db.execute("SELECT k.name, k.role, k.scoped, u.email, k.created_at, k.expires_at, k.created_by "
                      "FROM apikey k JOIN users u ON u.id = k.user_id ORDER BY k.id").fetchall()
    assert rows == [("fixture-admin", "admin", 0, "service:api-keys", rows[0][4], None, ""),
                    ("beta-ci", "publisher", 1, "service:api-keys", "2026-01-02 03:04:05.000000", None, "")]
    assert db.execute("SELECT a.slug FROM tokenapp t JOIN apikey k ON k.id = t.token_id JOIN app a ON a.id = t.app_id"
                      ).fetchall() == [("com.example.beta",)]
