"""`otabox publish --policy`, `otabox executions ...` and `otabox webhooks ...` against a live server."""
from __future__ import annotations

import json
import time

import requests
from conftest import LiveServer
from fleet import WebhookReceiver
from test_live_server import cli_key, run_cli

APP = "com.example.rollouts"


def test_publish_under_a_policy_then_control_the_execution(tmp_path):
    server = LiveServer(tmp_path / "data", {"OTABOX_WEBHOOK_ALLOW_PRIVATE": "1"})
    receiver = WebhookReceiver()
    try:
        key = cli_key(server, "ops", "admin")
        created = run_cli(server, key, "webhooks", "create", "--url", receiver.url, "--event", "release.created",
                          "--event", "rollout.paused")
        receiver.secret = created.stdout.strip().splitlines()[-1]
        assert receiver.secret.startswith("whsec_") and "shown only now" in created.stderr
        auth = {"Authorization": f"Bearer {key}"}
        requests.post(f"{server.url}/api/v1/apps", json={"slug": APP}, headers=auth, timeout=10)
        requests.post(f"{server.url}/api/v1/apps/{APP}/rollout-policies", headers=auth, timeout=10, json={
            "name": "careful", "stages": [{"percentage": 5}, {"percentage": 50}, {"percentage": 100}]})
        dist = tmp_path / "dist"
        dist.mkdir()
        (dist / "index.html").write_text("policy")

        missing = run_cli(server, key, "publish", str(dist), "--app", APP, "--version", "1.0.0", "--policy", "nope",
                          check=False)
        assert missing.returncode == 1 and "no rollout policy named 'nope'" in missing.stderr
        published = json.loads(run_cli(server, key, "publish", str(dist), "--app", APP, "--version", "1.0.0",
                                       "--policy", "careful", "--json").stdout)
        assert published["release"]["rollout"] == 5 and published["execution"]["status"] == "running"
        run_id = str(published["execution"]["id"])

        listed = run_cli(server, key, "executions", "list", "--app", APP).stdout
        assert "careful" in listed and "running" in listed and "STAGE" in listed
        paused = json.loads(run_cli(server, key, "executions", "pause", run_id, "--app", APP, "--json").stdout)
        assert paused["status"] == "paused"
        again = run_cli(server, key, "executions", "pause", run_id, "--app", APP, check=False)
        assert again.returncode == 1 and "cannot pause an execution that is paused" in again.stderr
        assert "running" in run_cli(server, key, "executions", "resume", run_id, "--app", APP).stdout
        advanced = json.loads(run_cli(server, key, "executions", "advance", run_id, "--app", APP, "--json").stdout)
        assert advanced["stage"] == 2 and advanced["percentage"] == 50
        assert "cancelled" in run_cli(server, key, "executions", "cancel", run_id, "--app", APP).stdout
        assert "cancelled" in run_cli(server, key, "executions", "list", "--app", APP, "--status",
                                      "cancelled").stdout

        hooks = run_cli(server, key, "webhooks", "list").stdout
        assert receiver.url in hooks and "release.created,rollout.paused" in hooks
        hook_id = json.loads(run_cli(server, key, "webhooks", "list", "--json").stdout)["webhooks"][0]["id"]
        deadline = time.monotonic() + 30
        while len(receiver.accepted()) < 2:
            assert time.monotonic() < deadline, receiver.received
            time.sleep(0.2)
        assert sorted(receiver.events()) == ["release.created", "rollout.paused"]
        assert all(r["verified"] for r in receiver.received)
        deliveries = run_cli(server, key, "webhooks", "deliveries", str(hook_id)).stdout
        assert "release.created" in deliveries and "delivered" in deliveries and "200" in deliveries
    finally:
        server.stop()
        receiver.close()
