"""Signed check replies: the statement names the app, channel, platform, bundle and a per-app
sequence; the reference verifier (clients/python/otabox_verify.py) refuses mix-and-match, replay and
freeze; the old per-bundle `signature` stays."""
from __future__ import annotations

import base64
import datetime as dt
import sys

import pytest
from conftest import ROOT, check, make_zip, old_box
from cryptography.hazmat.primitives.serialization import load_pem_public_key

sys.path.insert(0, str(ROOT / "clients" / "python"))
from otabox_verify import VerificationError, canonical_json, main, verify_bundle, verify_check_reply  # noqa: E402

APP = "com.example.demo"


@pytest.fixture
def keys(client):
    return [key["publicKey"] for key in client.get("/api/v1/signing-key").json["keys"]]


def release(admin, version, channel="production", **extra):
    bundle = admin.upload(APP, version, make_zip({"index.html": version})).json
    return bundle, admin.release(APP, bundle["id"], channel, **extra).json["release"]


def test_update_and_no_update_replies_carry_a_signed_statement(admin, client, demo_app, keys):
    bundle, released = release(admin, "1.0.0")
    reply = check(client, demo_app, deviceId="d1").json
    statement = reply["signed"]
    assert statement["app"] == APP and statement["channel"] == "production" and statement["platform"] == "ios"
    assert statement["version"] == "1.0.0" and statement["sha256"] == bundle["sha256"]
    assert statement["releaseId"] == released["id"] and statement["sequence"] > 0
    assert statement["issuedAt"] < statement["expiresAt"]
    public_key = load_pem_public_key(keys[0].encode())
    public_key.verify(base64.b64decode(reply["signedSignature"]),
                      canonical_json(statement))  # raises InvalidSignature otherwise
    assert reply["bundle"]["signature"] == bundle["signature"]  # the old field stays for existing clients

    current = check(client, demo_app, deviceId="d1", version="1.0.0").json
    assert current["updateAvailable"] is False
    assert current["signed"]["version"] == "1.0.0" and current["signed"]["sequence"] == statement["sequence"]
    assert verify_check_reply(current, keys, APP, channel="production", platform="ios") == statement["sequence"]
    admin.post(f"/api/v1/apps/{APP}/channels/production/rollback", {"toBuiltin": True})
    back = check(client, demo_app, deviceId="d1", version="1.0.0").json
    assert back["revertToBuiltin"] and back["signed"]["version"] == "builtin" and back["signed"]["sha256"] is None
    assert verify_check_reply(back, keys, APP) > statement["sequence"]


def test_the_sequence_grows_with_every_change_the_app_serves_and_only_then(admin, client, demo_app, box):
    def sequence():
        return check(client, demo_app, deviceId="d2").json["signed"]["sequence"]

    first = sequence()
    _, released = release(admin, "1.0.0")
    after_release = sequence()
    admin.patch(f"/api/v1/apps/{APP}/releases/{released['id']}", {"rollout": 50})
    after_rollout = sequence()
    admin.patch(f"/api/v1/apps/{APP}/channels/staging", {"allowDeviceSelfAssign": True})
    after_settings = sequence()
    assert admin.patch(f"/api/v1/apps/{APP}", {"defaultChannel": "staging"}).status_code == 200
    after_default = sequence()  # devices naming no channel now get staging's answer
    assert admin.post(f"/api/v1/apps/{APP}/branches", {"name": "vip"}).status_code == 201
    assert sequence() == after_default  # a new, empty branch serves nobody
    assert admin.post(f"/api/v1/apps/{APP}/user-overrides", {"userId": "u1", "branchName": "vip"}).status_code == 201
    after_override = sequence()
    assert first < after_release < after_rollout < after_settings < after_default < after_override
    admin.post("/api/v1/apps", {"slug": "com.example.other"})  # another app's change
    admin.put(f"/api/v1/apps/{APP}/devices/someone", {"channel": "staging"})  # one device's pin
    assert sequence() == after_override
    box.serving._apps.clear()  # a fresh picture (another process, a restart) signs the same number
    assert sequence() == after_override


def test_the_reference_verifier_refuses_mix_and_match_replay_and_freeze(admin, client, demo_app, keys, box):
    other = admin.post("/api/v1/apps", {"slug": "com.example.other"}).json
    other_bundle = admin.upload("com.example.other", "9.0.0").json
    admin.release("com.example.other", other_bundle["id"])
    release(admin, "1.0.0")
    old = check(client, demo_app, deviceId="d3").json
    seen = verify_check_reply(old, keys, APP, channel="production", platform="ios")
    release(admin, "1.0.1")
    new = check(client, demo_app, deviceId="d3").json
    seen = verify_check_reply(new, keys, APP, last_sequence=seen)

    foreign = check(client, other, deviceId="d3").json
    with pytest.raises(VerificationError, match="app"):
        verify_check_reply(foreign, keys, APP)
    with pytest.raises(VerificationError, match="older"):
        verify_check_reply(old, keys, APP, last_sequence=seen)
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=box.config.url_ttl + 120)
    with pytest.raises(VerificationError, match="expired"):
        verify_check_reply(new, keys, APP, now=later)
    with pytest.raises(VerificationError, match="channel"):
        verify_check_reply(new, keys, APP, channel="staging")
    swapped = {**new, "bundle": {**new["bundle"], "sha256": foreign["bundle"]["sha256"]}}
    with pytest.raises(VerificationError, match="not the one"):
        verify_check_reply(swapped, keys, APP)
    forged = {**new, "signed": {**new["signed"], "sequence": new["signed"]["sequence"] + 1000}}
    with pytest.raises(VerificationError, match="signature"):
        verify_check_reply(forged, keys, APP)
    verify_bundle(client.get(new["bundle"]["url"]).data, new["signed"])
    with pytest.raises(VerificationError, match="SHA-256"):
        verify_bundle(b"something else", new["signed"])


def test_the_verifier_runs_from_a_shell(admin, client, demo_app, keys, tmp_path):
    import json
    import subprocess

    release(admin, "1.0.0")
    (tmp_path / "reply.json").write_text(json.dumps(check(client, demo_app, deviceId="d4").json))
    (tmp_path / "key.pem").write_text(keys[0])
    script = str(ROOT / "clients" / "python" / "otabox_verify.py")
    good = subprocess.run([sys.executable, script, "--key", str(tmp_path / "key.pem"), "--app", APP,
                           str(tmp_path / "reply.json")], capture_output=True, text=True)
    assert good.returncode == 0 and good.stdout.startswith("ok: sequence ")
    bad = subprocess.run([sys.executable, script, "--key", str(tmp_path / "key.pem"), "--app", "com.example.x",
                          str(tmp_path / "reply.json")], capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stderr.startswith("refused: ")


@pytest.mark.parametrize("key_text, reply_text, line", [
    (None, '{"signed": {}}', "error: cannot read {tmp}/key.pem: No such file or directory"),
    ("not a key\n", '{"signed": {}}', "error: {tmp}/key.pem is not a PEM public key"),
    ("KEY", "<html>502 Bad Gateway</html>", "refused: the reply is not JSON"),
    ("KEY", "[1, 2]", "refused: the reply is not a JSON object"),
], ids=["missing key file", "not a PEM", "not JSON", "not an object"])
def test_the_verifier_says_in_one_line_what_is_wrong_with_its_inputs(keys, tmp_path, capsys, key_text, reply_text,
                                                                     line):
    if key_text is not None:
        (tmp_path / "key.pem").write_text(keys[0] if key_text == "KEY" else key_text)
    (tmp_path / "reply.json").write_text(reply_text)
    assert main(["--key", str(tmp_path / "key.pem"), "--app", APP, str(tmp_path / "reply.json")]) == 1
    [said] = capsys.readouterr().err.splitlines()
    assert said.startswith(line.format(tmp=tmp_path)), said


def test_the_verifier_run_without_cryptography_says_how_to_install_it(monkeypatch, tmp_path):
    """`python3 clients/python/otabox_verify.py ...` outside the venv: one line and a failing exit, no traceback."""
    import runpy
    monkeypatch.setitem(sys.modules, "cryptography", None)  # what an interpreter without the package finds
    monkeypatch.setitem(sys.modules, "cryptography.exceptions", None)
    monkeypatch.setattr(sys, "argv", ["otabox_verify.py", "--key", "key.pem", "--app", APP, "reply.json"])
    with pytest.raises(SystemExit) as stopped:
        runpy.run_path(str(ROOT / "clients" / "python" / "otabox_verify.py"), run_name="__main__")
    assert stopped.value.code == "otabox_verify.py needs the cryptography package: pip install cryptography"


def test_statements_are_signed_with_the_rotated_key(admin, client, demo_app, box):
    release(admin, "1.0.0")
    before = check(client, demo_app, deviceId="d5").json
    box.secrets.rotate_bundle_key()
    after = check(client, demo_app, deviceId="d5").json
    keys = [key["publicKey"] for key in client.get("/api/v1/signing-key").json["keys"]]
    assert after["signedSignature"] != before["signedSignature"]
    verify_check_reply(after, keys[:1], APP)
    with pytest.raises(VerificationError, match="signature"):
        verify_check_reply(before, keys[:1], APP)


def test_every_retired_signing_key_stays_published_once_for_30_days(client, box):
    """Two rotations in a row keep both retired keys published, and a request right after a rotation
    by another process (before this one reloads its keys) lists the new key first and no key twice."""
    from otabox.security.signing import ServerSecrets

    first = client.get("/api/v1/signing-key").json
    box.secrets.rotate_bundle_key()
    second = client.get("/api/v1/signing-key").json
    ServerSecrets(box.secrets.store).rotate_bundle_key()  # `otabox signing-key rotate`: another process
    third = client.get("/api/v1/signing-key").json
    assert [(k["keyId"], k["current"]) for k in third["keys"]] == [
        (third["keyId"], True), (second["keyId"], False), (first["keyId"], False)]
    assert len({first["keyId"], second["keyId"], third["keyId"]}) == 3
    assert third["publicKey"] == third["keys"][0]["publicKey"]
    pem = client.get("/api/v1/signing-key?format=pem")
    assert pem.mimetype == "application/x-pem-file" and pem.text == third["publicKey"]
    retired = [dt.datetime.fromisoformat(k["retiredAt"].replace("Z", "+00:00")) for k in third["keys"][1:]]
    assert all(dt.datetime.now(dt.timezone.utc) - at < dt.timedelta(minutes=5) for at in retired)


@pytest.mark.empty_database
def test_an_upgraded_data_dir_signs_its_old_apps(tmp_path, database_url):
    """Apps and devices from otabox 0.1.0 get a sequence and keep their pins after the upgrade."""
    from otabox.app import create_app
    from otabox.config import Config
    from otabox.store.models import App, Device

    data_dir = old_box(tmp_path / "data", database_url)
    # no patch maker: it reads the apps' views (and so numbers them) in the background at start
    flask_app = create_app(Config.from_env(data_dir=data_dir, device_flush_seconds=3600.0, patch_bases=0))
    box = flask_app.config["BOX"]
    try:
        client = flask_app.test_client()
        with box.db.connection_context():
            apps = list(App.select())
            pinned = list(Device.select().where(Device.override_bundle.is_null(False)
                                                | Device.override_channel.is_null(False)))
        assert apps and all(app.serving_sequence is None for app in apps)
        for app in apps:
            reply = client.get(f"/api/v1/apps/{app.slug}/check", query_string={"platform": "ios"},
                               headers={"X-Client-Key": app.client_key}).json
            assert reply["signed"]["app"] == app.slug and reply["signed"]["sequence"] >= 1
        with box.db.connection_context():
            assert all(app.serving_sequence >= 1 and len(app.serving_digest) == 64 for app in App.select())
        assert pinned
        for device in pinned:
            override = box.serving.app(str(device.app_id)).overrides[device.device_id]
            assert (override.channel, override.bundle and override.bundle.id) == (
                device.override_channel, device.override_bundle_id)
    finally:
        box.close()
