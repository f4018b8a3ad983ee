"""CodePush package logic checked against the real client SDK and a JS folder hash run by Node."""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from codepush_client import CodePushClient, CodePushClientError, node_folder_hash, node_hash_codes

from otabox.protocols.codepush.package import (
    build_diff_zip,
    in_codepush_rollout,
    js_hash_code,
    package_hash_from_zip,
)

DEPLOYMENT_KEY = "staging-key-0123456789"
CLIENT_ID = "device-1234"
UPDATE_CHECK_PATH = "/v0.1/public/codepush/update_check"
DEPLOY_REPORT_PATH = "/v0.1/public/codepush/report_status/deploy"
DOWNLOAD_REPORT_PATH = "/v0.1/public/codepush/report_status/download"


# --- a recording stand-in for the server ------------------------------------

class StubServer:
    """Records every request and answers with whatever reply the test set last."""

    def __init__(self):
        self.requests: list[dict] = []
        self.reply_status = 200
        self.reply_body = "OK"
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _record_and_reply(self):
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                stub.requests.append({
                    "method": self.command,
                    "path": url.path,
                    "query": parse_qsl(url.query, keep_blank_values=True),
                    "headers": {name.lower(): value for name, value in self.headers.items()},
                    "body": self.rfile.read(length).decode("utf-8") if length else None,
                })
                payload = stub.reply_body.encode("utf-8")
                self.send_response(stub.reply_status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _record_and_reply

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def reply(self, status: int, body):
        self.reply_status = status
        self.reply_body = body if isinstance(body, str) else json.dumps(body)

    def close(self):
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def stub():
    server = StubServer()
    yield server
    server.close()


def client_for(stub: StubServer, app_version: str = "1.0.0") -> CodePushClient:
    return CodePushClient(stub.url, DEPLOYMENT_KEY, app_version, CLIENT_ID)


UPDATE_INFO = {
    "download_url": "http://cdn.example/pkg.zip",
    "description": "Fixes",
    "is_available": True,
    "is_mandatory": True,
    "app_version": "1.0.0",
    "package_hash": "ab" * 32,
    "label": "v3",
    "package_size": 1234,
    "update_app_version": False,
    "should_run_binary_version": False,
    "target_binary_range": "^1.0.0",
}


# --- the SDK's update check -------------------------------------------------

def test_query_from_binary_sends_snake_case_keys_and_parses_update(stub):
    stub.reply(200, {"update_info": UPDATE_INFO})

    remote = client_for(stub).query()

    assert remote == {
        "deploymentKey": DEPLOYMENT_KEY,
        "description": "Fixes",
        "label": "v3",
        "appVersion": "^1.0.0",  # read from target_binary_range, not app_version
        "isMandatory": True,
        "packageHash": "ab" * 32,
        "packageSize": 1234,
        "downloadUrl": "http://cdn.example/pkg.zip",
    }
    [request] = stub.requests
    assert request["method"] == "GET"
    assert request["path"] == UPDATE_CHECK_PATH
    assert request["query"] == [
        ("deployment_key", DEPLOYMENT_KEY), ("app_version", "1.0.0"), ("client_unique_id", CLIENT_ID),
    ]
    assert request["headers"]["x-codepush-plugin-name"] == "react-native-code-push"
    assert request["headers"]["x-codepush-plugin-version"] == "9.0.1"
    assert request["headers"]["x-codepush-sdk-version"] == "4.2.3"


def test_query_with_current_package_sends_its_label_and_hash(stub):
    stub.reply(200, {"update_info": {**UPDATE_INFO, "is_available": False}})
    current = {"label": "v1", "packageHash": "cd" * 32, "appVersion": "1.0.0"}

    assert client_for(stub).query(current) is None

    assert stub.requests[0]["query"] == [
        ("deployment_key", DEPLOYMENT_KEY), ("app_version", "1.0.0"), ("package_hash", "cd" * 32),
        ("label", "v1"), ("client_unique_id", CLIENT_ID),
    ]


def test_query_uses_the_current_packages_app_version_and_escapes_values(stub):
    stub.reply(200, {"update_info": {"is_available": False}})
    client = CodePushClient(stub.url + "/", DEPLOYMENT_KEY, "1.0.0", "id with space&=")

    client.query({"appVersion": "2.0", "packageHash": "binary-hash"})

    request = stub.requests[0]
    assert request["path"] == UPDATE_CHECK_PATH
    assert dict(request["query"]) == {
        "deployment_key": DEPLOYMENT_KEY, "app_version": "2.0", "package_hash": "binary-hash",
        "client_unique_id": "id with space&=",
    }


def test_query_for_newer_binary_reports_update_app_version(stub):
    stub.reply(200, {"update_info": {**UPDATE_INFO, "is_available": False, "update_app_version": True,
                                     "target_binary_range": "2.0.0"}})

    assert client_for(stub).query() == {"updateAppVersion": True, "appVersion": "2.0.0"}


def test_query_without_update_info_is_no_update(stub):
    stub.reply(200, {"updateInfo": UPDATE_INFO})  # camelCase reply: the SDK ignores it

    assert client_for(stub).query() is None


def test_query_error_status_surfaces_status_and_body(stub):
    stub.reply(404, "Not found")

    with pytest.raises(CodePushClientError, match="404: Not found"):
        client_for(stub).query()


# --- the SDK's status reports -----------------------------------------------

def test_report_deploy_posts_package_label_status_and_previous(stub):
    package = {"label": "v2", "appVersion": "^1.0.0", "packageHash": "ef" * 32}

    client_for(stub).report_deploy(package, "DeploymentSucceeded", "v1", "old-key-0123456789")

    [request] = stub.requests
    assert (request["method"], request["path"]) == ("POST", DEPLOY_REPORT_PATH)
    assert request["headers"]["content-type"] == "application/json"
    assert json.loads(request["body"]) == {
        "app_version": "^1.0.0",  # the package's appVersion (its target range), not the binary's
        "deployment_key": DEPLOYMENT_KEY,
        "client_unique_id": CLIENT_ID,
        "label": "v2",
        "status": "DeploymentSucceeded",
        "previous_label_or_app_version": "v1",
        "previous_deployment_key": "old-key-0123456789",
    }


def test_report_deploy_of_binary_sends_app_version_without_label_or_status(stub):
    client_for(stub, app_version="1.2.0").report_deploy(None, None, previous_label_or_app_version="v4")

    assert json.loads(stub.requests[0]["body"]) == {
        "app_version": "1.2.0",
        "deployment_key": DEPLOYMENT_KEY,
        "client_unique_id": CLIENT_ID,
        "previous_label_or_app_version": "v4",
    }


def test_report_deploy_failure_and_error_reply(stub):
    stub.reply(500, "boom")

    with pytest.raises(CodePushClientError, match="500: boom"):
        client_for(stub).report_deploy({"label": "v2", "appVersion": "1.0.0"}, "DeploymentFailed")

    assert json.loads(stub.requests[0]["body"])["status"] == "DeploymentFailed"


def test_report_deploy_rejects_unknown_status_without_a_request(stub):
    with pytest.raises(CodePushClientError, match="Unrecognized status"):
        client_for(stub).report_deploy({"label": "v2", "appVersion": "1.0.0"}, "Installed")

    assert stub.requests == []


def test_report_download_posts_label(stub):
    client_for(stub).report_download({"label": "v2", "appVersion": "1.0.0", "packageHash": "ef" * 32})

    [request] = stub.requests
    assert (request["method"], request["path"]) == ("POST", DOWNLOAD_REPORT_PATH)
    assert json.loads(request["body"]) == {
        "client_unique_id": CLIENT_ID, "deployment_key": DEPLOYMENT_KEY, "label": "v2",
    }


# --- rollout hash -------------------------------------------------------------

def hash_code_samples() -> list[str]:
    rng = random.Random(4)
    printable = [chr(code) for code in range(32, 127)]
    samples = ["", "a", "hello", "\x00", "x" * 100, "z" * 5000, "😀", "a😀b", "\ud83d", "\ude00x",
               "日本語のテキスト", "\uffff" * 40, "device-1234-v1"]
    samples += ["".join(rng.choices(printable, k=rng.randint(1, 40))) for _ in range(120)]
    samples += ["".join(rng.choices(printable, k=rng.randint(200, 2000))) for _ in range(20)]
    samples += ["".join(chr(rng.choice([rng.randint(0x80, 0xD7FF), rng.randint(0x10000, 0x10FFFF)]))
                        for _ in range(rng.randint(1, 30))) for _ in range(50)]
    return samples


def test_js_hash_code_matches_node():
    samples = hash_code_samples()
    assert len(samples) >= 200

    assert [js_hash_code(text) for text in samples] == node_hash_codes(samples)


def test_js_hash_code_keeps_float_arithmetic_beyond_int32():
    assert js_hash_code("hello") == 99162322
    assert js_hash_code("") == 0
    assert js_hash_code("😀abc") == -3018044385  # outside int32: + and - are not truncated


def test_rollout_membership_matches_node_for_known_devices():
    device_ids = [f"device-{number}" for number in range(200)]
    node_codes = node_hash_codes([f"{device}-v7" for device in device_ids])

    for rollout in (0, 1, 25, 50, 99, 100):
        expected = [abs(code) % 100 < rollout for code in node_codes]
        assert [in_codepush_rollout(device, "v7", rollout) for device in device_ids] == expected
    in_quarter = sum(in_codepush_rollout(device, "v7", 25) for device in device_ids)
    assert 20 < in_quarter < 80


# --- package hash -------------------------------------------------------------

def write_zip(path: Path, files: dict[str, bytes], directories: tuple[str, ...] = ()) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for directory in directories:
            archive.writestr(zipfile.ZipInfo(directory), b"")
        for name, content in files.items():
            archive.writestr(name, content)
    return path


def extract(zip_path: Path, folder: Path) -> Path:
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(folder)
    return folder


BUNDLE_FILES = {
    "CodePush/index.android.bundle": b"console.log('v1');\n" * 50,
    "CodePush/assets/img/logo.png": bytes(range(256)) * 4,
    "CodePush/assets/img/Logo.png": b"upper",
    "CodePush/assets/a-b.txt": b"dash",
    "CodePush/assets/a/b.txt": b"nested",
    "CodePush/assets/empty.txt": b"",
}


@pytest.mark.parametrize("files", [
    pytest.param(BUNDLE_FILES, id="nested-under-CodePush"),
    pytest.param({"main.jsbundle": b"root", "assets/x.png": b"x"}, id="no-top-folder"),
    pytest.param({
        "CodePush/assets/café.png": b"nfc",
        "CodePush/assets/日本/画像.png": b"cjk",
        "CodePush/assets/😀.png": b"emoji",
        "CodePush/assets/\ufffd.png": b"sorts after the emoji in UTF-16 but before it by code point",
        "CodePush/assets/quote\"back\ttab.txt": b"escaped in JSON",
    }, id="unicode-and-escapes"),
    pytest.param({
        **BUNDLE_FILES,
        ".DS_Store": b"finder",
        "CodePush/.DS_Store": b"finder",
        "CodePush/assets/.DS_Store": b"finder",
        "__MACOSX/CodePush/._index.android.bundle": b"resource fork",
        "CodePush/.codepushrelease": b"jwt",
        "CodePush/__MACOSX/kept.txt": b"only a top-level __MACOSX is ignored",
    }, id="ignored-metadata"),
    pytest.param({
        "CodePush/main.jsbundle": b"kept",
        "CodePush/x/.DS_Store/inner.txt": b"inside an ignored folder",
        "CodePush/.codepushrelease/inner.txt": b"inside an ignored folder",
    }, id="ignored-folders"),
])
def test_package_hash_matches_native_folder_hash(tmp_path, files):
    zip_path = write_zip(tmp_path / "pkg.zip", files, directories=("CodePush/", "CodePush/assets/"))

    assert package_hash_from_zip(zip_path) == node_folder_hash(extract(zip_path, tmp_path / "out"))


def test_package_hash_of_simple_zip_is_sha256_of_sorted_manifest(tmp_path):
    zip_path = write_zip(tmp_path / "pkg.zip", {"b.js": b"B", "a.js": b"A", "__MACOSX/a.js": b"skip"})
    manifest = [f"a.js:{hashlib.sha256(b'A').hexdigest()}", f"b.js:{hashlib.sha256(b'B').hexdigest()}"]
    expected = hashlib.sha256(json.dumps(manifest, separators=(",", ":")).encode()).hexdigest()

    assert package_hash_from_zip(zip_path) == expected
    with open(zip_path, "rb") as stream:
        assert package_hash_from_zip(stream) == expected


def test_signature_and_metadata_do_not_change_package_hash(tmp_path):
    plain = write_zip(tmp_path / "plain.zip", BUNDLE_FILES)
    signed = write_zip(tmp_path / "signed.zip", {
        **BUNDLE_FILES, "CodePush/.codepushrelease": b"jwt", "CodePush/.DS_Store": b"x", "__MACOSX/y": b"y",
    })
    changed = write_zip(tmp_path / "changed.zip", {**BUNDLE_FILES, "CodePush/assets/empty.txt": b"!"})

    assert package_hash_from_zip(signed) == package_hash_from_zip(plain)
    assert package_hash_from_zip(changed) != package_hash_from_zip(plain)


def test_utf8_names_without_the_zip_utf8_flag_hash_like_the_phone_reads_them(tmp_path):
    name = "CodePush/ñandú.png"
    placeholder = "CodePush/" + "x" * (len(name.encode()) - len("CodePush/"))
    unflagged = tmp_path / "unflagged.zip"
    write_zip(unflagged, {placeholder: b"img"})
    unflagged.write_bytes(unflagged.read_bytes().replace(placeholder.encode(), name.encode()))
    flagged = write_zip(tmp_path / "flagged.zip", {name: b"img"})

    with zipfile.ZipFile(unflagged) as archive:
        assert not archive.infolist()[0].flag_bits & 0x800
    assert package_hash_from_zip(unflagged) == package_hash_from_zip(flagged)


# --- diff packages ------------------------------------------------------------

def apply_diff_to_folder(current_folder: Path, diff_zip: Path, new_folder: Path) -> None:
    """What the client does: copy the current package, delete deletedFiles, overlay the diff."""
    shutil.copytree(current_folder, new_folder)
    unzipped = extract(diff_zip, new_folder.parent / "unzipped-diff")
    manifest_path = unzipped / "hotcodepush.json"
    for deleted in json.loads(manifest_path.read_text("utf-8"))["deletedFiles"]:
        target = new_folder / deleted
        if target.is_file():
            target.unlink()
    manifest_path.unlink()
    shutil.copytree(unzipped, new_folder, dirs_exist_ok=True)


OLD_FILES = {
    "CodePush/index.android.bundle": b"bundle v1",
    "CodePush/assets/img/unchanged.png": b"same bytes",
    "CodePush/assets/img/changed.png": b"old image",
    "CodePush/assets/old/deep/removed.png": b"gone soon",
    "CodePush/assets/removed.txt": b"gone soon",
    "CodePush/.codepushrelease": b"jwt v1",
    "CodePush/.DS_Store": b"finder",
}
NEW_FILES = {
    "CodePush/index.android.bundle": b"bundle v2",
    "CodePush/assets/img/unchanged.png": b"same bytes",
    "CodePush/assets/img/changed.png": b"new image",
    "CodePush/assets/new/deeper/added.png": b"brand new",
    "CodePush/assets/ünï.txt": b"unicode",
    "CodePush/.codepushrelease": b"jwt v2",
}


def test_applied_diff_hashes_like_the_full_new_package(tmp_path):
    old_zip = write_zip(tmp_path / "old.zip", OLD_FILES)
    new_zip = write_zip(tmp_path / "new.zip", NEW_FILES)
    diff_zip = tmp_path / "diff.zip"

    build_diff_zip(old_zip, new_zip, diff_zip)

    current = extract(old_zip, tmp_path / "device" / "current")
    assert node_folder_hash(current) == package_hash_from_zip(old_zip)
    updated = tmp_path / "device" / "updated"
    apply_diff_to_folder(current, diff_zip, updated)
    assert node_folder_hash(updated) == package_hash_from_zip(new_zip)
    assert not (updated / "CodePush/assets/removed.txt").exists()
    assert not (updated / "CodePush/assets/old/deep/removed.png").exists()
    assert (updated / "CodePush/assets/img/unchanged.png").read_bytes() == b"same bytes"
    assert (updated / "CodePush/.codepushrelease").read_bytes() == b"jwt v2"


def test_diff_zip_holds_only_changed_files_and_the_deletion_manifest(tmp_path):
    old_zip = write_zip(tmp_path / "old.zip", OLD_FILES)
    new_zip = write_zip(tmp_path / "new.zip", NEW_FILES)
    diff_zip = tmp_path / "diff.zip"

    info = build_diff_zip(old_zip, new_zip, diff_zip)

    changed = [
        "CodePush/.codepushrelease",
        "CodePush/assets/img/changed.png",
        "CodePush/assets/new/deeper/added.png",
        "CodePush/assets/ünï.txt",
        "CodePush/index.android.bundle",
    ]
    deleted = ["CodePush/assets/old/deep/removed.png", "CodePush/assets/removed.txt"]
    with zipfile.ZipFile(diff_zip) as archive:
        assert sorted(archive.namelist()) == sorted(["hotcodepush.json", *changed])
        assert json.loads(archive.read("hotcodepush.json")) == {"deletedFiles": deleted}
        assert archive.read("CodePush/assets/img/changed.png") == b"new image"
    content = diff_zip.read_bytes()
    assert info == {
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "base_package_hash": package_hash_from_zip(old_zip),
        "package_hash": package_hash_from_zip(new_zip),
        "changed_files": changed,
        "deleted_files": deleted,
    }


def test_diff_between_identical_contents_only_carries_an_empty_manifest(tmp_path):
    old_zip = write_zip(tmp_path / "old.zip", BUNDLE_FILES)
    new_zip = write_zip(tmp_path / "new.zip", {**BUNDLE_FILES, "CodePush/.DS_Store": b"finder"})

    info = build_diff_zip(old_zip, new_zip, tmp_path / "diff.zip")

    assert (info["changed_files"], info["deleted_files"]) == ([], [])
    assert info["base_package_hash"] == info["package_hash"]
    with zipfile.ZipFile(tmp_path / "diff.zip") as archive:
        assert archive.namelist() == ["hotcodepush.json"]


def test_package_with_top_level_hotcodepush_json_cannot_be_diffed(tmp_path):
    old_zip = write_zip(tmp_path / "old.zip", BUNDLE_FILES)
    new_zip = write_zip(tmp_path / "new.zip", {**BUNDLE_FILES, "hotcodepush.json": b"{}"})

    with pytest.raises(ValueError, match="hotcodepush.json"):
        build_diff_zip(old_zip, new_zip, tmp_path / "diff.zip")
