"""A box whose bundle files live in an S3 bucket (moto's S3 API on loopback): uploads (straight to the
bucket in two steps), downloads (redirects to presigned URLs), CodePush diffs, gc and doctor, and
moving an existing data directory's files there with `otabox migrate-storage`."""
from __future__ import annotations

import hashlib
import json

import pytest
import requests
from click.testing import CliRunner
from conftest import LiveServer, make_zip
from support import new_box

from otabox.cli import main


def admin_key(server) -> str:
    return server.cli("keys", "create", "--name", "ci", "--role", "admin").stdout.strip().splitlines()[-1]


@pytest.fixture
def s3_server(tmp_path, s3_bucket):
    server = LiveServer(tmp_path / "data", env=s3_bucket.env)
    yield server
    server.stop()


def objects(s3_bucket) -> set[str]:
    import boto3

    client = boto3.client("s3", endpoint_url=s3_bucket.endpoint_url)
    return {item["Key"] for item in client.list_objects_v2(Bucket=s3_bucket.bucket).get("Contents", [])}


def test_uploads_go_to_the_bucket_and_downloads_come_from_it(s3_server, s3_bucket, tmp_path):
    key = admin_key(s3_server)
    auth = {"Authorization": f"Bearer {key}"}
    app = requests.post(f"{s3_server.url}/api/v1/apps", json={"slug": "com.example.s3"}, headers=auth).json()
    build = tmp_path / "dist"
    build.mkdir()
    (build / "index.html").write_text("from the bucket")
    published = s3_server.cli("publish", str(build), "--app", "com.example.s3", "--version", "1.0.0", "--json",
                              "--server", s3_server.url, "--key", key, data_dir=False)
    bundle = json.loads(published.stdout)["bundle"]
    assert f"{s3_bucket.prefix}/{bundle['sha256'][:2]}/{bundle['sha256']}" in objects(s3_bucket)
    assert not any(name.startswith(f"{s3_bucket.prefix}/uploads/") for name in objects(s3_bucket))
    assert not (s3_server.data_dir / "blobs").exists()
    offer = requests.get(f"{s3_server.url}/api/v1/apps/com.example.s3/check", headers={"X-Client-Key": app["clientKey"]},
                         params={"platform": "ios", "version": "builtin", "deviceId": "p"}).json()["bundle"]
    redirect = requests.get(offer["url"], allow_redirects=False)
    assert redirect.status_code == 302 and redirect.headers["Location"].startswith(s3_bucket.endpoint_url)
    assert hashlib.sha256(requests.get(offer["url"]).content).hexdigest() == bundle["sha256"]
    assert "OK    bundles" in s3_server.cli("doctor").stdout
    assert json.loads(s3_server.cli("gc", "--json").stdout)["blobs"] == 0


def test_a_two_step_upload_with_other_bytes_is_refused_and_leaves_nothing(s3_server, s3_bucket):
    auth = {"Authorization": f"Bearer {admin_key(s3_server)}"}
    requests.post(f"{s3_server.url}/api/v1/apps", json={"slug": "com.example.s3"}, headers=auth)
    data = make_zip({"index.html": "promised"})
    ticket = requests.post(f"{s3_server.url}/api/v1/apps/com.example.s3/bundles/initiate", headers=auth, json={
        "version": "1.0.0", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}).json()
    assert ticket["uploadUrl"].startswith(s3_bucket.endpoint_url)
    other = bytes(reversed(data))
    assert requests.put(ticket["uploadUrl"], data=other).status_code == 200
    finalized = requests.post(f"{s3_server.url}/api/v1/apps/com.example.s3/bundles/finalize", headers=auth,
                              json={"uploadId": ticket["uploadId"]})
    assert finalized.status_code == 422 and finalized.json()["error"]["code"] == "checksum_mismatch"
    assert objects(s3_bucket) == set()


def test_codepush_diffs_are_built_from_the_bucket(s3_server):
    auth = {"Authorization": f"Bearer {admin_key(s3_server)}"}
    requests.post(f"{s3_server.url}/apps", json={"name": "Diffs"}, headers=auth)
    packages = []
    for n in range(2):
        files = {"package": ("p.zip", make_zip({"CodePush/index.js": f"bundle {n}", "CodePush/same.txt": "same"}))}
        released = requests.post(f"{s3_server.url}/apps/Diffs/deployments/Production/release", headers=auth,
                                 files=files, data={"packageInfo": json.dumps({"appVersion": "1.0.0"})})
        assert released.status_code == 201, released.text
        packages.append(released.json()["package"])
    assert list(packages[1]["diffPackageMap"]) == [packages[0]["packageHash"]]


def test_migrate_storage_copies_every_file_verified_and_the_box_serves_from_the_bucket(live_server, s3_bucket):
    auth = {"Authorization": f"Bearer {admin_key(live_server)}"}
    app = requests.post(f"{live_server.url}/api/v1/apps", json={"slug": "com.example.move"}, headers=auth).json()
    data = make_zip({"index.html": "moving", "a.js": "x" * 3000})
    bundle = requests.post(f"{live_server.url}/api/v1/apps/com.example.move/bundles", headers=auth,
                           files={"file": ("b.zip", data)}, data={"version": "1.0.0"}).json()
    requests.post(f"{live_server.url}/api/v1/apps/com.example.move/releases", headers=auth,
                  json={"bundleId": bundle["id"], "channel": "production"})
    local = {path.name for path in (live_server.data_dir / "blobs").rglob("*") if path.is_file()}
    env = s3_bucket.env
    moved = live_server.cli("migrate-storage", "--to", s3_bucket.storage_url, env=env)
    assert f"All {len(local)} files are in {s3_bucket.storage_url}" in moved.stdout
    assert "files checked" in moved.stderr
    assert {name.rsplit("/", 1)[1] for name in objects(s3_bucket)} == local
    again = live_server.cli("migrate-storage", "--to", s3_bucket.storage_url, env=env)
    assert f"0 copied (0.0 MB), {len(local)} already there" in again.stderr
    live_server.stop()
    moved_server = LiveServer(live_server.data_dir, env=s3_bucket.env)
    try:
        offer = requests.get(f"{moved_server.url}/api/v1/apps/com.example.move/check",
                             headers={"X-Client-Key": app["clientKey"]},
                             params={"platform": "ios", "version": "builtin", "deviceId": "p"}).json()["bundle"]
        assert requests.get(offer["url"]).content == data
    finally:
        moved_server.stop()


def test_migrate_storage_reports_a_file_whose_bytes_do_not_match(live_server, s3_bucket):
    auth = {"Authorization": f"Bearer {admin_key(live_server)}"}
    requests.post(f"{live_server.url}/api/v1/apps", json={"slug": "com.example.rot"}, headers=auth)
    bundle = requests.post(f"{live_server.url}/api/v1/apps/com.example.rot/bundles", headers=auth,
                           files={"file": ("b.zip", make_zip())}, data={"version": "1.0.0"}).json()
    (live_server.data_dir / "blobs" / bundle["sha256"][:2] / bundle["sha256"]).write_bytes(b"bit rot")
    moved = live_server.cli("migrate-storage", "--to", s3_bucket.storage_url, check=False, env=s3_bucket.env)
    assert moved.returncode == 1 and "1 files do not match their SHA-256" in moved.stderr
    assert "Traceback" not in moved.stderr


@pytest.mark.parametrize("command", [["doctor"], ["keys", "list"], ["serve", "--port", "0"]])
def test_a_missing_bucket_is_named_in_one_line(command, s3_bucket, tmp_path, monkeypatch):
    for name, value in s3_bucket.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OTABOX_STORAGE_URL", "s3://no-such-bucket/bundles")
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "tmp").mkdir()  # a machine's data dir beside a database server holds only staging files
    result = CliRunner().invoke(main, [*command, "--data-dir", str(data_dir)])
    assert result.exit_code == 1, result.output
    assert result.stderr == (f"Error: the bucket 'no-such-bucket' at {s3_bucket.endpoint_url} does not exist; create "
                             f"it first (e.g. `aws s3 mb s3://no-such-bucket --endpoint-url {s3_bucket.endpoint_url}`) "
                             "or correct the s3:// URL\n")


@pytest.mark.parametrize("settings, cause", [
    ({"AWS_PROFILE": "nope", "AWS_CONFIG_FILE": "/nonexistent"}, "The config profile (nope) could not be found"),
    ({"AWS_CONFIG_FILE": "{tmp}/aws-config"}, "Unable to parse config file: {tmp}/aws-config"),
], ids=["unknown profile", "unreadable config file"])
@pytest.mark.parametrize("command", [["keys", "list"], ["serve", "--port", "0"],
                                     ["migrate-storage", "--to", "s3://otabox-bundles/bundles"]],
                         ids=lambda c: c[0])
def test_aws_settings_boto3_cannot_use_are_one_line_before_anything_is_sent(command, settings, cause, tmp_path,
                                                                           monkeypatch):
    """No network: botocore refuses the settings while making its client, and otabox says so in one
    line naming the variables to check, instead of botocore's traceback."""
    (tmp_path / "aws-config").write_text("[profile broken\nregion = us-east-1\n")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "OTABOX_S3_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    data_dir = tmp_path / "data"
    if command[0] == "migrate-storage":
        new_box(data_dir)  # a box on local files, whose bundles are to move
    else:
        monkeypatch.setenv("OTABOX_STORAGE_URL", "s3://otabox-bundles/bundles")
        (data_dir / "tmp").mkdir(parents=True)  # a machine's data dir beside a database server holds only staging
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    for name, value in settings.items():
        monkeypatch.setenv(name, value.format(tmp=tmp_path))
    result = CliRunner().invoke(main, [*command, "--data-dir", str(data_dir)])
    assert result.exit_code == 1, result.output
    assert result.stderr == (f"Error: the AWS settings for the object store (bucket 'otabox-bundles') cannot be used: "
                             f"{cause.format(tmp=tmp_path)}; check AWS_PROFILE, AWS_CONFIG_FILE and "
                             "AWS_SHARED_CREDENTIALS_FILE (or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)\n")


def test_migrate_storage_to_a_missing_bucket_is_one_line(live_server, s3_bucket):
    moved = live_server.cli("migrate-storage", "--to", "s3://not-made-yet", check=False, env=s3_bucket.env)
    assert moved.returncode == 1 and moved.stderr.count("\n") == 1
    assert "the bucket 'not-made-yet'" in moved.stderr and "aws s3 mb s3://not-made-yet" in moved.stderr


def test_migrate_storage_without_credentials_names_the_settings_to_set(live_server, s3_bucket):
    """No credentials is a configuration problem, not a passing failure: the one line says what to set."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        live_server.env.pop(name, None)
    env = dict(OTABOX_S3_ENDPOINT_URL=s3_bucket.endpoint_url, AWS_DEFAULT_REGION="us-east-1",
               AWS_SHARED_CREDENTIALS_FILE="/nonexistent", AWS_CONFIG_FILE="/nonexistent",
               AWS_EC2_METADATA_DISABLED="true")
    moved = live_server.cli("migrate-storage", "--to", s3_bucket.storage_url, check=False, env=env)
    assert moved.returncode == 1 and moved.stderr.count("\n") == 1, moved.stderr
    assert moved.stderr == (f"Error: no credentials for the object store at {s3_bucket.endpoint_url} (bucket "
                            f"{s3_bucket.bucket!r}): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, "
                            "or an instance role)\n")
