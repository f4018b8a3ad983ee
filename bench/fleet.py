"""Health-gated rollouts under a simulated fleet: the bigger run of tests/ops/test_fleet.py.

Starts `otabox serve --workers 2` (policy interval 1 s, webhooks allowed to 127.0.0.1) and a webhook
receiver on 127.0.0.1, then drives N devices (default 5000) through the native check and the health
endpoint in rounds: a good release walks a three-stage policy (10% -> 50% -> 100%) to completion on
its own, a bad one (30% of launches crash) is rolled back on its own. Prints seconds and requests
per phase, the rounds each took, and whether every webhook delivery arrived signed, once.

Run from the repository root: python bench/fleet.py [--devices 5000] [--threads 16]"""
from __future__ import annotations

import argparse
import collections
import sys
import time

import common
from common import ROOT, Api, Workspace, create_admin_key, otabox_server

sys.path.insert(0, str(ROOT / "tests"))
from conftest import make_zip  # noqa: E402
from fleet import Fleet, WebhookReceiver  # noqa: E402

SLUG = "com.bench.fleet"
ENV = {"OTABOX_POLICY_INTERVAL": "1", "OTABOX_WEBHOOK_ALLOW_PRIVATE": "1", "OTABOX_WEBHOOK_RETRY_SECONDS": "0.5",
       "OTABOX_DEVICE_FLUSH_SECONDS": "0.5", "OTABOX_CLIENT_RATE_PER_MINUTE": "0"}


def policy(devices: int) -> dict:
    return {"name": "bench", "thresholds": {"crashRate": 5, "errorRate": 10, "minLaunches": 100,
                                            "action": "auto-rollback"},
            "stages": [{"percentage": 10, "minDevices": devices // 20, "minDurationMinutes": 0.05},
                       {"percentage": 50, "minDevices": devices // 4, "minDurationMinutes": 0.05},
                       {"percentage": 100, "minDevices": 0, "minDurationMinutes": 0}]}


def drive(fleet: Fleet, api: Api, execution_id: int, until: str, timeout: float, **rates) -> dict:
    started, rounds, requests_sent = time.monotonic(), 0, 0
    while api.call("GET", f"/apps/{SLUG}/rollout-executions/{execution_id}")["status"] != until:
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"the execution did not reach {until!r} in {timeout} s")
        figures = fleet.round(**rates)
        rounds += 1
        requests_sent += figures["requests"]
    seconds = time.monotonic() - started
    return {"seconds": seconds, "rounds": rounds, "requests": requests_sent, "rps": requests_sent / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args()
    receiver = WebhookReceiver()
    with Workspace() as work:
        data_dir = work.dir / "data"
        server = work.start(otabox_server, data_dir, ENV, ("--workers", "2"))
        api = Api(server.url, create_admin_key(data_dir))
        hook = api.call("POST", "/webhooks", 201, json={"url": receiver.url, "events": ["*"]})
        receiver.secret = hook["secret"]
        app = api.create_app(SLUG)
        policy_id = api.call("POST", f"/apps/{SLUG}/rollout-policies", 201, json=policy(args.devices))["id"]
        fleet = Fleet(server.url, SLUG, app["clientKey"], args.devices, threads=args.threads)

        def release(version: str) -> int:
            bundle = api.upload_zip(SLUG, version, make_zip({"index.html": version}))
            return api.call("POST", f"/apps/{SLUG}/releases", 201, json={
                "bundleId": bundle["id"], "channel": "production", "policyId": policy_id})["execution"]["id"]

        good = drive(fleet, api, release("1.0.0"), "completed", 600)
        bad = drive(fleet, api, release("1.1.0"), "rolled_back", 600, crash_rate=0.3)
        deadline = time.monotonic() + 60
        while any(d["status"] != "delivered" for d in api.call("GET", f"/webhooks/{hook['id']}/deliveries?limit=500")
                  ["deliveries"]):
            if time.monotonic() > deadline:
                raise RuntimeError("webhook deliveries did not all arrive within 60 s")
            time.sleep(0.5)
    receiver.close()
    accepted = receiver.accepted()
    once = set(collections.Counter(r["delivery"] for r in accepted).values()) == {1}
    signed = all(r["verified"] for r in receiver.received)
    print(f"Machine: {common.machine()}")
    for name, phase in (("good release to 100%", good), ("bad release rolled back", bad)):
        print(f"{name}: {phase['seconds']:.1f} s, {phase['rounds']} rounds, {phase['requests']} requests "
              f"({phase['rps']:.0f} req/s from {args.threads} client threads)")
    print(f"webhooks: {len(accepted)} deliveries accepted, every signature valid: {signed}, "
          f"each delivery once: {once}")
    print(f"SUMMARY fleet: {args.devices} devices; completed in {good['seconds']:.1f} s; rolled back in "
          f"{bad['seconds']:.1f} s; webhooks {'ok' if once and signed else 'FAILED'}")


if __name__ == "__main__":
    main()
