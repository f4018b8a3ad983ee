"""Rate limits: failed API keys per address, the public client endpoints per device, and management
requests per token or address per hour."""
from __future__ import annotations

import time

import pytest
from conftest import Api, check, configured_app, make_key

from otabox.app import create_app
from otabox.config import Config
from otabox.security.ratelimit import FailureBackoff


@pytest.fixture
def strict_app(tmp_path):
    app = create_app(Config.from_env(data_dir=tmp_path / "d", auth_failures_per_minute=3, client_rate_per_minute=5))
    yield app
    app.config["BOX"].close()


def test_repeated_bad_keys_get_429_with_retry_after(strict_app):
    client = strict_app.test_client()
    good = make_key(strict_app.config["BOX"])
    for _ in range(3):
        assert client.get("/api/v1/apps", headers={"Authorization": "Bearer otabox_sk_guess"}).status_code == 401
    blocked = client.get("/api/v1/apps", headers={"Authorization": "Bearer otabox_sk_guess"})
    assert blocked.status_code == 429 and blocked.json["error"]["code"] == "too_many_requests"
    assert int(blocked.headers["Retry-After"]) >= 1
    assert blocked.json["error"]["details"]["retryAfter"] == int(blocked.headers["Retry-After"])
    assert client.get("/api/v1/apps", headers={"Authorization": f"Bearer {good}"}).status_code == 429
    other_address = client.get("/api/v1/apps", headers={"Authorization": f"Bearer {good}"},
                               environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert other_address.status_code == 200


def test_valid_keys_do_not_use_up_the_failure_budget(strict_app):
    client = strict_app.test_client()
    good = make_key(strict_app.config["BOX"])
    assert all(client.get("/api/v1/apps", headers={"Authorization": f"Bearer {good}"}).status_code == 200
               for _ in range(10))


def test_update_checks_are_limited_per_device(strict_app):
    client = strict_app.test_client()
    api = Api(client, make_key(strict_app.config["BOX"]))
    app = api.post("/api/v1/apps", {"slug": "com.example.rl"}).json
    answers = [check(client, app, deviceId="busy").status_code for _ in range(6)]
    assert answers == [200] * 5 + [429]
    limited = check(client, app, deviceId="busy")
    assert limited.headers["Retry-After"] and limited.json["error"]["code"] == "too_many_requests"
    assert check(client, app, deviceId="calm").status_code == 200


def test_behind_a_trusted_proxy_the_forwarded_address_counts(tmp_path):
    import requests
    from conftest import LiveServer

    server = LiveServer(tmp_path / "d", env={"OTABOX_TRUSTED_PROXY": "127.0.0.1",
                                             "OTABOX_AUTH_FAILURES_PER_MINUTE": "2"})
    try:
        def attempt(address):
            return requests.get(f"{server.url}/api/v1/apps", headers={
                "Authorization": "Bearer otabox_sk_guess", "X-Forwarded-For": address}).status_code

        assert [attempt("203.0.113.7") for _ in range(3)] == [401, 401, 429]
        assert attempt("198.51.100.1") == 401
        assert '"GET /api/v1/apps" 429' in server.log_text() and "203.0.113.7" in server.log_text()
    finally:
        server.stop()


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_failed_attempts_meet_waits_that_double_up_to_the_cap_and_are_forgotten():
    clock = Clock()
    backoff = FailureBackoff(free=3, max_wait=8, first_wait=1, forget_after=600, clock=clock)
    waits = []
    for _ in range(7):
        backoff.failed("alice")
        waits.append(backoff.retry_after("alice"))
    assert waits == [0, 0, 1, 2, 4, 8, 8]
    assert backoff.retry_after("bob") == 0
    clock.now += 7.5
    assert backoff.retry_after("alice") == 1
    clock.now += 0.5
    assert backoff.retry_after("alice") == 0
    backoff.failed("alice")  # still in a row: the cap again
    assert backoff.retry_after("alice") == 8
    clock.now += 600
    backoff.failed("alice")  # after a quiet period the count starts again
    assert backoff.retry_after("alice") == 0
    backoff.failed("alice"), backoff.failed("alice")
    assert backoff.retry_after("alice") == 1
    backoff.succeeded("alice")
    assert backoff.retry_after("alice") == 0
    off = FailureBackoff(free=0, clock=clock)
    off.failed("x")
    assert off.retry_after("x") == 0


def test_the_management_limits_default_to_the_codepush_seeds_numbers():
    assert (Config.api_requests_per_hour, Config.anonymous_requests_per_hour) == (1000, 60)


@pytest.fixture
def hourly_app(tmp_path):
    with configured_app(tmp_path, api_requests_per_hour=3, anonymous_requests_per_hour=2) as app:
        yield app


def test_each_token_has_its_hourly_quota_in_the_headers(hourly_app):
    client = hourly_app.test_client()
    api = Api(client, make_key(hourly_app.config["BOX"], "admin", "busy"))
    app = api.post("/api/v1/apps", {"slug": "com.example.quota"})
    assert (app.headers["X-RateLimit-Limit"], app.headers["X-RateLimit-Remaining"]) == ("3", "2")
    assert abs(int(app.headers["X-RateLimit-Reset"]) - (time.time() + 3600)) < 60
    assert [api.get(path).headers["X-RateLimit-Remaining"] for path in ("/api/v1/apps", "/apps")] == ["1", "0"]
    over = api.get("/api/v1/apps")
    assert over.status_code == 429 and over.headers["X-RateLimit-Remaining"] == "0"
    assert 3500 < int(over.headers["Retry-After"]) <= 3600
    assert over.headers["X-RateLimit-Reset"] == app.headers["X-RateLimit-Reset"]
    assert api.get("/apps").status_code == 429 and api.get("/apps").mimetype == "text/plain"
    other = Api(client, make_key(hourly_app.config["BOX"], "reader", "calm")).get("/api/v1/apps")
    assert other.status_code == 200 and other.headers["X-RateLimit-Remaining"] == "2"
    checks = [check(client, app.json, deviceId=f"d{n}") for n in range(5)]
    assert all(c.status_code == 200 and "X-RateLimit-Limit" not in c.headers for c in checks)


def test_unauthenticated_calls_are_counted_per_address(hourly_app):
    client = hourly_app.test_client()
    answers = [client.get("/api/v1/apps") for _ in range(3)]
    assert [a.status_code for a in answers] == [401, 401, 429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["1", "0", "0"]
    assert client.get("/api/v1/apps", headers={"Authorization": "Bearer otabox_sk_wrong"}).status_code == 429
    assert client.get("/api/v1/apps", environ_base={"REMOTE_ADDR": "192.0.2.4"}).status_code == 401
    assert "X-RateLimit-Limit" not in client.get("/healthz").headers


@pytest.mark.parametrize("path, max_age", [("/api/v1/signing-key", 300), ("/api/v1/signing-key?format=pem", 300),
                                           ("/api/v1/openapi.json", 3600)])
def test_the_public_documents_are_not_counted_and_are_cacheable(hourly_app, path, max_age):
    """Apps behind one NAT all fetch the signing key: it never meets the anonymous hourly limit."""
    client = hourly_app.test_client()
    answers = [client.get(path) for _ in range(5)]
    assert [a.status_code for a in answers] == [200] * 5
    assert all("X-RateLimit-Limit" not in a.headers for a in answers)
    assert answers[0].headers["Cache-Control"] == f"public, max-age={max_age}"
    again = client.get(path, headers={"If-None-Match": answers[0].headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    assert client.get("/api/v1/apps").status_code == 401


def test_every_public_client_endpoint_counts_against_its_address(tmp_path):
    """Device ids are the client's invention: a new one per request still meets the address's limit,
    answered in each protocol's own error shape; another address, or another /64, is not affected."""
    app = create_app(Config.from_env(data_dir=tmp_path / "d", address_rate_per_minute=4))
    try:
        client = app.test_client()
        created = Api(client, make_key(app.config["BOX"])).post("/api/v1/apps", {"slug": "com.example.rl"}).json
        for n in range(4):
            assert check(client, created, deviceId=f"new-{n}").status_code == 200
        native = check(client, created, deviceId="new-5")
        capgo = client.post("/capgo/updates", json={"app_id": "com.example.rl", "device_id": "new-6"})
        codepush = client.get("/updateCheck", query_string={"deploymentKey": "k" * 40, "appVersion": "1.0.0"})
        ofrep = client.post("/ofrep/v1/evaluate/flags/a-flag", json={}, headers={"X-Client-Key": created["clientKey"]})
        assert native.status_code == capgo.status_code == codepush.status_code == ofrep.status_code == 429
        assert ofrep.json == {"errorCode": "GENERAL", "errorDetails": native.json["error"]["message"]}
        assert native.json["error"]["code"] == "too_many_requests" and native.headers["Retry-After"]
        assert capgo.json["kind"] == "blocked" and capgo.json["error"] == "too_many_requests"
        assert codepush.mimetype == "text/plain" and codepush.headers["Retry-After"]
        assert client.get("/api/v1/openapi.json").status_code == 200  # not a client endpoint
        other = {"REMOTE_ADDR": "198.51.100.7"}
        assert check(client, created, deviceId="x", environ_base=other).status_code == 200
        for address in ("2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::9", "2001:db8:1:2::3"):
            assert check(client, created, deviceId=address, environ_base={"REMOTE_ADDR": address}).status_code == 200
        same_64 = check(client, created, deviceId="y", environ_base={"REMOTE_ADDR": "2001:db8:1:2::abcd"})
        next_64 = check(client, created, deviceId="z", environ_base={"REMOTE_ADDR": "2001:db8:1:3::1"})
        assert (same_64.status_code, next_64.status_code) == (429, 200)
    finally:
        app.config["BOX"].close()


@pytest.mark.parametrize("address, plain, unit, network", [
    ("192.0.2.7", "192.0.2.7", "192.0.2.7", "192.0.2.0/24"),
    ("::ffff:192.0.2.7", "192.0.2.7", "192.0.2.7", "192.0.2.0/24"),  # an IPv4 peer of `serve --host ::`
    ("::FFFF:192.0.2.7", "192.0.2.7", "192.0.2.7", "192.0.2.0/24"),
    ("2001:db8:1:2::9", "2001:db8:1:2::9", "2001:db8:1:2::/64", "2001:db8:1::/48"),
    ("::ffff:c000:207", "::ffff:c000:207", "::/64", "192.0.2.0/24"),
    (None, None, "-", None),
])
def test_address_units_and_networks(address, plain, unit, network):
    from otabox.security.ratelimit import address_key, network_key, plain_address

    assert (plain_address(address), address_key(plain_address(address)), network_key(address)) == (plain, unit, network)


def test_a_device_id_never_shares_a_bucket_with_an_address():
    from otabox.security.ratelimit import limit_key

    assert limit_key("health", "192.0.2.7", "198.51.100.1") != limit_key("health", None, "192.0.2.7")
    assert limit_key("health", None, "2001:db8:1:2::1") == limit_key("health", None, "2001:db8:1:2::ffff")


def test_ipv4_peers_of_a_dual_stack_socket_are_limited_each_on_its_own(tmp_path):
    """`serve --host ::` sees IPv4 clients as ::ffff:a.b.c.d: one of them using its minute must not
    lock every IPv4 phone out, and a device id spelt like an address drains only its own bucket."""
    app = create_app(Config.from_env(data_dir=tmp_path / "d", address_rate_per_minute=3, client_rate_per_minute=3))
    try:
        client = app.test_client()
        created = Api(client, make_key(app.config["BOX"])).post("/api/v1/apps", {"slug": "com.example.rl"}).json
        busy, other = {"REMOTE_ADDR": "::ffff:192.0.2.7"}, {"REMOTE_ADDR": "::ffff:192.0.2.99"}
        assert [check(client, created, deviceId=f"n{n}", environ_base=busy).status_code for n in range(4)] == [
            200, 200, 200, 429]
        assert check(client, created, deviceId="n9", environ_base=other).status_code == 200
        for _ in range(3):  # a device id that looks like the other address
            check(client, created, deviceId="::ffff:192.0.2.99", environ_base={"REMOTE_ADDR": "203.0.113.1"})
        assert check(client, created, environ_base=other).status_code == 200
    finally:
        app.config["BOX"].close()


def test_event_budgets_drop_events_past_a_device_or_an_address_budget(tmp_path):
    from otabox.security.ratelimit import EventBudget

    budget = EventBudget(bytes_per_device=1000, bytes_per_address=2500)
    assert budget.admit("d1", "10.0.0.1", 600) and not budget.admit("d1", "10.0.0.1", 600)  # the device's day is full
    assert budget.admit("d2", "10.0.0.1", 900) and budget.admit("d3", "10.0.0.1", 900)
    assert not budget.admit("d4", "10.0.0.1", 200)  # the address's day is full, whatever the device id
    assert budget.admit("d4", "10.0.0.2", 200) and budget.dropped == 2


def test_a_limiter_forgets_keys_beyond_its_bound(tmp_path):
    from otabox.security.ratelimit import TokenBucketLimiter

    limiter = TokenBucketLimiter(60, max_keys=100)
    for n in range(1000):
        limiter.take(f"device-{n}")
    assert len(limiter._buckets) <= 100


def test_large_device_bodies_use_up_their_address_minute_by_the_byte(tmp_path):
    """Parsing costs by the byte: a device body takes one token of its address's minute per 4 KB
    begun, so 16 connections of near-limit health reports meet 429 after a few dozen bodies instead
    of holding the CPU (a report of 512 KB took 128 of 3 000 tokens where it took 1). A refused body
    is not read; checks take one token, so the address's phones still check with what is left."""
    app = create_app(Config.from_env(data_dir=tmp_path / "d", address_rate_per_minute=600))
    try:
        client = app.test_client()
        created = Api(client, make_key(app.config["BOX"])).post("/api/v1/apps", {"slug": "com.example.rl"}).json
        report = {"projectSlug": "com.example.rl", "deviceId": "w2", "platform": "ios",
                  "events": [{"type": "app_launch"}], "pad": "x" * (500 * 1024)}
        answers = [client.post("/v1/ota/health-metrics", json=report).status_code for _ in range(6)]
        assert answers == [204, 204, 204, 204, 429, 429]  # 126 tokens each: 4 fit in 600
        assert check(client, created, deviceId="phone").status_code == 200  # 600 - 4 * 126: 96 tokens left
    finally:
        app.config["BOX"].close()


def test_bodies_refused_as_too_large_use_up_their_address_minute_by_the_byte(tmp_path):
    """The public-side re-attack: 60 bodies of 2 MB refused with 413 (each buffered by the server)
    took one token each, and the address still sent 12 reports of 512 KB. A refused body is charged
    by its declared length (512 tokens for 2 MB), so the address meets 429 after 5 of them and
    has room for 3 reports, not 23."""
    app = create_app(Config.from_env(data_dir=tmp_path / "d", address_rate_per_minute=3000))
    try:
        client = app.test_client()
        Api(client, make_key(app.config["BOX"])).post("/api/v1/apps", {"slug": "com.example.rl"})
        huge = b"x" * (2 * 1024 * 1024)
        answers = [client.post("/capgo/updates", data=huge, content_type="application/json").status_code
                   for _ in range(7)]
        assert answers == [413] * 5 + [429] * 2
        report = {"projectSlug": "com.example.rl", "deviceId": "w2", "platform": "ios",
                  "events": [{"type": "app_launch"}], "pad": "x" * (500 * 1024)}
        answers = [client.post("/v1/ota/health-metrics", json=report).status_code for _ in range(4)]
        assert answers == [204, 204, 204, 429]  # 3000 - 5 * 512 leaves 440 tokens: 3 reports of 126
    finally:
        app.config["BOX"].close()


def test_a_body_larger_than_an_address_minute_still_gets_through_a_full_one(tmp_path):
    """With a small OTABOX_ADDRESS_RATE_PER_MINUTE a body costs at most the whole bucket, never more
    than it can hold (which would refuse it for ever)."""
    app = create_app(Config.from_env(data_dir=tmp_path / "d", address_rate_per_minute=10))
    try:
        client = app.test_client()
        Api(client, make_key(app.config["BOX"])).post("/api/v1/apps", {"slug": "com.example.rl"})
        report = {"projectSlug": "com.example.rl", "deviceId": "w2", "platform": "ios",
                  "events": [{"type": "app_launch"}], "pad": "x" * (100 * 1024)}
        assert [client.post("/v1/ota/health-metrics", json=report).status_code for _ in range(2)] == [204, 429]
    finally:
        app.config["BOX"].close()
