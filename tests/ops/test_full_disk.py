"""A full disk: the data directory lives on a 2 MB tmpfs. Whatever does not fit is answered with a
clear JSON error (507 insufficient_storage, or 413 when over the configured limit), never a 500,
and the previous state stays intact: releases unchanged, earlier bundles download with the right
SHA-256, no half-written file in blobs/ or tmp/, and the server works again once space is freed."""
from __future__ import annotations

import hashlib
import io
import os
import random
import subprocess
import zipfile
from pathlib import Path

import pytest
from conftest import Api, make_key, make_zip

from otabox.app import create_app
from otabox.config import Config
from otabox.errors import InsufficientStorage
from otabox.ops.maintenance import collect_garbage

pytestmark = pytest.mark.sqlite_only  # fills the disk under a SQLite file

DISK_SIZE = "2m"
APP = "com.example.tiny"


@pytest.fixture
def tiny_disk(tmp_path):
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    try:
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE}", "tmpfs", str(mount_point)],
                                capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        pytest.skip("no mount command in this environment")
    if result.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here (needs root with CAP_SYS_ADMIN): {result.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], capture_output=True, timeout=30)


def make_server(disk: Path, **config):
    app = create_app(Config.from_env(data_dir=disk / "data", device_flush_seconds=3600.0, **config))
    return app, app.config["BOX"]


@pytest.fixture
def server(tiny_disk):
    app, box = make_server(tiny_disk)
    yield app, box
    box.close()


@pytest.fixture
def admin(server):
    app, box = server
    return Api(app.test_client(), make_key(box, "admin", "admin"))


@pytest.fixture
def published(server, admin):
    """An app with 1.0.0 on production and 1.0.1 on staging, and the state they make."""
    created = admin.post("/api/v1/apps", {"slug": APP})
    assert created.status_code == 201, created.json
    for version, channel in (("1.0.0", "production"), ("1.0.1", "staging")):
        bundle = admin.upload(APP, version, random_zip(40_000, version))
        assert bundle.status_code == 201, bundle.json
        assert admin.release(APP, bundle.json["id"], channel).status_code == 201
    return created.json


def random_zip(payload_bytes: int, seed: str) -> bytes:
    """A bundle that does not compress, so its size on disk is what it says."""
    payload = random.Random(seed).randbytes(payload_bytes)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("index.html", f"<html>{seed}</html>")
        archive.writestr("payload.bin", payload)
    return buffer.getvalue()


def free_bytes(path: Path) -> int:
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


def fill_disk(disk: Path, leave: int = 0) -> Path:
    """A ballast file that leaves about `leave` bytes free."""
    ballast = disk / "ballast"
    with open(ballast, "ab") as out:
        try:
            out.write(b"\0" * max(0, free_bytes(disk) - leave))
            out.flush()
        except OSError:
            pass
    return ballast


def snapshot(admin: Api) -> dict:
    bundles = admin.get(f"/api/v1/apps/{APP}/bundles?limit=500")
    releases = admin.get(f"/api/v1/apps/{APP}/releases?limit=500")
    assert bundles.status_code == 200 and releases.status_code == 200, (bundles.json, releases.json)
    return {"bundles": bundles.json, "releases": releases.json}


def served_bundle(client, app_json: dict, channel: str = "production") -> tuple[str, str]:
    """(version, SHA-256 of the downloaded bytes) of what a phone on `channel` gets."""
    answer = client.get(f"/api/v1/apps/{APP}/check", query_string={"platform": "ios", "channel": channel},
                        headers={"X-Client-Key": app_json["clientKey"]})
    assert answer.status_code == 200 and answer.json["updateAvailable"], answer.json
    download = client.get(answer.json["bundle"]["url"])
    assert download.status_code == 200
    return answer.json["bundle"]["version"], hashlib.sha256(download.get_data()).hexdigest()


def blob_files(data_dir: Path) -> dict[str, Path]:
    return {p.name: p for p in (data_dir / "blobs").glob("*/*") if p.is_file()}


def assert_storage_clean(box) -> None:
    """Every blob is whole (its content hashes to its name) and staging holds no leftover."""
    for sha256, path in blob_files(box.config.data_dir).items():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == sha256, f"half-written blob {path}"
    assert list((box.config.data_dir / "tmp").iterdir()) == []


def assert_storage_error(response, status: int = 507) -> None:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.json["error"]["code"] == ("insufficient_storage" if status == 507 else "too_large")
    assert response.json["error"]["message"]


def collect_all_garbage(box) -> None:
    """`otabox gc` as if its grace period for young blobs had passed."""
    for path in blob_files(box.config.data_dir).values():
        os.utime(path, (0, 0))
    with box.db.connection_context():
        collect_garbage(box)


@pytest.mark.parametrize("share_of_free_space", [0.6, 1.3], ids=["zip-fits-files-do-not", "zip-does-not-fit"])
def test_an_upload_that_does_not_fit_gets_507_and_changes_nothing(server, admin, published, tiny_disk,
                                                                   share_of_free_space):
    app, box = server
    client = app.test_client()
    before, blobs_before = snapshot(admin), set(blob_files(box.config.data_dir))
    served_before = served_bundle(client, published)
    too_big = random_zip(int(free_bytes(tiny_disk) * share_of_free_space), "too big")

    assert_storage_error(admin.upload(APP, "2.0.0", too_big))

    assert snapshot(admin) == before
    assert served_bundle(client, published) == served_before
    assert_storage_clean(box)
    collect_all_garbage(box)
    assert set(blob_files(box.config.data_dir)) == blobs_before
    again = admin.upload(APP, "2.0.0", random_zip(20_000, "fits"))
    assert again.status_code == 201, again.json


def test_a_two_step_put_that_overflows_gets_507_and_leaves_nothing(server, admin, published, tiny_disk):
    app, box = server
    client = app.test_client()
    before, blobs_before = snapshot(admin), set(blob_files(box.config.data_dir))
    too_big = random_zip(free_bytes(tiny_disk) + 100_000, "two-step")
    initiated = admin.post(f"/api/v1/apps/{APP}/bundles/initiate",
                           {"version": "2.0.0", "size": len(too_big), "sha256": hashlib.sha256(too_big).hexdigest()})
    assert initiated.status_code == 201, initiated.json

    assert_storage_error(client.put(initiated.json["uploadUrl"], data=too_big))

    assert_storage_clean(box)
    finalized = admin.post(f"/api/v1/apps/{APP}/bundles/finalize", {"uploadId": initiated.json["uploadId"]})
    assert finalized.status_code == 422 and finalized.json["error"]["code"] == "upload_missing"
    assert snapshot(admin) == before
    assert set(blob_files(box.config.data_dir)) == blobs_before
    assert served_bundle(client, published)[0] == "1.0.0"

    small = random_zip(20_000, "small two-step")
    retry = admin.post(f"/api/v1/apps/{APP}/bundles/initiate",
                       {"version": "2.0.0", "size": len(small), "sha256": hashlib.sha256(small).hexdigest()})
    assert client.put(retry.json["uploadUrl"], data=small).status_code == 200
    done = admin.post(f"/api/v1/apps/{APP}/bundles/finalize", {"uploadId": retry.json["uploadId"]})
    assert done.status_code == 201 and done.json["sha256"] == hashlib.sha256(small).hexdigest()


def test_writes_on_a_full_disk_get_507_reads_keep_working_and_space_brings_it_back(server, admin, published,
                                                                                  tiny_disk):
    """Fill the disk to the brim with a ballast, so the blob store or the database (whichever needs the
    next byte) runs out: every write answers 201/200 or 507, every read still answers."""
    app, box = server
    client = app.test_client()
    reader = Api(client, make_key(box, "reader", "first used on a full disk"))
    before = snapshot(admin)
    production = next(r for r in before["releases"]["releases"] if r["channel"] == "production")
    served_before = served_bundle(client, published)
    ballast = fill_disk(tiny_disk, leave=64 * 1024)
    statuses, acknowledged = [], []
    for attempt in range(40):
        upload = admin.upload(APP, f"3.0.{attempt}", make_zip({"index.html": f"v{attempt}"}))
        release = admin.release(APP, upload.json["id"] if upload.status_code == 201 else 1, "staging")
        rollout = admin.patch(f"/api/v1/apps/{APP}/releases/{production['id']}", {"rollout": 100})
        events = client.post(f"/api/v1/apps/{APP}/events", headers={"X-Client-Key": published["clientKey"]},
                             json=[{"deviceId": f"phone-{attempt}", "bundleId": 1, "type": "installed"}])
        round_statuses = [upload.status_code, release.status_code, rollout.status_code, events.status_code]
        statuses.append(round_statuses)
        for response in (upload, release, rollout, events):
            if response.status_code >= 300:
                assert_storage_error(response)
        if upload.status_code == 201:
            acknowledged.append(upload.json)
        if set(round_statuses) == {507}:
            break
    assert set(statuses[-1]) == {507}, f"the disk never filled up: {statuses}"
    fill_disk(tiny_disk)
    assert free_bytes(tiny_disk) == 0

    assert client.get("/healthz").status_code == 200
    assert served_bundle(client, published) == served_before
    listed = snapshot(reader)
    assert listed["releases"]["total"] >= before["releases"]["total"]
    assert {b["id"] for b in listed["bundles"]["bundles"]} == {b["id"] for b in before["bundles"]["bundles"]} | {
        b["id"] for b in acknowledged}
    box.tracker.seen(published["id"], "flushed-later", None, platform="ios", native_version="1.0",
                     native_build=1, bundle_version=None, channel="production")
    with pytest.raises(InsufficientStorage):
        box.tracker.flush()
    assert_storage_clean(box)

    ballast.unlink()
    assert box.tracker.flush() == 1
    recovered = admin.upload(APP, "4.0.0", make_zip({"index.html": "after"}))
    assert recovered.status_code == 201, recovered.json
    assert admin.release(APP, recovered.json["id"]).status_code == 201
    assert served_bundle(client, published)[0] == "4.0.0"
    with box.db.connection_context():
        assert box.db.execute_sql("PRAGMA integrity_check").fetchall() == [("ok",)]
    for bundle in [*before["bundles"]["bundles"], *acknowledged]:
        path = box.store.local_path(bundle["sha256"])
        assert hashlib.sha256(path.read_bytes()).hexdigest() == bundle["sha256"]
    assert_storage_clean(box)


def test_over_the_configured_limit_is_413_and_leaves_nothing(tiny_disk):
    app, box = make_server(tiny_disk, max_bundle_mb=1)
    try:
        admin = Api(app.test_client(), make_key(box, "admin", "admin"))
        assert admin.post("/api/v1/apps", {"slug": APP}).status_code == 201
        too_big = random_zip(1024 * 1024 + 10_000, "over the limit")

        assert_storage_error(admin.upload(APP, "1.0.0", too_big), 413)
        declared = admin.post(f"/api/v1/apps/{APP}/bundles/initiate",
                              {"version": "1.0.0", "size": len(too_big), "sha256": hashlib.sha256(too_big).hexdigest()})
        assert_storage_error(declared, 413)

        assert_storage_clean(box)
        assert blob_files(box.config.data_dir) == {}
        assert admin.get(f"/api/v1/apps/{APP}/bundles").json["total"] == 0
    finally:
        box.close()
