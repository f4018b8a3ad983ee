"""The in-memory serving state never answers from stale data: every change is visible to the very
next check, in the same process and in another process on the same data directory."""
from __future__ import annotations

import requests
from conftest import LiveServer, check, make_zip, unsigned

APP = "com.example.cache"


def test_changes_are_visible_to_the_next_check_in_the_same_process(admin, client):
    created = admin.post("/api/v1/apps", {"slug": APP}).json
    one = admin.upload(APP, "1.0.0").json
    two = admin.upload(APP, "2.0.0", make_zip({"index.html": "2"})).json
    assert unsigned(check(client, created).json) == {"updateAvailable": False, "reason": "no_release"}
    release = admin.release(APP, one["id"]).json["release"]
    assert check(client, created, deviceId="d").json["bundle"]["version"] == "1.0.0"
    admin.patch(f"/api/v1/apps/{APP}/releases/{release['id']}", {"rollout": 0})
    assert unsigned(check(client, created, deviceId="d").json) == {"updateAvailable": False, "reason": "not_in_rollout"}
    admin.patch(f"/api/v1/apps/{APP}/releases/{release['id']}", {"rollout": 100})
    admin.release(APP, two["id"])
    assert check(client, created, deviceId="d").json["bundle"]["version"] == "2.0.0"
    admin.post(f"/api/v1/apps/{APP}/channels/production/rollback")
    assert check(client, created, deviceId="d", version="2.0.0").json["bundle"]["version"] == "1.0.0"
    admin.put(f"/api/v1/apps/{APP}/devices/d", {"bundleId": two["id"]})
    assert check(client, created, deviceId="d").json["bundle"]["version"] == "2.0.0"


def test_a_second_process_on_the_same_data_dir_sees_every_change(tmp_path):
    data_dir = tmp_path / "shared-data"
    first = LiveServer(data_dir)
    second = LiveServer(data_dir)
    try:
        key = first.cli("keys", "create", "--name", "ci").stdout.strip().splitlines()[-1]
        auth = {"Authorization": f"Bearer {key}"}
        created = requests.post(f"{first.url}/api/v1/apps", json={"slug": APP}, headers=auth).json()

        def checked(server, **params):
            params = {"platform": "ios", "deviceId": "d", **params}
            reply = requests.get(f"{server.url}/api/v1/apps/{APP}/check", params=params,
                                 headers={"X-Client-Key": created["clientKey"]}).json()
            return reply["bundle"]["version"] if reply.get("updateAvailable") else unsigned(reply)

        assert checked(second) == {"updateAvailable": False, "reason": "no_release"}
        bundles = [requests.post(f"{first.url}/api/v1/apps/{APP}/bundles", headers=auth, data={"version": v},
                                 files={"file": ("b.zip", make_zip({"index.html": v}))}).json()
                   for v in ("1.0.0", "2.0.0")]
        release = requests.post(f"{first.url}/api/v1/apps/{APP}/releases", headers=auth,
                                json={"bundleId": bundles[0]["id"], "channel": "production"}).json()["release"]
        assert checked(second) == "1.0.0"
        requests.patch(f"{first.url}/api/v1/apps/{APP}/releases/{release['id']}", headers=auth, json={"rollout": 0})
        assert checked(second) == {"updateAvailable": False, "reason": "not_in_rollout"}
        requests.post(f"{first.url}/api/v1/apps/{APP}/releases", headers=auth,
                      json={"bundleId": bundles[1]["id"], "channel": "production"})
        assert checked(second) == "2.0.0"
        requests.post(f"{first.url}/api/v1/apps/{APP}/channels/production/rollback", headers=auth,
                      json={"toBuiltin": True})
        assert checked(second, version="2.0.0") == {"updateAvailable": False, "revertToBuiltin": True,
                                                     "reason": "revert_to_builtin"}
        requests.put(f"{first.url}/api/v1/apps/{APP}/devices/d", headers=auth, json={"bundleId": bundles[0]["id"]})
        assert checked(second) == "1.0.0"
    finally:
        first.stop()
        second.stop()


def test_workers_share_one_port(tmp_path):
    import os
    import subprocess
    import sys
    import time

    from conftest import ROOT, free_port

    port = free_port()
    process = subprocess.Popen([sys.executable, str(ROOT / "otabox.py"), "serve", "--workers", "2", "--port",
                                str(port), "--data-dir", str(tmp_path / "d")], cwd=ROOT, stderr=subprocess.PIPE,
                               env={**os.environ})
    try:
        deadline = time.time() + 15
        children, healthy = [], False
        while time.time() < deadline and not (healthy and len(children) == 2):
            children = open(f"/proc/{process.pid}/task/{process.pid}/children").read().split()
            try:
                healthy = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).json() == {"status": "ok"}
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.05)
        assert healthy and len(children) == 2, (healthy, children)
        assert all(requests.get(f"http://127.0.0.1:{port}/healthz").status_code == 200 for _ in range(20))
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=60)
    assert b"2 workers" in stderr
