"""What anyone on the internet can do with an app's public identifiers, and what otabox does about it:
downloads that cannot run on the dashboard's origin, encoded URLs, uploads that leave nothing when
refused and cannot hold every thread, replies no cache keeps, log lines that cannot be forged, the
Host allow-list, /metrics behind a token, and owner-only backups. SECURITY.md names each finding."""
from __future__ import annotations

import email.parser
import email.policy
import hashlib
import io
import json
import os
import stat
import threading
import zipfile

import pytest
from conftest import Api, check, make_key, make_zip
from expo_fixture import make_export

from otabox.app import create_app
from otabox.config import Config
from otabox.errors import Busy

APP = "com.example.demo"


def manifest_assets(client) -> list[dict]:
    response = client.get(f"/expo/{APP}/manifest", headers={
        "expo-protocol-version": "1", "expo-platform": "ios", "expo-runtime-version": "1.0.0",
        "accept": "multipart/mixed", "eas-client-id": "client-1"})
    raw = f"Content-Type: {response.headers['Content-Type']}\r\n\r\n".encode() + response.data
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    manifest = next(json.loads(part.get_payload(decode=True)) for part in message.iter_parts()
                    if part.get_param("name", header="content-disposition") == "manifest")
    return [manifest["launchAsset"], *manifest["assets"]]


def test_expo_assets_are_inert_downloads_whatever_their_declared_type(admin, client, demo_app, tmp_path):
    active = (("html", b"<script>alert(sessionStorage.key)</script>"), ("svg", b"<svg onload='alert(1)'/>"),
              ("xhtml", b"<html xmlns='http://www.w3.org/1999/xhtml'/>"), ("js", b"alert(1)"),
              ("png", b"\x89PNG\r\n\x1a\nnot really"))
    fixture = make_export(tmp_path / "dist", assets=active)
    bundle = admin.upload(APP, "1.0.0", fixture.zip_path.read_bytes(), format="expo", runtimeVersion="1.0.0").json
    admin.release(APP, bundle["id"])
    assets = manifest_assets(client)
    declared = {asset["fileExtension"]: asset["contentType"] for asset in assets}
    assert declared[".svg"] == "image/svg+xml" and declared[".html"] == "text/html"  # what the client is told
    served = {}
    for asset in assets:
        assert "type=image/svg+xml" not in asset["url"] and " " not in asset["url"]
        response = client.get(asset["url"][asset["url"].index("/dl/"):])
        assert response.status_code == 200, (asset["url"], response.data[:200])
        assert hashlib.sha256(response.data).hexdigest() == asset["url"].split("?")[0].rsplit("/", 1)[1]
        assert response.headers["Content-Disposition"].startswith("attachment")
        assert response.headers["Content-Security-Policy"] == "sandbox; default-src 'none'"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        served[asset["key"]] = (asset["fileExtension"], response.headers["Content-Type"])
    assert assets[0]["contentType"] == "application/javascript"  # the launch bundle
    assert served[assets[0]["key"]][1] == "application/octet-stream"
    kinds = dict(served.values())
    assert kinds[".png"] == "image/png"
    for ext in (".html", ".svg", ".xhtml", ".js"):
        assert kinds[ext] == "application/octet-stream", (ext, kinds)
    assert "type=image%2Fsvg%2Bxml" in next(a["url"] for a in assets if a["fileExtension"] == ".svg")


def test_every_download_answer_is_inert(admin, client, demo_app):
    bundle = admin.upload(APP, "1.0.0").json
    admin.release(APP, bundle["id"])
    url = check(client, demo_app, deviceId="d").json["bundle"]["url"]
    path = url[url.index("/dl/"):]
    for response in (client.get(path), client.get(path, headers={"Range": "bytes=0-9"}),
                     client.get(path.replace("signature=", "signature=x"))):
        assert response.headers["Content-Security-Policy"] == "sandbox; default-src 'none'"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get(path).headers["Content-Type"] == "application/zip"


def other_spellings(path: str) -> list[str]:
    """The same signed download URL spelled otherwise: a trailing slash, each parameter repeated (the
    first one verified), each parameter left out."""
    route, query = path.split("?")
    params = query.split("&")
    return ([f"{route}/?{query}"] + [f"{path}&{param}x" for param in params] + [f"{route}?{param}&{query}" for param in params]
            + ["?".join((route, "&".join(p for p in params if p != left_out))) for left_out in params])


def test_a_signed_url_verifies_in_one_spelling_only(admin, client, demo_app, tmp_path):
    """The public-side re-attack: `/dl/<sha>?expires=E&signature=S` (no type), a repeated `type` or
    `expires` (the first won) and `/dl/<sha>/?…` all verified. Every download route (native zips and
    their patches, Expo assets and launch assets) and the upload URL now answer 403 to them."""
    fixture = make_export(tmp_path / "dist", assets=(("png", b"\x89PNG\r\n\x1a\nnot really"),))
    bundle = admin.upload(APP, "1.0.0", fixture.zip_path.read_bytes(), format="expo", runtimeVersion="1.0.0").json
    admin.release(APP, bundle["id"])
    urls = [asset["url"] for asset in manifest_assets(client)]
    assert {"/dl/expo/" in url for url in urls} == {True, False}  # the launch asset's route and /dl/
    zipped = admin.upload(APP, "1.0.1", make_zip({"index.html": "1"})).json
    admin.release(APP, zipped["id"])
    urls.append(check(client, demo_app, deviceId="d").json["bundle"]["url"])
    for url in urls:
        path = url[url.index("/dl/"):]
        assert client.get(path).status_code == 200, path
        for variant in other_spellings(path):
            response = client.get(variant)
            assert (response.status_code, response.json["error"]["code"]) == (403, "invalid_signature"), variant

    data = make_zip({"index.html": "two-step"})
    ticket = admin.post(f"/api/v1/apps/{APP}/bundles/initiate", {
        "version": "3.0.0", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}).json
    path = ticket["uploadUrl"][ticket["uploadUrl"].index("/uploads/"):]
    for variant in other_spellings(path):
        assert client.put(variant, data=data).status_code == 403, variant
    assert client.put(path, data=data).status_code == 200


# --- uploads ---------------------------------------------------------------------------------


def bomb_with_a_broken_end(members: int = 40, size: int = 64 * 1024) -> bytes:
    """Distinct well-compressible members, then one whose data is damaged (found only when read)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for n in range(members):
            archive.writestr(f"f{n}.txt", (f"{n}-" * size)[:size])
        archive.writestr("last.txt", os.urandom(4096))
    data = bytearray(buffer.getvalue())
    last = data.rfind(b"last.txt", 0, data.rfind(b"PK\x01\x02"))
    data[last + 100:last + 200] = bytes(100)
    return bytes(data)


def files_under(path) -> set:
    return {p for p in path.rglob("*") if p.is_file()}


def test_a_refused_upload_leaves_no_file(admin, demo_app, box):
    before = files_under(box.config.data_dir / "blobs") | files_under(box.config.data_dir / "tmp")
    refused = admin.upload(APP, "1.0.0", bomb_with_a_broken_end())
    assert refused.status_code == 422 and refused.json["error"]["code"] == "invalid_zip"
    assert files_under(box.config.data_dir / "blobs") | files_under(box.config.data_dir / "tmp") == before


def test_a_zip_expanding_past_the_ratio_limit_is_refused_before_it_is_read(admin, demo_app, box):
    box.config.max_zip_ratio = 2
    too_airy = make_zip({"zeros.bin": bytes(20 * 1024 * 1024)})
    refused = admin.upload(APP, "1.0.0", too_airy)
    assert refused.status_code == 422 and refused.json["error"]["code"] == "zip_bomb"
    assert refused.json["error"]["details"]["limit"] == 16 * 1024 * 1024
    assert admin.upload(APP, "1.0.0").status_code == 201  # small zips always fit the floor


def test_uploads_beyond_the_concurrent_limit_get_503_and_finalize_can_be_retried(admin, demo_app, box, client):
    data = make_zip({"index.html": "hello"})
    ticket = admin.post(f"/api/v1/apps/{APP}/bundles/initiate",
                        {"version": "1.0.0", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}).json
    url = ticket["uploadUrl"][ticket["uploadUrl"].index("/uploads/"):]
    assert client.put(url, data=data).status_code == 200
    second_put = client.put(url, data=data)
    assert second_put.status_code == 409 and second_put.json["error"]["code"] == "upload_already_received"
    entered, leave = threading.Barrier(box.config.max_concurrent_ingestions + 1), threading.Event()

    def ingest_elsewhere():  # another request's ingestion, holding its slot
        with box.ingestor.slot():
            entered.wait(5)
            leave.wait(10)

    others = [threading.Thread(target=ingest_elsewhere) for _ in range(box.config.max_concurrent_ingestions)]
    for other in others:
        other.start()
    entered.wait(5)
    try:
        busy = admin.post(f"/api/v1/apps/{APP}/bundles/finalize", {"uploadId": ticket["uploadId"]})
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "2"
        assert busy.json["error"]["code"] == "uploads_busy"
        assert admin.upload(APP, "2.0.0").status_code == 503
    finally:
        leave.set()
        for other in others:
            other.join()
    done = admin.post(f"/api/v1/apps/{APP}/bundles/finalize", {"uploadId": ticket["uploadId"]})
    assert done.status_code == 201, done.json


def test_the_publishing_cli_waits_when_the_server_is_busy(monkeypatch):
    from otabox.cli import client as cli_client

    answers = iter([(503, {"Retry-After": "1"}, b'{"error": {"code": "uploads_busy", "message": "busy"}}'),
                    (201, {}, b'{"id": 7}')])
    waits = []

    class Response:
        def __init__(self):
            self.status, self.headers, self.body = next(answers)

        def getheader(self, name, default=None):
            return self.headers.get(name, default)

        def read(self):
            return self.body

    class Connection:
        def request(self, *args, **kwargs):
            pass

        def getresponse(self):
            return Response()

        def close(self):
            pass

    client = cli_client.OtaboxClient("http://127.0.0.1:1", "otabox_sk_x")
    monkeypatch.setattr(client, "_connection", lambda url: (Connection(), "/"))
    monkeypatch.setattr(cli_client.time, "sleep", waits.append)
    assert client.post("/api/v1/apps/a/bundles/finalize", {"uploadId": "u"}) == {"id": 7}
    assert waits == [1]


def test_busy_is_a_503_with_retry_after():
    error = Busy("busy")
    assert error.status == 503 and error.headers == {"Retry-After": "2"}


# --- replies, logs, hosts, metrics, backups --------------------------------------------------


def test_replies_to_devices_are_not_stored_by_caches(admin, client, demo_app):
    bundle = admin.upload(APP, "1.0.0").json
    admin.release(APP, bundle["id"])
    deployment_key = admin.get(f"/api/v1/apps/{APP}/channels/production").json["deploymentKey"]
    replies = [check(client, demo_app, deviceId="d"), check(client, demo_app, client_key="wrong"),
               client.post("/capgo/updates", json={"app_id": APP, "device_id": "d", "platform": "ios"}),
               client.get("/v0.1/public/codepush/update_check", query_string={
                   "deployment_key": deployment_key, "app_version": "1.0.0"}),
               client.get("/v1/sdk/ota/check", headers={"x-api-key": demo_app["clientKey"]}),
               client.get(f"/expo/{APP}/manifest", headers={"expo-platform": "ios", "expo-runtime-version": "1"})]
    assert [r.headers.get("Cache-Control") for r in replies] == ["no-store"] * len(replies)
    assert client.get("/api/v1/openapi.json").headers.get("Cache-Control") != "no-store"


def test_access_log_lines_cannot_be_forged(tmp_path):
    from otabox.ops.accesslog import RequestObserver

    lines = []

    class Writer:
        write = lines.append

    def app(environ, start_response):
        start_response("404 Not Found", [("Content-Length", "0")])
        return [b""]

    observer = RequestObserver(app, type("M", (), {"observe": lambda *a: None})(), Writer())
    observer({"PATH_INFO": '/x\n2026-01-01T00:00:00 1.2.3.4 "GET /admin" 200\r"\\', "REQUEST_METHOD": "GET",
              "REMOTE_ADDR": "127.0.0.1"}, lambda *a: None)
    assert len(lines) == 1 and lines[0].count("\n") == 1 and "\r" not in lines[0]
    assert '\\x0a2026-01-01T00:00:00 1.2.3.4 \\x22GET /admin\\x22 200\\x0d\\x22\\x5c" 404' in lines[0]


def test_the_host_header_is_checked_when_the_public_url_is_set(tmp_path):
    app = create_app(Config.from_env(data_dir=tmp_path / "d", public_url="https://ota.example.com",
                                     allowed_hosts="ota-internal.example.net", address_rate_per_minute=0))
    try:
        client = app.test_client()
        key = make_key(app.config["BOX"])
        created = Api(client, key).post("/api/v1/apps", {"slug": APP}).json

        def status(host, path=f"/api/v1/apps/{APP}/check"):
            return client.get(path, headers={"Host": host, "X-Client-Key": created["clientKey"]}).status_code

        assert status("ota.example.com") == status("OTA.example.com:443") == 200
        assert status("ota-internal.example.net:8080") == status("127.0.0.1:8080") == status("localhost") == 200
        refused = client.get("/api/v1/apps", headers={"Host": "attacker.example"})
        assert refused.status_code == 400 and refused.json["error"]["code"] == "invalid_host"
        assert status("attacker.example") == 400
        assert status("attacker.example", "/healthz") == 200
    finally:
        app.config["BOX"].close()


def test_without_a_public_url_every_host_is_served(client, demo_app):
    assert check(client, demo_app, headers={"Host": "anything.example"}).status_code == 200


@pytest.mark.sqlite_only  # otabox backup copies SQLite data directories
def test_a_backup_is_readable_by_its_owner_only(admin, demo_app, box, tmp_path):
    from otabox.ops.backup import backup

    admin.upload(APP, "1.0.0")
    dest = tmp_path / "existing-backup-dir"
    dest.mkdir(mode=0o755)
    backup(box, dest)
    modes = {path: stat.S_IMODE(path.stat().st_mode) for path in [dest, *dest.rglob("*")]}
    assert {mode for path, mode in modes.items() if path.is_dir()} == {0o700}
    assert {mode for path, mode in modes.items() if path.is_file()} == {0o600}
    assert (dest / "otabox.db") in modes and any("blobs" in str(path) for path in modes)


def test_device_and_override_fields_of_any_json_type_never_give_500(admin, demo_app):
    values = [None, True, 1, -1, 1.5, "", "x" * 300, [1, 2], {"a": 1}, "production", 10**30]
    for field in ("channel", "bundleId"):
        for value in values:
            response = admin.put(f"/api/v1/apps/{APP}/devices/d", {field: value})
            assert response.status_code in (200, 400, 404), (field, value, response.json)
    assert admin.put(f"/api/v1/apps/{APP}/devices/d", {"channel": [1, 2]}).status_code == 400
    for value in values:
        response = admin.post(f"/api/v1/apps/{APP}/channels/production/promote", {"to": value})
        assert response.status_code in (400, 404, 409), (value, response.json)


@pytest.mark.parametrize("device_id", ["x" * 201, "%0A", "a/b"])
def test_odd_device_ids_in_the_path_are_refused_or_found(admin, demo_app, device_id):
    assert admin.put(f"/api/v1/apps/{APP}/devices/{device_id}", {"channel": "production"}).status_code in (200, 400, 404)


def test_risky_settings_are_named_at_start(tmp_path, caplog):
    from otabox.server import warn_about_exposure

    with caplog.at_level("INFO", logger="otabox"):
        warn_about_exposure(Config.from_env(data_dir=tmp_path, trusted_proxy="*", metrics_public=True))
    text = caplog.text
    assert "OTABOX_PUBLIC_URL is not set" in text
    assert "OTABOX_TRUSTED_PROXY='*'" in text and "OTABOX_METRICS_PUBLIC=1" in text
    caplog.clear()
    with caplog.at_level("INFO", logger="otabox"):
        warn_about_exposure(Config.from_env(data_dir=tmp_path, public_url="https://ota.example.com",
                                            trusted_proxy="10.0.0.1", metrics_token="t"))
    assert caplog.text == ""


def test_forwarded_requests_without_a_trusted_proxy_are_pointed_out_once(client, demo_app, caplog):
    with caplog.at_level("WARNING", logger="otabox"):
        for _ in range(3):
            check(client, demo_app, headers={"X-Forwarded-For": "203.0.113.5"})
    assert caplog.text.count("OTABOX_TRUSTED_PROXY is not set") == 1


@pytest.mark.parametrize("method, path, body", [
    ("GET", "/api/v1/apps/{slug}/check?platform=ios&deviceId=a%00b", None),
    ("GET", "/v1/sdk/ota/check?platform=android&device_id=a%00b", None),
    ("POST", "/capgo/updates", {"app_id": "{slug}", "device_id": "a\x00b", "platform": "ios",
                                "version_name": "builtin", "version_build": "1.0.0"}),
    ("POST", "/capgo/stats", {"app_id": "{slug}", "device_id": "phone", "platform": "ios", "action": "set",
                              "version_name": "1.0.0\x00"}),
    ("POST", "/ofrep/v1/evaluate/flags", {"context": {"targetingKey": "a\x00b"}}),
])
def test_nul_characters_from_devices_are_refused_on_every_engine(client, demo_app, box, method, path, body):
    """No client sends U+0000; PostgreSQL cannot store it, and a sighting holding one would have been
    buffered and failed every flush. Refused at the door (400) on SQLite too, so both engines agree."""
    slug = demo_app["slug"]
    headers = {"X-Client-Key": demo_app["clientKey"]}
    if body is None:
        response = client.open(path.format(slug=slug), method=method, headers=headers)
    else:
        raw = json.dumps(body).replace("{slug}", slug)
        response = client.open(path, method=method, data=raw, content_type="application/json", headers=headers)
    assert response.status_code == 400, response.data
    box.tracker.flush()
    with box.db.connection_context():
        from otabox.store.models import Device

        assert Device.select().count() == 0


def test_keyless_device_routes_name_an_app_by_slug_never_by_its_row_id(admin, client, demo_app, tmp_path):
    """Capgo, Expo and AppDispatch's reports send no secret, only the slug; the app's sequential row
    id (and its spellings, "02") names nothing there, so nobody can count through the apps of a box
    and learn their slugs or bundles."""
    other = admin.post("/api/v1/apps", {"slug": "com.example.other", "name": "Other"}).json
    admin.publish("com.example.other", "1.0.0", bundle_fields={"targetVersions": "1.0.0"})
    fixture = make_export(tmp_path / "dist")
    bundle = admin.upload("com.example.other", "2.0.0", fixture.zip_path.read_bytes(), format="expo",
                          runtimeVersion="1.0.0").json
    admin.release("com.example.other", bundle["id"])
    device = {"platform": "ios", "device_id": "phone-1", "version_build": "1.0.0", "version_code": "1",
              "version_os": "17.0", "version_name": "builtin", "plugin_version": "8.51.14", "is_emulator": False,
              "is_prod": True}
    expo = {"expo-protocol-version": "1", "expo-platform": "ios", "expo-runtime-version": "1.0.0",
            "accept": "multipart/mixed", "eas-client-id": "client-1"}
    assert client.post("/capgo/updates", json={**device, "app_id": "com.example.other"}).json["version"] == "1.0.0"
    assert client.get("/expo/com.example.other/manifest", headers=expo).status_code == 200
    for number in (str(other["id"]), f"0{other['id']}"):
        refused = client.post("/capgo/updates", json={**device, "app_id": number})
        assert (refused.status_code, refused.json["error"]) == (404, "app_not_found"), refused.json
        channel_self = client.put("/capgo/channel_self", json={**device, "app_id": number})
        assert channel_self.status_code == 404, channel_self.json
        stats = client.post("/capgo/stats", json={**device, "app_id": number, "action": "set"})
        assert stats.status_code == 404, stats.json
        manifest = client.get(f"/expo/{number}/manifest", headers=expo)
        assert manifest.status_code == 404 and b"com.example.other" not in manifest.data
        report = client.post("/v1/ota/health-metrics", json={"projectSlug": number, "deviceId": "phone-1",
                                                             "platform": "ios", "events": [{"type": "app_launch"}]})
        assert report.status_code == 404, report.json
        counts = client.post("/v1/ota/flag-evaluations", json={"projectSlug": number, "evaluations": []})
        assert counts.status_code == 404, counts.json
        definitions = client.get(f"/v1/ota/flag-definitions/{number}?channel=nope")
        assert definitions.status_code == 404 and b"com.example.other" not in definitions.data


def test_device_bodies_are_bounded_to_what_their_clients_send(admin, client, demo_app):
    """A check's body was read up to the 2 MB JSON limit: 150 000 made-up keys cost 0.3-0.5 s of
    parsing each. Checks, status reports and channel requests take 64 KB (OTABOX_MAX_DEVICE_JSON_KB),
    event batches 16 times that, health reports 8 times (they were read up to the JSON limit: a
    second of parsing each); past it, 413 in the protocol's shape."""
    admin.publish(APP, "1.0.0", bundle_fields={"targetVersions": "1.0.0"})
    device = {"platform": "ios", "device_id": "phone-1", "app_id": APP, "version_build": "1.0.0",
              "version_code": "1", "version_os": "17.0", "version_name": "builtin", "plugin_version": "8.51.14",
              "is_emulator": False, "is_prod": True}
    padded = {**device, **{f"k{n}": 1 for n in range(10_000)}}  # ~90 KB
    assert client.post("/capgo/updates", json=device).json["version"] == "1.0.0"
    refused = client.post("/capgo/updates", json=padded)
    assert refused.status_code == 413 and refused.json["error"] == "too_large", refused.json
    assert client.put("/capgo/channel_self", json=padded).status_code == 413
    assert client.post("/capgo/stats", json=[{**padded, "action": "set"}]).status_code == 200  # a batch
    assert client.post("/capgo/stats", json=[{**padded, "action": "set"}] * 12).status_code == 413  # over 1 MB
    long_messages = [{"deviceId": f"phone-{n}", "type": "failed", "message": "x" * 5000} for n in range(100)]
    events = client.post(f"/api/v1/apps/{APP}/events", json=long_messages,
                         headers={"X-Client-Key": demo_app["clientKey"]})
    assert events.status_code == 200, events.json
    key = admin.get(f"/api/v1/apps/{APP}/channels/production").json["deploymentKey"]
    report = client.post("/v0.1/public/codepush/report_status/deploy",
                         json={"deployment_key": key, "app_version": "1.0.0", "pad": "x" * 70_000})
    assert report.status_code == 413 and report.content_type.startswith("text/plain")
    health = client.post("/v1/ota/health-metrics", json={"projectSlug": APP, "deviceId": "phone-1", "platform": "ios",
                                                        "events": [{"type": "app_launch"}], "pad": "x" * 300_000})
    assert health.status_code == 204
    keys = {f"k{n}": 1 for n in range(150_000)}  # 1.7 MB
    for path, headers in (("/v1/ota/health-metrics", {}),
                          (f"/api/v1/apps/{APP}/health", {"X-Client-Key": demo_app["clientKey"]})):
        refused = client.post(path, headers=headers, json={"projectSlug": APP, "deviceId": "phone-1",
                                                           "platform": "ios", "events": [{"type": "app_launch"}], **keys})
        assert refused.status_code == 413 and refused.json["error"]["details"] == {"limit_bytes": 512 * 1024}, path
    real_batch = [{"type": "js_error", "message": f"TypeError {n}: " + "at f (app.js:1:1)\n" * 400, "count": 2,
                   "flagStates": {"new-checkout": True}} for n in range(60)]  # 60 stack traces of 8 000 characters
    assert client.post("/v1/ota/health-metrics", json={"projectSlug": APP, "deviceId": "phone-1", "platform": "ios",
                                                       "events": real_batch}).status_code == 204
    counts = client.post("/v1/ota/flag-evaluations", json={"projectSlug": APP, "evaluations": [], **keys})
    assert counts.status_code == 413 and counts.json["error"]["details"] == {"limit_bytes": 64 * 1024}
