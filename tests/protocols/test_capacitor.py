"""capacitor-updater 8.x protocol (/capgo/*) through HTTP, and proofs with the real @capgo/cli."""
from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest
import requests
from capgo_device import receive_bundle
from capgo_project import CapgoProject
from click.testing import CliRunner
from conftest import LiveServer, make_zip

from otabox.cli import main as otabox_cli
from otabox.core import releases
from otabox.security import encryption
from otabox.security.ratelimit import TokenBucketLimiter
from otabox.store.models import DeviceEvent, ReleaseStat

APP = "com.example.demo"
FILES_V1 = {"index.html": "<html>v1</html>", "js/app.js": "console.log('same')", "img/logo.bin": bytes(range(256))}


def info(**fields) -> dict:
    """The info object capacitor-updater 8.51 sends (Android's field set)."""
    body = {"platform": "ios", "device_id": "device-1", "app_id": APP, "custom_id": "", "version_build": "1.0.0",
            "version_code": "1", "version_os": "17.0", "version_name": "builtin", "plugin_version": "8.51.14",
            "is_emulator": False, "is_prod": True, "install_source": "", "defaultChannel": ""}
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


def as_query(**fields) -> dict:
    """The info object as listChannels sends it: query parameters, booleans as 'true'/'false'."""
    return {k: str(v).lower() if isinstance(v, bool) else v for k, v in info(**fields).items()}


def updates(client, **fields):
    return client.post("/capgo/updates", json=info(**fields))


def download(client, url: str) -> bytes:
    response = client.get(url[url.index("/dl/"):])
    assert response.status_code == 200
    return response.data


@pytest.fixture
def channel_settings(admin, demo_app):
    def patch(channel="production", **settings):
        response = admin.patch(f"/api/v1/apps/{APP}/channels/{channel}", settings)
        assert response.status_code == 200, response.json
    return patch


# --- update replies ---------------------------------------------------------------------------

def test_update_reply_has_strict_string_fields_checksum_and_manifest(client, admin, demo_app):
    zip_bytes = make_zip(FILES_V1)
    bundle = admin.upload(APP, "1.0.1", zip_bytes, notes="Faster start").json
    admin.release(APP, bundle["id"])
    reply = updates(client).json
    assert set(reply) == {"version", "url", "checksum", "manifest", "message"}
    assert all(isinstance(reply[k], str) for k in ("version", "url", "checksum", "message"))
    assert reply["version"] == "1.0.1" and reply["message"] == "Faster start"
    assert reply["checksum"] == hashlib.sha256(zip_bytes).hexdigest()
    assert download(client, reply["url"]) == zip_bytes
    assert sorted(e["file_name"] for e in reply["manifest"]) == sorted(FILES_V1)
    for entry in reply["manifest"]:
        content = FILES_V1[entry["file_name"]]
        content = content.encode() if isinstance(content, str) else content
        assert entry["file_hash"] == hashlib.sha256(content).hexdigest()
        assert download(client, entry["download_url"]) == content


def test_a_manifest_is_signed_once_a_minute_and_leaves_the_signature_cache_alone(client, admin, box, demo_app,
                                                                                   monkeypatch):
    """A bundle of 12 000 files cost 12 000 signatures per check (0.15-0.6 s) and emptied the
    signer's cache of 10 000 reusable signatures each time, slowing every other check. The signed
    manifest is made once per bundle and minute of expiry, and every check in that minute shares it."""
    files = {f"assets/{n:04}.txt": f"file {n}" for n in range(300)}
    admin.publish(APP, "1.0.1", files=files)
    signer = box.secrets.url_signer
    signed = []
    original = signer.sign
    monkeypatch.setattr(signer, "sign", lambda *args, **kwargs: signed.append(args) or original(*args, **kwargs))
    first = updates(client, device_id="phone-1").json
    assert len(first["manifest"]) == 300 and 300 <= len(signed) <= 302  # a minute may turn meanwhile
    signed.clear()
    again = [updates(client, device_id=f"phone-{n}").json for n in range(2, 12)]
    if signed:  # the minute turned: one new manifest, signed once
        assert len(signed) <= 301
    assert all(reply["manifest"][:1] == first["manifest"][:1] or signed for reply in again)
    assert len(signer._reusable) <= 2  # the bundle's URL (and its next minute), not its files
    entry = again[-1]["manifest"][7]
    assert download(client, entry["download_url"]) == files[entry["file_name"]].encode()


def test_plugins_before_6_2_get_no_manifest(client, admin, demo_app):
    admin.publish(APP, "1.0.1", files=FILES_V1)
    reply = updates(client, plugin_version="6.1.9").json
    assert reply["version"] == "1.0.1" and "manifest" not in reply


def test_up_to_date_reply_names_the_current_version(client, admin, demo_app):
    admin.publish(APP, "1.0.1", files=FILES_V1)
    assert updates(client, version_name="1.0.1").json == {
        "kind": "up_to_date", "error": "no_new_version_available", "message": "No new version available",
        "version": "1.0.1"}


def test_no_release_is_up_to_date_on_builtin(client, demo_app):
    reply = updates(client).json
    assert reply["kind"] == "up_to_date" and reply["version"] == "builtin"


def test_rollback_to_builtin_resets_devices_running_a_bundle(client, admin, demo_app):
    admin.publish(APP, "1.0.1", files=FILES_V1)
    response = admin.post(f"/api/v1/apps/{APP}/channels/production/rollback", {"toBuiltin": True})
    assert response.status_code in (200, 201), response.json
    reply = updates(client, version_name="1.0.1").json
    assert reply["version"] == "builtin" and "kind" not in reply
    assert updates(client).json["kind"] == "up_to_date"


def test_major_upgrade_blocked_by_channel(client, admin, demo_app, channel_settings):
    channel_settings(blockUpgrades="major")
    admin.publish(APP, "2.0.0", files=FILES_V1)
    reply = updates(client, version_name="1.4.0").json
    assert reply == {"kind": "blocked", "error": "disable_auto_update_to_major",
                     "message": reply["message"], "version": "2.0.0", "old": "1.4.0", "major": True}


def test_unknown_default_channel_is_blocked_no_channel(client, demo_app):
    reply = updates(client, defaultChannel="nightly").json
    assert reply["kind"] == "blocked" and reply["error"] == "no_channel"


@pytest.mark.parametrize("settings, fields, error", [
    ({"allowEmulator": False}, {"is_emulator": True}, "disable_emulator"),
    ({"allowDev": False}, {"is_prod": False}, "disable_dev_build"),
    ({"ios": False}, {"platform": "ios"}, "disabled_platform_ios"),
    ({"android": False}, {"platform": "android"}, "disabled_platform_android"),
])
def test_channel_device_filters_refuse_with_capgo_codes(client, admin, demo_app, channel_settings, settings, fields,
                                                        error):
    admin.publish(APP, "1.0.1", files=FILES_V1)
    assert "url" in updates(client, **fields).json
    channel_settings(**settings)
    reply = updates(client, **fields).json
    assert reply["kind"] == "blocked" and reply["error"] == error


def encrypted_upload(admin, version, private_pem, public_pem, channel="production") -> tuple[bytes, dict]:
    plain = make_zip({"index.html": f"<html>{version}</html>"})
    out = io.BytesIO()
    result = encryption.encrypt_bundle(plain, private_pem, out)
    bundle = publish_bytes(admin, version, out.getvalue(), channel, sessionKey=result.session_key,
                           encryptedChecksum=result.checksum, keyId=encryption.key_id(public_pem))
    return plain, {"bundle": bundle, "session_key": result.session_key, "checksum": result.checksum}


def publish_bytes(admin, version, data, channel="production", **fields) -> dict:
    response = admin.upload(APP, version, data, **fields)
    assert response.status_code == 201, response.json
    assert admin.release(APP, response.json["id"], channel).status_code == 201
    return response.json


def test_encrypted_bundle_carries_session_key_and_checksum_and_refuses_other_keys(client, admin, demo_app):
    private_pem, public_pem = encryption.generate_key_pair()
    plain, sent = encrypted_upload(admin, "1.0.1", private_pem, public_pem)
    reply = updates(client, key_id=encryption.key_id(public_pem)).json
    assert reply["session_key"] == sent["session_key"] and reply["checksum"] == sent["checksum"]
    assert "manifest" not in reply
    assert receive_bundle(download(client, reply["url"]), public_key=public_pem.decode(),
                          session_key=reply["session_key"], checksum=reply["checksum"]) == plain
    for other in ("MIIBCgKCAQEAotherkey", None):
        refused = updates(client, key_id=other).json
        assert refused["kind"] == "blocked" and refused["error"] == "key_id_mismatch"


def test_bundles_differing_in_one_file_share_storage_for_the_rest(client, admin, box, demo_app):
    def blobs() -> set[str]:
        return {p.name for p in Path(box.store.root).rglob("*") if p.is_file()}

    admin.publish(APP, "1.0.1", files=FILES_V1)
    before = blobs()
    assert len(before) == 1 + len(FILES_V1)
    changed_zip = make_zip({**FILES_V1, "js/app.js": "console.log('changed')"})
    publish_bytes(admin, "1.0.2", changed_zip)
    assert blobs() - before == {hashlib.sha256(changed_zip).hexdigest(),
                                hashlib.sha256(b"console.log('changed')").hexdigest()}
    manifest = {e["file_name"]: e["file_hash"] for e in updates(client, version_name="1.0.1").json["manifest"]}
    assert manifest == {"index.html": hashlib.sha256(b"<html>v1</html>").hexdigest(),
                        "img/logo.bin": hashlib.sha256(bytes(range(256))).hexdigest(),
                        "js/app.js": hashlib.sha256(b"console.log('changed')").hexdigest()}


def test_check_is_recorded_for_the_device(client, admin, box, demo_app):
    admin.publish(APP, "1.0.1", files=FILES_V1)
    updates(client, device_id="phone-7", version_name="1.0.1", version_build="3.2.0", version_code="42")
    box.tracker.flush()
    device = admin.get(f"/api/v1/apps/{APP}/devices/phone-7").json
    assert (device["platform"], device["nativeVersion"], device["nativeBuild"], device["bundleVersion"],
            device["channel"]) == ("ios", "3.2.0", "42", "1.0.1", "production")


# --- bad requests -----------------------------------------------------------------------------

@pytest.mark.parametrize("body, status, error", [
    (b"not json", 400, "invalid_json_body"),
    (b"[1, 2]", 400, "invalid_json_body"),
    (json.dumps({k: v for k, v in info().items() if k != "app_id"}).encode(), 400, "missing_info"),
    (json.dumps(info(version_name=5)).encode(), 400, "invalid_json_body"),
    (json.dumps(info(is_emulator="no")).encode(), 400, "invalid_json_body"),
    (json.dumps(info(platform="windows")).encode(), 400, "invalid_json_body"),
    (json.dumps(info(app_id="com.unknown")).encode(), 404, "app_not_found"),
])
def test_bad_bodies_get_a_kind_and_a_code(client, demo_app, body, status, error):
    response = client.post("/capgo/updates", data=body, content_type="application/json")
    assert response.status_code == status
    assert response.json["kind"] == "failed" and response.json["error"] == error and response.json["message"]


# --- stats ------------------------------------------------------------------------------------

def release_stats(admin) -> dict:
    return admin.get(f"/api/v1/apps/{APP}/releases").json["releases"][0]["stats"]


def test_stats_accept_one_object_or_an_array_and_count_per_release(client, admin, demo_app):
    admin.publish(APP, "1.0.1", files=FILES_V1)
    one = client.post("/capgo/stats", json=info(action="download_complete", version_name="1.0.1"))
    assert one.status_code == 200 and one.json == {"status": "ok"}
    batch = [info(action=a, version_name="1.0.1", old_version_name="builtin", timestamp=1700000000000,
                  metadata={"reason": "x"}) for a in ("set", "checksum_fail", "app_moved_to_background", "nonsense")]
    assert client.post("/capgo/stats", json=batch).json == {"status": "ok"}
    stats = release_stats(admin)
    assert (stats["downloads"], stats["installs"], stats["failures"]) == (1, 1, 1)
    assert stats["actions"]["checksum_fail"] == 1 and stats["actions"]["other"] == 1
    assert stats["actions"]["app_moved_to_background"] == 1


def test_made_up_actions_are_counted_together_and_keep_their_name_on_the_event(client, admin, box, demo_app):
    """Action names are the client's to choose: 10 requests of 20 random names add one "other"
    counter to the release, not 200, and the management views stay as short as the plugin's list."""
    published = admin.publish(APP, "1.0.1", files=FILES_V1)
    for request in range(10):
        batch = [info(action=f"made-up-{request}-{n}-" + "x" * 150, version_name="1.0.1") for n in range(20)]
        assert client.post("/capgo/stats", json=batch + [info(action="download_50", version_name="1.0.1")]).json \
            == {"status": "ok"}
    stats = release_stats(admin)
    assert stats["actions"] == {"other": 200, "download_50": 10}
    with box.db.connection_context():
        assert ReleaseStat.select().where(ReleaseStat.release == published.release["id"]).count() == 2
        event = DeviceEvent.select().where(DeviceEvent.action == "other").first()
    assert json.loads(event.message)["action"].startswith("made-up-")


def test_a_release_shows_a_bounded_number_of_action_counters(client, admin, box, demo_app):
    """Counters stored before made-up names were folded (an older box's rows) are shown as the most
    counted 64 and the rest summed into "other"."""
    published = admin.publish(APP, "1.0.1", files=FILES_V1)
    with box.db.connection_context():
        for n in range(300):
            releases.count_stat(published.release["id"], f"junk-{n:03}", 1 + (n == 7))
    shown = release_stats(admin)["actions"]
    assert len(shown) == releases.SHOWN_ACTIONS + 1 and shown["junk-007"] == 2
    assert sum(shown.values()) == 301


def test_stats_reject_events_without_action(client, demo_app):
    response = client.post("/capgo/stats", json=[info(action="set"), info()])
    assert response.status_code == 400 and response.json["error"] == "missing_info"


# --- channel_self -----------------------------------------------------------------------------

def test_channel_self_verbs(client, admin, demo_app, channel_settings):
    assert admin.post(f"/api/v1/apps/{APP}/channels", {"name": "beta"}).status_code == 201
    admin.publish(APP, "1.0.1", files=FILES_V1)
    admin.publish(APP, "1.1.0", channel="beta", files=FILES_V1)
    refused = client.post("/capgo/channel_self", json=info(channel="beta"))
    assert refused.status_code == 403 and refused.json["error"] == "channel_self_set_not_allowed"
    assert client.get("/capgo/channel_self", query_string=as_query()).json == []

    channel_settings("beta", allowDeviceSelfAssign=True)
    listed = client.get("/capgo/channel_self", query_string=as_query()).json
    assert listed == [{"id": listed[0]["id"], "name": "beta", "public": False, "allow_self_set": True}]
    assert isinstance(listed[0]["id"], int)
    assert client.post("/capgo/channel_self", json=info(channel="beta")).json["status"] == "ok"
    assert updates(client).json["version"] == "1.1.0"
    assert client.put("/capgo/channel_self", json=info()).json == {
        "status": "override", "channel": "beta", "allowSet": True, "message": "the device uses channel 'beta'"}

    assert client.delete("/capgo/channel_self", json=info()).json["status"] == "ok"
    assert updates(client).json["version"] == "1.0.1"
    got = client.put("/capgo/channel_self", json=info()).json
    assert (got["status"], got["channel"], got["allowSet"]) == ("default", "production", False)


def test_channel_self_unknown_channel_is_channel_not_found(client, demo_app):
    response = client.post("/capgo/channel_self", json=info(channel="nope"))
    assert response.status_code == 400 and response.json["error"] == "channel_not_found"


# --- rate limit -------------------------------------------------------------------------------

def test_rate_limit_answers_429_with_retry_after_per_device(tmp_path, monkeypatch):
    from otabox.app import create_app
    from otabox.config import Config

    monkeypatch.setenv("OTABOX_CLIENT_RATE_PER_MINUTE", "3")
    app = create_app(Config.from_env(data_dir=tmp_path / "data", device_flush_seconds=3600.0))
    try:
        client = app.test_client()
        codes = [client.post("/capgo/updates", json=info()).status_code for _ in range(4)]
        assert codes == [404, 404, 404, 429]
        limited = client.post("/capgo/updates", json=info())
        assert limited.json["kind"] == "blocked" and limited.json["error"] == "too_many_requests"
        assert 1 <= int(limited.headers["Retry-After"]) <= 20
        assert client.post("/capgo/updates", json=info(device_id="device-2")).status_code == 404
    finally:
        app.config["BOX"].close()


def test_token_bucket_refills_at_the_configured_rate():
    now = [0.0]
    limiter = TokenBucketLimiter(60, clock=lambda: now[0])
    assert all(limiter.wait_time("k") == 0 for _ in range(60))
    assert limiter.wait_time("k") == pytest.approx(1.0)
    now[0] += 2.0
    assert limiter.wait_time("k") == 0 and limiter.wait_time("k") == 0
    assert limiter.wait_time("k") > 0 and limiter.wait_time("other") == 0
    assert TokenBucketLimiter(0).wait_time("k") == 0


# --- otabox encryption commands --------------------------------------------------------------

def test_encryption_key_create_writes_capgo_key_files(tmp_path):
    runner = CliRunner()
    result = runner.invoke(otabox_cli, ["encryption-key", "create", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    private, public = tmp_path / ".capgo_key_v2", tmp_path / ".capgo_key_v2.pub"
    assert private.read_text().startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert public.read_text().startswith("-----BEGIN RSA PUBLIC KEY-----")
    assert private.stat().st_mode & 0o777 == 0o600
    assert encryption.public_key_pem(private.read_bytes()) == public.read_bytes()
    again = runner.invoke(otabox_cli, ["encryption-key", "create", "--out", str(tmp_path)])
    assert again.exit_code != 0 and "--force" in again.output


# --- the real @capgo/cli against a live server ------------------------------------------------

def start_live(root: Path, **project_options) -> tuple[LiveServer, requests.Session, CapgoProject]:
    """A live server with the app and an admin session, and a Capacitor project pointing at it."""
    (root / "data").mkdir()
    server = LiveServer(root / "data")
    key = server.cli("keys", "create", "--name", "ci").stdout.strip()
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {key}"
    assert api.post(server.url + "/api/v1/apps", json={"slug": APP}).status_code == 201
    return server, api, CapgoProject(root / "app", APP, server.url + "/capgo/updates", **project_options)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    server, api, project = start_live(tmp_path_factory.mktemp("capgo-live"))
    assert api.post(f"{server.url}/api/v1/apps/{APP}/channels", json={"name": "secure"}).status_code == 201
    yield server, api, project
    server.stop()


def live_upload(live, zip_path: Path, version: str, channel: str, **fields) -> dict:
    server, api, _ = live
    with open(zip_path, "rb") as stream:
        response = api.post(f"{server.url}/api/v1/apps/{APP}/bundles", data={"version": version, **fields},
                            files={"file": ("bundle.zip", stream, "application/zip")})
    assert response.status_code == 201, response.text
    release = api.post(f"{server.url}/api/v1/apps/{APP}/releases",
                       json={"bundleId": response.json()["id"], "channel": channel})
    assert release.status_code == 201, release.text
    return response.json()


def test_cli_zip_uploads_and_is_served_with_the_checksum_it_printed(live):
    server, _, project = live
    project.set_version("1.0.1")
    zipped = project.run("bundle", "zip", "--json", json=True)
    live_upload(live, project.root / zipped["filename"], zipped["bundle"], "production")
    reply = requests.post(server.url + "/capgo/updates", json=info()).json()
    assert reply["version"] == "1.0.1" and reply["checksum"] == zipped["checksum"]
    served = requests.get(reply["url"]).content
    assert hashlib.sha256(served).hexdigest() == zipped["checksum"]
    assert served == (project.root / zipped["filename"]).read_bytes()

    probe = project.run("probe", "--platform", "ios")
    assert "Update available: 1.0.1" in probe.stdout + probe.stderr


def test_cli_encrypted_bundle_round_trips_to_the_device(live):
    server, _, project = live
    project.run("key", "create", "--force")
    public_pem = (project.root / ".capgo_key_v2.pub").read_text()
    project.set_version("1.0.2")
    project.write_web_file("extra.txt", "only in 1.0.2")
    zipped = project.run("bundle", "zip", "--json", json=True)
    zip_path = project.root / zipped["filename"]
    encrypted = project.run("bundle", "encrypt", str(zip_path), zipped["checksum"], "--json", json=True)
    live_upload(live, Path(encrypted["filename"]), zipped["bundle"], "secure", sessionKey=encrypted["ivSessionKey"],
                encryptedChecksum=encrypted["checksum"], keyId=encryption.key_id(public_pem))
    reply = requests.post(server.url + "/capgo/updates",
                          json=info(defaultChannel="secure", key_id=encryption.key_id(public_pem))).json()
    assert reply["session_key"] == encrypted["ivSessionKey"] and reply["checksum"] == encrypted["checksum"]
    downloaded = requests.get(reply["url"]).content
    assert receive_bundle(downloaded, public_key=public_pem, session_key=reply["session_key"],
                          checksum=reply["checksum"]) == zip_path.read_bytes()

    project.set_updater(defaultChannel="secure")
    try:
        probe = project.run("probe", "--platform", "ios")
    finally:
        project.set_updater(defaultChannel=None)
    assert "Error code: key_id_mismatch" in probe.stdout + probe.stderr


def test_otabox_encrypt_matches_capgo_and_capgo_decrypts_it(live):
    _, _, project = live
    project.run("key", "create", "--force")
    project.set_version("1.0.3")
    zipped = project.run("bundle", "zip", "--json", json=True)
    zip_path = project.root / zipped["filename"]
    result = CliRunner().invoke(otabox_cli, ["encrypt", str(zip_path), zipped["checksum"], "--key",
                                             str(project.root / ".capgo_key_v2"), "--json"])
    assert result.exit_code == 0, result.output
    ours = json.loads(result.stdout)
    assert list(ours) == ["checksum", "filename", "ivSessionKey"]
    assert ours["filename"] == str(zip_path) + "_encrypted.zip"
    decrypted = project.run("bundle", "decrypt", ours["filename"], ours["ivSessionKey"], "--checksum",
                            ours["checksum"])
    assert "Checksum matches" in decrypted.stdout
    assert Path(ours["filename"] + "_decrypted.zip").read_bytes() == zip_path.read_bytes()


def test_fast_path_and_flask_route_answer_alike(flask_app, client, admin, demo_app):
    """/capgo/updates is answered before Flask builds a request; the Flask route must agree, and
    still serves what the fast path passes on (here: a body without a declared length)."""
    admin.publish(APP, "1.0.1", files=FILES_V1)
    bodies = [json.dumps(info()), json.dumps(info(version_name="1.0.1")), json.dumps(info(app_id=None)),
              "{not json", json.dumps(info(app_id="com.example.nope"))]
    for body in bodies:
        fast = client.post("/capgo/updates", data=body, content_type="application/json")
        with flask_app.test_request_context("/capgo/updates", method="POST", data=body,
                                            content_type="application/json"):
            slow = flask_app.view_functions["capacitor.updates"]()
        assert (fast.status_code, fast.content_type, fast.get_data()) == (
            slow.status_code, slow.content_type, slow.get_data()), body
    chunked = client.post("/capgo/updates", input_stream=io.BytesIO(json.dumps(info()).encode()),
                          content_type="application/json", environ_overrides={"wsgi.input_terminated": True})
    assert chunked.status_code == 200 and chunked.json["version"] == "1.0.1"
