"""Several `otabox serve` processes, each with its own data directory, on one PostgreSQL database
and one S3 bucket: they act as one box."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time

import pytest
import requests
from conftest import ROOT, LiveServer, answers_health, free_port, make_zip, readme_block

pytestmark = pytest.mark.single_engine  # starts the PostgreSQL server and the bucket it needs, on either run

SECRET_KEY = "6f61761df5253f42876ecc63d9471bb3f8f41bb40fc4c01f66de141fa23df888"


@pytest.fixture
def cluster(tmp_path, postgres_server, s3_bucket):
    url = postgres_server.new_database(empty=True)  # the three processes race to create the schema
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


def test_the_readme_scaling_out_commands_run_as_written(tmp_path, postgres_server, s3_bucket):
    """The README's environment for PostgreSQL + a bucket + a CDN, with this suite's servers in place
    of the placeholders; the checkout's virtualenv already has the extras the first line installs."""
    block = readme_block("S3-compatible bucket:")
    lines = block.splitlines()
    assert lines[0] == ".venv/bin/pip install '.[postgres,s3]'" and lines[-1] == ".venv/bin/otabox serve --host 0.0.0.0"
    url = postgres_server.new_database()
    exports = "\n".join(lines[1:-1])
    for placeholder, value in {
            "postgresql://otabox:<password>@db.internal:5432/otabox": url.replace("otabox@", "otabox:unused@"),
            "<what `otabox secret-key generate` printed once, the same on every process>": SECRET_KEY,
            "s3://otabox-bundles/bundles": f"s3://{s3_bucket.bucket}/bundles",
            "https://<account>.r2.cloudflarestorage.com": s3_bucket.endpoint_url,
            "<key>": s3_bucket.env["AWS_ACCESS_KEY_ID"], "<secret>": s3_bucket.env["AWS_SECRET_ACCESS_KEY"]}.items():
        assert placeholder in exports
        exports = exports.replace(placeholder, value)
    assert "<" not in exports, exports
    otabox = f"{sys.executable} {ROOT / 'otabox.py'}"
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("OTABOX_", "AWS_"))}, "OTABOX_PORT": str(port)}
    data_dir = tmp_path / "machine"
    log = open(tmp_path / "serve.log", "wb")
    process = subprocess.Popen(["bash", "-euo", "pipefail", "-c",
                                f"{exports}\nexec {otabox} serve --host 127.0.0.1 --data-dir {data_dir}"],
                               cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, env=env)
    server = f"http://127.0.0.1:{port}"
    try:
        assert answers_health(server, 20, process), (tmp_path / "serve.log").read_text()
        started = (tmp_path / "serve.log").read_text()
        assert f"database: {url.replace('otabox@', 'otabox:***@')}" in started and "unused" not in started
        assert f"bundle files: s3://{s3_bucket.bucket}/bundles at {s3_bucket.endpoint_url}" in started
        key = subprocess.run(["bash", "-euo", "pipefail", "-c",  # from another machine: its own, new data dir
                              f"{exports}\n{otabox} keys create --name ops --data-dir {tmp_path / 'workstation'}"],
                             env=env, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        auth = {"Authorization": f"Bearer {key}"}
        app = requests.post(f"{server}/api/v1/apps", json={"slug": "com.example.readme"}, headers=auth).json()
        bundle = requests.post(f"{server}/api/v1/apps/com.example.readme/bundles", headers=auth,
                               files={"file": ("b.zip", make_zip())}, data={"version": "1.0.0"}).json()
        requests.post(f"{server}/api/v1/apps/com.example.readme/releases", headers=auth,
                      json={"bundleId": bundle["id"], "channel": "production"}).raise_for_status()
        offer = requests.get(f"{server}/api/v1/apps/com.example.readme/check", headers={"X-Client-Key": app["clientKey"]},
                             params={"platform": "ios", "version": "builtin", "deviceId": "d"}).json()["bundle"]
        sha = bundle["sha256"]
        assert offer["url"].startswith("https://ota.example.com/dl/")  # OTABOX_PUBLIC_URL; the test calls the server
        download = requests.get(offer["url"].replace("https://ota.example.com", server), allow_redirects=False)
        assert download.status_code == 302
        assert download.headers["Location"] == f"https://cdn.example.com/bundles/{sha[:2]}/{sha}"
        import boto3

        stored = boto3.client("s3", endpoint_url=s3_bucket.endpoint_url).get_object(
            Bucket=s3_bucket.bucket, Key=f"bundles/{sha[:2]}/{sha}")["Body"].read()
        assert hashlib.sha256(stored).hexdigest() == sha
        assert not (data_dir / "secrets").exists() or not any((data_dir / "secrets").iterdir())
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()
        postgres_server.drop(url)
