"""`otabox gc`: unreferenced blobs, expired uploads and stale staging files go; everything in use stays.
And a server starting on a data dir no other server runs on removes what stopped servers staged."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import uuid

import requests
from conftest import ROOT, LiveServer, make_zip


def test_gc_removes_only_what_nothing_uses(admin, demo_app, box, tmp_path):
    kept = admin.upload("com.example.demo", "1.0.0").json
    ticket = admin.post("/api/v1/apps/com.example.demo/bundles/initiate",
                        {"version": "2.0.0", "size": 10, "sha256": "a" * 64}).json
    orphan = box.staging.write_bytes(b"an orphan blob nobody names")
    box.store.put(orphan)
    young_orphan = box.staging.write_bytes(b"an upload in flight")
    box.store.put(young_orphan)
    old = time.time() - 2 * 24 * 3600
    os.utime(box.store.local_path(orphan.sha256), (old, old))
    stale = box.staging.new_path("leftover")
    stale.write_bytes(b"x")
    os.utime(stale, (old, old))
    import datetime as dt

    from otabox.store.models import Upload
    with box.db.connection_context():
        Upload.update(expires_at=dt.datetime(2000, 1, 1)).where(Upload.id == ticket["uploadId"]).execute()
    box.close()
    result = subprocess.run([sys.executable, str(ROOT / "otabox.py"), "gc", "--data-dir", str(box.config.data_dir)],
                            capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout == "Removed 1 expired upload, 1 staged file and 1 bundle file no bundle uses.\n"
    assert not box.store.exists(orphan.sha256)
    assert box.store.exists(young_orphan.sha256)
    assert box.store.exists(kept["sha256"])
    assert not stale.exists()
    from otabox.store.models import BundleFile
    with box.db.connection_context():
        assert all(box.store.exists(f.sha256) for f in BundleFile.select())


def test_the_janitors_lease_outlives_a_dead_holder_by_half_a_minute_at_most(box):
    import datetime as dt

    from otabox.store.models import Lease, utcnow

    assert box.janitor.run_once()
    with box.db.connection_context():
        expires_at = Lease.get(Lease.name == "janitor").expires_at
    assert expires_at - utcnow() <= dt.timedelta(seconds=30)


def test_a_leased_loop_with_a_short_lease_renews_it_more_often_than_it_works(box):
    from otabox.ops.leased import LeasedLoop

    runs = []
    loop = LeasedLoop(box.db, "a-job", 600, lambda: runs.append("ran"), ttl=30)
    assert loop.round_seconds == 10
    assert loop.run_once() and loop.run_once()
    assert runs == ["ran"], "the work waits for its interval"
    loop.wake()
    loop.run_once()
    assert runs == ["ran", "ran"], "woken, it works at once"


def staged_files(data_dir) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in (data_dir / "tmp").iterdir() if p.is_file()}


def test_what_a_stopped_server_staged_is_removed_at_the_next_start(tmp_path):
    """An upload the server was storing or validating when it stopped leaves its bytes in tmp/ under
    a random name (waitress hands the body over only once it has all of it, so the test places them as
    the stop left them); the next server removes them at start, and keeps what a live two-step upload
    received."""
    server = LiveServer(tmp_path / "data")
    try:
        key = server.cli("keys", "create", "--name", "k").stdout.strip().splitlines()[-1]
        auth = {"Authorization": f"Bearer {key}"}
        requests.post(f"{server.url}/api/v1/apps", json={"slug": "com.example.cut"}, headers=auth)
        received = make_zip()
        live = requests.post(f"{server.url}/api/v1/apps/com.example.cut/bundles/initiate", headers=auth, json={
            "version": "1.0.0", "size": len(received), "sha256": hashlib.sha256(received).hexdigest()}).json()
        assert requests.put(live["uploadUrl"], data=received).status_code == 200
    finally:
        server.stop()
    kept = f"upload-{live['uploadId']}.{hashlib.sha256(received).hexdigest()}"
    assert list(staged_files(server.data_dir)) == [kept]
    (server.data_dir / "tmp" / uuid.uuid4().hex).write_bytes(b"\0" * 4 * 1024 * 1024)
    (server.data_dir / "tmp" / uuid.uuid4().hex).write_bytes(b"a member being validated")

    again = LiveServer(tmp_path / "data")
    again.stop()
    assert list(staged_files(again.data_dir)) == [kept]
    assert "removed 2 staged files of uploads a previous server did not finish" in again.log_text()
