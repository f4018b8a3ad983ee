"""Expo Updates building blocks, checked against Expo's own parser and signature libraries."""
from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import threading
import uuid
import zipfile
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from expo_conformance import node_check, node_keygen
from expo_fixture import make_export

from otabox.protocols.expo import export as ef

CREATED_AT = datetime(2025, 3, 4, 5, 6, 7, 891234, tzinfo=timezone.utc)


def b64url_sha256(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


# --- read_export -------------------------------------------------------------------------------


def test_read_export_hashes_every_platform_file(tmp_path):
    fixture = make_export(tmp_path / "dist")
    export = ef.read_export(fixture.zip_path)

    assert sorted(export.platforms) == ["android", "ios"]
    assert export.expo_config == fixture.expo_config
    assert export.metadata == fixture.metadata
    assert export.metadata_sha256_hex == hashlib.sha256(fixture.file_bytes("metadata.json")).hexdigest()
    for platform, (bundle_path, bundle_bytes) in fixture.bundles.items():
        launch = export.platforms[platform].launch_asset
        assert launch == ef.ExpoFile(
            path_in_zip=bundle_path,
            ext=".hbc",
            content_type="application/javascript",
            sha256_b64url=b64url_sha256(bundle_bytes),
            md5_hex=hashlib.md5(bundle_bytes).hexdigest(),
            sha256_hex=hashlib.sha256(bundle_bytes).hexdigest(),
            size=len(bundle_bytes),
        )
        assets = export.platforms[platform].assets
        assert [(a.path_in_zip, a.ext, a.content_type) for a in assets] == [
            (path, "." + ext, {"png": "image/png", "ttf": "font/ttf"}[ext]) for path, (ext, _) in fixture.assets.items()
        ]
        for asset in assets:
            data = fixture.file_bytes(asset.path_in_zip)
            assert (asset.sha256_b64url, asset.key, asset.size) == (b64url_sha256(data), hashlib.md5(data).hexdigest(), len(data))
    assert len(export.all_files()) == 4


def test_read_export_accepts_single_top_level_folder_and_file_objects(tmp_path):
    fixture = make_export(tmp_path / "upload.zip", platforms=("android",), zip_folder="dist", expo_config=None)
    with zipfile.ZipFile(fixture.zip_path, "a") as archive:
        archive.writestr("__MACOSX/dist/._metadata.json", b"resource fork")
    export = ef.read_export(io.BytesIO(fixture.zip_path.read_bytes()))

    assert export.root == "dist/"
    assert list(export.platforms) == ["android"]
    assert export.platforms["android"].launch_asset.path_in_zip == "dist/" + fixture.bundles["android"][0]
    assert export.expo_config == {}


def test_content_types_and_extension_derivation(tmp_path):
    fixture = make_export(tmp_path / "dist", platforms=("ios",), assets=(("woff2", b"w"), ("", b"?"), ("mystery", b"m")))
    assets = ef.read_export(fixture.zip_path).platforms["ios"].assets
    assert [(a.ext, a.content_type) for a in assets] == [
        (".woff2", "font/woff2"),
        ("", "application/octet-stream"),
        (".mystery", "application/octet-stream"),
    ]


def _zip(entries: dict[str, bytes]) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    buffer.seek(0)
    return buffer


def _metadata(ios: dict) -> bytes:
    return json.dumps({"version": 0, "bundler": "metro", "fileMetadata": {"ios": ios}}).encode()


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ({"index.js": b"x"}, "metadata.json not found"),
        ({"metadata.json": b"{nope"}, "not valid JSON"),
        ({"metadata.json": b"[]"}, "must be a JSON object"),
        ({"metadata.json": b'{"version":0}'}, "no fileMetadata"),
        ({"metadata.json": b'{"fileMetadata":{"web":{"bundle":"a.js","assets":[]}}}', "a.js": b""}, "no platform"),
        ({"metadata.json": _metadata({"bundle": "b.js", "assets": [{"path": 3}]}), "b.js": b""}, "malformed"),
        ({"metadata.json": _metadata({"bundle": "b.js", "assets": [{"path": "assets/x", "ext": "png"}]}), "b.js": b""}, "missing"),
        ({"metadata.json": _metadata({"bundle": "../b.js", "assets": []})}, "unsafe"),
        ({"metadata.json": _metadata({"bundle": "/etc/passwd", "assets": []})}, "unsafe"),
        ({"metadata.json": _metadata({"bundle": "b.js", "assets": []}), "b.js": b"", "x/../../evil": b""}, "unsafe"),
    ],
)
def test_read_export_rejects_bad_uploads(entries, message):
    with pytest.raises(ef.ExpoExportError, match=message) as caught:
        ef.read_export(_zip(entries))
    assert isinstance(caught.value, ValueError)
    assert caught.value.details is not None


def test_read_export_rejects_non_zip():
    with pytest.raises(ef.ExpoExportError, match="not a valid zip"):
        ef.read_export(io.BytesIO(b"definitely not a zip"))


def test_missing_file_details_name_the_path(tmp_path):
    fixture = make_export(tmp_path / "dist", platforms=("ios",))
    bundle_path = fixture.bundles["ios"][0]
    with zipfile.ZipFile(fixture.zip_path) as source:
        entries = {name: source.read(name) for name in source.namelist() if name != bundle_path}
    with pytest.raises(ef.ExpoExportError) as caught:
        ef.read_export(_zip(entries))
    assert caught.value.details == {"missing": [bundle_path]}


# --- manifest, directives, ids ---------------------------------------------------------------


def test_build_manifest_shape(tmp_path):
    export = ef.read_export(make_export(tmp_path / "dist").zip_path)
    files = export.platforms["ios"]
    manifest = ef.build_manifest(
        update_id="0b4a0a62-6b1e-4bde-9d4c-3f8b8f0b0c01",
        created_at=CREATED_AT.astimezone(timezone(timedelta(hours=2))),
        runtime_version="1.0.0",
        platform_files=files,
        asset_url=lambda f: f"https://ota.example/a/{f.sha256_hex}",
        metadata={"branch": "production"},
        expo_client={"name": "x"},
    )
    assert manifest["id"] == "0b4a0a62-6b1e-4bde-9d4c-3f8b8f0b0c01"
    assert manifest["createdAt"] == "2025-03-04T05:06:07.891Z"
    assert manifest["runtimeVersion"] == "1.0.0"
    assert manifest["launchAsset"] == {
        "hash": files.launch_asset.sha256_b64url,
        "key": files.launch_asset.md5_hex,
        "contentType": "application/javascript",
        "fileExtension": ".hbc",
        "url": f"https://ota.example/a/{files.launch_asset.sha256_hex}",
    }
    assert [a["fileExtension"] for a in manifest["assets"]] == [".png", ".ttf"]
    assert [a["key"] for a in manifest["assets"]] == [a.md5_hex for a in files.assets]
    assert manifest["metadata"] == {"branch": "production"}
    assert manifest["extra"] == {"expoClient": {"name": "x"}}


def test_directives_and_timestamps():
    assert ef.directive_no_update() == {"type": "noUpdateAvailable"}
    assert ef.directive_rollback(datetime(2024, 1, 2, 3, 4, 5)) == {
        "type": "rollBackToEmbedded",
        "parameters": {"commitTime": "2024-01-02T03:04:05.000Z"},
    }


def test_uuid_from_bytes_is_deterministic_and_well_formed():
    value = ef.uuid_from_bytes(b"metadata")
    assert value == ef.uuid_from_bytes(b"metadata") != ef.uuid_from_bytes(b"other")
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", value)
    assert uuid.UUID(value).hex[:12] == hashlib.sha256(b"metadata").hexdigest()[:12]


# --- multipart and headers -------------------------------------------------------------------


def test_encode_multipart_layout():
    parts = [ef.Part("manifest", b'{"a":1}', {"expo-signature": 'sig="x"'}), ef.Part("extensions", b"{}")]
    content_type, body = ef.encode_multipart(parts)
    boundary = re.fullmatch(r"multipart/mixed; boundary=(otabox-[0-9a-f]{32})", content_type).group(1)
    assert body == (
        f"--{boundary}\r\ncontent-disposition: inline; name=\"manifest\"\r\ncontent-type: application/json\r\n"
        f"expo-signature: sig=\"x\"\r\n\r\n{{\"a\":1}}\r\n"
        f"--{boundary}\r\ncontent-disposition: inline; name=\"extensions\"\r\ncontent-type: application/json\r\n"
        f"\r\n{{}}\r\n--{boundary}--\r\n"
    ).encode()
    assert ef.encode_multipart(parts)[0] != content_type


@pytest.mark.parametrize("part", [ef.Part('bad"name', b"{}"), ef.Part("m", b"{}", {"x-h": "a\r\ninjected: 1"})])
def test_encode_multipart_rejects_header_injection(part):
    with pytest.raises(ValueError):
        ef.encode_multipart([part])


def test_sign_and_signature_header(signing_keys):
    key_pem = Path(signing_keys["privateKey"]).read_bytes()
    certificate, _ = ef.load_certificate_and_key(Path(signing_keys["certificate"]).read_bytes(), key_pem)
    sig = ef.sign_rsa_sha256(key_pem, b"payload")
    assert ef.verify_rsa_sha256(certificate, b"payload", sig)
    assert not ef.verify_rsa_sha256(certificate, b"payload!", sig)
    assert ef.signature_header(sig, "main") == f'sig="{sig}", keyid="main"'
    assert ef.signature_header("a", 'k"e\\y') == 'sig="a", keyid="k\\"e\\\\y"'
    with pytest.raises(ValueError):
        ef.sf_string("caf\u00e9")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('sig, keyid="main", alg="rsa-v1_5-sha256"', {"sig": True, "keyid": "main", "alg": "rsa-v1_5-sha256"}),
        ("sig", {"sig": True, "keyid": "root", "alg": "rsa-v1_5-sha256"}),
        ('sig=?1;x=2, keyid="a\\"b"', {"sig": True, "keyid": 'a"b', "alg": "rsa-v1_5-sha256"}),
    ],
)
def test_parse_expect_signature(header, expected):
    assert ef.parse_expect_signature(header) == expected


@pytest.mark.parametrize("header", ['sig, keyid="unterminated', "Sig", "sig,", 'sig, keyid=?1'])
def test_parse_expect_signature_rejects_malformed(header):
    with pytest.raises(ValueError):
        ef.parse_expect_signature(header)


def test_parse_sf_dictionary_values():
    assert ef.parse_sf_dictionary('a=1, b="x", c=tok, d=?0, e=:aGk=:, f=(1 2);p, g=1.5') == {
        "a": 1, "b": "x", "c": "tok", "d": False, "e": b"hi", "f": (1, 2), "g": 1.5,
    }


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('"9a1c7a0e-2f1c-4f5e-9a5e-1c2b3d4e5f60", "b2"', ["9a1c7a0e-2f1c-4f5e-9a5e-1c2b3d4e5f60", "b2"]),
        ('"a";p=1, token, 7, ("x" "y"), "b"', ["a", "b"]),
        ("", []),
        (None, []),
        ('"unterminated', []),
        ('"a",', []),
        ("9a1c7a0e-2f1c", []),
    ],
)
def test_parse_sf_string_list(header, expected):
    assert ef.parse_sf_string_list(header) == expected


# --- certificates ----------------------------------------------------------------------------


def _self_signed(key, *, key_usage=True, code_signing=True):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "t")])
    now = datetime.now(timezone.utc)
    builder = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
    )
    builder = builder.add_extension(
        x509.KeyUsage(key_usage, False, False, False, False, not key_usage, False, False, False), critical=True
    )
    if code_signing:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=True)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def _pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_certificate_from_expo_library_is_accepted(signing_keys):
    certificate, key = ef.load_certificate_and_key(
        Path(signing_keys["certificate"]).read_bytes(), Path(signing_keys["privateKey"]).read_bytes()
    )
    assert certificate.subject.rfc4514_string() == "CN=otabox-test"
    assert key.key_size == 2048


@pytest.mark.parametrize(
    ("cert_options", "message"),
    [({"code_signing": False}, "codeSigning"), ({"key_usage": False}, "digitalSignature")],
)
def test_certificate_usage_is_enforced(rsa_key, cert_options, message):
    with pytest.raises(ValueError, match=message):
        ef.load_certificate_and_key(_self_signed(rsa_key, **cert_options), _pem(rsa_key))


def test_certificate_and_key_must_match(rsa_key, signing_keys):
    with pytest.raises(ValueError, match="does not match"):
        ef.load_certificate_and_key(Path(signing_keys["certificate"]).read_bytes(), _pem(rsa_key))
    with pytest.raises(ValueError, match="PEM"):
        ef.load_certificate_and_key(b"garbage", _pem(rsa_key))


# --- Expo's parser and signature check, through the Node harness ------------------------------


@pytest.fixture(scope="module")
def signing_keys(tmp_path_factory):
    return node_keygen(tmp_path_factory.mktemp("keys"))


class StubServer:
    """Serves canned responses by path and records the headers of every request."""

    def __init__(self):
        self.routes: dict[str, tuple[int, dict, bytes]] = {}
        self.requests: list[tuple[str, dict]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                stub.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                status, headers, body = stub.routes.get(self.path, (404, {}, b"not found"))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if status != 204:
                    self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def stub():
    with StubServer() as server:
        yield server


REQUEST_HEADERS = {
    "expo-protocol-version": "1",
    "expo-api-version": "1",
    "expo-platform": "ios",
    "expo-runtime-version": "1.0.0",
    "accept": "multipart/mixed,application/expo+json,application/json",
    "eas-client-id": "5c9b0c3e-1f4a-4a57-8d3e-0a4f2b9c7d11",
    "expo-expect-signature": 'sig, keyid="main", alg="rsa-v1_5-sha256"',
}
RESPONSE_HEADERS = {"expo-protocol-version": "1", "expo-sfv-version": "0", "cache-control": "private, max-age=0"}


def serve_update(stub, tmp_path, signing_keys, *, platform="ios", tamper=None, manifest_edit=None, keyid="main"):
    """Publish the fixture on the stub: assets at /assets/<sha256 hex>, the signed reply at /manifest."""
    fixture = make_export(tmp_path / "dist")
    export = ef.read_export(fixture.zip_path)
    with zipfile.ZipFile(fixture.zip_path) as archive:
        for expo_file in export.all_files():
            stub.routes[f"/assets/{expo_file.sha256_hex}"] = (
                200, {"content-type": expo_file.content_type}, archive.read(expo_file.path_in_zip)
            )
    manifest = ef.build_manifest(
        update_id=ef.uuid_from_bytes(fixture.file_bytes("metadata.json")),
        created_at=CREATED_AT,
        runtime_version="1.0.0",
        platform_files=export.platforms[platform],
        asset_url=lambda f: f"{stub.url}/assets/{f.sha256_hex}",
        metadata={"channel": "production"},
        expo_client=export.expo_config,
    )
    if manifest_edit:
        manifest_edit(manifest)
    key_pem = Path(signing_keys["privateKey"]).read_bytes()
    manifest_part = ef.signed_json_part("manifest", manifest, private_key_pem=key_pem, keyid=keyid)
    if tamper:
        manifest_part = ef.Part("manifest", tamper(manifest_part.json_bytes), manifest_part.headers)
    launch_key = export.platforms[platform].launch_asset.key
    extensions = ef.Part("extensions", ef.json_bytes({"assetRequestHeaders": {launch_key: {"x-asset-token": "t1"}}}))
    content_type, body = ef.encode_multipart([manifest_part, extensions])
    stub.routes["/manifest"] = (200, {"content-type": content_type, **RESPONSE_HEADERS}, body)
    return manifest, export


def test_signed_manifest_passes_expo_parser_and_signature_check(stub, tmp_path, signing_keys):
    manifest, export = serve_update(stub, tmp_path, signing_keys)
    report = node_check(f"{stub.url}/manifest", REQUEST_HEADERS, signing_keys["certificate"])

    assert report["errors"] == []
    assert report["status"] == 200
    assert report["signatureValid"] is True
    assert report["assetsVerified"] is True
    assert [p["name"] for p in report["parts"]] == ["manifest", "extensions"]
    manifest_part = report["parts"][0]
    assert manifest_part["body"] == manifest
    assert manifest_part["rawBody"].encode() == ef.json_bytes(manifest)
    assert manifest_part["headers"]["content-type"] == "application/json"
    assert manifest_part["signature"] == {"present": True, "keyid": "main", "alg": "rsa-v1_5-sha256", "valid": True}
    assert len(report["assets"]) == 3

    asset_requests = {path: headers for path, headers in stub.requests if path.startswith("/assets/")}
    launch_headers = asset_requests[f"/assets/{export.platforms['ios'].launch_asset.sha256_hex}"]
    assert launch_headers["x-asset-token"] == "t1"
    assert launch_headers["expo-requested-update-id"] == manifest["id"]
    assert launch_headers["eas-client-id"] == REQUEST_HEADERS["eas-client-id"]


def test_tampered_body_fails_signature(stub, tmp_path, signing_keys):
    serve_update(stub, tmp_path, signing_keys, tamper=lambda body: body.replace(b'"production"', b'"staging"'))
    report = node_check(f"{stub.url}/manifest", REQUEST_HEADERS, signing_keys["certificate"])
    assert report["signatureValid"] is False
    assert any("does not verify" in error for error in report["errors"])


def test_keyid_mismatch_is_reported(stub, tmp_path, signing_keys):
    serve_update(stub, tmp_path, signing_keys, keyid="root")
    report = node_check(f"{stub.url}/manifest", REQUEST_HEADERS, signing_keys["certificate"])
    assert report["signatureValid"] is True
    assert any("keyid root differs from the expected main" in error for error in report["errors"])


def test_wrong_asset_bytes_fail_hash_check(stub, tmp_path, signing_keys):
    _, export = serve_update(stub, tmp_path, signing_keys)
    png = export.platforms["ios"].assets[0]
    stub.routes[f"/assets/{png.sha256_hex}"] = (200, {}, b"not the png")
    report = node_check(f"{stub.url}/manifest", REQUEST_HEADERS, signing_keys["certificate"])
    assert report["signatureValid"] is True
    assert report["assetsVerified"] is False
    assert [a["label"] for a in report["assets"] if not a["hashOk"]] == ["assets[0]"]
    assert any("assets[0] hash mismatch" in error for error in report["errors"])


def test_client_rules_flag_bad_manifests(stub, tmp_path, signing_keys):
    def break_rules(manifest):
        manifest["id"] = "update-1"
        manifest["createdAt"] = "yesterday"
        del manifest["assets"][1]["fileExtension"]

    serve_update(stub, tmp_path, signing_keys, manifest_edit=break_rules)
    report = node_check(f"{stub.url}/manifest", {**REQUEST_HEADERS, "expo-runtime-version": "2.0.0"})
    assert report["signatureValid"] is None
    joined = "\n".join(report["errors"])
    for expected in ("id is not a UUID", "createdAt is not ISO-8601", "assets[1] fileExtension", "differs from the requested 2.0.0"):
        assert expected in joined


def test_signed_directive_and_no_op_replies(stub, signing_keys):
    key_pem = Path(signing_keys["privateKey"]).read_bytes()
    directive = ef.directive_rollback(CREATED_AT)
    content_type, body = ef.encode_multipart([ef.signed_json_part("directive", directive, private_key_pem=key_pem)])
    stub.routes["/directive"] = (200, {"content-type": content_type, **RESPONSE_HEADERS}, body)
    stub.routes["/nothing"] = (204, {"expo-protocol-version": "1"}, b"")

    report = node_check(f"{stub.url}/directive", REQUEST_HEADERS, signing_keys["certificate"])
    assert report["errors"] == []
    assert report["directive"] == {"type": "rollBackToEmbedded", "parameters": {"commitTime": "2025-03-04T05:06:07.891Z"}}
    assert report["signatureValid"] is True
    assert report["assetsVerified"] is None

    no_op = node_check(f"{stub.url}/nothing", REQUEST_HEADERS)
    assert (no_op["status"], no_op["noOp"], no_op["parts"], no_op["errors"]) == (204, True, [], [])


def test_unsigned_part_fails_when_certificate_expected(stub, signing_keys):
    content_type, body = ef.encode_multipart([ef.signed_json_part("directive", {"type": "somethingElse"})])
    stub.routes["/directive"] = (200, {"content-type": content_type}, body)
    report = node_check(f"{stub.url}/directive", REQUEST_HEADERS, signing_keys["certificate"])
    assert report["signatureValid"] is False
    joined = "\n".join(report["errors"])
    for expected in ("directive part has no expo-signature", "unknown directive type", "expo-protocol-version should be 1"):
        assert expected in joined
