"""Webhook delivery and update checks while a receiver trickles its answers (issue 22).

A receiver that answers one byte a second never trips a per-read timeout; before issue 22 it held
every delivery and, through the dashboard's test button, every request thread. This starts
`otabox serve` (OTABOX_WEBHOOK_TIMEOUT_SECONDS=10), a fast receiver and a trickling one on
127.0.0.1, and measures, first quiet and then while the slow webhook has 12 queued tests and an
event of its own per app: the time from an app's creation being answered to its `app.created`
event reaching the fast receiver, and native check throughput. Target: the fast webhook's p50 and
the checks' req/s within 2x of quiet.

Run from the repository root: python bench/webhooks.py [--events 10] [--seconds 4] [--connections 16]"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import common
import load
from common import ROOT, Api, Workspace, create_admin_key, otabox_server

sys.path.insert(0, str(ROOT / "tests"))
from fleet import TricklingReceiver, WebhookReceiver  # noqa: E402

SLUG = "com.bench.webhooks"
TARGET = 2.0


def delivery_seconds(api: Api, receiver: WebhookReceiver, prefix: str, events: int) -> list[float]:
    """For each of `events` new apps: seconds from its creation's answer to its event's arrival."""
    waits = []
    for n in range(events):
        slug = f"{prefix}.{n}"
        api.create_app(slug)
        answered = time.monotonic()
        deadline = answered + 60
        while not any(r["body"]["app"]["slug"] == slug for r in receiver.received):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the app.created event of {slug} did not arrive in 60 s")
            time.sleep(0.002)
        waits.append(time.monotonic() - answered)
    return waits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10, help="events timed per phase (default 10)")
    parser.add_argument("--seconds", type=int, default=4, help="duration of each check run (default 4)")
    parser.add_argument("--connections", type=int, default=16, help="check connections (default 16)")
    args = parser.parse_args()
    common.print_header("bench/webhooks.py: delivery and checks while a receiver trickles", load.tool_name())
    env = {"OTABOX_WEBHOOK_ALLOW_PRIVATE": "1", "OTABOX_WEBHOOK_TIMEOUT_SECONDS": "10"}
    fast, slow = WebhookReceiver(), TricklingReceiver()
    try:
        with Workspace() as ws:
            data_dir = ws.dir / "data"
            server = ws.start(otabox_server, data_dir, env=env)  # the server makes the box the key goes in
            key = create_admin_key(data_dir, env=env)
            api = Api(server.url, key)
            client_key = api.create_app(SLUG)["clientKey"]
            checks = load.Target(f"{server.url}/api/v1/apps/{SLUG}/check?platform=ios&version=builtin&deviceId=d{{n}}",
                                 headers=(("X-Client-Key", client_key),), span=100_000)
            api.call("POST", "/webhooks", 201, json={"url": fast.url, "events": ["app.created"]})
            load.run(checks, 1, args.connections)
            quiet_checks = load.run(checks, args.seconds, args.connections)
            quiet = delivery_seconds(api, fast, "com.bench.quiet", args.events)
            hook = api.call("POST", "/webhooks", 201, json={"url": slow.url, "events": ["app.created"]})
            for _ in range(12):
                api.call("POST", f"/webhooks/{hook['id']}/test", 202)
            during = delivery_seconds(api, fast, "com.bench.slow", args.events)
            slow_checks = load.run(checks, args.seconds, args.connections)
            slow_requests = slow.requests
    finally:
        fast.close()
        slow.close()
    print(f"  {'phase':40} {'p50 s':>8} {'max s':>8} {'checks/s':>9} {'errors':>7}")
    for name, waits, result in (("quiet", quiet, quiet_checks),
                                ("a receiver trickling 1 byte/s", during, slow_checks)):
        print(f"  {name:40} {statistics.median(waits):8.3f} {max(waits):8.3f} {result.rps:9.0f} {result.errors:7d}")
    print(f"  the trickling receiver got {slow_requests} requests (one attempt at a time, each cut at 10 s)")
    delivery = common.ratio(statistics.median(during), statistics.median(quiet))
    throughput = common.ratio(quiet_checks.rps, slow_checks.rps)
    ok = delivery <= TARGET and throughput <= TARGET and not slow_checks.errors
    print(f"\nSUMMARY webhooks: with a receiver trickling its answers, another webhook's delivery p50 {delivery:.2f}x "
          f"and checks req/s 1/{throughput:.2f} of quiet (target within {TARGET}x) -> "
          f"{'meets target' if ok else 'BELOW TARGET'}")


if __name__ == "__main__":
    main()
