"""The proof: a fleet of a thousand simulated devices against a live `otabox serve --workers 2`.

A good release walks a three-stage policy to 100% on its own; a bad one crosses the crash threshold
and is rolled back on its own; a webhook receiver on 127.0.0.1 verifies every signature and accepts
every event exactly once per delivery id, although the server is killed (kill -9) between the bad
release and its events' delivery and started again. (bench/fleet.py is the same with more devices.)"""
from __future__ import annotations

import collections
import os
import signal
import subprocess
import time

import requests
from conftest import LiveServer, make_zip
from fleet import Fleet, WebhookReceiver

SLUG = "com.example.fleet"
DEVICES = 1000
POLICY = {"name": "three stages",
          "stages": [{"percentage": 10, "minDevices": 40, "minDurationMinutes": 0.01},
                     {"percentage": 50, "minDevices": 100, "minDurationMinutes": 0.01},
                     {"percentage": 100, "minDevices": 0, "minDurationMinutes": 0}],
          "thresholds": {"crashRate": 5, "errorRate": 10, "minLaunches": 40, "action": "auto-rollback"}}
"""minLaunches no larger than the first stage's minDevices: whenever the stage could advance, there are
enough launches to judge the thresholds, which are checked first. (With minLaunches above minDevices,
a stage may advance on the first sightings while the crash reports are still in the other worker's
buffer, as the policy's contract allows: a CI run saw the bad release advance once.)"""
ENV = {"OTABOX_POLICY_INTERVAL": "1", "OTABOX_WEBHOOK_ALLOW_PRIVATE": "1", "OTABOX_WEBHOOK_RETRY_SECONDS": "0.2",
       "OTABOX_WEBHOOK_MAX_ATTEMPTS": "20", "OTABOX_WORKERS": "2",
       "OTABOX_POLICY_DEVICES_PER_NETWORK": "0"}  # the whole fleet reports from 127.0.0.1: one network


def kill_hard(server: LiveServer) -> None:
    """kill -9 the server and its worker processes (by their ids), as a power cut would."""
    children = subprocess.run(["pgrep", "-P", str(server.process.pid)], capture_output=True, text=True).stdout.split()
    for pid in [*map(int, children), server.process.pid]:
        os.kill(pid, signal.SIGKILL)
    server.process.wait()
    server.log.close()


class Admin:
    def __init__(self, server: LiveServer, key: str):
        self.server, self.key = server, key

    def call(self, method: str, path: str, **kw):
        response = requests.request(method, self.server.url + path, headers={"Authorization": f"Bearer {self.key}"},
                                    timeout=30, **kw)
        assert response.status_code < 400, (path, response.status_code, response.text)
        return response.json()

    def execution(self, execution_id: int) -> dict:
        return self.call("GET", f"/api/v1/apps/{SLUG}/rollout-executions/{execution_id}")

    def release(self, version: str, policy_id: int) -> dict:
        bundle = requests.post(f"{self.server.url}/api/v1/apps/{SLUG}/bundles", timeout=30,
                               headers={"Authorization": f"Bearer {self.key}"},
                               files={"file": ("b.zip", make_zip({"index.html": version}))},
                               data={"version": version}).json()
        return self.call("POST", f"/api/v1/apps/{SLUG}/releases",
                         json={"bundleId": bundle["id"], "channel": "production", "policyId": policy_id})


def drive(fleet: Fleet, admin: Admin, execution_id: int, until: str, deadline: float, **rates) -> list[dict]:
    """Fleet rounds until the execution reaches `until`; returns each round's figures."""
    rounds = []
    while admin.execution(execution_id)["status"] != until:
        assert time.monotonic() < deadline, (rounds, admin.execution(execution_id))
        rounds.append(fleet.round(**rates))
        time.sleep(0.3)
    return rounds


def test_a_fleet_rolls_a_good_release_out_and_a_bad_one_back_on_its_own(tmp_path):
    data_dir = tmp_path / "data"
    server = LiveServer(data_dir, ENV)
    receiver = WebhookReceiver()
    try:
        key = server.cli("keys", "create", "--name", "fleet", "--role", "admin").stdout.strip().splitlines()[-1]
        admin = Admin(server, key)
        hook = admin.call("POST", "/api/v1/webhooks", json={"url": receiver.url, "events": ["*"]})
        receiver.secret = hook["secret"]
        app = admin.call("POST", "/api/v1/apps", json={"slug": SLUG})
        policy = admin.call("POST", f"/api/v1/apps/{SLUG}/rollout-policies", json=POLICY)
        fleet = Fleet(server.url, SLUG, app["clientKey"], DEVICES)

        good = admin.release("1.0.0", policy["id"])
        assert good["release"]["rollout"] == 10
        drive(fleet, admin, good["execution"]["id"], "completed", time.monotonic() + 180)
        walked = admin.execution(good["execution"]["id"])
        assert [e["kind"] for e in walked["events"]] == ["started", "advanced", "advanced", "completed"]
        assert [e["percentage"] for e in walked["events"]] == [10, 50, 100, 100]
        assert {e["actor"] for e in walked["events"][1:]} == {"policy:three stages"}
        assert fleet.round()["versions"] == {"1.0.0": DEVICES}

        receiver.down = True  # the bad release's events cannot be delivered before the kill
        bad = admin.release("1.1.0", policy["id"])
        time.sleep(1.0)
        kill_hard(server)
        receiver.down = False
        server = LiveServer(data_dir, ENV)
        admin.server, fleet.url = server, server.url

        drive(fleet, admin, bad["execution"]["id"], "rolled_back", time.monotonic() + 180, crash_rate=0.3)
        judged = admin.execution(bad["execution"]["id"])
        assert [e["kind"] for e in judged["events"]] == ["started", "threshold_exceeded", "rolled_back"]
        assert judged["events"][1]["details"]["metric"] == "crashRate"
        channel = admin.call("GET", f"/api/v1/apps/{SLUG}/channels/production")
        assert channel["currentRelease"]["bundleVersion"] == "1.0.0"
        assert channel["currentRelease"]["actor"] == "policy:three stages"
        assert fleet.round()["versions"] == {"1.0.0": DEVICES}
        health = admin.call("GET", f"/api/v1/apps/{SLUG}/releases/{bad['release']['id']}/health")
        assert health["crashRate"] > 5 and health["topErrors"][0]["message"] == "EXC_BAD_ACCESS in 1.1.0"

        deadline = time.monotonic() + 60
        while True:
            deliveries = admin.call("GET", f"/api/v1/webhooks/{hook['id']}/deliveries?limit=500")["deliveries"]
            if all(d["status"] == "delivered" for d in deliveries):
                break
            assert time.monotonic() < deadline, [d for d in deliveries if d["status"] != "delivered"]
            time.sleep(0.5)
    finally:
        server.stop()
        receiver.close()

    accepted = receiver.accepted()
    assert all(r["verified"] for r in receiver.received)
    per_delivery = collections.Counter(r["delivery"] for r in accepted)
    assert set(per_delivery.values()) == {1}, "a delivery id was accepted twice"
    assert {d["id"] for d in deliveries} == set(per_delivery)
    event_of = {}
    for r in receiver.received:
        assert event_of.setdefault(r["delivery"], r["body"]["id"]) == r["body"]["id"]
    assert len(set(event_of.values())) == len(event_of), "two deliveries carried one event to one webhook"
    names = collections.Counter(r["event"] for r in accepted)
    assert names == {"app.created": 1, "bundle.created": 2, "release.created": 2, "rollout.advanced": 2,
                     "release.updated": 2, "rollout.completed": 1, "health.threshold_exceeded": 1,
                     "rollout.rolled_back": 1, "release.rolled_back": 1, "deployment.released": 3}, names
    assert any(r["status"] == 500 for r in receiver.received)  # the bad release's first attempts failed
