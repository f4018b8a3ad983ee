"""A database outage under steady check load: checks served and failed before, during and after
PostgreSQL is stopped, and how long after its restart a write succeeds again.

    python bench/outage.py [--outage 12] [--phase 5] [--threads 4]

Needs Debian's postgresql (a private cluster is started and stopped, never a shared one). The
issue's bar: during the outage at least 90% of checks answer 200 with the released bundle."""
from __future__ import annotations

import argparse
import sys
import threading
import time

import common
import requests

sys.path.insert(0, str(common.ROOT / "tests"))
from postgres import PostgresServer  # noqa: E402

SLUG = "com.example.outage"
SECRET_KEY = "bench secret key shared by every process"


class CheckLoad:
    """`threads` devices checking in a loop; counts answers per phase (right update / anything else)."""

    def __init__(self, url: str, client_key: str, threads: int):
        self.url, self.client_key = url, client_key
        self.phase = "before"
        self.counts: dict[str, list[int]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(threads)]

    def _run(self, n: int) -> None:
        session = requests.Session()
        sequence = 0
        while not self._stop.is_set():
            sequence += 1
            try:
                reply = session.get(f"{self.url}/api/v1/apps/{SLUG}/check", timeout=5,
                                    params={"platform": "ios", "deviceId": f"dev-{n}-{sequence % 500}"},
                                    headers={"X-Client-Key": self.client_key})
                served = reply.status_code == 200 and reply.json().get("bundle", {}).get("version") == "1.0.0"
            except requests.RequestException:
                served = False
            with self._lock:
                counts = self.counts.setdefault(self.phase, [0, 0])
                counts[0 if served else 1] += 1

    def __enter__(self) -> "CheckLoad":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outage", type=float, default=12, help="seconds PostgreSQL stays stopped")
    parser.add_argument("--phase", type=float, default=5, help="seconds of load before and after it")
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    common.print_header("checks through a PostgreSQL outage", "python threads (requests)")
    with common.Workspace() as workspace:
        postgres = PostgresServer(common.free_port())
        workspace.callback(postgres.stop)
        env = {"OTABOX_DATABASE_URL": postgres.new_database(), "OTABOX_SECRET_KEY": SECRET_KEY,
               "OTABOX_CLIENT_RATE_PER_MINUTE": "0", "OTABOX_ADDRESS_RATE_PER_MINUTE": "0"}
        data_dir = workspace.dir / "data"
        server = workspace.start(common.otabox_server, data_dir, env)
        api = common.Api(server.url, common.create_admin_key(data_dir, env))
        app = api.create_app(SLUG)
        api.release(SLUG, api.upload_zip(SLUG, "1.0.0", common.write_random_zip(
            workspace.dir / "bundle.zip", 64 * 1024).read_bytes())["id"])
        with CheckLoad(server.url, app["clientKey"], args.threads) as load:
            time.sleep(args.phase)
            load.phase = "outage"
            postgres.halt()
            time.sleep(args.outage)
            load.phase = "after"
            postgres.start()
            restarted = time.monotonic()
            while api.session.post(f"{server.url}/api/v1/apps", json={"slug": "com.example.after"},
                                   timeout=5).status_code != 201:
                time.sleep(0.1)
            write_back = time.monotonic() - restarted
            time.sleep(args.phase)
        for phase in ("before", "outage", "after"):
            served, failed = load.counts.get(phase, [0, 0])
            print(f"{phase:7} checks served {served:6}  failed {failed:5}  "
                  f"served {served / max(served + failed, 1):.1%}")
        print(f"first write accepted {write_back:.1f} s after PostgreSQL restarted")


if __name__ == "__main__":
    main()
