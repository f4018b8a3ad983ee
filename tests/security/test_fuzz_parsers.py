"""Property tests for what strangers send: bundle zips, and every client protocol's query, headers
and body. Nothing they send may crash the server (no 500), and errors keep their protocol's shape."""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import stat
import struct
import tempfile
import urllib.parse
import warnings
import zipfile
from pathlib import Path

import pytest
from conftest import Api, make_key, make_zip
from expo_fixture import make_export
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otabox.app import create_app
from otabox.config import Config
from otabox.errors import Invalid, TooLarge
from otabox.security.zipcheck import ZipLimits, check_zip
from otabox.store.blobs import Staging

LIMITS = ZipLimits(max_entries=12, max_uncompressed_bytes=64 * 1024)
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FUZZ_HTTP = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- the zip validator ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sandbox_root(tmp_path_factory):
    return tmp_path_factory.mktemp("zip-sandbox")


def tree(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def validate(data: bytes, root: Path):
    """check_zip over `data`, storing each member in a staging area as the ingestor does.

    Returns the entries, or the Invalid raised; any other exception escapes. Also checks that
    nothing was written outside the staging area (the working directory is the sandbox, so a
    relative write would show up too) and that each entry's hash is that of the stored bytes."""
    sandbox = Path(tempfile.mkdtemp(dir=root))
    upload = sandbox / "upload.zip"
    upload.write_bytes(data)
    staging = Staging(sandbox / "staging")
    stored: dict[str, bytes] = {}

    def store(member, limit):
        try:
            staged = staging.receive(member, limit)
        except TooLarge:
            raise Invalid("the zip expands beyond the allowed size", code="zip_bomb") from None
        stored[staged.sha256] = staged.path.read_bytes()
        return staged.sha256, staged.size

    before = tree(sandbox)
    with contextlib.chdir(sandbox):
        try:
            result = check_zip(upload, LIMITS, store)
        except Invalid as exc:
            result = exc
    written = tree(sandbox) - before
    assert all(staging.root in p.parents for p in written), sorted(written)
    if isinstance(result, list):
        assert result and sum(e.size for e in result) <= LIMITS.max_uncompressed_bytes
        for entry in result:
            assert hashlib.sha256(stored[entry.sha256]).hexdigest() == entry.sha256
            assert len(stored[entry.sha256]) == entry.size
            assert not entry.path.startswith(("/", "\\")) and "\\" not in entry.path
            assert ".." not in entry.path.split("/")
    else:
        error = result.to_dict()["error"]
        assert result.status == 422 and error["code"] and error["message"]
        json.dumps(error)  # the details must be JSON as they are
    return result


SAFE_NAMES = st.text(st.characters(whitelist_categories=("L", "N"), whitelist_characters="-_."),
                     min_size=1, max_size=12).filter(lambda s: s not in (".", ".."))
UNSAFE_NAMES = st.sampled_from(["../evil", "a/../../evil", "/etc/passwd", "\\windows\\evil", "a\\..\\b",
                                "C:/evil", "c:evil", "..", "a/..", "../", "/"])


@st.composite
def entry_names(draw):
    parts = draw(st.lists(SAFE_NAMES, min_size=1, max_size=3))
    name = "/".join(parts)
    return name + "/" if draw(st.booleans()) and draw(st.booleans()) else name


@st.composite
def crafted_entries(draw):
    """(name, content, is_symlink) rows; some unsafe, some duplicated."""
    rows = draw(st.lists(st.tuples(st.one_of(entry_names(), UNSAFE_NAMES), st.binary(max_size=300),
                                   st.booleans() if draw(st.booleans()) else st.just(False)),
                         min_size=1, max_size=8))
    if draw(st.booleans()) and rows:
        rows.append(draw(st.sampled_from(rows)))
    return rows


def build_zip(rows, compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names, which are the point
        with zipfile.ZipFile(buffer, "w", compression) as archive:
            for name, content, symlink in rows:
                info = zipfile.ZipInfo(name)
                info.compress_type = compression
                if symlink:
                    info.external_attr = (stat.S_IFLNK | 0o777) << 16
                archive.writestr(info, content)
    return buffer.getvalue()


def is_unsafe(name: str) -> bool:
    return (name.startswith(("/", "\\")) or "\\" in name or (len(name) > 1 and name[1] == ":")
            or ".." in name.split("/"))


@FUZZ
@given(data=st.binary(max_size=3000))
def test_random_bytes_are_refused_cleanly(sandbox_root, data):
    validate(data, sandbox_root)


@FUZZ
@given(data=st.binary(max_size=2000))
def test_random_bytes_behind_a_zip_signature_are_refused_cleanly(sandbox_root, data):
    validate(b"PK\x03\x04" + data, sandbox_root)


@FUZZ
@given(files=st.dictionaries(entry_names(), st.binary(max_size=500), min_size=1, max_size=6), data=st.data())
def test_truncated_or_corrupted_zips_are_refused_cleanly(sandbox_root, files, data):
    whole = make_zip(files)
    cut = data.draw(st.integers(0, len(whole) - 1), label="cut")
    validate(whole[:cut], sandbox_root)
    position = data.draw(st.integers(0, len(whole) - 1), label="flip")
    flipped = bytearray(whole)
    flipped[position] ^= data.draw(st.integers(1, 255), label="xor")
    validate(bytes(flipped), sandbox_root)


@FUZZ
@given(rows=crafted_entries(), stored=st.booleans())
def test_unsafe_names_symlinks_and_duplicates_are_refused(sandbox_root, rows, stored):
    result = validate(build_zip(rows, zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED), sandbox_root)
    names = [name for name, _, _ in rows]
    hostile = (any(is_unsafe(n) for n in names) or any(link for _, _, link in rows)
               or len(set(names)) < len(names) or len(names) > LIMITS.max_entries)
    if hostile:
        assert isinstance(result, Invalid)
    if isinstance(result, list):
        expected = {name: hashlib.sha256(content).hexdigest() for name, content, _ in rows if not name.endswith("/")}
        assert {e.path: e.sha256 for e in result} == expected


@FUZZ
@given(count=st.integers(LIMITS.max_entries + 1, 300))
def test_too_many_entries_are_refused(sandbox_root, count):
    result = validate(make_zip({f"f{i}": b"" for i in range(count)}), sandbox_root)
    assert isinstance(result, Invalid) and result.code == "zip_too_many_entries"


def with_declared_size(data: bytes, size: int) -> bytes:
    """The zip with every central-directory and local header claiming `size` uncompressed bytes."""
    patched = bytearray(data)
    offset = 0
    while (offset := patched.find(b"PK\x01\x02", offset)) >= 0:
        struct.pack_into("<I", patched, offset + 24, size)
        offset += 4
    offset = 0
    while (offset := patched.find(b"PK\x03\x04", offset)) >= 0:
        struct.pack_into("<I", patched, offset + 22, size)
        offset += 4
    return bytes(patched)


@FUZZ
@given(content=st.binary(min_size=1, max_size=2000), declared=st.integers(0, 0xFFFFFFFE))
def test_lying_declared_sizes_are_refused_or_hold(sandbox_root, content, declared):
    result = validate(with_declared_size(make_zip({"a.bin": content}), declared), sandbox_root)
    if declared > LIMITS.max_uncompressed_bytes:
        assert isinstance(result, Invalid) and result.code == "zip_bomb"
    elif isinstance(result, list):
        assert [(e.path, e.size) for e in result] == [("a.bin", len(content))]  # the real size, not the claim


@settings(max_examples=10, deadline=None)
@given(size=st.integers(LIMITS.max_uncompressed_bytes + 1, 4 * LIMITS.max_uncompressed_bytes), lie=st.booleans())
def test_zip_bombs_are_refused(sandbox_root, size, lie):
    bomb = make_zip({"zeros.bin": b"\0" * size})
    if lie:
        bomb = with_declared_size(bomb, 10)
    result = validate(bomb, sandbox_root)
    assert isinstance(result, Invalid) and result.code in ("zip_bomb", "invalid_zip")


# --- the client protocols, through the Flask test client --------------------------------------------

class Fuzzed:
    """A server with one app (zip bundle on production, Expo bundle on staging) and its keys."""

    def __init__(self, root: Path):
        self.flask_app = create_app(Config.from_env(data_dir=root / "data", device_flush_seconds=3600.0,
                                                    client_rate_per_minute=0, auth_failures_per_minute=0,
                                                    address_rate_per_minute=0))
        self.box = self.flask_app.config["BOX"]
        self.client = self.flask_app.test_client()
        admin = self.admin = Api(self.client, make_key(self.box, "admin", "admin"))
        self.app = admin.post("/api/v1/apps", {"slug": "com.example.fuzz", "name": "Fuzz"}).json
        self.slug, self.client_key = self.app["slug"], self.app["clientKey"]
        bundle = admin.upload(self.slug, "1.0.1", make_zip()).json
        admin.release(self.slug, bundle["id"], "production", rollout=50)
        export = make_export(root / "expo.zip")
        expo = admin.upload(self.slug, "2.0.0", export.zip_path.read_bytes(), format="expo",
                            runtimeVersion="1.0.0").json
        admin.release(self.slug, expo["id"], "staging")
        self.bundle_id = bundle["id"]
        channels = admin.get(f"/api/v1/apps/{self.slug}/channels").json["channels"]
        self.deployment_key = next(c["deploymentKey"] for c in channels if c["name"] == "production")

    def flush(self) -> None:
        """Buffered device sightings must be storable, whatever the request carried."""
        self.box.tracker.flush()


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    server = Fuzzed(tmp_path_factory.mktemp("fuzzed"))
    yield server
    server.box.close()


ANY_TEXT = st.text(st.characters(blacklist_categories=()), max_size=80)
"""Any code point, lone surrogates included (JSON can carry them as \\ud800 escapes)."""
QUERY_TEXT = st.text(max_size=80)
"""Any text a URL can carry (percent-encoded UTF-8, so no lone surrogates)."""
HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f"),
                      max_size=120)
JSON_SCALARS = (st.none() | st.booleans() | st.integers(-(2 ** 70), 2 ** 70)
                | st.floats(allow_nan=False, allow_infinity=False) | ANY_TEXT)
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(ANY_TEXT, inner, max_size=4), max_leaves=12)
VERSIONS = st.sampled_from(["builtin", "1.0.0", "1.0.1", "2.0.0", "0.0.0", "v1", "1", "99999999999999999999.0.0",
                            "1.0.0-beta.1+build", "", " ", "*", "^1.0.0"])


def field(*specials):
    """A field value: a meaningful one, any text, or any JSON value."""
    return st.one_of(st.sampled_from(specials), ANY_TEXT, JSON_VALUES) if specials else st.one_of(ANY_TEXT, JSON_VALUES)


DIGIT_LOOKALIKES = st.sampled_from(["\u00b2", "1\u00b2", "\u0661\u0662", "\uff11", "\u2460", "0x10", "1_000"])
"""Text that str.isdigit() (or a careless int()) accepts differently from what it looks like."""


def query_value(*specials):
    base = st.one_of(QUERY_TEXT, st.integers().map(str), DIGIT_LOOKALIKES)
    return st.one_of(st.sampled_from(specials), base) if specials else base


def body_bytes(value) -> bytes:
    return value if isinstance(value, bytes) else json.dumps(value).encode()


def garbage_or(strategy):
    """A JSON body from `strategy`, any JSON value, or bytes that may not be JSON at all."""
    return st.one_of(strategy, strategy, JSON_VALUES, st.binary(max_size=200),
                     st.sampled_from([b"", b"{", b"null", b"[]", b"{}", b"\xff\xfe", b'"\\ud800"', b"1e999",
                                      b"[" * 5000, b'{"a":' * 3000]))


def assert_no_crash(response) -> None:
    assert response.status_code < 500, response.get_data(as_text=True)[:500]


def assert_otabox_error(response) -> None:
    """JSON routes: every error is {"error": {code, message, details}}."""
    assert_no_crash(response)
    if response.status_code >= 400:
        error = response.json["error"]
        assert set(error) == {"code", "message", "details"} and isinstance(error["code"], str)


def assert_capgo_error(response) -> None:
    """capacitor-updater: every refusal is {kind, error, message}, with a kind the plugin knows."""
    assert_no_crash(response)
    body = response.json
    if response.status_code >= 400 or (isinstance(body, dict) and "error" in body):
        assert body["kind"] in ("up_to_date", "blocked", "failed") and isinstance(body["error"], str)
        assert isinstance(body["message"], str)


NATIVE_PARAMS = st.fixed_dictionaries({}, optional={
    "platform": query_value("ios", "android", "web"), "deviceId": query_value("device-1", "x" * 201),
    "version": VERSIONS | QUERY_TEXT, "nativeVersion": query_value("1.0.0", "2"),
    "nativeBuild": query_value("1", "0", "99999999999999999999999", "-1", "1.5"),
    "channel": query_value("production", "staging", "nope")})


@FUZZ_HTTP
@given(params=NATIVE_PARAMS, key=st.one_of(st.just("valid"), st.just("valid"), HEADER_TEXT))
def test_native_check_never_crashes(fuzzed, params, key):
    headers = {"X-Client-Key": fuzzed.client_key if key == "valid" else key}
    response = fuzzed.client.get(f"/api/v1/apps/{fuzzed.slug}/check", query_string=params, headers=headers)
    assert_otabox_error(response)
    fuzzed.flush()


NATIVE_EVENT = st.fixed_dictionaries({}, optional={
    "deviceId": field("device-1", ""), "bundleId": st.one_of(st.just(1), st.integers(-(2 ** 70), 2 ** 70), JSON_VALUES),
    "type": field("downloaded", "installed", "failed", "rolled_back"), "message": field("boom")})


@FUZZ_HTTP
@given(body=garbage_or(NATIVE_EVENT | st.lists(NATIVE_EVENT, max_size=5)))
def test_native_events_never_crash(fuzzed, body):
    response = fuzzed.client.post(f"/api/v1/apps/{fuzzed.slug}/events", data=body_bytes(body),
                                  headers={"X-Client-Key": fuzzed.client_key, "Content-Type": "application/json"})
    assert_otabox_error(response)


def codepush_params(snake: bool):
    names = (("deployment_key", "app_version", "package_hash", "label", "client_unique_id", "is_companion") if snake
             else ("deploymentKey", "appVersion", "packageHash", "label", "clientUniqueId", "isCompanion"))
    specials = (("valid", "short", "x" * 20), ("1.0.0", "1.0", "1", "abc", ""), ("deadbeef",), ("v1", "v2"),
                ("device-1", "y" * 201), ("true", "false"))
    return st.fixed_dictionaries({}, optional={n: query_value(*s) for n, s in zip(names, specials)})


def with_deployment_key(fuzzed, values: dict) -> dict:
    return {k: (fuzzed.deployment_key if v == "valid" else v) for k, v in values.items()}


@FUZZ_HTTP
@given(snake=st.booleans(), data=st.data())
def test_codepush_update_check_never_crashes(fuzzed, snake, data):
    params = with_deployment_key(fuzzed, data.draw(codepush_params(snake)))
    path = "/v0.1/public/codepush/update_check" if snake else "/updateCheck"
    assert_no_crash(fuzzed.client.get(path, query_string=params))
    fuzzed.flush()


CODEPUSH_REPORT = st.fixed_dictionaries({}, optional={
    "deploymentKey": field("valid"), "deployment_key": field("valid"), "appVersion": field("1.0.0"),
    "label": field("v1", "v9"), "status": field("DeploymentSucceeded", "DeploymentFailed", "Nope"),
    "clientUniqueId": field("device-1"), "previousDeploymentKey": field("valid"),
    "previousLabelOrAppVersion": field("v1", "1.0.0")})


@FUZZ_HTTP
@given(snake=st.booleans(), kind=st.sampled_from(["deploy", "download"]), body=garbage_or(CODEPUSH_REPORT))
def test_codepush_report_status_never_crashes(fuzzed, snake, kind, body):
    if isinstance(body, dict):
        body = with_deployment_key(fuzzed, body)
    path = f"/v0.1/public/codepush/report_status/{kind}" if snake else f"/reportStatus/{kind}"
    response = fuzzed.client.post(path, data=body_bytes(body), headers={"Content-Type": "application/json"})
    assert_no_crash(response)
    fuzzed.flush()


CAPGO_INFO = st.fixed_dictionaries({}, optional={
    "app_id": field("com.example.fuzz", "com.example.none"), "device_id": field("device-1", "d" * 257),
    "platform": field("ios", "android", "electron", "web"), "version_name": VERSIONS | JSON_VALUES,
    "version_build": field("1.0.0"), "version_code": field("10", "99999999999999999999999"),
    "plugin_version": field("8.0.0", "5.0.0", "x"), "is_emulator": field(True, False), "is_prod": field(True, False),
    "defaultChannel": field("production", "staging", "nope"), "key_id": field("abc"),
    "channel": field("production", "staging"), "action": field("set", "download_complete", "set_fail", "other"),
    "old_version_name": field("1.0.0"), "metadata": JSON_VALUES, "custom_id": field("c")})


@FUZZ_HTTP
@given(body=garbage_or(CAPGO_INFO))
def test_capgo_updates_never_crash(fuzzed, body):
    response = fuzzed.client.post("/capgo/updates", data=body_bytes(body), headers={"Content-Type": "application/json"})
    assert_capgo_error(response)
    fuzzed.flush()


@FUZZ_HTTP
@given(body=garbage_or(CAPGO_INFO | st.lists(CAPGO_INFO, max_size=4)))
def test_capgo_stats_never_crash(fuzzed, body):
    response = fuzzed.client.post("/capgo/stats", data=body_bytes(body), headers={"Content-Type": "application/json"})
    assert_capgo_error(response)


@FUZZ_HTTP
@given(method=st.sampled_from(["POST", "PUT", "DELETE", "GET"]), body=garbage_or(CAPGO_INFO),
       query=st.dictionaries(st.sampled_from(["app_id", "device_id", "platform", "is_emulator", "is_prod", "channel"]),
                             query_value("com.example.fuzz", "device-1", "ios", "true", "false")))
def test_capgo_channel_self_never_crashes(fuzzed, method, body, query):
    data = None if method == "GET" else body_bytes(body)
    response = fuzzed.client.open("/capgo/channel_self", method=method, data=data, query_string=query,
                                  headers={"Content-Type": "application/json"})
    assert_capgo_error(response)


FLUTTER_PARAMS = st.fixed_dictionaries({}, optional={
    "channel": query_value("production", "staging", "nope", "c" * 201), "version": query_value("0", "1", "2", "1" * 12),
    "platform": query_value("ios", "android", "web"), "device_id": query_value("device-1", "d" * 201)})


@FUZZ_HTTP
@given(params=FLUTTER_PARAMS, key=st.one_of(st.just("valid"), st.just("valid"), HEADER_TEXT),
       device_header=st.one_of(st.none(), HEADER_TEXT))
def test_flutter_check_never_crashes(fuzzed, params, key, device_header):
    headers = {"x-api-key": fuzzed.client_key if key == "valid" else key}
    if device_header is not None:
        headers["x-device-id"] = device_header
    assert_otabox_error(fuzzed.client.get("/v1/sdk/ota/check", query_string=params, headers=headers))
    fuzzed.flush()


DEVICE_OVERRIDE = st.fixed_dictionaries({}, optional={
    "channel": field("production", "staging", "nope", "c" * 201), "bundleId": st.one_of(st.just(1), field("1", "0")),
    "to": field("staging")})
DEVICE_IDS = st.one_of(st.sampled_from(["device-1", "d" * 201, "%0A", ".."]), QUERY_TEXT.filter(bool))


@FUZZ_HTTP
@given(body=garbage_or(DEVICE_OVERRIDE), device=DEVICE_IDS)
def test_device_overrides_never_crash(fuzzed, body, device):
    """Every field of a pin (channel, bundleId), any device id in the path, and the other routes
    that name a channel in their body (promote's `to`)."""
    path = f"/api/v1/apps/{fuzzed.slug}/devices/{urllib.parse.quote(device, safe='')}"
    headers = {"Content-Type": "application/json"}
    assert_otabox_error(fuzzed.admin.put(path, data=body_bytes(body), headers=headers))
    assert_otabox_error(fuzzed.admin.get(path))
    assert_otabox_error(fuzzed.admin.delete(f"{path}/override"))
    assert_otabox_error(fuzzed.admin.post(f"/api/v1/apps/{fuzzed.slug}/channels/production/promote",
                                          data=body_bytes(body), headers=headers))


def sf_text(*specials):
    """Header text that is often a structured field (dictionary or list) and sometimes garbage."""
    member = st.one_of(st.sampled_from(['sig', 'keyid="main"', 'alg="rsa-v1_5-sha256"', '"abc"', "a=1", "b=?1",
                                        '"\\"', "(1 2)", ":YWJj:", "*", ";", '"unterminated']), HEADER_TEXT)
    joined = st.lists(member, max_size=5).map(", ".join)
    return st.one_of(st.sampled_from(specials), joined, HEADER_TEXT) if specials else st.one_of(joined, HEADER_TEXT)


EXPO_HEADERS = st.fixed_dictionaries({}, optional={
    "expo-protocol-version": st.sampled_from(["0", "1", "2", "-1", "01", "x"]) | HEADER_TEXT,
    "expo-platform": st.sampled_from(["ios", "android", "web"]) | HEADER_TEXT,
    "expo-runtime-version": st.sampled_from(["1.0.0", "2.0.0", "r" * 201]) | HEADER_TEXT,
    "expo-channel-name": st.sampled_from(["production", "staging"]) | HEADER_TEXT,
    "eas-client-id": HEADER_TEXT, "expo-current-update-id": HEADER_TEXT, "expo-embedded-update-id": HEADER_TEXT,
    "expo-recent-failed-update-ids": sf_text('"a", "b"'),
    "expo-expect-signature": sf_text('sig, keyid="main", alg="rsa-v1_5-sha256"', "sig"),
    "accept": st.sampled_from(["multipart/mixed", "application/json", "*/*", ""]) | HEADER_TEXT})


@FUZZ_HTTP
@given(headers=EXPO_HEADERS, app=st.sampled_from(["com.example.fuzz", "com.example.none", "1", "%00"]))
def test_expo_manifest_never_crashes(fuzzed, headers, app):
    response = fuzzed.client.get(f"/expo/{app}/manifest", headers=headers)
    assert_no_crash(response)
    if response.status_code >= 400:
        assert_otabox_error(response)
    fuzzed.flush()


@pytest.mark.parametrize("package_info", ["[" * 5000, '{"appVersion": "1.0.0", "description": "\\ud800"}',
                                          "not json", '"1.0.0"', '{"appVersion": 1}'])
def test_codepush_release_package_info_is_parsed_safely(fuzzed, package_info):
    key = make_key(fuzzed.box, "publisher", f"publisher-{hashlib.sha256(package_info.encode()).hexdigest()[:8]}")
    response = fuzzed.client.post(
        f"/apps/{fuzzed.slug}/deployments/production/release", content_type="multipart/form-data",
        data={"package": (io.BytesIO(make_zip({"index.js": package_info})), "p.zip"), "packageInfo": package_info},
        headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 400 and response.mimetype == "text/plain"


@pytest.mark.parametrize("metadata", [b"[" * 5000, b'{"version": 0, "bundler": "metro", "fileMetadata": "\\ud800"}',
                                      b"\xff", b"[]"])
def test_expo_export_metadata_is_parsed_safely(fuzzed, tmp_path, metadata):
    export = make_export(tmp_path / "export.zip")
    broken = io.BytesIO()
    with zipfile.ZipFile(export.zip_path) as source, zipfile.ZipFile(broken, "w") as target:
        for info in source.infolist():
            target.writestr(info.filename, metadata if info.filename == "metadata.json" else source.read(info))
    api = Api(fuzzed.client, make_key(fuzzed.box, "publisher", f"expo-{hashlib.sha256(metadata).hexdigest()[:8]}"))
    response = api.upload(fuzzed.slug, "3.0.0", broken.getvalue(), format="expo", runtimeVersion="1.0.0")
    assert response.status_code == 422 and response.json["error"]["code"] == "invalid_expo_export"


def test_fuzzed_server_still_answers_and_logged_no_crash(fuzzed):
    """After all the above, the app still works and the device buffer still flushes."""
    response = fuzzed.client.get(f"/api/v1/apps/{fuzzed.slug}/check", query_string={"platform": "ios", "deviceId": "z"},
                                 headers={"X-Client-Key": fuzzed.client_key})
    assert response.status_code == 200
    fuzzed.flush()
    device = fuzzed.admin.get(f"/api/v1/apps/{fuzzed.slug}/devices/z")
    assert device.status_code == 200 and device.json["deviceId"] == "z"
