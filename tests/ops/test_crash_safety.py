"""SIGKILL in the middle of uploads, finalizes, releases, rollout changes and device flushes, many
times over: nothing the server acknowledged is lost, and the data directory stays consistent (the
database passes its integrity check, every blob is whole and named by its SHA-256, `otabox gc`
leaves no orphan behind and `otabox doctor` finds nothing to fail)."""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import random
import sqlite3
import threading
import time
from pathlib import Path

import pytest
import requests
from conftest import LiveServer, make_zip

pytestmark = pytest.mark.sqlite_only  # reads the SQLite file after SIGKILLs (WAL recovery)

APP = "com.example.crashy"
ROUNDS = 10
PUBLISHERS = 5
SERVER_ENV = {"OTABOX_DEVICE_FLUSH_SECONDS": "0.1"}
SHARED_FILE = b"/* the same vendor file in every bundle: one blob that many bundles share */" * 50
DAY = 24 * 3600
BLOB_GRACE = 3600


@dataclasses.dataclass
class Ledger:
    """What the server acknowledged (a 2xx with its body), collected by every client thread."""

    bundles: dict = dataclasses.field(default_factory=dict)  # bundle id -> sha256 we sent
    releases: dict = dataclasses.field(default_factory=dict)  # release id -> bundle id
    rollouts: dict = dataclasses.field(default_factory=dict)  # release id -> [(value, acknowledged)] in order
    event_devices: list = dataclasses.field(default_factory=list)
    acknowledged: dict = dataclasses.field(default_factory=dict)  # operation -> count
    interrupted: int = 0
    failures: list = dataclasses.field(default_factory=list)
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def count(self, operation: str) -> None:
        with self.lock:
            self.acknowledged[operation] = self.acknowledged.get(operation, 0) + 1


class Publisher(threading.Thread):
    """One client doing random publishing work against the server until told to stop."""

    versions = itertools.count(1)

    def __init__(self, url: str, key: str, client_key: str, ledger: Ledger, stop: threading.Event, seed: int,
                 name: str):
        super().__init__(name=name, daemon=True)
        self.url, self.ledger, self.stop_event, self.rng = url, ledger, stop, random.Random(seed)
        self.client_key = client_key
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {key}"
        self.own_releases: list[int] = []
        self.devices = itertools.count()

    def run(self) -> None:
        operations = [self.upload_multipart, self.upload_two_step, self.release, self.change_rollout,
                      self.checks_and_events]
        while not self.stop_event.is_set():
            operation = self.rng.choices(operations, weights=[3, 2, 3, 3, 2])[0]
            try:
                operation()
            except requests.RequestException:
                with self.ledger.lock:
                    self.ledger.interrupted += 1
                self.stop_event.wait(0.05)

    def _accept(self, response: requests.Response, status: int) -> dict | None:
        """The JSON body of an acknowledged answer; anything but the expected status is a failure."""
        if response.status_code != status:
            with self.ledger.lock:
                self.ledger.failures.append(f"{response.request.method} {response.request.path_url}: "
                                            f"{response.status_code} {response.text[:300]}")
            return None
        return response.json()

    def _unless_busy(self, send) -> requests.Response:
        """Send, and again after Retry-After while the server is validating other uploads (503), as
        `otabox publish` does."""
        while True:
            response = send()
            if response.status_code != 503:
                return response
            if self.stop_event.wait(int(response.headers["Retry-After"]) / 4):
                raise requests.ConnectionError("stopped while the server was busy")

    def _bundle_zip(self, version: str) -> bytes:
        return make_zip({"index.html": f"<html>{version}</html>", "vendor.js": SHARED_FILE,
                         "payload.bin": self.rng.randbytes(self.rng.randint(20_000, 160_000))})

    def _record_bundle(self, body: dict | None, sha256: str, operation: str) -> None:
        if body is None:
            return
        if body["sha256"] != sha256:
            self.ledger.failures.append(f"bundle {body['id']} acknowledged with sha256 {body['sha256']}, sent {sha256}")
        with self.ledger.lock:
            self.ledger.bundles[body["id"]] = sha256
        self.ledger.count(operation)

    def upload_multipart(self) -> None:
        version = f"1.0.{next(self.versions)}"
        data = self._bundle_zip(version)
        response = self._unless_busy(lambda: self.session.post(
            f"{self.url}/api/v1/apps/{APP}/bundles", data={"version": version}, files={"file": ("bundle.zip", data)},
            timeout=30))
        self._record_bundle(self._accept(response, 201), hashlib.sha256(data).hexdigest(), "multipart uploads")

    def upload_two_step(self) -> None:
        version = f"1.0.{next(self.versions)}"
        data = self._bundle_zip(version)
        sha256 = hashlib.sha256(data).hexdigest()
        initiated = self._accept(self.session.post(
            f"{self.url}/api/v1/apps/{APP}/bundles/initiate",
            json={"version": version, "size": len(data), "sha256": sha256}, timeout=30), 201)
        if initiated is None:
            return
        put = requests.put(initiated["uploadUrl"], data=data, timeout=30)
        if self._accept(put, 200) is None:
            return
        finalized = self._unless_busy(lambda: self.session.post(
            f"{self.url}/api/v1/apps/{APP}/bundles/finalize", json={"uploadId": initiated["uploadId"]}, timeout=30))
        self._record_bundle(self._accept(finalized, 201), sha256, "two-step uploads")

    def release(self) -> None:
        with self.ledger.lock:
            bundle_ids = list(self.ledger.bundles)
        if not bundle_ids:
            return
        bundle_id = self.rng.choice(bundle_ids)
        rollout = self.rng.choice([10, 50, 100])
        body = self._accept(self.session.post(
            f"{self.url}/api/v1/apps/{APP}/releases",
            json={"bundleId": bundle_id, "channel": self.rng.choice(["production", "staging"]), "rollout": rollout},
            timeout=30), 201)
        if body is None:
            return
        release = body["release"]
        with self.ledger.lock:
            self.ledger.releases[release["id"]] = bundle_id
            self.ledger.rollouts[release["id"]] = [(rollout, True)]
        self.own_releases.append(release["id"])
        self.ledger.count("releases")

    def change_rollout(self) -> None:
        """Only the thread that made a release changes its rollout, so attempts on it are ordered."""
        if not self.own_releases:
            return
        release_id = self.rng.choice(self.own_releases)
        rollout = self.rng.randint(0, 100)
        attempts = self.ledger.rollouts[release_id]
        attempts.append((rollout, False))
        body = self._accept(self.session.patch(f"{self.url}/api/v1/apps/{APP}/releases/{release_id}",
                                               json={"rollout": rollout}, timeout=30), 200)
        if body is None:
            return
        if body["rollout"] != rollout:
            self.ledger.failures.append(f"release {release_id}: PATCH rollout {rollout} answered {body['rollout']}")
        attempts[-1] = (rollout, True)
        self.ledger.count("rollout changes")

    def checks_and_events(self) -> None:
        """Many devices check (buffered sightings, flushed every 0.1 s) and report events."""
        events = []
        for _ in range(15):
            device_id = f"{self.name}-{next(self.devices)}"
            answer = self._accept(requests.get(
                f"{self.url}/api/v1/apps/{APP}/check", headers={"X-Client-Key": self.client_key},
                params={"platform": self.rng.choice(["ios", "android"]), "deviceId": device_id}, timeout=30), 200)
            if answer is None:
                return
            offered = answer["bundle"]["id"] if answer.get("updateAvailable") else None
            events.append({"deviceId": device_id, "bundleId": offered,
                           "type": self.rng.choice(["downloaded", "installed", "failed"])})
        body = self._accept(requests.post(f"{self.url}/api/v1/apps/{APP}/events", json=events,
                                          headers={"X-Client-Key": self.client_key}, timeout=30), 200)
        if body is None:
            return
        if body.get("stored") != len(events):
            self.ledger.failures.append(f"events: sent {len(events)}, answer {body}")
        with self.ledger.lock:
            self.ledger.event_devices.extend(e["deviceId"] for e in events)
        self.ledger.count("event batches")


def kill(server: LiveServer) -> None:
    server.process.kill()
    server.process.wait(timeout=10)
    server.stop()


def run_round(data_dir: Path, key: str, client_key: str, ledger: Ledger, rng: random.Random,
              round_no: int) -> None:
    """Start the server on the data dir, let the publishers loose, SIGKILL it at a random moment."""
    server = LiveServer(data_dir, SERVER_ENV)
    stop = threading.Event()
    publishers = [Publisher(server.url, key, client_key, ledger, stop, rng.randrange(2**32), f"r{round_no}p{i}")
                  for i in range(PUBLISHERS)]
    for publisher in publishers:
        publisher.start()
    time.sleep(rng.uniform(0.4, 1.6))
    kill(server)
    stop.set()
    for publisher in publishers:
        publisher.join(timeout=30)
        assert not publisher.is_alive(), f"{publisher.name} hung after the kill"


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def blob_path(data_dir: Path, sha256: str) -> Path:
    return data_dir / "blobs" / sha256[:2] / sha256


def blob_files(data_dir: Path) -> dict[str, Path]:
    return {p.name: p for p in (data_dir / "blobs").glob("*/*") if p.is_file()}


def referenced_blobs(db: sqlite3.Connection) -> set[str]:
    """Every blob a bundle names (its zip, its files, format extras), read straight from the database."""
    refs = {row[0] for row in db.execute("SELECT sha256 FROM bundle")}
    refs |= {row[0] for row in db.execute("SELECT sha256 FROM bundlefile")}
    for (extra,) in db.execute("SELECT extra FROM bundle WHERE extra IS NOT NULL"):
        refs |= set((json.loads(extra) or {}).get("blobs", ()))
    return refs


def all_pages(session: requests.Session, url: str, field: str) -> list[dict]:
    rows, offset = [], 0
    while True:
        page = session.get(url, params={"limit": 500, "offset": offset}, timeout=30)
        assert page.status_code == 200, page.text
        rows += page.json()[field]
        offset += 500
        if offset >= page.json()["total"]:
            return rows


def verify_through_the_api(data_dir: Path, key: str, ledger: Ledger) -> None:
    server = LiveServer(data_dir, SERVER_ENV)
    try:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {key}"
        for bundle_id, sha256 in ledger.bundles.items():
            response = session.get(f"{server.url}/api/v1/apps/{APP}/bundles/{bundle_id}", timeout=30)
            assert response.status_code == 200, f"acknowledged bundle {bundle_id} is gone: {response.text}"
            assert response.json()["sha256"] == sha256
        history = {r["id"]: r for r in all_pages(session, f"{server.url}/api/v1/apps/{APP}/releases", "releases")}
        for release_id, bundle_id in ledger.releases.items():
            assert release_id in history, f"acknowledged release {release_id} is gone"
            assert history[release_id]["bundleId"] == bundle_id
            attempts = ledger.rollouts[release_id]
            last_acknowledged = max(i for i, (_, acknowledged) in enumerate(attempts) if acknowledged)
            allowed = {value for value, _ in attempts[last_acknowledged:]}
            assert history[release_id]["rollout"] in allowed, (release_id, attempts, history[release_id]["rollout"])
    finally:
        kill(server)


def verify_on_disk(data_dir: Path, ledger: Ledger) -> None:
    db = sqlite3.connect(data_dir / "otabox.db")
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        for bundle_id, sha256 in ledger.bundles.items():
            assert db.execute("SELECT sha256 FROM bundle WHERE id = ?", (bundle_id,)).fetchone() == (sha256,)
            assert blob_path(data_dir, sha256).is_file(), f"bundle {bundle_id} lost its file"
            assert sha256_of(blob_path(data_dir, sha256)) == sha256
        released = db.execute("SELECT r.id, r.bundle_id, b.sha256 FROM release r LEFT JOIN bundle b "
                              "ON b.id = r.bundle_id WHERE r.bundle_id IS NOT NULL").fetchall()
        assert {r[0] for r in released} >= set(ledger.releases)
        for release_id, bundle_id, sha256 in released:
            assert sha256 is not None, f"release {release_id} points at bundle {bundle_id}, which does not exist"
            assert blob_path(data_dir, sha256).is_file(), f"release {release_id} points at a missing file"
        stored_devices = {row[0] for row in db.execute("SELECT device_id FROM deviceevent")}
        assert set(ledger.event_devices) <= stored_devices, "acknowledged events were lost"
        flushed = db.execute("SELECT COUNT(*) FROM device").fetchone()[0]
        assert flushed > 0, "no device flush landed between the kills"
    finally:
        db.close()


def assert_no_garbage(data_dir: Path, collected_at: float | None) -> None:
    """Every blob is whole and referenced, every staged file belongs to a live upload; except, when
    `collected_at` is given, what was young enough at that moment for gc to spare it."""
    db = sqlite3.connect(data_dir / "otabox.db")
    try:
        referenced = referenced_blobs(db)
        live_uploads = tuple(f"upload-{row[0]}." for row in db.execute("SELECT id FROM upload"))
    finally:
        db.close()
    for sha256, path in blob_files(data_dir).items():
        assert sha256_of(path) == sha256, f"blob {sha256} is not whole"
        if sha256 not in referenced:
            assert collected_at is not None and path.stat().st_mtime > collected_at - BLOB_GRACE, f"orphan {sha256}"
    for path in (data_dir / "tmp").iterdir():
        if not path.name.startswith(live_uploads):
            assert collected_at is not None and path.stat().st_mtime > collected_at - DAY, f"orphan staged {path}"
    assert referenced <= set(blob_files(data_dir)), "a referenced blob is missing"


def age_everything(data_dir: Path, seconds: float) -> None:
    past = time.time() - seconds
    for path in [*(data_dir / "blobs").glob("*/*"), *(data_dir / "tmp").iterdir()]:
        os.utime(path, (past, past))


def test_sigkill_at_random_points_loses_nothing_acknowledged(tmp_path):
    started = time.monotonic()
    data_dir = tmp_path / "data"
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    setup = LiveServer(data_dir, SERVER_ENV)
    try:
        key = setup.cli("keys", "create", "--name", "crash-test").stdout.strip().splitlines()[-1]
        created = requests.post(f"{setup.url}/api/v1/apps", json={"slug": APP},
                                headers={"Authorization": f"Bearer {key}"}, timeout=30)
        assert created.status_code == 201, created.text
        client_key = created.json()["clientKey"]
    finally:
        setup.stop()

    ledger = Ledger()
    for round_no in range(ROUNDS):
        run_round(data_dir, key, client_key, ledger, rng, round_no)
    context = f"seed {seed}: {ledger.acknowledged}, {ledger.interrupted} interrupted"
    assert ledger.failures == [], context
    assert ledger.interrupted >= ROUNDS // 2, "the kills should land in the middle of requests: " + context
    assert ledger.acknowledged.get("multipart uploads") and ledger.acknowledged.get("two-step uploads"), context
    assert ledger.acknowledged.get("releases") and ledger.acknowledged.get("rollout changes"), context
    assert ledger.acknowledged.get("event batches"), context

    verify_through_the_api(data_dir, key, ledger)
    verify_on_disk(data_dir, ledger)

    collected_at = time.time()
    setup.cli("gc")
    assert_no_garbage(data_dir, collected_at)
    age_everything(data_dir, 2 * DAY)
    report = json.loads(setup.cli("gc", "--json").stdout)
    assert_no_garbage(data_dir, None)
    verify_on_disk(data_dir, ledger)
    logs = "".join(path.read_text(errors="replace") for path in tmp_path.glob("server-*.log"))
    assert "database is locked" not in logs and "Traceback" not in logs, logs[-3000:]
    doctor = setup.cli("doctor", "--json", check=False)
    findings = json.loads(doctor.stdout)
    assert [f for f in findings if f["level"] == "fail"] == [], findings
    assert doctor.returncode == 0
    print(f"crash test {context}; gc {report}; {time.monotonic() - started:.1f} s")  # timing is reported, not asserted
