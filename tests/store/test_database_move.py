"""`otabox migrate-database`: a SQLite box moved into PostgreSQL keeps everything its devices and
its team rely on, and a move that fails leaves the new database as it found it."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import psycopg
import pytest
from conftest import (OLD_DATA_DIR, ROOT, S3_ENV, LiveServer, copy_data_dir, database_rows, free_port,
                      readme_block)
from replay import replay

from otabox.store.models import ALL_MODELS, Lease

pytestmark = pytest.mark.single_engine  # moves from SQLite to PostgreSQL: both engines in every test

SECRET_KEY = "816f0f4196b5941e6421d6a80304dc5891a5f6f074eae11f34a90e070ae75a0a"
OTHER_KEY = "5b03d74a86c4e364a322f87bdf178c55bb592381bb75611565c0d90c54fada92"


def clean_environment() -> dict:
    """The suite's environment without a database or bucket: the box to move is on SQLite."""
    return {name: value for name, value in os.environ.items() if not name.startswith(("OTABOX_DATABASE_URL",
                                                                                       "OTABOX_SECRET_KEY",
                                                                                       "OTABOX_STORAGE", "OTABOX_S3"))}


def otabox(*args, data_dir, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "otabox.py"), *args, "--data-dir", str(data_dir)],
                          cwd=ROOT, env={**clean_environment(), **(env or {})}, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def sqlite_box(tmp_path):
    """The earlier release's box, upgraded to this one's schema as `otabox migrate` does."""
    data_dir = copy_data_dir(OLD_DATA_DIR, tmp_path / "data")
    assert otabox("migrate", data_dir=data_dir).returncode == 0
    return data_dir


def table_counts(data_dir, url=None) -> dict[str, int]:
    return {model._meta.table_name: database_rows(data_dir, f'SELECT count(*) FROM "{model._meta.table_name}"',
                                                  url)[0][0]
            for model in ALL_MODELS if model is not Lease}


def test_the_readme_move_runs_as_written_and_the_moved_box_answers_as_before(sqlite_box, tmp_path,
                                                                            postgres_server, s3_bucket):
    """The README's two commands, in the folder whose ./data the box is, with this suite's PostgreSQL
    and bucket in place of the placeholders; then a second machine with an empty data dir serves
    the moved box and gives every answer the earlier release recorded (same client keys, signing
    key, releases and bundle bytes)."""
    block = readme_block("will use (and `OTABOX_DATABASE_URL` not yet set),")
    lines = [line.strip() for line in block.splitlines()]
    assert [line.split(" --to ")[0] for line in lines] == [".venv/bin/otabox migrate-database",
                                                           ".venv/bin/otabox migrate-storage"]
    target = postgres_server.new_database(empty=True)
    script = block
    for placeholder, value in {"postgresql://otabox:<password>@db.internal:5432/otabox": target,
                               "s3://otabox-bundles/bundles": s3_bucket.storage_url,
                               ".venv/bin/otabox": f"{sys.executable} {ROOT / 'otabox.py'}"}.items():
        assert placeholder in script
        script = script.replace(placeholder, value)
    env = {**clean_environment(), **S3_ENV, "OTABOX_S3_ENDPOINT_URL": s3_bucket.endpoint_url,
           "OTABOX_SECRET_KEY": SECRET_KEY}
    moved = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=sqlite_box.parent, env=env,
                           capture_output=True, text=True, timeout=300)
    assert moved.returncode == 0, moved.stderr
    rows = sum(table_counts(sqlite_box).values())
    assert f"Moved {rows} rows" in moved.stdout and "OTABOX_DATABASE_URL" in moved.stdout
    assert {"app: 4 rows", "users: 1 row"} <= set(moved.stderr.splitlines())
    assert table_counts(sqlite_box, target) == table_counts(sqlite_box)

    machine = tmp_path / "machine-2"
    # no patch maker, as in the upgrade replay: its audit entries would land among the replayed answers
    server = LiveServer(machine, env={**s3_bucket.env, "OTABOX_DATABASE_URL": target, "OTABOX_SECRET_KEY": SECRET_KEY,
                                      "OTABOX_PATCH_BASES": "0"})
    try:
        recorded = json.loads((OLD_DATA_DIR.parent / f"{OLD_DATA_DIR.name}.json").read_text())
        problems = replay(server.url, recorded)
        assert problems == [], "\n".join(problems)
        created = server.cli("apps", "create", "com.example.after-the-move")  # ids go on past the moved ones
        assert created.returncode == 0, created.stderr
    finally:
        server.stop()
    assert "Traceback" not in server.log_text()
    assert not any(path.is_file() for path in (machine / "blobs").rglob("*"))  # the files came from the bucket


def refused(result, words: str) -> bool:
    """A command that stopped with one line on stderr naming `words`."""
    return (result.returncode == 1 and result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
            and words in result.stderr)


def test_a_refused_move_writes_nothing_anywhere(sqlite_box, tmp_path, postgres_server):
    target = postgres_server.new_database(empty=True)
    key = {"OTABOX_SECRET_KEY": SECRET_KEY}
    assert refused(otabox("migrate-database", "--to", target, data_dir=sqlite_box), "OTABOX_SECRET_KEY")
    assert refused(otabox("migrate-database", "--to", "sqlite:///elsewhere.db", data_dir=sqlite_box, env=key),
                   "postgresql://")
    # The README's scaling-out exports already in the shell: the box would be opened on the target itself.
    assert refused(otabox("migrate-database", "--to", target, data_dir=sqlite_box,
                          env={**key, "OTABOX_DATABASE_URL": target}), "unset OTABOX_DATABASE_URL")
    assert refused(otabox("migrate-database", "--to", target, data_dir=tmp_path / "not-a-box", env=key),
                   "no SQLite box in")
    assert not (tmp_path / "not-a-box").exists()
    closed_port = target.replace(f":{postgres_server.port}/", f":{free_port()}/").replace("otabox@", "otabox:hunter2@")
    unreachable = otabox("migrate-database", "--to", closed_port, data_dir=sqlite_box, env=key)
    assert refused(unreachable, "cannot use the database at postgresql://otabox:***@") and "hunter2" not in (
        unreachable.stderr + unreachable.stdout)
    assert refused(otabox("migrate-database", "--to", target.rsplit("/", 1)[0] + "/no_such_database",
                          data_dir=sqlite_box, env=key), 'database "no_such_database" does not exist')
    # The SQLite box already seals its secrets with one key; with another, it does not even open.
    assert otabox("keys", "list", data_dir=sqlite_box, env=key).returncode == 0
    assert refused(otabox("migrate-database", "--to", target, data_dir=sqlite_box,
                          env={"OTABOX_SECRET_KEY": OTHER_KEY}), "OTABOX_SECRET_KEY")
    # Starting a server on the target before the move would strand the box: refused too.
    started = subprocess.run([sys.executable, str(ROOT / "otabox.py"), "serve", "--port", "0", "--data-dir",
                              str(sqlite_box)], env={**clean_environment(), **key, "OTABOX_DATABASE_URL": target},
                             capture_output=True, text=True, timeout=60)
    assert started.returncode == 1 and "otabox migrate-database --to" in started.stderr
    assert "Traceback" not in started.stderr
    assert refused(otabox("keys", "create", "--name", "x", "--role", "admin", data_dir=sqlite_box,
                          env={**key, "OTABOX_DATABASE_URL": target}), "holds a SQLite box with 4 apps")
    assert tables_in(target) == 0

    with psycopg.connect(target, autocommit=True) as conn:
        conn.execute("CREATE TABLE customers (id integer)")
    assert refused(otabox("migrate-database", "--to", target, data_dir=sqlite_box, env=key),
                   "holds tables that are not otabox's (customers)")
    assert tables_in(target) == 1

    live = LiveServer(sqlite_box)
    try:
        assert refused(otabox("migrate-database", "--to", postgres_server.new_database(empty=True),
                              data_dir=sqlite_box, env=key), "otabox serve is running on")
    finally:
        live.stop()


def test_a_move_that_fails_leaves_nothing_and_can_be_run_again(sqlite_box, postgres_server):
    target = postgres_server.new_database(empty=True)
    # Rows SQLite kept but PostgreSQL refuses: a device of an app that is gone (written without foreign
    # key checks) fails the move half way; a NUL and an over-long version are stored adjusted.
    db = sqlite3.connect(sqlite_box / "otabox.db")
    with db:
        db.execute("UPDATE device SET native_version = ?, bundle_version = ? WHERE id = (SELECT min(id) FROM device)",
                   ("9" * 300, "1.0\x00junk"))
        db.execute("INSERT INTO device (app_id, device_id, platform, native_version, native_build, bundle_version, "
                   "channel, first_seen, last_seen) SELECT 999, 'orphan', 'ios', '', '', '', '', first_seen, "
                   "last_seen FROM device LIMIT 1")
    failed = otabox("migrate-database", "--to", target, data_dir=sqlite_box, env={"OTABOX_SECRET_KEY": SECRET_KEY})
    errors = [line for line in failed.stderr.splitlines() if line.startswith("Error: ")]
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    assert errors == [line for line in failed.stderr.splitlines() if not line.endswith((" row", " rows"))]
    assert len(errors) == 1 and "could not copy the device table" in errors[0] and "nothing was committed" in errors[0]
    assert tables_in(target) > 30 and database_rows(sqlite_box, "SELECT count(*) FROM app", target) == [(0,)]

    with db:
        db.execute("DELETE FROM device WHERE device_id = 'orphan'")
    db.close()
    again = otabox("migrate-database", "--to", target, data_dir=sqlite_box, env={"OTABOX_SECRET_KEY": SECRET_KEY})
    assert again.returncode == 0, again.stderr
    assert "device.native_version: 1 value shortened" in again.stderr
    assert "device.bundle_version: 1 value shortened" in again.stderr
    assert table_counts(sqlite_box, target) == table_counts(sqlite_box)
    assert ("9" * 255, "1.0\ufffdjunk") in database_rows(
        sqlite_box, "SELECT native_version, bundle_version FROM device", target)

    twice = otabox("migrate-database", "--to", target, data_dir=sqlite_box, env={"OTABOX_SECRET_KEY": SECRET_KEY})
    assert refused(twice, "was moved to postgresql://") and "set OTABOX_DATABASE_URL" in twice.stderr
    assert table_counts(sqlite_box, target) == table_counts(sqlite_box)

    # Served from the same data dir on PostgreSQL now; a server started on the SQLite file says it was moved.
    LiveServer(sqlite_box, env={"OTABOX_DATABASE_URL": target, "OTABOX_SECRET_KEY": SECRET_KEY}).stop()
    left_behind = LiveServer(sqlite_box)
    left_behind.stop()
    assert "This box was moved to postgresql://" in left_behind.log_text()


def tables_in(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
                            ).fetchone()[0]

