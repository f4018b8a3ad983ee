"""Rate limits: failed API keys per address, and the public client endpoints per device."""
from __future__ import annotations

import pytest
from conftest import Api, check, make_key

from otabox.app import create_app
from otabox.config import Config


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
