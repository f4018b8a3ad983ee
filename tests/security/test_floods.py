"""Floods of every public endpoint, with a new device id on every request, against a live server:
the database and the server's memory grow by a bounded amount, and update checks keep working.

The per-address request limit is off here (OTABOX_ADDRESS_RATE_PER_MINUTE=0, as for a flood from
many addresses; test_rate_limits.py tests it), so every request is processed and the other bounds
show: client events count against a daily byte budget per device and per address (here 1 MB per
address; the default is 16 MB), every field has a length limit, events per request are capped, and
names that are no app are not remembered. otabox 0.2.0 stored 56 MB for this flood; now 1.5 MB."""
from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from conftest import LiveServer, make_zip

APP = "com.example.flood"
REQUESTS_PER_ENDPOINT = 100
DB_GROWTH_LIMIT = 3 * 1024 * 1024
"""1 MB of events (the address's daily budget) plus a device row per check (about 1.5 KB each with a
200-character id, its daily-active row included; at most OTABOX_NEW_DEVICES_PER_ADDRESS_PER_DAY)."""
RSS_GROWTH_LIMIT = 40 * 1024 * 1024


def database_bytes(server) -> int:
    """What the database holds: SQLite's pages in use, or PostgreSQL's size of the database."""
    if server.database_url:
        return server.rows("SELECT pg_database_size(current_database())")[0][0]
    return server.rows("PRAGMA page_count")[0][0] * server.rows("PRAGMA page_size")[0][0]


def rss_bytes(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def flooded(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("flood") / "data"
    server = LiveServer(data_dir, env={"OTABOX_ADDRESS_RATE_PER_MINUTE": "0", "OTABOX_EVENT_MB_PER_ADDRESS_PER_DAY": "1"})
    try:
        key = server.cli("keys", "create", "--name", "ci").stdout.strip().splitlines()[-1]
        auth = {"Authorization": f"Bearer {key}"}
        app = requests.post(f"{server.url}/api/v1/apps", json={"slug": APP}, headers=auth).json()
        bundle = requests.post(f"{server.url}/api/v1/apps/{APP}/bundles", headers=auth, data={"version": "1.0.0"},
                               files={"file": ("b.zip", make_zip())}).json()
        requests.post(f"{server.url}/api/v1/apps/{APP}/releases", headers=auth,
                      json={"bundleId": bundle["id"], "channel": "production"})
        requests.patch(f"{server.url}/api/v1/apps/{APP}/channels/staging", headers=auth,
                       json={"allowDeviceSelfAssign": True})
        deployment_key = requests.get(f"{server.url}/api/v1/apps/{APP}/channels/production",
                                      headers=auth).json()["deploymentKey"]
        time.sleep(1)
        before = database_bytes(server), rss_bytes(server.process.pid)
        statuses = flood(server.url, app["clientKey"], deployment_key)
        time.sleep(1)  # the last device sightings are written
        after = database_bytes(server), rss_bytes(server.process.pid)
        yield server, before, after, statuses
    finally:
        server.stop()


def flood(url: str, client_key: str, deployment_key: str) -> dict[str, dict[int, int]]:
    long = "v" * 200
    capgo = {"app_id": APP, "platform": "ios", "version_name": "1.0.0", "version_build": long[:100],
             "plugin_version": "8.51.14", "is_emulator": False, "is_prod": True, "custom_id": long}
    metadata = {f"k{i}": "m" * 60 for i in range(15)}

    def native_check(session, n):
        return session.get(f"{url}/api/v1/apps/{APP}/check", headers={"X-Client-Key": client_key},
                           params={"deviceId": f"rot-{n}", "version": long[:100], "nativeVersion": long[:100],
                                   "channel": "production", "platform": "ios"})

    def native_events(session, n):
        return session.post(f"{url}/api/v1/apps/{APP}/events", headers={"X-Client-Key": client_key},
                            json=[{"deviceId": f"ev-{n}-{i}", "type": "failed", "bundleId": 1, "message": "x" * 5000}
                                  for i in range(100)])

    def capgo_updates(session, n):
        return session.post(f"{url}/capgo/updates", json={**capgo, "device_id": f"cap-{n}"})

    def capgo_stats(session, n):
        return session.post(f"{url}/capgo/stats", json=[
            {**capgo, "device_id": f"stat-{n}-{i}", "action": "download_fail", "metadata": metadata}
            for i in range(100)])

    def channel_self(session, n):
        body = {**capgo, "device_id": f"self-{n}", "channel": "staging"}
        session.post(f"{url}/capgo/channel_self", json=body)
        return session.delete(f"{url}/capgo/channel_self", json={**body, "device_id": f"never-{n}"})

    def codepush(session, n):
        session.post(f"{url}/v0.1/public/codepush/report_status/deploy", json={
            "deployment_key": deployment_key, "app_version": "1.0.0", "client_unique_id": f"cp-{n}", "label": "v1",
            "status": "DeploymentFailed"})
        return session.get(f"{url}/v0.1/public/codepush/update_check", params={
            "deployment_key": deployment_key, "app_version": "1.0.0", "client_unique_id": f"cp-{n}"})

    def expo(session, n):
        return session.get(f"{url}/expo/{APP}/manifest", headers={
            "expo-platform": "ios", "expo-runtime-version": "1.0.0", "eas-client-id": f"expo-{n}"})

    def flutter(session, n):
        return session.get(f"{url}/v1/sdk/ota/check", headers={"x-api-key": client_key},
                           params={"device_id": f"fl-{n}", "channel": "production"})

    def unknown_app(session, n):
        return session.get(f"{url}/api/v1/apps/{n:06d}{'s' * 30000}/check", headers={"X-Client-Key": client_key})

    endpoints = [native_check, native_events, capgo_updates, capgo_stats, channel_self, codepush, expo, flutter,
                 unknown_app]
    statuses: dict[str, dict[int, int]] = {}

    def run(endpoint):
        counts: dict[int, int] = {}
        with requests.Session() as session:
            for n in range(REQUESTS_PER_ENDPOINT):
                status = endpoint(session, n).status_code
                counts[status] = counts.get(status, 0) + 1
        statuses[endpoint.__name__] = counts

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(run, endpoints))
    return statuses


def test_a_flood_of_every_public_endpoint_grows_the_database_by_a_bounded_amount(flooded):
    server, before, after, statuses = flooded
    print(f"\nflood statuses: {json.dumps(statuses)}")
    print(f"database {before[0] / 1e6:.2f} MB -> {after[0] / 1e6:.2f} MB; "
          f"server RSS {before[1] / 1e6:.1f} MB -> {after[1] / 1e6:.1f} MB")
    assert after[0] - before[0] < DB_GROWTH_LIMIT
    assert after[1] - before[1] < RSS_GROWTH_LIMIT
    assert all(set(counts) <= {200, 204, 404} for counts in statuses.values()), statuses
    assert statuses["unknown_app"] == {404: REQUESTS_PER_ENDPOINT}
    events = server.rows("SELECT COUNT(*), SUM(LENGTH(message)), MAX(LENGTH(message)) FROM deviceevent")[0]
    print(f"stored events: {events[0]}, {events[1] / 1e6:.2f} MB of messages, longest {events[2]}")
    assert events[1] < 1024 * 1024 and events[2] <= 1500
    assert "Traceback" not in server.log_text()


def test_checks_still_work_after_the_flood(flooded):
    server = flooded[0]
    reply = requests.post(f"{server.url}/capgo/updates", json={"app_id": APP, "device_id": "late", "platform": "ios",
                                                                "version_name": "builtin"})
    assert reply.status_code == 200 and reply.json()["version"] == "1.0.0"


def unknown_app_checks(url: str, start: int, count: int, client_key: str = "otabox_ck_x") -> set[int]:
    with requests.Session() as session:
        return {session.get(f"{url}/api/v1/apps/{n:06d}{'s' * 30000}/check",
                            headers={"X-Client-Key": client_key}).status_code for n in range(start, start + count)}


def test_names_that_are_no_app_cost_no_memory(flooded):
    """1 000 checks naming different 30 KB slugs: 30 MB of names a cache of misses would keep."""
    server = flooded[0]
    unknown_app_checks(server.url, 0, 100)
    before = rss_bytes(server.process.pid)
    assert unknown_app_checks(server.url, 100, 1000) == {404}
    growth = rss_bytes(server.process.pid) - before
    print(f"\nRSS growth after 1 000 unknown 30 KB slugs: {growth / 1e6:.1f} MB")
    assert growth < 8 * 1024 * 1024
