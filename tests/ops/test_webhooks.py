"""Webhooks: creation rules and the secret, signed deliveries to a real receiver on 127.0.0.1,
retries with backoff, redirects, the address policy (also after DNS resolution), and the test button."""
from __future__ import annotations

import datetime as dt
import io
import itertools
import json
import socket
import time

import pytest
import requests
from conftest import Api, LiveServer, check, make_key, make_zip, with_schema
from fleet import TricklingReceiver

from otabox.app import create_app
from otabox.config import Config
from otabox.core import decide, policies, webhooks
from otabox.security import egress
from otabox.store.models import Delivery, DeliveryAttempt, Webhook, utcnow

APP = "com.example.hooks"


@pytest.fixture
def hooks_app(tmp_path, schema_template):
    """A box that may call 127.0.0.1, retries after 60 s (tripled each time), gives up after 3 attempts."""
    config = Config.from_env(data_dir=with_schema(tmp_path / "data", schema_template), device_flush_seconds=3600.0,
                             webhook_allow_private=True, webhook_retry_seconds=60.0, webhook_max_attempts=3,
                             webhook_timeout_seconds=5.0)
    app = create_app(config)
    app.config["BOX"].webhooks.loop.stop()  # the tests deliver by hand, one round at a time
    yield app
    app.config["BOX"].close()


@pytest.fixture
def hooks(hooks_app):
    box = hooks_app.config["BOX"]
    return Api(hooks_app.test_client(), make_key(box, "admin", "admin")), box


def deliver(box) -> int:
    """Run delivery rounds, waiting for each round's attempts, until one starts nothing; returns how
    many deliveries were attempted."""
    attempted = 0
    while True:
        with box.db.connection_context():
            started = box.webhooks.deliver_due()
        if not started:
            return attempted
        attempted += sum(attempt.result() for attempt in started)


def retry_now(box) -> list[float]:
    """Make every pending delivery due (as if its backoff had passed); returns the backoffs it had."""
    with box.db.connection_context():
        waits = []
        for delivery in Delivery.select().where(Delivery.status == "pending"):
            last = DeliveryAttempt.select().where(DeliveryAttempt.delivery == delivery.id).order_by(
                DeliveryAttempt.id.desc()).first()
            if last is not None:
                waits.append((delivery.next_attempt_at - last.at).total_seconds())
        Delivery.update(next_attempt_at=utcnow() - dt.timedelta(seconds=1)).where(
            Delivery.status == "pending").execute()
    return waits


def create(api, url, **fields):
    response = api.post("/api/v1/webhooks", {"url": url, **fields})
    assert response.status_code == 201, response.json
    return response.json


def test_a_delivery_is_signed_json_with_the_event_and_delivery_headers(hooks, receiver):
    api, box = hooks
    hook = create(api, receiver.url, events=["app.created", "release.created"])
    secret = hook["secret"]
    assert secret.startswith("whsec_") and "secret" not in api.get(f"/api/v1/webhooks/{hook['id']}").json
    api.post("/api/v1/apps", {"slug": APP})
    bundle = api.upload(APP, "1.0.0", make_zip()).json
    api.release(APP, bundle["id"])
    assert deliver(box) == 2
    assert sorted(receiver.events()) == ["app.created", "release.created"]
    ids = set()
    for request in receiver.received:
        headers, raw = request["headers"], request["raw"]
        assert webhooks.verify(secret, raw, headers["X-Otabox-Signature"])
        assert not webhooks.verify(secret + "x", raw, headers["X-Otabox-Signature"])
        timestamp, digest = headers["X-Otabox-Signature"].split(",")
        assert timestamp.startswith("t=") and digest.startswith("v1=") and len(digest) == 3 + 64
        body = json.loads(raw)
        assert set(body) == {"id", "event", "createdAt", "app", "data"}
        assert body["event"] == headers["X-Otabox-Event"] and body["app"]["slug"] == APP
        assert headers["X-Otabox-Delivery"].startswith("dlv_") and headers["Content-Type"] == "application/json"
        ids.add(headers["X-Otabox-Delivery"])
    assert len(ids) == 2
    release_event = next(json.loads(r["raw"]) for r in receiver.received if r["event"] == "release.created")
    assert release_event["data"]["release"]["bundleId"] == bundle["id"]
    assert deliver(box) == 0  # delivered once


def test_the_secret_is_stored_sealed_never_in_clear(hooks, receiver):
    api, box = hooks
    hook = create(api, receiver.url, secret="a-secret-of-mine-0123456789")
    assert hook["secret"] == "a-secret-of-mine-0123456789"
    box.db.close()
    for path in box.config.data_dir.rglob("*"):
        if path.is_file():
            assert b"a-secret-of-mine" not in path.read_bytes(), path
    with box.db.connection_context():
        sealed = Webhook.get_by_id(hook["id"]).secret_sealed
        assert sealed.startswith("v1:")
        assert webhooks.secret_of(Webhook.get_by_id(hook["id"]), box.sealer) == "a-secret-of-mine-0123456789"


def test_failed_attempts_are_retried_with_backoff_and_listed(hooks, receiver):
    api, box = hooks
    hook = create(api, receiver.url, events=["app.created"])
    receiver.replies = [500, 503]
    api.post("/api/v1/apps", {"slug": APP})
    assert deliver(box) == 1
    assert deliver(box) == 0  # not due yet
    assert retry_now(box) == [60.0]
    assert deliver(box) == 1
    assert retry_now(box) == [180.0]  # tripled
    assert deliver(box) == 1
    listed = api.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json["deliveries"]
    assert len(listed) == 1 and listed[0]["status"] == "delivered" and listed[0]["event"] == "app.created"
    assert [a["statusCode"] for a in listed[0]["attempts"]] == [500, 503, 200]
    assert listed[0]["attempts"][0]["error"] == "HTTP 500" and listed[0]["attempts"][2]["error"] == ""
    assert all(a["durationMs"] >= 0 for a in listed[0]["attempts"])
    assert len({r["headers"]["X-Otabox-Delivery"] for r in receiver.received}) == 1


def test_attempts_run_out_and_redirects_are_not_followed(hooks, receiver):
    api, box = hooks
    hook = create(api, receiver.url, events=["*"])
    receiver.replies = [302, 302, 302]
    api.post("/api/v1/apps", {"slug": APP})
    for _ in range(3):
        retry_now(box)
        deliver(box)
    listed = api.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json["deliveries"]
    assert listed[0]["status"] == "failed" and len(listed[0]["attempts"]) == 3
    assert "not followed" in listed[0]["attempts"][0]["error"]
    assert [r["path"] for r in receiver.received] == ["/otabox"] * 3


def test_slack_format_sends_text(hooks, receiver):
    api, box = hooks
    create(api, receiver.url, format="slack", events=["bundle.created"])
    api.post("/api/v1/apps", {"slug": APP})
    api.upload(APP, "2.0.0", make_zip())
    deliver(box)
    body = json.loads(receiver.received[0]["raw"])
    assert list(body) == ["text"] and "bundle.created" in body["text"] and "2.0.0" in body["text"]


def test_events_and_app_filters_choose_the_webhooks(hooks, receiver):
    api, box = hooks
    api.post("/api/v1/apps", {"slug": APP})
    other = api.post("/api/v1/apps", {"slug": "com.example.other"}).json
    create(api, receiver.url, events=["channel.updated"], appId=other["id"])
    api.patch(f"/api/v1/apps/{APP}/channels/staging", {"allowEmulator": False})
    api.patch("/api/v1/apps/com.example.other/channels/staging", {"allowEmulator": False})
    deliver(box)
    assert receiver.events() == ["channel.updated"]
    body = json.loads(receiver.received[0]["raw"])
    assert body["app"]["slug"] == "com.example.other" and body["data"]["changes"] == {"allowEmulator": False}


def test_inactive_webhooks_get_nothing_and_patch_and_delete_work(hooks, receiver):
    api, box = hooks
    hook = create(api, receiver.url, isActive=False)
    api.post("/api/v1/apps", {"slug": APP})
    deliver(box)
    assert receiver.received == []
    patched = api.patch(f"/api/v1/webhooks/{hook['id']}", {"isActive": True, "events": ["app.created"]}).json
    assert patched["isActive"] is True and patched["events"] == ["app.created"]
    assert api.delete(f"/api/v1/webhooks/{hook['id']}").status_code == 200
    assert api.get("/api/v1/webhooks").json["webhooks"] == []


def test_the_test_button_queues_one_attempt_for_the_delivery_worker(hooks, receiver):
    api, box = hooks
    hook = create(api, receiver.url, events=["release.created"])
    queued = api.post(f"/api/v1/webhooks/{hook['id']}/test")
    assert queued.status_code == 202 and queued.json["status"] == "pending" and queued.json["attempts"] == []
    assert receiver.received == []  # nothing was sent by the request itself
    assert deliver(box) == 1
    assert receiver.events() == ["webhook.test"]
    listed = api.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json["deliveries"]
    assert [(d["id"], d["status"]) for d in listed] == [(queued.json["id"], "delivered")]
    receiver.replies = [500]
    failed = api.post(f"/api/v1/webhooks/{hook['id']}/test").json
    assert deliver(box) == 1
    assert retry_now(box) == [] and deliver(box) == 0  # a test is never retried
    listed = api.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json["deliveries"]
    assert next(d for d in listed if d["id"] == failed["id"])["status"] == "failed"


@pytest.mark.parametrize("url, code", [
    ("ftp://example.com/hook", "webhook_url_refused"),
    ("file:///etc/passwd", "webhook_url_refused"),
    ("http://user:pass@93.184.216.34/hook", "webhook_url_refused"),
    ("http:///nohost", "webhook_url_refused"),
    ("http://127.0.0.1:9/hook", "webhook_url_refused"),
    ("http://localhost:9/hook", "webhook_url_refused"),
    ("http://10.1.2.3/hook", "webhook_url_refused"),
    ("http://192.168.0.10/hook", "webhook_url_refused"),
    ("http://172.16.5.4/hook", "webhook_url_refused"),
    ("http://169.254.169.254/latest/meta-data", "webhook_url_refused"),
    ("http://100.64.0.1/hook", "webhook_url_refused"),
    ("http://0.0.0.0/hook", "webhook_url_refused"),
    ("http://[::1]/hook", "webhook_url_refused"),
    ("http://[::ffff:127.0.0.1]/hook", "webhook_url_refused"),
    ("http://[fd00:ec2::254]/hook", "webhook_url_refused"),
    ("http://[fe80::1]/hook", "webhook_url_refused"),
    ("http://[64:ff9b::7f00:1]/hook", "webhook_url_refused"),
    ("http://[2002:7f00:1::1]/hook", "webhook_url_refused"),
    ("http://[::ffff:93.184.216.34]/hook", "webhook_url_refused"),
    ("http://[ff02::1]/hook", "webhook_url_refused"),
    ("https://93.184.216.34/hook path", "webhook_url_refused"),
    ("https://93.184.216.34/hook\r\nX-Injected: 1", "webhook_url_refused"),
])
def test_private_and_odd_urls_are_refused_at_creation(admin, url, code):
    response = admin.post("/api/v1/webhooks", {"url": url})
    assert response.status_code == 422, response.json
    assert response.json["error"]["code"] == code


def test_a_public_address_is_accepted(admin):
    """Created inactive: no test may send traffic to a public address."""
    response = admin.post("/api/v1/webhooks", {"url": "https://93.184.216.34/hook", "isActive": False})
    assert response.status_code == 201, response.json


@pytest.mark.parametrize("body, field", [
    ({"url": "https://93.184.216.34/h", "events": []}, "events"),
    ({"url": "https://93.184.216.34/h", "events": ["release.exploded"]}, "events[0]"),
    ({"url": "https://93.184.216.34/h", "format": "xml"}, "format"),
    ({"url": "https://93.184.216.34/h", "secret": "short"}, "secret"),
    ({"url": "https://93.184.216.34/h", "appId": "com.example.none"}, "appId"),
    ({"url": "https://93.184.216.34/h", "isActive": "yes"}, "isActive"),
])
def test_bad_webhooks_are_400(admin, body, field):
    response = admin.post("/api/v1/webhooks", {**body, "isActive": body.get("isActive", False)})
    assert response.status_code == 400 and response.json["error"]["details"]["field"] == field


def test_delivery_checks_the_address_again_and_connects_to_the_checked_one(hooks, receiver, monkeypatch):
    """DNS rebinding: a name that resolved to a public address at creation resolves to a private one
    at delivery; the delivery is refused without connecting anywhere."""
    api, box = hooks
    answers = {"hooks.example": "93.184.216.34"}
    real = socket.getaddrinfo

    def fake_getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    box.webhooks.allow_private = False
    hook = create(api, "http://hooks.example/hook", events=["app.created"])
    answers["hooks.example"] = "10.0.0.7"
    connected = []
    monkeypatch.setattr(egress, "_connect", lambda *a: connected.append(a) or pytest.fail("connected"))
    api.post("/api/v1/apps", {"slug": APP})
    deliver(box)
    attempt = api.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json["deliveries"][0]["attempts"][0]
    assert attempt["statusCode"] is None and attempt["error"].startswith("refused:") and "10.0.0.7" in attempt["error"]
    assert connected == []


def test_the_connection_goes_to_the_address_that_was_checked(receiver, monkeypatch):
    """The Host header keeps the URL's name while the socket goes to the checked address."""
    port = receiver.server.server_port
    calls = []
    real = socket.getaddrinfo

    def only_once(host, *args, **kwargs):
        calls.append(host)
        assert len(calls) == 1, "the name was looked up a second time"
        return real("127.0.0.1", *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", only_once)
    outcome = egress.post(f"http://rebinding.example:{port}/hook", b"{}", {"Content-Type": "application/json"},
                          timeout=2, allow_private=True)
    assert outcome.ok, outcome
    assert calls == ["rebinding.example"]  # resolved once; the socket used that answer
    assert receiver.received[0]["headers"]["Host"] == f"rebinding.example:{port}"


def test_a_kill_between_the_change_and_its_delivery_loses_nothing(hooks, receiver):
    """The event is a row of the change's own transaction: a process that dies before sending leaves
    it pending, and the next one sends it."""
    api, box = hooks
    create(api, receiver.url, events=["app.created"])
    api.post("/api/v1/apps", {"slug": APP})
    with box.db.connection_context():
        assert Delivery.select().where(Delivery.status == "pending").count() == 1
    deliver(box)
    assert receiver.events() == ["app.created"]


def test_with_delivery_off_events_wait_in_the_outbox(tmp_path, receiver):
    config = Config.from_env(data_dir=tmp_path / "data", device_flush_seconds=3600.0, webhook_allow_private=True,
                             webhook_delivery=False)
    app = create_app(config)
    box = app.config["BOX"]
    try:
        api = Api(app.test_client(), make_key(box, "admin", "admin"))
        hook = create(api, receiver.url, events=["app.created"])
        api.post("/api/v1/apps", {"slug": APP})
        refused = api.post(f"/api/v1/webhooks/{hook['id']}/test")
        assert refused.status_code == 409 and refused.json["error"]["code"] == "webhook_delivery_off"
        time.sleep(1.2)
        assert receiver.received == []
        assert [d["status"] for d in api.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json["deliveries"]] == [
            "pending"]
    finally:
        box.close()


def test_deleting_an_app_deletes_its_webhooks_rather_than_widening_them(hooks, receiver):
    api, box = hooks
    api.post("/api/v1/apps", {"slug": APP})
    create(api, receiver.url, appId=APP)
    assert api.delete(f"/api/v1/apps/{APP}").status_code == 200
    assert api.get("/api/v1/webhooks").json["webhooks"] == []


def test_every_new_history_entry_is_a_codepush_deployment_released_event(hooks, receiver):
    """The CodePush multi-tenant server's event, for a release made through its API and a rollback."""
    api, box = hooks
    api.post("/api/v1/apps", {"slug": APP, "name": "Hooks"})
    create(api, receiver.url, events=["deployment.released"])
    package = {"package": (io.BytesIO(make_zip({"CodePush/index.js": "one"})), "p.zip")}
    released = api.client.post(f"/apps/{APP}/deployments/Production/release", headers=api._headers(),
                               data={**package, "packageInfo": json.dumps({"appVersion": "1.0.0",
                                                                           "description": "first"})})
    assert released.status_code == 201, released.data
    assert api.post(f"/api/v1/apps/{APP}/channels/production/rollback", {"toBuiltin": True}).status_code == 201
    deliver(box)
    assert receiver.events() == ["deployment.released", "deployment.released"]
    # Deliveries run in parallel, so they may arrive in either order; the labels tell them apart.
    first, rollback = sorted((json.loads(r["raw"])["data"] for r in receiver.received),
                             key=lambda event: event["package"]["label"])
    assert (first["appName"], first["deploymentName"]) == ("Hooks", "production")
    assert {k: first["package"][k] for k in ("label", "appVersion", "description", "releaseMethod", "rollout")} == {
        "label": "v1", "appVersion": "1.0.0", "description": "first", "releaseMethod": "Upload", "rollout": None}
    assert first["package"]["packageHash"] == released.json["package"]["packageHash"]
    assert (rollback["package"]["label"], rollback["package"]["releaseMethod"]) == ("v2", "Rollback")


STAGED = {"name": "careful", "stages": [{"percentage": 10, "minDevices": 2, "minDurationMinutes": 5}, {"percentage": 100}],
          "thresholds": {"crashRate": 5, "minLaunches": 10, "action": "auto-rollback"}}


def crash_on(api, box, app, release, devices: int) -> None:
    """`devices` phones the staged release serves check for updates, launch it and crash."""
    release_id, bundle_id = release["id"], release["bundleId"]
    served = itertools.islice((device for device in (f"phone-{n}" for n in itertools.count())
                               if decide.rollout_bucket(device, release_id) < 10 * 100), devices)
    for n, device in enumerate(served):
        assert check(api.client, app, deviceId=device, version="builtin").json["bundle"]["id"] == bundle_id
        events = [{"type": "app_launch", "count": 1}, {"type": "crash", "count": 1, "message": "segfault"}]
        assert api.client.post(f"/api/v1/apps/{APP}/health", headers={"X-Client-Key": app["clientKey"]}, json={
            "deviceId": device, "platform": "ios", "bundleId": bundle_id, "events": events},
            environ_base={"REMOTE_ADDR": f"198.51.{n}.7"}).status_code == 204  # each phone on a network of its own
    box.tracker.flush()
    box.health.flush()


@pytest.mark.parametrize("how", ["crash threshold", "rollback command"])
def test_a_staged_rollout_rolled_back_reaches_the_receiver_as_rollout_rolled_back(hooks, receiver, how):
    """A release walking a policy is rolled back, on its own past the crash threshold or by a person
    rolling the channel back: the webhook that asked for rollout.rolled_back gets it, signed, naming
    the execution (now rolled_back), the release and why."""
    api, box = hooks
    receiver.secret = create(api, receiver.url, events=["rollout.rolled_back"])["secret"]
    app = api.post("/api/v1/apps", {"slug": APP}).json
    first = api.publish(APP, "1.0.0")
    policy = api.post(f"/api/v1/apps/{APP}/rollout-policies", STAGED).json
    staged = api.publish(APP, "1.1.0", policyId=policy["id"]).release
    assert staged["rollout"] == 10
    [execution] = api.get(f"/api/v1/apps/{APP}/rollout-executions").json["executions"]
    if how == "crash threshold":
        crash_on(api, box, app, staged, devices=10)
        with box.db.connection_context():
            assert policies.evaluate_running() == {execution["id"]: "rolled_back"}
        actor, reason = "policy:careful", "crashRate above the threshold"
    else:
        assert api.post(f"/api/v1/apps/{APP}/channels/production/rollback").status_code == 201
        actor, reason = "admin", "the channel was rolled back"
    assert deliver(box) == 1
    [delivered] = receiver.received
    assert delivered["event"] == "rollout.rolled_back" and delivered["verified"] and delivered["status"] == 200
    body = delivered["body"]
    assert body["event"] == "rollout.rolled_back" and body["app"]["slug"] == APP
    told = body["data"]["execution"]
    assert (told["id"], told["status"], told["releaseId"], told["policyName"]) == (
        execution["id"], "rolled_back", staged["id"], "careful")
    assert body["data"]["reason"] == reason
    channel = api.get(f"/api/v1/apps/{APP}/channels/production").json["currentRelease"]
    assert (channel["bundleId"], channel["kind"], channel["actor"]) == (first.bundle["id"], "rollback", actor)


@pytest.fixture
def trickling():
    server = TricklingReceiver()
    yield server
    server.close()


def test_an_attempt_ends_at_its_deadline_however_slowly_the_receiver_answers(trickling):
    """Every byte arrives well within a per-read timeout, so only a deadline for the whole attempt ends it."""
    outcome = egress.post(trickling.url, b"{}", {"Content-Type": "application/json"}, timeout=2.0,
                          allow_private=True)
    assert (outcome.status_code, outcome.error) == (None, "no complete answer within 2 s")
    assert trickling.requests == 1


def wait_for(condition, seconds: float = 30.0) -> bool:
    """Poll `condition` until it holds (False after a generous `seconds`)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_a_trickling_receiver_holds_neither_requests_nor_other_webhooks(tmp_path, receiver, trickling):
    """Issue 22: eight test clicks on a receiver answering a byte every 2 s held all eight request
    threads and every delivery. Now a click only queues, checks stay answered, and another webhook's
    event arrives while the slow one's attempts run to their deadline."""
    server = LiveServer(tmp_path / "data", {"OTABOX_WEBHOOK_ALLOW_PRIVATE": "1", "OTABOX_WEBHOOK_TIMEOUT_SECONDS": "5"})
    try:
        key = server.cli("keys", "create", "--name", "ops").stdout.strip()
        headers = {"Authorization": f"Bearer {key}"}

        def api(method, path, body=None):
            return requests.request(method, server.url + path, json=body, headers=headers, timeout=10)

        slow = api("POST", "/api/v1/webhooks", {"url": trickling.url, "events": ["app.created"]}).json()
        api("POST", "/api/v1/webhooks", {"url": receiver.url, "events": ["app.created"]})
        clicks = [api("POST", f"/api/v1/webhooks/{slow['id']}/test") for _ in range(12)]
        assert [c.status_code for c in clicks] == [202] * 12
        assert wait_for(lambda: trickling.requests >= 1)  # the slow receiver is holding an attempt now
        app = api("POST", "/api/v1/apps", {"slug": APP}).json()
        checks = [requests.get(f"{server.url}/api/v1/apps/{APP}/check", params={"platform": "ios", "deviceId": f"d{n}"},
                               headers={"X-Client-Key": app["clientKey"]}, timeout=10) for n in range(20)]
        assert [c.status_code for c in checks] == [200] * 20
        assert wait_for(lambda: receiver.events() == ["app.created"])
        assert trickling.requests < 12  # one attempt at a time for the slow webhook
    finally:
        server.stop()
