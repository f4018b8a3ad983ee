"""PostgreSQL stopped under a live server: update checks of every fast-path protocol and OFREP
evaluations go on answering, signed, from the serving state in memory; writes answer 503 with
Retry-After; when the database is back, writes work again without restarting otabox and the
sightings of the outage are written (those past the buffer's bound dropped and counted), and the
background loops said so in a few lines."""
from __future__ import annotations

import time

import pytest
import requests
from conftest import SHARED_SECRET_KEY, LiveServer, free_port, make_zip
from postgres import PostgresServer

APP = "com.example.outage"
pytestmark = pytest.mark.single_engine  # it starts its own PostgreSQL cluster, whatever the suite runs on


@pytest.fixture
def own_postgres():
    """A cluster of the test's own: stopping it never stops the one the rest of the suite shares."""
    server = PostgresServer(free_port())
    yield server
    server.stop()


def until(condition, seconds: float = 30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"still not true after {seconds} s")


def test_checks_answer_from_memory_while_postgresql_is_down_and_sightings_arrive_after(tmp_path, own_postgres):
    server = LiveServer(tmp_path / "d", env={"OTABOX_DATABASE_URL": own_postgres.new_database(),
                                             "OTABOX_SECRET_KEY": SHARED_SECRET_KEY, "OTABOX_METRICS_PUBLIC": "1",
                                             "OTABOX_MAX_BUFFERED_DEVICES": "4"})
    try:
        key = server.cli("keys", "create", "--name", "ci").stdout.strip().splitlines()[-1]
        auth = {"Authorization": f"Bearer {key}"}
        app = requests.post(f"{server.url}/api/v1/apps", json={"slug": APP}, headers=auth).json()
        bundle = requests.post(f"{server.url}/api/v1/apps/{APP}/bundles", headers=auth, data={"version": "1.0.0"},
                               files={"file": ("b.zip", make_zip({"index.html": "one"}))}).json()
        requests.post(f"{server.url}/api/v1/apps/{APP}/releases", headers=auth,
                      json={"bundleId": bundle["id"], "channel": "production"}).raise_for_status()
        requests.post(f"{server.url}/api/v1/apps/{APP}/flags", headers=auth,
                      json={"key": "new-checkout", "flagType": "boolean"}).raise_for_status()
        deployment_key = requests.get(f"{server.url}/api/v1/apps/{APP}/channels/production",
                                      headers=auth).json()["deploymentKey"]

        def native(device: str) -> requests.Response:
            return requests.get(f"{server.url}/api/v1/apps/{APP}/check", headers={"X-Client-Key": app["clientKey"]},
                                params={"deviceId": device, "platform": "ios"}, timeout=10)

        def codepush() -> requests.Response:
            return requests.get(f"{server.url}/v0.1/public/codepush/update_check", timeout=10, params={
                "deployment_key": deployment_key, "app_version": "1.0.0", "client_unique_id": "cp-phone"})

        def capacitor() -> requests.Response:
            return requests.post(f"{server.url}/capgo/updates", timeout=10, json={
                "app_id": APP, "device_id": "cap-phone", "platform": "ios", "version_name": "builtin",
                "version_build": "1.0.0", "is_emulator": False, "is_prod": True})

        def evaluation() -> requests.Response:
            return requests.post(f"{server.url}/ofrep/v1/evaluate/flags/new-checkout", timeout=10,
                                 headers={"Authorization": f"Bearer {app['clientKey']}"},
                                 json={"context": {"targetingKey": "u1"}})

        before = [native("warm-up").json(), codepush().json(), capacitor().json(), evaluation().json()]
        until(lambda: len(server.rows("SELECT device_id FROM device")) == 3)  # nothing left in the buffer
        own_postgres.halt()

        during = [native(f"outage-{n}") for n in range(6)]
        assert [r.status_code for r in during] == [200] * 6
        for reply in during:
            body = reply.json()
            assert body["bundle"]["version"] == "1.0.0"
            assert body["signed"]["version"] == "1.0.0" and body["signedSignature"]
        assert (codepush().json(), capacitor().json(), evaluation().json()) == tuple(before[1:])
        refused = requests.post(f"{server.url}/api/v1/apps", json={"slug": "com.example.later"}, headers=auth,
                                timeout=10)
        assert refused.status_code == 503 and refused.headers["Retry-After"]
        assert refused.json()["error"]["code"] == "database_unavailable"
        metrics = requests.get(f"{server.url}/metrics", timeout=10).text
        assert "otabox_serving_from_memory 1" in metrics

        own_postgres.start()
        until(lambda: requests.post(f"{server.url}/api/v1/apps", json={"slug": "com.example.later"}, headers=auth,
                                    timeout=10).status_code == 201)
        seen = until(lambda: server.rows("SELECT device_id FROM device WHERE device_id LIKE 'outage-%'"))
        assert len(seen) == 4, "the buffer keeps 4 devices"
        assert native("after").json()["bundle"]["version"] == "1.0.0"
        metrics = until(lambda: native("after") and (text := requests.get(f"{server.url}/metrics", timeout=10).text)
                        and "otabox_serving_from_memory 0" in text and text)
        assert 'otabox_buffered_writes_dropped_total{buffer="devices"} 4' in metrics, \
            "the 2 other native devices, the CodePush and the Capacitor phone"
        until(lambda: "database reachable again" in server.log_text())
        assert "Traceback" not in server.log_text(), "background loops tell an outage in a line, not tracebacks"
    finally:
        server.stop()
