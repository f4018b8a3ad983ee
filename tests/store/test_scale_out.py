"""Several `otabox serve` processes, each with its own data directory, on one PostgreSQL database
and one S3 bucket: they act as one box."""
from __future__ import annotations

import hashlib
import time

import pytest
import requests
from conftest import LiveServer, make_zip

SECRET_KEY = "a long random value every process of this box is given"


@pytest.fixture
def cluster(tmp_path, postgres_server, s3_bucket):
    url = postgres_server.new_database()
    env = {**s3_bucket.env, "OTABOX_DATABASE_URL": url, "OTABOX_SECRET_KEY": SECRET_KEY}
    servers = []
    try:
        for n in range(3):
            servers.append(LiveServer(tmp_path / f"machine-{n}", env=env))
        yield servers
    finally:
        for server in servers:
            server.stop()


def key_for(server) -> str:
    result = server.cli("keys", "create", "--name", "ci", "--role", "admin")
    return result.stdout.strip().splitlines()[-1]


def check(server, app, device, **params):
    return requests.get(f"{server.url}/api/v1/apps/{app['slug']}/check", headers={"X-Client-Key": app["clientKey"]},
                        params={"platform": "ios", "version": "builtin", "deviceId": device, **params}).json()


def test_processes_share_secrets_releases_devices_and_bundles(cluster):
    first, second, third = cluster
    auth = {"Authorization": f"Bearer {key_for(first)}"}
    keys = {requests.get(f"{s.url}/api/v1/signing-key").json()["publicKey"] for s in cluster}
    assert len(keys) == 1
    app = requests.post(f"{second.url}/api/v1/apps", json={"slug": "com.example.scale"}, headers=auth).json()
    data = make_zip({"index.html": "scaled", "app.js": "x" * 20000})
    bundle = requests.post(f"{third.url}/api/v1/apps/com.example.scale/bundles", headers=auth,
                           files={"file": ("b.zip", data)}, data={"version": "1.0.0"}).json()
    assert not any(path.is_file() for path in third.data_dir.rglob("*") if bundle["sha256"] in path.name)
    release = requests.post(f"{first.url}/api/v1/apps/com.example.scale/releases", headers=auth,
                            json={"bundleId": bundle["id"], "channel": "production"})
    assert release.status_code == 201
    for server in cluster:  # the very next check on every process sees the release
        offer = check(server, app, "phone-a")
        assert offer["updateAvailable"] is True, (server.url, offer)
        download = requests.get(offer["bundle"]["url"].replace(server.url, second.url))  # signed by one, served by another
        assert download.status_code == 200 and hashlib.sha256(download.content).hexdigest() == bundle["sha256"]
    rolled = requests.post(f"{third.url}/api/v1/apps/com.example.scale/channels/production/rollback",
                           json={"toBuiltin": True}, headers=auth)
    assert rolled.status_code == 201
    assert [check(s, app, "phone-a").get("revertToBuiltin") for s in cluster] == [True, True, True]
    for n, server in enumerate(cluster):
        for device in range(5):
            check(server, app, f"machine-{n}-phone-{device}")
    deadline = time.time() + 10
    while time.time() < deadline:
        devices = requests.get(f"{first.url}/api/v1/apps/com.example.scale/devices", headers=auth).json()
        if devices["total"] == 16:
            break
        time.sleep(0.2)
    assert devices["total"] == 16
