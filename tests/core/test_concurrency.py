"""Parallel uploads and releases while phones check: no "database is locked" reaches a client, no
release is lost (uploads beyond the concurrent limit are retried, as `otabox publish` does), and
every check answers a state that existed."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests
from conftest import make_zip

APP = "com.example.busy"


def test_twenty_parallel_uploads_and_releases_under_check_load(live_server):
    key = live_server.cli("keys", "create", "--name", "ci").stdout.strip().splitlines()[-1]
    auth = {"Authorization": f"Bearer {key}"}
    created = requests.post(f"{live_server.url}/api/v1/apps", json={"slug": APP}, headers=auth).json()
    stop = threading.Event()
    answers, failures = [], []

    def phone(index: int) -> None:
        session = requests.Session()
        count = 0
        while not stop.is_set():
            count += 1
            response = session.get(f"{live_server.url}/api/v1/apps/{APP}/check",
                                   params={"platform": "ios", "deviceId": f"phone-{index}-{count}"},
                                   headers={"X-Client-Key": created["clientKey"]})
            if response.status_code != 200:
                failures.append(response.text)
            else:
                body = response.json()
                answers.append(body["bundle"]["version"] if body["updateAvailable"] else None)
            time.sleep(0.02)

    def publish(index: int) -> tuple[int, int]:
        version = f"1.0.{index}"
        while True:  # a few uploads are validated at once; the others are told when to come back
            bundle = requests.post(f"{live_server.url}/api/v1/apps/{APP}/bundles", headers=auth,
                                   data={"version": version},
                                   files={"file": ("b.zip", make_zip({"index.html": version, "big.js": "x" * 50_000}))})
            if bundle.status_code != 503:
                break
            time.sleep(int(bundle.headers["Retry-After"]) / 10)
        assert bundle.status_code == 201, bundle.text
        release = requests.post(f"{live_server.url}/api/v1/apps/{APP}/releases", headers=auth,
                                json={"bundleId": bundle.json()["id"], "channel": "production"})
        return bundle.status_code, release.status_code

    phones = [threading.Thread(target=phone, args=(i,)) for i in range(4)]
    for thread in phones:
        thread.start()
    try:
        with ThreadPoolExecutor(max_workers=20) as pool:
            results = list(pool.map(publish, range(20)))
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in phones:
            thread.join()
    assert results == [(201, 201)] * 20
    assert failures == []
    history = requests.get(f"{live_server.url}/api/v1/apps/{APP}/releases?limit=100", headers=auth).json()
    assert history["total"] == 20
    assert sorted(r["bundleVersion"] for r in history["releases"]) == sorted(f"1.0.{i}" for i in range(20))
    assert len(answers) > 50
    assert set(answers) <= {None} | {f"1.0.{i}" for i in range(20)}
    newest = history["releases"][0]["bundleVersion"]
    assert answers[-1] == newest
    assert "locked" not in live_server.log_text()
