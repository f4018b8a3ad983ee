"""Backups of a running server round-trip; `otabox doctor` finds what is wrong and says what to do."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest
import requests
from conftest import ROOT, LiveServer, check, make_zip, unsigned

pytestmark = pytest.mark.sqlite_only  # otabox backup copies SQLite files; PostgreSQL is backed up with pg_dump


def test_backup_while_serving_then_restore_into_an_empty_dir(live_server, tmp_path):
    key = live_server.cli("keys", "create", "--name", "ci").stdout.strip().splitlines()[-1]
    auth = {"Authorization": f"Bearer {key}"}
    created = requests.post(f"{live_server.url}/api/v1/apps", json={"slug": "com.example.bak"}, headers=auth).json()
    data = make_zip({"index.html": "backed up"})
    bundle = requests.post(f"{live_server.url}/api/v1/apps/com.example.bak/bundles", headers=auth,
                           data={"version": "1.0.0"}, files={"file": ("b.zip", data)}).json()
    requests.post(f"{live_server.url}/api/v1/apps/com.example.bak/releases", headers=auth,
                  json={"bundleId": bundle["id"], "channel": "production"})
    report = json.loads(live_server.cli("backup", str(tmp_path / "bak"), "--json").stdout)
    assert report["missing"] == [] and report["blobs"] >= 2
    assert oct(os.stat(tmp_path / "bak" / "secrets" / "url-signing.key").st_mode)[-3:] == "600"
    restored_dir = tmp_path / "restored"
    out = otabox("restore", str(tmp_path / "bak"), "--data-dir", str(restored_dir))
    assert out.returncode == 0 and out.stdout == (
        f"Restored the database, {report['blobs']} stored files (bundle zips, the files inside them, patches and "
        f"compressed copies) and the secrets into {restored_dir}; start the "
        f"server with `otabox serve --data-dir {restored_dir}`.\n")
    second = LiveServer(restored_dir)
    try:
        reply = requests.get(f"{second.url}/api/v1/apps/com.example.bak/check", params={"platform": "ios"},
                             headers={"X-Client-Key": created["clientKey"]}).json()
        assert hashlib.sha256(requests.get(reply["bundle"]["url"]).content).hexdigest() == bundle["sha256"]
        assert requests.get(f"{second.url}/api/v1/apps", headers=auth).status_code == 200
        assert reply["bundle"]["signature"] == bundle["signature"]
    finally:
        second.stop()
    again = otabox("restore", str(tmp_path / "bak"), "--data-dir", str(restored_dir))
    assert again.returncode == 1 and "not empty" in again.stderr


def test_doctor_reports_missing_files_and_loose_permissions(admin, client, demo_app, box):
    bundle = admin.upload("com.example.demo", "1.0.0").json
    data_dir = str(box.config.data_dir)
    healthy = otabox("doctor", "--deep", "--json", "--data-dir", data_dir)
    assert healthy.returncode == 0
    assert {("ok", "database"), ("ok", "bundles"), ("ok", "permissions")} <= {
        (f["level"], f["check"]) for f in json.loads(healthy.stdout)}
    (counted,) = [f["message"] for f in json.loads(healthy.stdout) if f["check"] == "bundles"]
    assert counted == "the zips of 1 bundle and the 2 files inside them are present", \
        "bundles and their files, not the stored files a backup counts"
    backed_up = otabox("backup", str(box.config.data_dir.parent / "bak"), "--data-dir", data_dir).stdout
    assert "3 stored files (bundle zips, the files inside them, patches and compressed copies)" in backed_up
    with box.db.connection_context():
        from otabox.store.models import BundleFile

        one_file = BundleFile.select().where(BundleFile.bundle == bundle["id"]).first().sha256
    box.store.delete(one_file)
    parts_gone = otabox("doctor", "--json", "--data-dir", data_dir)
    assert parts_gone.returncode == 0
    (finding,) = [f for f in json.loads(parts_gone.stdout) if f["check"] == "bundles" and f["level"] != "ok"]
    assert finding["level"] == "warn" and f"of bundle(s) {bundle['id']} are missing" in finding["message"]
    assert "the full zips are there" in finding["message"]
    admin.release("com.example.demo", bundle["id"])
    box.store.delete(bundle["sha256"])
    os.chmod(box.config.data_dir / "secrets" / "url-signing.key", 0o644)
    sick = otabox("doctor", "--data-dir", data_dir)
    assert sick.returncode == 1
    assert "FAIL  permissions" in sick.stdout and "chmod 600" in sick.stdout
    assert "has no file in storage: release 1 (production)" in sick.stdout
    assert "neither in full nor in parts" in sick.stdout
    assert "no longer offered" in sick.stdout
    assert unsigned(check(client, demo_app, deviceId="d").json) == {"updateAvailable": False, "reason": "no_release"}
    assert "full zips" not in sick.stdout and "still update" not in sick.stdout, "no comfort when the zip is gone"


def otabox(*args):
    return subprocess.run([sys.executable, str(ROOT / "otabox.py"), *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=60)
