"""Expo Updates protocol v1: publishing exports, the manifest endpoint, code signing, and the Node
conformance harness (Expo's own parser and signing libraries) against a live `otabox serve`."""
from __future__ import annotations

import base64
import email.parser
import email.policy
import hashlib
import io
import json
import os
import stat
import subprocess
import sys
import uuid
import zipfile
from datetime import datetime

import pytest
import requests
from conftest import ROOT, LiveServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from expo_conformance import node_check, node_keygen
from expo_fixture import make_export
from support import Ran

from otabox.protocols.expo import export as ef
from otabox.protocols.expo.updates import load_codesigning

APP = "com.example.demo"
MANIFEST = f"/expo/{APP}/manifest"


@pytest.fixture(scope="module")
def signing_files(tmp_path_factory):
    """A key pair and self-signed code signing certificate made by @expo/code-signing-certificates."""
    return node_keygen(tmp_path_factory.mktemp("codesigning"))


def export_zip(tmp_path, name="dist", **kwargs):
    fixture = make_export(tmp_path / name, **kwargs)
    return fixture, fixture.zip_path.read_bytes()


def upload_expo(admin, zip_bytes, version, runtime="1.0.0", app=APP):
    return admin.upload(app, version, zip_bytes, format="expo", runtimeVersion=runtime)


def publish(admin, tmp_path, version, runtime="1.0.0", channel="production", **export):
    fixture, data = export_zip(tmp_path, f"dist-{version}-{runtime}",
                               bundle_text=f"console.log({version!r})", **export)
    bundle = upload_expo(admin, data, version, runtime)
    assert bundle.status_code == 201, bundle.json
    release = admin.release(APP, bundle.json["id"], channel)
    assert release.status_code == 201, release.json
    return fixture, bundle.json, release.json["release"]


def expo_headers(platform="ios", runtime="1.0.0", **extra):
    headers = {"expo-protocol-version": "1", "expo-platform": platform, "expo-runtime-version": runtime,
               "accept": "multipart/mixed,application/expo+json,application/json", "eas-client-id": "client-1"}
    headers.update({k.replace("_", "-"): v for k, v in extra.items()})
    return headers


def parts_of(response) -> dict[str, tuple[dict, bytes]]:
    """{part name: (part headers, exact body bytes)} of a multipart/mixed reply. Python's email
    parser reads it (compat32: the header-object policies cost 10 ms a reply, and the expo tests
    parse thousands)."""
    raw = f"Content-Type: {response.headers['Content-Type']}\r\n\r\n".encode() + response.data
    message = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(raw)
    parts = {}
    for part in message.get_payload():
        name = part.get_param("name", header="content-disposition")
        parts[name] = ({k.lower(): v for k, v in part.items()}, part.get_payload(decode=True))
    return parts


def get_manifest(client, **headers):
    return client.get(MANIFEST, headers=expo_headers(**headers))


def manifest_of(response) -> dict:
    assert response.status_code == 200, response.data
    return json.loads(parts_of(response)["manifest"][1])


def directive_of(response) -> dict:
    assert response.status_code == 200, response.data
    parts = parts_of(response)
    assert list(parts) == ["directive"]
    return json.loads(parts["directive"][1])


def b64url_sha256(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- publishing --------------------------------------------------------------------------------


def test_upload_stores_every_file_and_describes_the_export(admin, box, demo_app, tmp_path):
    fixture, data = export_zip(tmp_path, zip_folder="dist")
    response = upload_expo(admin, data, "1.0.0")
    assert response.status_code == 201, response.json
    assert (response.json["format"], response.json["runtimeVersion"]) == ("expo", "1.0.0")

    with box.db.connection_context():
        extra = box.serving.app(APP).bundles[response.json["id"]].extra
    assert extra["platforms"] == ["android", "ios"]
    assert extra["expoConfig"] == fixture.expo_config
    assert extra["metadata"] == {"version": 0, "bundler": "metro"}
    for platform, (path, bundle_bytes) in fixture.bundles.items():
        launch = extra["files"][platform]["launchAsset"]
        assert launch == {"path": "dist/" + path, "hash": b64url_sha256(bundle_bytes),
                          "key": hashlib.md5(bundle_bytes).hexdigest(), "contentType": "application/javascript",
                          "fileExtension": ".hbc", "sha256": hashlib.sha256(bundle_bytes).hexdigest(),
                          "size": len(bundle_bytes)}
        assets = extra["files"][platform]["assets"]
        assert [(a["fileExtension"], a["contentType"]) for a in assets] == [(".png", "image/png"), (".ttf", "font/ttf")]
    every_file = [data for _, data in fixture.bundles.values()] + [data for _, data in fixture.assets.values()]
    compressed_copies = {copy["sha256"] for codings in extra["encodings"].values() for copy in codings.values()}
    assert extra["blobs"] == sorted({hashlib.sha256(d).hexdigest() for d in every_file} | compressed_copies)
    for sha in extra["blobs"]:
        with box.store.open(sha) as stored:
            assert hashlib.sha256(stored.read()).hexdigest() == sha


def zip_of(files: dict[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


@pytest.mark.parametrize("files, complaint", [
    ({"index.html": "<html></html>"}, "metadata.json not found"),
    ({"metadata.json": "{not json"}, "not valid JSON"),
    ({"metadata.json": json.dumps({"fileMetadata": {"web": {}}})}, "no platform"),
    ({"metadata.json": json.dumps({"fileMetadata": {"ios": {"bundle": "_expo/app.hbc", "assets": []}}})},
     "missing from the zip"),
])
def test_bad_exports_are_rejected_with_422(admin, demo_app, files, complaint):
    response = upload_expo(admin, zip_of(files), "1.0.0")
    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "invalid_expo_export" and complaint in error["message"]
    assert admin.get(f"/api/v1/apps/{APP}/bundles").json["total"] == 0


# --- the manifest endpoint ---------------------------------------------------------------------


def test_manifest_describes_the_released_update(admin, client, demo_app, tmp_path):
    fixture, bundle, release = publish(admin, tmp_path, "1.0.0")
    response = get_manifest(client, platform="android")

    assert response.headers["expo-protocol-version"] == "1"
    assert response.headers["expo-sfv-version"] == "0"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Type"].startswith("multipart/mixed; boundary=")
    parts = parts_of(response)
    assert json.loads(parts["extensions"][1]) == {"assetRequestHeaders": {}}
    assert "expo-signature" not in parts["manifest"][0]
    manifest = json.loads(parts["manifest"][1])
    assert str(uuid.UUID(manifest["id"])) == manifest["id"]
    assert parse_time(manifest["createdAt"]) == parse_time(release["promotedAt"])
    assert manifest["runtimeVersion"] == "1.0.0"
    assert manifest["metadata"] == {"channel": "production", "version": "1.0.0"}
    assert manifest["extra"] == {"expoClient": fixture.expo_config}
    launch_bytes = fixture.bundles["android"][1]
    assert manifest["launchAsset"]["hash"] == b64url_sha256(launch_bytes)
    downloaded = client.get(manifest["launchAsset"]["url"].replace("http://localhost", ""))
    assert downloaded.status_code == 200 and downloaded.data == launch_bytes
    # Downloads share the dashboard's origin, so nothing there is served as script (SECURITY.md);
    # expo-updates checks the hash, not the type, and the manifest still says application/javascript.
    assert downloaded.headers["Content-Type"] == "application/octet-stream"
    assert manifest["launchAsset"]["contentType"] == "application/javascript"
    for asset in manifest["assets"]:
        ext, data = fixture.assets[next(p for p in fixture.assets if hashlib.md5(fixture.assets[p][1]).hexdigest()
                                        == asset["key"])]
        assert asset["fileExtension"] == "." + ext and asset["hash"] == b64url_sha256(data)
        got = client.get(asset["url"].replace("http://localhost", ""))
        assert got.data == data and got.headers["Content-Type"] == asset["contentType"]


def test_same_update_is_no_update_and_unknown_state_gets_the_update(admin, client, demo_app, tmp_path):
    publish(admin, tmp_path, "1.0.0")
    served = manifest_of(get_manifest(client))
    assert directive_of(get_manifest(client, expo_current_update_id=served["id"])) == {"type": "noUpdateAvailable"}
    assert directive_of(get_manifest(client, expo_current_update_id=served["id"].upper())) == {
        "type": "noUpdateAvailable"}
    assert manifest_of(get_manifest(client, expo_current_update_id=str(uuid.uuid4())))["id"] == served["id"]


def test_missing_or_invalid_headers_are_400(client, demo_app):
    for headers, code in [
        ({"expo-platform": None}, "invalid_platform"),
        ({"expo-platform": "web"}, "invalid_platform"),
        ({"expo-runtime-version": None}, "missing_runtime_version"),
        ({"expo-protocol-version": "7"}, "unsupported_protocol_version"),
        ({"expo-expect-signature": "sig, keyid=unterminated\""}, "invalid_header"),
    ]:
        merged = {k: v for k, v in {**expo_headers(), **headers}.items() if v is not None}
        response = client.get(MANIFEST, headers=merged)
        assert response.status_code == 400, headers
        assert response.json["error"]["code"] == code
    assert client.get("/expo/no.such.app/manifest", headers=expo_headers()).status_code == 404


def test_nothing_released_is_no_update(client, demo_app):
    assert directive_of(get_manifest(client)) == {"type": "noUpdateAvailable"}
    assert directive_of(get_manifest(client, expo_channel_name="nope")) == {"type": "noUpdateAvailable"}


def test_only_updates_of_the_requested_runtime_and_platform_are_served(admin, client, demo_app, tmp_path):
    publish(admin, tmp_path, "1.0.0", runtime="1.0.0")
    publish(admin, tmp_path, "2.0.0", runtime="2.0.0", platforms=("ios",))
    zip_bundle = admin.upload(APP, "3.0.0")
    admin.release(APP, zip_bundle.json["id"])

    assert manifest_of(get_manifest(client, runtime="1.0.0"))["metadata"]["version"] == "1.0.0"
    assert manifest_of(get_manifest(client, runtime="2.0.0", platform="ios"))["runtimeVersion"] == "2.0.0"
    assert directive_of(get_manifest(client, runtime="2.0.0", platform="android"))["type"] == "noUpdateAvailable"
    assert directive_of(get_manifest(client, runtime="9.9.9"))["type"] == "noUpdateAvailable"


def test_rollback_to_an_older_update_is_a_new_later_update(admin, client, demo_app, tmp_path):
    publish(admin, tmp_path, "1.0.0")
    first = manifest_of(get_manifest(client))
    publish(admin, tmp_path, "1.1.0")
    second = manifest_of(get_manifest(client, expo_current_update_id=first["id"]))
    assert second["metadata"]["version"] == "1.1.0"

    rolled = admin.post(f"/api/v1/apps/{APP}/channels/production/rollback", {})
    assert rolled.status_code == 201
    again = manifest_of(get_manifest(client, expo_current_update_id=second["id"]))
    assert again["metadata"]["version"] == "1.0.0"
    assert again["id"] not in (first["id"], second["id"])
    assert again["launchAsset"]["hash"] == first["launchAsset"]["hash"]
    assert parse_time(again["createdAt"]) > parse_time(second["createdAt"]) > parse_time(first["createdAt"])
    assert parse_time(again["createdAt"]) == parse_time(rolled.json["release"]["promotedAt"])
    # A device still on the first update runs the same bundle: nothing to download.
    assert directive_of(get_manifest(client, expo_current_update_id=first["id"]))["type"] == "noUpdateAvailable"


def test_rollback_to_builtin_is_roll_back_to_embedded(admin, client, demo_app, tmp_path):
    publish(admin, tmp_path, "1.0.0")
    served = manifest_of(get_manifest(client))
    rolled = admin.post(f"/api/v1/apps/{APP}/channels/production/rollback", {"toBuiltin": True})
    assert rolled.status_code == 201

    directive = directive_of(get_manifest(client, expo_current_update_id=served["id"],
                                          expo_embedded_update_id=str(uuid.uuid4())))
    assert directive["type"] == "rollBackToEmbedded"
    commit_time = parse_time(directive["parameters"]["commitTime"])
    assert commit_time == parse_time(rolled.json["release"]["promotedAt"]) > parse_time(served["createdAt"])
    embedded = str(uuid.uuid4())
    assert directive_of(get_manifest(client, expo_current_update_id=embedded, expo_embedded_update_id=embedded)) == {
        "type": "noUpdateAvailable"}


def test_recent_failed_updates_are_not_served_again(admin, client, demo_app, tmp_path):
    publish(admin, tmp_path, "1.0.0")
    first = manifest_of(get_manifest(client))
    publish(admin, tmp_path, "1.1.0")
    second = manifest_of(get_manifest(client, expo_current_update_id=first["id"]))

    failed = f'"{second["id"]}", "{uuid.uuid4()}"'
    reply = get_manifest(client, expo_current_update_id=first["id"], expo_recent_failed_update_ids=failed)
    assert directive_of(reply)["type"] == "noUpdateAvailable"
    assert manifest_of(get_manifest(client, expo_recent_failed_update_ids=failed))["id"] == first["id"]
    other_device = get_manifest(client, eas_client_id="client-2", expo_current_update_id=first["id"])
    assert manifest_of(other_device)["id"] == second["id"]


def test_device_overrides_and_channels_apply(admin, client, demo_app, tmp_path):
    publish(admin, tmp_path, "1.0.0")
    admin.post(f"/api/v1/apps/{APP}/channels", {"name": "beta"})
    _, beta_bundle, _ = publish(admin, tmp_path, "1.1.0", channel="beta")
    assert manifest_of(get_manifest(client, expo_channel_name="beta"))["metadata"]["version"] == "1.1.0"
    assert manifest_of(get_manifest(client))["metadata"]["version"] == "1.0.0"
    pinned = admin.put(f"/api/v1/apps/{APP}/devices/client-9", {"channel": "beta"})
    assert pinned.status_code == 200, pinned.json
    assert manifest_of(get_manifest(client, eas_client_id="client-9"))["metadata"]["channel"] == "beta"


def test_protocol_0_gets_only_manifests(admin, client, demo_app, tmp_path):
    empty = get_manifest(client, expo_protocol_version="0")
    assert empty.status_code == 204 and empty.data == b""
    assert empty.headers["expo-protocol-version"] == "0"
    publish(admin, tmp_path, "1.0.0")
    served = manifest_of(get_manifest(client, expo_protocol_version="0"))
    same = get_manifest(client, expo_protocol_version="0", expo_current_update_id=served["id"])
    assert same.headers["expo-protocol-version"] == "0"
    assert manifest_of(same)["id"] == served["id"]
    admin.post(f"/api/v1/apps/{APP}/channels/production/rollback", {"toBuiltin": True})
    refused = get_manifest(client, expo_protocol_version="0", expo_current_update_id=served["id"])
    assert refused.status_code == 406 and refused.json["error"]["code"] == "directive_unsupported"
    embedded_id = str(uuid.uuid4())
    for embedded in ({}, {"expo_embedded_update_id": embedded_id, "expo_current_update_id": embedded_id}):
        on_embedded = get_manifest(client, expo_protocol_version="0", **embedded)  # nothing to roll back
        assert on_embedded.status_code == 204 and on_embedded.data == b""


def test_a_client_accepting_only_json_gets_the_manifest_as_the_body(admin, client, demo_app, tmp_path):
    """The spec's other response structure: `accept: application/expo+json` (or application/json) gets
    the manifest as the whole body, of the type it asked for; only multipart carries directives."""
    nothing = get_manifest(client, accept="application/expo+json")
    assert nothing.status_code == 406 and "multipart/mixed" in nothing.json["error"]["message"]
    publish(admin, tmp_path, "1.0.0")
    expected = manifest_of(get_manifest(client))
    for accept, content_type in (("application/expo+json", "application/expo+json"),
                                 ("application/json", "application/json"),
                                 ("application/expo+json;q=0.9, application/json;q=0.8", "application/expo+json")):
        response = get_manifest(client, accept=accept)
        assert response.status_code == 200, response.data
        assert response.headers["content-type"].split(";")[0] == content_type
        assert response.headers["expo-protocol-version"] == "1" and response.json == expected
    preferred = get_manifest(client, accept="application/expo+json;q=0.9, application/json;q=0.8, multipart/mixed")
    assert preferred.headers["content-type"].startswith("multipart/mixed"), "the spec's example prefers multipart"
    refused = get_manifest(client, accept="text/html")
    assert refused.status_code == 406 and refused.json["error"]["code"] == "not_acceptable"
    assert "application/expo+json" in refused.json["error"]["message"]


def test_checks_record_the_device(admin, client, box, demo_app, tmp_path):
    publish(admin, tmp_path, "1.0.0")
    get_manifest(client, eas_client_id="phone-42", platform="android", expo_channel_name="production")
    box.tracker.flush()
    device = admin.get(f"/api/v1/apps/{APP}/devices/phone-42")
    assert device.status_code == 200, device.json
    assert device.json["platform"] == "android" and device.json["channel"] == "production"


# --- code signing ------------------------------------------------------------------------------


def import_keys(config, signing_files, app=APP, keyid="main", key=None) -> Ran:
    """The admin command in a process of its own, as an operator runs it beside a running server (run
    in this process it would share the models' connection with the test's box and its background
    loops, and a busy machine then saw "database is locked")."""
    ran = subprocess.run([sys.executable, str(ROOT / "otabox.py"), "expo", "codesigning", "import", "--app", app,
                          "--key", key or signing_files["privateKey"], "--certificate", signing_files["certificate"],
                          "--keyid", keyid, "--data-dir", str(config.data_dir)],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    return Ran(ran.returncode, ran.stdout, ran.stderr)


def verify(signing_files, body: bytes, header: str) -> dict:
    fields = ef.parse_sf_dictionary(header)
    certificate = x509.load_pem_x509_certificate(open(signing_files["certificate"], "rb").read())
    certificate.public_key().verify(base64.b64decode(fields["sig"]), body, padding.PKCS1v15(), hashes.SHA256())
    return fields


def test_codesigning_import_stores_private_files(config, box, demo_app, signing_files):
    result = import_keys(config, signing_files)
    assert result.returncode == 0, result.stderr
    if not os.environ.get("OTABOX_SECRET_KEY"):
        folder = config.data_dir / "secrets" / "expo" / str(demo_app["id"])
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        for path in folder.iterdir():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = load_codesigning(box.secret_store, demo_app["id"])
    assert stored.keyid == "main"
    assert stored.private_key_pem == open(signing_files["privateKey"], "rb").read()


def test_codesigning_import_rejects_unusable_input(config, box, demo_app, signing_files, tmp_path):
    wrong = node_keygen(tmp_path / "other")
    mismatched = import_keys(config, signing_files, key=wrong["privateKey"])
    assert mismatched.returncode == 1 and "does not match" in mismatched.stderr
    assert import_keys(config, signing_files, app="no.such.app").returncode == 1
    assert import_keys(config, signing_files, keyid='bad"id').returncode == 1
    assert load_codesigning(box.secret_store, demo_app["id"]) is None


def test_signed_manifest_and_directive(admin, client, config, demo_app, signing_files, tmp_path):
    publish(admin, tmp_path, "1.0.0")
    assert import_keys(config, signing_files).returncode == 0
    expect = 'sig, keyid="main", alg="rsa-v1_5-sha256"'

    parts = parts_of(get_manifest(client, expo_expect_signature=expect))
    headers, body = parts["manifest"]
    assert verify(signing_files, body, headers["expo-signature"])["keyid"] == "main"
    assert "expo-signature" not in parts["extensions"][0]

    update_id = json.loads(body)["id"]
    parts = parts_of(get_manifest(client, expo_expect_signature=expect, expo_current_update_id=update_id))
    verify(signing_files, parts["directive"][1], parts["directive"][0]["expo-signature"])
    as_json = get_manifest(client, expo_expect_signature=expect, accept="application/expo+json")
    assert verify(signing_files, as_json.data, as_json.headers["expo-signature"])["keyid"] == "main"

    mismatch = get_manifest(client, expo_expect_signature='sig, keyid="other"')
    assert mismatch.status_code == 409 and mismatch.json["error"]["code"] == "codesigning_keyid_mismatch"
    wrong_alg = get_manifest(client, expo_expect_signature='sig, keyid="main", alg="ecdsa"')
    assert wrong_alg.status_code == 400


def test_manifests_stay_signed_while_the_database_is_away(admin, client, box, config, demo_app, signing_files,
                                                        tmp_path, monkeypatch):
    from peewee import OperationalError

    from otabox.core import serving

    publish(admin, tmp_path, "1.0.0")
    assert import_keys(config, signing_files).returncode == 0
    expect = 'sig, keyid="main", alg="rsa-v1_5-sha256"'
    before = parts_of(get_manifest(client, expo_expect_signature=expect))["manifest"]

    def gone(*args):
        raise OperationalError("connection refused")
    monkeypatch.setattr(serving, "VERIFY_SECONDS", 0.0)
    monkeypatch.setattr(serving, "current_state", gone)
    monkeypatch.setattr(box.secret_store, "get", gone)  # where the key is kept with OTABOX_SECRET_KEY
    headers, body = parts_of(get_manifest(client, expo_expect_signature=expect))["manifest"]
    assert json.loads(body)["id"] == json.loads(before[1])["id"]
    assert verify(signing_files, body, headers["expo-signature"])["keyid"] == "main"


def test_expected_signature_without_a_key_is_a_clear_error(admin, client, demo_app, tmp_path):
    publish(admin, tmp_path, "1.0.0")
    response = get_manifest(client, expo_expect_signature='sig, keyid="main"')
    assert response.status_code == 409
    assert response.json["error"]["code"] == "codesigning_not_configured"
    assert "otabox expo codesigning import" in response.json["error"]["message"]


# --- Expo's own libraries against a live server ------------------------------------------------


@pytest.fixture
def live(tmp_path):
    server = LiveServer(tmp_path / "live-data")
    yield server
    server.stop()


def test_conformance_with_expo_libraries(live, signing_files, tmp_path):
    key = live.cli("keys", "create", "--name", "ci", "--role", "admin").stdout.strip().splitlines()[-1]
    auth = {"Authorization": f"Bearer {key}"}
    api = f"{live.url}/api/v1/apps/{APP}"
    assert requests.post(f"{live.url}/api/v1/apps", json={"slug": APP}, headers=auth).status_code == 201
    imported = live.cli("expo", "codesigning", "import", "--app", APP, "--key", signing_files["privateKey"],
                        "--certificate", signing_files["certificate"])
    assert "keyid main" in imported.stdout

    def publish_live(version):
        fixture = make_export(tmp_path / f"dist-{version}", bundle_text=f"console.log({version!r})")
        with open(fixture.zip_path, "rb") as stream:
            bundle = requests.post(f"{api}/bundles", headers=auth, files={"file": ("dist.zip", stream)},
                                   data={"version": version, "format": "expo", "runtimeVersion": "1.0.0"})
        assert bundle.status_code == 201, bundle.text
        release = requests.post(f"{api}/releases", json={"bundleId": bundle.json()["id"], "channel": "production"},
                                headers=auth)
        assert release.status_code == 201, release.text
        return fixture

    fixture = publish_live("1.0.0")
    url = f"{live.url}/expo/{APP}/manifest"
    base = {"expo-protocol-version": "1", "expo-api-version": "1", "expo-runtime-version": "1.0.0",
            "accept": "multipart/mixed,application/expo+json,application/json", "expo-json-error": "true",
            "expo-updates-environment": "BARE", "eas-client-id": str(uuid.uuid4()),
            "expo-expect-signature": 'sig, keyid="main", alg="rsa-v1_5-sha256"'}
    certificate = signing_files["certificate"]
    served = {}
    for platform in ("ios", "android"):
        report = node_check(url, {**base, "expo-platform": platform}, certificate)
        assert report["errors"] == [], report
        assert report["signatureValid"] is True and report["assetsVerified"] is True
        manifest = report["manifest"]
        assert manifest["launchAsset"]["hash"] == b64url_sha256(fixture.bundles[platform][1])
        assert sorted(a["fileExtension"] for a in manifest["assets"]) == [".png", ".ttf"]
        assert len(report["assets"]) == 3
        served[platform] = manifest
    assert served["ios"]["id"] == served["android"]["id"]

    ios = {**base, "expo-platform": "ios", "expo-current-update-id": served["ios"]["id"]}
    same = node_check(url, ios, certificate)
    assert same["errors"] == [] and same["directive"] == {"type": "noUpdateAvailable"}
    assert same["signatureValid"] is True

    publish_live("1.1.0")
    newer = node_check(url, ios, certificate)
    assert newer["errors"] == [] and newer["manifest"]["id"] != served["ios"]["id"]
    assert parse_time(newer["manifest"]["createdAt"]) > parse_time(served["ios"]["createdAt"])
    failed = node_check(url, {**ios, "expo-recent-failed-update-ids": f'"{newer["manifest"]["id"]}"'}, certificate)
    assert failed["errors"] == [] and failed["directive"] == {"type": "noUpdateAvailable"}

    back = requests.post(f"{api}/channels/production/rollback", json={"toBuiltin": True}, headers=auth)
    assert back.status_code == 201
    rolled = node_check(url, {**ios, "expo-current-update-id": newer["manifest"]["id"],
                              "expo-embedded-update-id": str(uuid.uuid4())}, certificate)
    assert rolled["errors"] == [] and rolled["signatureValid"] is True
    assert rolled["directive"]["type"] == "rollBackToEmbedded"
    assert parse_time(rolled["directive"]["parameters"]["commitTime"]) > parse_time(newer["manifest"]["createdAt"])

    unsigned_app = requests.post(f"{live.url}/api/v1/apps", json={"slug": "com.example.nokey"}, headers=auth)
    assert unsigned_app.status_code == 201
    refused = node_check(f"{live.url}/expo/com.example.nokey/manifest", {**base, "expo-platform": "ios"}, certificate)
    assert refused["status"] == 409 and "codesigning_not_configured" in refused["body"]


def test_a_declared_platform_limits_what_the_update_serves(admin, client, demo_app, tmp_path):
    fixture, data = export_zip(tmp_path, "dist-ios-only")
    bundle = admin.upload(APP, "2.0.0", data, format="expo", runtimeVersion="1.0.0", platform="ios")
    assert bundle.status_code == 201, bundle.json
    admin.release(APP, bundle.json["id"])
    assert manifest_of(get_manifest(client, platform="ios"))["runtimeVersion"] == "1.0.0"
    assert directive_of(get_manifest(client, platform="android")) == {"type": "noUpdateAvailable"}
    _, android_less = export_zip(tmp_path, "dist-no-android", platforms=("ios",))
    refused = admin.upload(APP, "2.0.1", android_less, format="expo", runtimeVersion="1.0.0", platform="android")
    assert refused.status_code == 422 and refused.json["error"]["code"] == "invalid_expo_export"
