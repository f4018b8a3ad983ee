"""A real `otabox serve` subprocess: CLI keys, upload, release, check, download, verify; and the
publishing CLI against it."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import subprocess
import sys

import pytest
import requests
from conftest import ROOT, make_zip
from support import run_otabox
from cryptography.hazmat.primitives.serialization import load_pem_public_key


def cli_key(server, name="ci", role="admin", *extra) -> str:
    result = server.cli("keys", "create", "--name", name, "--role", role, *extra)
    assert "not shown again" in result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_full_cycle_against_a_real_server(live_server):
    key = cli_key(live_server)
    assert key.startswith("otabox_sk_")
    listed = live_server.cli("keys", "list").stdout
    assert "ci" in listed and "admin" in listed and key not in listed
    auth = {"Authorization": f"Bearer {key}"}
    url = live_server.url
    app = requests.post(f"{url}/api/v1/apps", json={"slug": "com.example.live"}, headers=auth).json()
    data = make_zip({"index.html": "live", "main.js": "x" * 5000})
    bundle = requests.post(f"{url}/api/v1/apps/com.example.live/bundles", headers=auth,
                           files={"file": ("b.zip", data)}, data={"version": "1.0.0"}).json()
    assert bundle["sha256"] == hashlib.sha256(data).hexdigest()
    release = requests.post(f"{url}/api/v1/apps/com.example.live/releases", headers=auth,
                            json={"bundleId": bundle["id"], "channel": "production"})
    assert release.status_code == 201
    reply = requests.get(f"{url}/api/v1/apps/com.example.live/check", headers={"X-Client-Key": app["clientKey"]},
                         params={"channel": "production", "platform": "ios", "version": "builtin",
                                 "nativeBuild": "100", "deviceId": "abc"}).json()
    offer = reply["bundle"]
    assert offer["url"].startswith(url + "/dl/")
    download = requests.get(offer["url"])
    assert download.status_code == 200 and download.content == data
    assert hashlib.sha256(download.content).hexdigest() == offer["sha256"]
    public_pem = requests.get(f"{url}/api/v1/signing-key").json()["publicKey"]
    assert public_pem == live_server.cli("signing-key", "show").stdout
    load_pem_public_key(public_pem.encode()).verify(base64.b64decode(offer["signature"]),
                                                   hashlib.sha256(download.content).digest())
    assert requests.get(offer["url"].replace("signature=", "signature=Z")).status_code == 403
    part = requests.get(offer["url"], headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == data[100:200]
    log = live_server.log_text()
    assert '"GET /api/v1/apps/com.example.live/check" 200' in log
    assert "WARNING" not in log and "Traceback" not in log


@pytest.mark.sqlite_only
def test_data_dir_holds_wal_database_and_private_secrets(live_server):
    secrets_dir = live_server.data_dir / "secrets"
    for path in secrets_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    journal = subprocess.run([sys.executable, "-c", (
        "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('pragma journal_mode').fetchone()[0])"),
        str(live_server.data_dir / "otabox.db")], capture_output=True, text=True).stdout.strip()
    assert journal == "wal"


def test_revoked_key_stops_working_while_the_server_runs(live_server):
    key = cli_key(live_server, "temp", "reader")
    auth = {"Authorization": f"Bearer {key}"}
    assert requests.get(f"{live_server.url}/api/v1/apps", headers=auth).status_code == 200
    assert "Revoked" in live_server.cli("keys", "revoke", "temp").stdout
    assert requests.get(f"{live_server.url}/api/v1/apps", headers=auth).status_code == 401
    missing = live_server.cli("keys", "revoke", "temp", check=False)
    assert missing.returncode == 1 and "no key named 'temp'" in missing.stderr


def run_cli(server, key, *args, check=True):
    """A publishing command against the live server, run in this process."""
    result = run_otabox(*args, env={"OTABOX_URL": server.url, "OTABOX_KEY": key})
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def published(live_server, tmp_path):
    key = cli_key(live_server, "publisher-ci", "admin")
    requests.post(f"{live_server.url}/api/v1/apps", json={"slug": "com.example.cli"},
                  headers={"Authorization": f"Bearer {key}"})
    dist = tmp_path / "dist"
    (dist / "js").mkdir(parents=True)
    (dist / "index.html").write_text("<html>cli</html>")
    (dist / "js" / "app.js").write_bytes(os.urandom(300_000))
    return key, dist


def test_publish_zips_a_folder_uploads_with_progress_and_releases(live_server, published):
    key, dist = published
    result = run_cli(live_server, key, "publish", str(dist), "--app", "com.example.cli", "--version", "1.2.3",
                     "--channel", "staging", "--rollout", "10", "--mandatory", "--platform", "ios", "--json")
    data = json.loads(result.stdout)
    assert data["bundle"]["version"] == "1.2.3" and data["bundle"]["platform"] == "ios"
    assert (data["release"]["channel"], data["release"]["rollout"], data["release"]["mandatory"]) == (
        "staging", 10, True)
    assert "Uploading" in result.stderr and "100%" in result.stderr
    listed = run_cli(live_server, key, "releases", "list", "--app", "com.example.cli").stdout
    assert "staging" in listed and "1.2.3" in listed and listed.splitlines()[0].startswith("ID")
    rollout = run_cli(live_server, key, "rollout", str(data["release"]["id"]), "50", "--app", "com.example.cli",
                      "--json")
    assert json.loads(rollout.stdout)["rollout"] == 50
    promoted = json.loads(run_cli(live_server, key, "promote", "--app", "com.example.cli", "--from", "staging",
                                  "--to", "production", "--json").stdout)
    assert promoted["release"]["channel"] == "production" and promoted["release"]["bundleVersion"] == "1.2.3"
    back = json.loads(run_cli(live_server, key, "rollback", "--app", "com.example.cli", "--channel", "production",
                              "--to-builtin", "--json").stdout)
    assert back["release"]["kind"] == "builtin"
    devices = run_cli(live_server, key, "devices", "list", "--app", "com.example.cli").stdout
    assert devices.splitlines()[0].split()[:2] == ["DEVICE", "PLATFORM"]
    audit = live_server.cli("audit", "--action", "release.promoted").stdout
    assert "release.promoted" in audit and "publisher-ci" in audit


def test_publish_checks_the_channel_before_uploading_and_forgives_a_retry(live_server, published):
    key, dist = published
    typo = run_cli(live_server, key, "publish", str(dist), "--app", "com.example.cli", "--version", "1.0.0",
                   "--channel", "prodution", check=False)
    assert typo.returncode == 1 and typo.stderr.strip().splitlines() == [
        "Error: app com.example.cli has no channel 'prodution' (it has production, staging); nothing was uploaded"]
    bundles = requests.get(f"{live_server.url}/api/v1/apps/com.example.cli/bundles",
                           headers={"Authorization": f"Bearer {key}"}).json()
    assert bundles["total"] == 0
    missing_app = run_cli(live_server, key, "publish", str(dist), "--app", "com.example.none", "--version", "1.0.0",
                          check=False)
    assert missing_app.returncode == 1 and "com.example.none" in missing_app.stderr

    first = json.loads(run_cli(live_server, key, "publish", str(dist), "--app", "com.example.cli", "--version",
                               "1.0.0", "--channel", "staging", "--json").stdout)
    again = run_cli(live_server, key, "publish", str(dist), "--app", "com.example.cli", "--version", "1.0.0",
                    "--json")
    assert "on the server already with these bytes" in again.stderr and "Uploading" not in again.stderr
    second = json.loads(again.stdout)
    assert second["bundle"]["id"] == first["bundle"]["id"]
    assert (second["release"]["channel"], second["release"]["bundleId"]) == ("production", first["bundle"]["id"])

    (dist / "index.html").write_text("<html>changed</html>")
    changed = run_cli(live_server, key, "publish", str(dist), "--app", "com.example.cli", "--version", "1.0.0",
                      check=False)
    assert changed.returncode == 1
    line = changed.stderr.strip().splitlines()[-1]
    assert line.startswith("Error: version 1.0.0 (all) is on the server already with other contents (sha256 ")
    assert line.endswith("publish the change as a new version")

    bad_key = run_cli(live_server, "otabox_sk_wrong", "releases", "list", "--app", "com.example.cli", check=False)
    assert bad_key.returncode == 1 and "unknown or revoked API key" in bad_key.stderr
    nowhere = subprocess.run([sys.executable, str(ROOT / "otabox.py"), "releases", "list", "--app", "x", "--server",
                              "http://127.0.0.1:9", "--key", "k"], capture_output=True, text=True, cwd=ROOT)
    assert nowhere.returncode == 1 and "cannot reach" in nowhere.stderr


def test_release_an_uploaded_bundle_and_rollback_says_what_is_served(live_server, published):
    key, dist = published
    for version in ("1.0.0", "1.1.0"):
        (dist / "index.html").write_text(f"<html>{version}</html>")
        run_cli(live_server, key, "publish", str(dist), "--app", "com.example.cli", "--version", version,
                "--channel", "staging")
    released = json.loads(run_cli(live_server, key, "release", "--app", "com.example.cli", "--version", "1.0.0",
                                  "--channel", "production", "--rollout", "30", "--mandatory", "--notes", "fix",
                                  "--json").stdout)["release"]
    assert (released["bundleVersion"], released["rollout"], released["mandatory"], released["notes"]) == (
        "1.0.0", 30, True, "fix")
    by_id = run_cli(live_server, key, "release", "--app", "com.example.cli", "--bundle-id",
                    str(released["bundleId"] + 1), "--channel", "production")
    assert "1.1.0" in by_id.stdout.splitlines()[1]
    neither = run_cli(live_server, key, "release", "--app", "com.example.cli", "--channel", "production", check=False)
    assert neither.returncode == 2 and "--version or --bundle-id" in neither.stderr
    unknown = run_cli(live_server, key, "release", "--app", "com.example.cli", "--version", "9.9.9", check=False)
    assert unknown.returncode == 1 and unknown.stderr.strip() == (
        "Error: app com.example.cli has no bundle 9.9.9; upload it with `otabox publish`")

    rollback = ("rollback", "--app", "com.example.cli", "--channel", "production")
    preview = run_cli(live_server, key, *rollback, "--dry-run")
    assert preview.stdout.strip().splitlines() == [
        "production would serve 1.0.0 (v3) to 30% of devices; the bundle built into the app to 70% of devices."
        " Dry run: nothing was changed."]
    back = run_cli(live_server, key, *rollback)
    release = requests.get(f"{live_server.url}/api/v1/apps/com.example.cli/channels/production",
                           headers={"Authorization": f"Bearer {key}"}).json()["currentRelease"]
    assert (release["label"], release["rollout"]) == ("v3", 30)
    assert back.stdout.strip().splitlines()[-1] == (
        "production now serves 1.0.0 (v3) to 30% of devices; the bundle built into the app to 70% of devices.")
    builtin = run_cli(live_server, key, "rollback", "--app", "com.example.cli", "--channel", "production",
                      "--to-builtin")
    assert builtin.stdout.strip().splitlines()[-1].startswith("production now serves the bundle built into the app")


def test_publish_encrypts_end_to_end_for_capacitor(live_server, published, tmp_path):
    from capgo_device import receive_bundle

    from otabox.security import encryption

    key, dist = published
    private_pem, public_pem = encryption.generate_key_pair()
    (tmp_path / ".capgo_key_v2").write_bytes(private_pem)
    source = tmp_path / "plain.zip"
    source.write_bytes(make_zip({"index.html": "<html>secret</html>"}))
    data = json.loads(run_cli(live_server, key, "publish", str(source), "--app", "com.example.cli", "--version",
                              "4.0.0", "--encrypt-key", str(tmp_path / ".capgo_key_v2"), "--json").stdout)
    assert data["bundle"]["encrypted"] is True and data["bundle"]["keyId"] == encryption.key_id(public_pem)
    reply = requests.post(f"{live_server.url}/capgo/updates", json={
        "app_id": "com.example.cli", "device_id": "phone-1", "platform": "ios", "version_name": "builtin",
        "version_build": "1.0.0", "key_id": encryption.key_id(public_pem), "is_emulator": False,
        "is_prod": True}).json()
    assert reply["version"] == "4.0.0" and reply["session_key"]
    ciphertext = requests.get(reply["url"]).content
    assert ciphertext != source.read_bytes()
    plaintext = receive_bundle(ciphertext, public_key=public_pem.decode(), session_key=reply["session_key"],
                               checksum=reply["checksum"])
    assert plaintext == source.read_bytes()


def test_publish_expo_export_folder(live_server, published, tmp_path):
    from expo_fixture import make_export

    key, _ = published
    export = make_export(tmp_path / "expo-dist")
    data = json.loads(run_cli(live_server, key, "publish", str(export.dist_dir), "--expo", "--runtime-version",
                              "1.0.0", "--app", "com.example.cli", "--version", "5.0.0", "--json").stdout)
    assert (data["bundle"]["format"], data["bundle"]["runtimeVersion"]) == ("expo", "1.0.0")
    reply = requests.get(f"{live_server.url}/expo/com.example.cli/manifest", headers={
        "expo-protocol-version": "1", "expo-platform": "ios", "expo-runtime-version": "1.0.0",
        "accept": "multipart/mixed"})
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("multipart/mixed")
    assert b'"runtimeVersion":"1.0.0"' in reply.content
    missing = run_cli(live_server, key, "publish", str(export.dist_dir), "--expo", "--app", "com.example.cli",
                      "--version", "5.0.1", check=False)
    assert missing.returncode == 2 and "--runtime-version" in missing.stderr


def test_publish_refuses_a_folder_holding_a_server_binary_unless_allowed(live_server, published):
    """The README builds the web bundle in ./dist; a 34 MB executable that lands there is not published
    by mistake."""
    key, dist = published
    (dist / "otabox").write_bytes(b"\x7fELF" + bytes(5 * 1024 * 1024))
    args = ("publish", str(dist), "--app", "com.example.cli", "--version", "5.0.0")
    refused = run_cli(live_server, key, *args, check=False)
    assert refused.returncode == 1 and refused.stderr.strip() == (
        f"Error: {dist / 'otabox'} is a 5 MB native executable (ELF), not part of a web or JS bundle; move it out "
        "of the folder, or pass --allow-binaries to publish it anyway")
    bundles = requests.get(f"{live_server.url}/api/v1/apps/com.example.cli/bundles",
                           headers={"Authorization": f"Bearer {key}"}).json()
    assert bundles["total"] == 0
    allowed = json.loads(run_cli(live_server, key, *args, "--allow-binaries", "--json").stdout)
    assert allowed["bundle"]["version"] == "5.0.0"
