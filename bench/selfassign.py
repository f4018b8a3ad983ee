"""Update checks during a self-assignment flood, on top of 20 000 self-assigned devices.

Capgo's `POST /capgo/channel_self` is public (the app slug is the only identifier). This measures
what a flood of it does to everyone else's update checks: the native check under load, first quiet,
then while other connections post channel_self for ever-new device ids as fast as they can. The
server runs with its per-device and per-address limits off (OTABOX_CLIENT_RATE_PER_MINUTE=0,
OTABOX_ADDRESS_RATE_PER_MINUTE=0), so every flood request writes: the worst case those limits only
soften. Target (issue 12): checks during the flood within 2x of quiet (p50 and req/s).

Run from the repository root: python bench/selfassign.py [--seconds 4] [--connections 16] [--flood 4]"""
from __future__ import annotations

import argparse
import json
import threading
import time
import zipfile
from io import BytesIO

import common
import load

SLUG = "com.bench.selfassign"
SELF_ASSIGNED = 20_000
TARGET = 2.0


def check_target(url: str, client_key: str) -> load.Target:
    return load.Target(f"{url}/api/v1/apps/{SLUG}/check?channel=&platform=ios&version=builtin&deviceId=dev-{{n}}",
                       headers=(("X-Client-Key", client_key),), span=2 * SELF_ASSIGNED)


def flood_target(url: str) -> load.Target:
    body = json.dumps({"app_id": SLUG, "device_id": "flood-{n}", "platform": "ios", "version_name": "builtin",
                       "version_build": "1.0.0", "is_emulator": False, "is_prod": True, "channel": "staging"})
    return load.Target(f"{url}/capgo/channel_self", method="POST", body=body,
                       headers=(("Content-Type", "application/json"),), span=10**9)


def seed_self_assigned(data_dir) -> None:
    """20 000 devices that chose staging: dev-000000000000 … (half the ids the checks use)."""
    from otabox.store.models import App, Device

    box = common.open_box(data_dir)
    try:
        with box.db.connection_context(), box.db.atomic():
            app = App.get(App.slug == SLUG)
            for start in range(0, SELF_ASSIGNED, 1000):
                Device.insert_many([{"app": app.id, "device_id": f"dev-{n:012d}", "platform": "ios",
                                     "self_assigned_channel": "staging"}
                                    for n in range(start, start + 1000)]).execute()
    finally:
        box.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=4, help="duration of each load run (default 4)")
    parser.add_argument("--connections", type=int, default=16, help="check connections (default 16)")
    parser.add_argument("--flood", type=int, default=4, help="channel_self flood connections (default 4)")
    args = parser.parse_args()
    common.print_header("bench/selfassign.py: update checks during a channel_self flood", load.tool_name())
    env = {"OTABOX_CLIENT_RATE_PER_MINUTE": "0", "OTABOX_ADDRESS_RATE_PER_MINUTE": "0"}
    with common.Workspace() as ws:
        data_dir = ws.dir / "data"
        server = ws.start(common.otabox_server, data_dir, env=env)  # the server makes the box the key goes in
        key = common.create_admin_key(data_dir)
        api = common.Api(server.url, key)
        client_key = api.create_app(SLUG)["clientKey"]
        for channel, version in (("production", "1.0.0"), ("staging", "2.0.0")):
            buffer = BytesIO()
            with zipfile.ZipFile(buffer, "w") as archive:
                archive.writestr("index.html", version)
            api.release(SLUG, api.upload_zip(SLUG, version, buffer.getvalue())["id"], channel)
        api.call("PATCH", f"/apps/{SLUG}/channels/staging", json={"allowDeviceSelfAssign": True})
        server.stop()
        seed_self_assigned(data_dir)
        server = ws.restart(server, common.otabox_server, data_dir, env=env)
        checks = check_target(server.url, client_key)
        load.run(checks, 1, args.connections)
        quiet = load.run(checks, args.seconds, args.connections)
        flood_result = {}
        flooding = threading.Thread(target=lambda: flood_result.update(
            result=load.run(flood_target(server.url), args.seconds + 2, args.flood)))
        flooding.start()
        time.sleep(1)
        during = load.run(checks, args.seconds, args.connections)
        flooding.join()
        flood = flood_result["result"]
    print(f"{SELF_ASSIGNED} self-assigned devices; checks: {args.connections} connections, "
          f"flood: {args.flood} connections posting channel_self for new device ids")
    print(f"  {'run':28} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for name, result in (("checks, quiet", quiet), ("checks, during the flood", during),
                         ("channel_self flood", flood)):
        print(f"  {name:28} {result.rps:8.0f} {result.p50_ms:8.2f} {result.p99_ms:8.2f} {result.errors:7d}")
    p50 = common.ratio(during.p50_ms, quiet.p50_ms)
    rps = common.ratio(quiet.rps, during.rps)
    ok = p50 <= TARGET and rps <= TARGET and not during.errors
    print(f"\nSUMMARY selfassign: during a flood of {flood.rps:.0f} channel_self/s, checks p50 {p50:.2f}x and "
          f"req/s 1/{rps:.2f} of quiet (target within {TARGET}x) -> {'meets target' if ok else 'BELOW TARGET'}")


if __name__ == "__main__":
    main()
