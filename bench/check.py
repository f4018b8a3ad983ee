"""Update-check throughput: otabox's check endpoints against a Flask+waitress hello-world baseline.

Both servers run as subprocesses on free loopback ports with the same thread count and are measured
alternately (otabox, hello, hello, otabox) at growing data sizes: an empty app; one release; 10 000
releases over 50 channels; 100 000 devices recorded on top. The CodePush and Capacitor endpoints
are measured too when the server answers them, and so is OFREP's bulk evaluation of 20 flags (every
kind of rule) for one context, and a native health report (one launch, a new device id each time),
whose throughput is compared with the native check's (target >= 0.8x). Each size after the second is written straight into
the database while otabox is stopped, so every restart also measures time-to-ready on an existing
data dir.

Run from the repository root: python bench/check.py [--seconds 4] [--connections 16] [--profile [ENDPOINT]]"""
from __future__ import annotations

import argparse
import dataclasses
import json
import secrets
import sqlite3
import time
import zipfile
from io import BytesIO

import common
import load
import pyspy
import requests

SLUG = "com.bench.check"
CHANNELS = 50
RELEASES = 10_000
DEVICES = 100_000
BUNDLE_POOL = 100
FLAGS = 20
P99_LIMIT = 2.0
PROFILE_GROUPS = (
    ("device-record flush (background thread)", "DeviceTracker"),
    ("access log", "accesslog"),
    ("access log", "logging/"),
    ("database connect/close per request", "Database.connect"),
    ("database connect/close per request", "Database.close"),
    ("serving-state generation check", "current_generation"),
    ("serving-state generation check", "ServingCache._refresh"),
    ("decision (core.decide)", "decide.py"),
    ("signed download URL", "signed_download_url"),
    ("check handler, the rest", "native/updates.py"),
    ("flag evaluation", "flag_eval.py"),
    ("flag evaluation counts and contexts (background thread)", "flag_contexts.py"),
    ("OFREP handler, the rest", "ofrep.py"),
    ("Flask/Werkzeug (routing, request, JSON)", "flask/"),
    ("Flask/Werkzeug (routing, request, JSON)", "werkzeug/"),
    ("waitress (socket I/O, HTTP parsing)", "waitress/"),
)
THROUGHPUT_TARGET = 0.85
HEALTH_TARGET = 0.8
"""A health report's throughput against the native check's, at every size."""
HEALTH = "otabox health report"
PROFILED = ("native", "health", "codepush", "capacitor", "ofrep")
"""Endpoints `--profile` can put under load."""


def device_id(n: int) -> str:
    return f"dev-{n:012d}"


@dataclasses.dataclass
class Endpoint:
    name: str
    target: load.Target
    rounds: int


@dataclasses.dataclass
class Measured:
    size: str
    name: str
    best: load.LoadResult
    all_rps: list[float]


def native_target(url: str, client_key: str, path: str = f"/api/v1/apps/{SLUG}/check") -> load.Target:
    return load.Target(f"{url}{path}?channel=production&platform=ios&version=builtin&deviceId=dev-{{n}}",
                       headers=(("X-Client-Key", client_key),))


def codepush_target(url: str, deployment_key: str) -> load.Target:
    return load.Target(f"{url}/v0.1/public/codepush/update_check?deployment_key={deployment_key}"
                       "&app_version=1.0.0&client_unique_id=dev-{n}")


def capacitor_target(url: str) -> load.Target:
    body = json.dumps({"platform": "ios", "device_id": "00000000-0000-4000-8000-{n}", "app_id": SLUG,
                       "custom_id": "", "version_build": "1.0.0", "version_code": "1", "version_os": "17.0",
                       "version_name": "builtin", "plugin_version": "8.51.14", "is_emulator": False,
                       "is_prod": True})
    return load.Target(f"{url}/capgo/updates", method="POST", body=body,
                       headers=(("Content-Type", "application/json"),))


def health_target(url: str, client_key: str) -> load.Target:
    body = json.dumps({"deviceId": "dev-{n}", "platform": "ios", "bundleVersion": "1.0.0",
                       "events": [{"type": "app_launch", "count": 1}]})
    return load.Target(f"{url}/api/v1/apps/{SLUG}/health", method="POST", body=body,
                       headers=(("Content-Type", "application/json"), ("X-Client-Key", client_key)))


def ofrep_target(url: str, client_key: str) -> load.Target:
    body = json.dumps({"context": {"targetingKey": "dev-{n}", "platform": "ios", "plan": "pro", "appVersion": "2.4.1",
                                   "bundleVersion": "1.0.0"}})
    return load.Target(f"{url}/ofrep/v1/evaluate/flags", method="POST", body=body,
                       headers=(("Content-Type", "application/json"), ("X-Client-Key", client_key)))


def seed_flags(api: common.Api) -> None:
    """20 flags with a rule of each kind in turn, as an app with flags might have (none without a flags API)."""
    try:
        api.call("POST", f"/apps/{SLUG}/segments", 201, json={"name": "iOS pro", "conditions": [
            {"attribute": "platform", "operator": "eq", "valuesJson": ["ios"]},
            {"attribute": "plan", "operator": "in", "valuesJson": ["pro", "enterprise"]}]})
    except RuntimeError:
        return
    rules = [
        {"ruleType": "user_list", "ruleConfig": {"targetingKeys": [f"dev-{n:012d}" for n in range(0, 100_000, 1000)]},
         "variantValue": True},
        {"ruleType": "attribute", "ruleConfig": {"attribute": "appVersion", "operator": "semver_gte",
                                                 "values": ["2.4.0"]}, "variantValue": True},
        {"ruleType": "segment", "ruleConfig": {"segmentKey": "ios-pro"}, "variantValue": True},
        {"ruleType": "percentage_rollout", "ruleConfig": {"segmentKey": "ios-pro", "rollout": [
            {"variantValue": True, "weight": 5}]}},
        {"ruleType": "attribute", "ruleConfig": {"attribute": "bundleVersion", "operator": "in",
                                                 "values": ["0.9.0", "0.9.1"]}, "variantValue": True},
    ]
    for i in range(FLAGS):
        flag = api.call("POST", f"/apps/{SLUG}/flags", 201, json={"key": f"flag-{i:02d}", "flagType": "boolean"})
        api.call("POST", f"/apps/{SLUG}/flags/{flag['id']}/rules", 201, json=rules[i % len(rules)])


def probe(target: load.Target) -> tuple[bool, str]:
    """One request (device 0): whether the endpoint answers 200 (204), and a short excerpt of the reply."""
    try:
        response = requests.request(target.method, target.fill(target.url, 0),
                                    data=target.fill(target.body, 0) if target.body is not None else None,
                                    headers=dict(target.headers), timeout=10)
    except requests.RequestException as exc:
        return False, f"no answer ({exc.__class__.__name__})"
    return response.status_code in (200, 204), f"{response.status_code} {response.text[:160].strip()}"


def small_zip() -> bytes:
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("index.html", "<!doctype html><script src=main.js></script>")
        archive.writestr("main.js", "console.log('bench');\n" * 200)
    return buffer.getvalue()


def seed_releases(data_dir) -> None:
    """10 000 releases spread over 50 channels, each offering a bundle that exists in the store."""
    from otabox.store.generation import bump_generation
    from otabox.store.models import App, Branch, Bundle, Channel, Release

    box = common.open_box(data_dir)
    try:
        with box.db.connection_context(), box.db.atomic():
            app = App.get(App.slug == SLUG)
            real = Bundle.select().where(Bundle.app == app).order_by(Bundle.id.desc()).get()
            for i in range(CHANNELS - Channel.select().where(Channel.app == app).count()):
                branch = Branch.create(app=app, name=f"bench-{i}")  # every channel serves its own branch
                Channel.create(app=app, name=f"bench-{i}", deployment_key=secrets.token_urlsafe(30), branch=branch)
            Bundle.insert_many([{"app": app.id, "version": f"2.0.{i}", "sha256": real.sha256, "size": real.size,
                                 "signature": real.signature} for i in range(BUNDLE_POOL)]).execute()
            pool = [b.id for b in Bundle.select(Bundle.id).where(Bundle.app == app)]
            rows = []
            for channel in Channel.select().where(Channel.app == app):
                start = Release.select().where(Release.channel == channel).count()
                rows += [{"app": app.id, "channel": channel.id, "branch": channel.branch_id,
                          "bundle": pool[k % len(pool)], "kind": "release", "label": f"v{start + k + 1}"}
                         for k in range(RELEASES // CHANNELS)]
            for i in range(0, len(rows), 500):
                Release.insert_many(rows[i:i + 500]).execute()
            bump_generation()
    finally:
        box.close()


def seed_devices(data_dir) -> None:
    """100 000 recorded devices, the same ids the load uses (ids the checks recorded already are kept)."""
    from otabox.store.models import App, Device

    box = common.open_box(data_dir)
    try:
        with box.db.connection_context(), box.db.atomic():
            app = App.get(App.slug == SLUG)
            for start in range(0, DEVICES, 1000):
                Device.insert_many([{"app": app.id, "device_id": device_id(n), "platform": "ios",
                                     "native_version": "1.0.0", "channel": "production"}
                                    for n in range(start, start + 1000)]).on_conflict_ignore().execute()
    finally:
        box.close()


def counts(data_dir) -> dict:
    """Row counts, read through a read-only SQLite connection (a running server is not disturbed)."""
    from otabox.store.models import Channel, Device, Release

    db = sqlite3.connect(f"file:{data_dir / 'otabox.db'}?mode=ro", uri=True)
    try:
        return {model._meta.table_name + "s": db.execute(f"SELECT COUNT(*) FROM {model._meta.table_name}").fetchone()[0]
                for model in (Channel, Release, Device)}
    finally:
        db.close()


def retried_once(call):
    """A management call right after a load run; when it fails (a 500: SQLite's "database is locked"
    while the device-record flush writes), say so and retry once after the flush is over."""
    try:
        return call()
    except RuntimeError as exc:
        print(f"  NOTE: a management call failed right after the load, retrying in 2 s: {str(exc)[:120]}")
        time.sleep(2)
        return call()


def better_of(runs: list[load.LoadResult]) -> load.LoadResult:
    """The run with the most requests per second, with the lowest p50 and p99 seen in any run."""
    best = max(runs, key=lambda r: r.rps)
    return dataclasses.replace(best, p50_ms=min(r.p50_ms for r in runs), p99_ms=min(r.p99_ms for r in runs))


class CheckBench:
    def __init__(self, ws: common.Workspace, args):
        from otabox.config import Config

        self.ws, self.args = ws, args
        self.threads = Config.from_env().threads
        self.data_dir = ws.dir / "data"
        self.otabox = ws.start(common.otabox_server, self.data_dir)  # the server makes the box the key goes in
        self.key = common.create_admin_key(self.data_dir)
        self.hello = ws.start(common.hello_server, self.threads)
        self.api = common.Api(self.otabox.url, self.key)
        self.client_key = self.api.create_app(SLUG)["clientKey"]
        self.deployment_key = self.api.channel(SLUG, "production")["deploymentKey"]
        seed_flags(self.api)
        self.results: list[Measured] = []
        self.ready: list[float] = []

    def restart_otabox(self, extra_args: tuple = ()) -> None:
        self.otabox = self.ws.restart(self.otabox, common.otabox_server, self.data_dir, extra_args=extra_args)
        self.ready.append(self.otabox.ready_seconds)
        print(f"  otabox serve {' '.join(extra_args)} ready in {self.otabox.ready_seconds:.3f} s (existing data dir)")

    def endpoints(self) -> list[Endpoint]:
        url = self.otabox.url
        found = [Endpoint("otabox native check", native_target(url, self.client_key), self.args.rounds),
                 Endpoint("hello world", native_target(self.hello.url, self.client_key, "/hello"), self.args.rounds),
                 Endpoint(HEALTH, health_target(url, self.client_key), self.args.rounds)]
        for name, target in (("otabox codepush update_check", codepush_target(url, self.deployment_key)),
                             ("otabox capacitor updates", capacitor_target(url)),
                             ("otabox ofrep bulk (20 flags)", ofrep_target(url, self.client_key))):
            ok, excerpt = probe(target)
            if ok:
                found.append(Endpoint(name, target, 1))
            else:
                print(f"  {name}: skipped, the server does not answer it yet ({excerpt[:60]})")
        ok, excerpt = probe(found[0].target)
        if not ok:
            raise RuntimeError(f"the native check fails: {excerpt}")
        print(f"  native reply: {excerpt[:120]}")
        return found

    def measure(self, size: str) -> None:
        endpoints = self.endpoints()
        for endpoint in endpoints:
            load.run(endpoint.target, 1, self.args.connections)  # warm-up: caches, connections, JIT-free paths
        runs: dict[str, list[load.LoadResult]] = {e.name: [] for e in endpoints}
        for round_ in range(self.args.rounds):
            order = endpoints if round_ % 2 == 0 else list(reversed(endpoints))
            for endpoint in order:
                if len(runs[endpoint.name]) < endpoint.rounds:
                    runs[endpoint.name].append(load.run(endpoint.target, self.args.seconds, self.args.connections))
        for endpoint in endpoints:
            self.results.append(Measured(size, endpoint.name, better_of(runs[endpoint.name]),
                                         [r.rps for r in runs[endpoint.name]]))
        self.print_size(size)

    def print_size(self, size: str) -> None:
        rows = [m for m in self.results if m.size == size]
        hello = next(m.best for m in rows if m.name == "hello world")
        print(f"  {'endpoint':30} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'x hello':>8} "
              f"{'p99 x':>6}  runs (req/s)")
        for m in rows:
            r = m.best
            print(f"  {m.name:30} {r.rps:8.0f} {r.p50_ms:8.2f} {r.p99_ms:8.2f} {r.errors:7d} "
                  f"{common.ratio(r.rps, hello.rps):8.2f} {common.ratio(r.p99_ms, hello.p99_ms):6.2f}  "
                  + ", ".join(f"{x:.0f}" for x in m.all_rps))
        check = next(m.best for m in rows if m.name == "otabox native check")
        health = next(m.best for m in rows if m.name == HEALTH)
        print(f"  health report / native check req/s: {common.ratio(health.rps, check.rps):.2f} "
              f"(target >= {HEALTH_TARGET})")

    def profile(self, endpoint: str) -> None:
        if not pyspy.available():
            print(f"  profile skipped: py-spy is not installed ({pyspy.INSTALL_HINT})")
            return
        url = self.otabox.url
        target = {"native": native_target(url, self.client_key), "health": health_target(url, self.client_key),
                  "codepush": codepush_target(url, self.deployment_key), "capacitor": capacitor_target(url),
                  "ofrep": ofrep_target(url, self.client_key)}[endpoint]
        out = self.ws.dir / "check.collapsed"
        sampler = pyspy.record(self.otabox.pid, self.args.seconds, out)
        load.run(target, self.args.seconds, self.args.connections)
        _, error = sampler.communicate(timeout=self.args.seconds + 60)
        if not out.exists():
            print(f"  profile failed: {error.strip()[-300:]}")
            return
        print(pyspy.summarize(out, PROFILE_GROUPS))


def summary(bench: CheckBench) -> str:
    native = [m for m in bench.results if m.name == "otabox native check" and not m.size.startswith("workers")]
    hello = {m.size: m.best for m in bench.results if m.name == "hello world"}
    ratios = [m.best.rps / hello[m.size].rps for m in native]
    p99s = [m.best.p99_ms / hello[m.size].p99_ms for m in native]
    ok = min(ratios) >= THROUGHPUT_TARGET and max(p99s) <= P99_LIMIT and max(bench.ready) < 1
    parts = [f"native check {min(ratios):.2f}-{max(ratios):.2f}x hello-world req/s over {len(native)} data sizes "
             f"(target >= {THROUGHPUT_TARGET})", f"p99 {min(p99s):.2f}-{max(p99s):.2f}x (target <= {P99_LIMIT})",
             f"ready {max(bench.ready):.2f} s max (target < 1)"]
    workers = [f"{m.best.rps / hello[m.size].rps:.2f}x, p99 {m.best.p99_ms / hello[m.size].p99_ms:.2f}x"
               for m in bench.results if m.name == "otabox native check" and m.size == "workers 2"]
    parts.append(f"--workers 2: {workers[0]}" if workers else "--workers not available")
    checks = {m.size: m.best.rps for m in bench.results if m.name == "otabox native check"}
    health = [m.best.rps / checks[m.size] for m in bench.results if m.name == HEALTH]
    ok = ok and min(health) >= HEALTH_TARGET
    parts.append(f"health report {min(health):.2f}-{max(health):.2f}x the native check's req/s "
                 f"(target >= {HEALTH_TARGET})")
    for name in ("otabox codepush update_check", "otabox capacitor updates", "otabox ofrep bulk (20 flags)"):
        others = [m.best.rps / hello[m.size].rps for m in bench.results if m.name == name]
        parts.append(f"{name.split()[1]} {min(others):.2f}-{max(others):.2f}x" if others
                     else f"{name.split()[1]} not measured")
    return "SUMMARY check: " + "; ".join(parts) + (" -> meets targets" if ok else " -> BELOW TARGET")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=4, help="duration of each load run (default 4)")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections (default 16)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs per server and size (default 2)")
    parser.add_argument("--profile", nargs="?", const="native", choices=PROFILED,
                        help="sample otabox with py-spy at the end, under the load of one endpoint (default native)")
    args = parser.parse_args()
    common.print_header("bench/check.py: update check vs Flask+waitress hello world", load.tool_name())
    if not load.wrk_path():
        print(f"  (wrk not found; install it with: {common.INSTALL_HINT})")
    with common.Workspace() as ws:
        bench = CheckBench(ws, args)
        print(f"threads: {bench.threads} (otabox default, same for hello); {args.connections} connections; "
              f"{args.seconds} s per run; best of {args.rounds} alternating runs")
        print(f"otabox serve ready in {bench.otabox.ready_seconds:.3f} s (new data dir)")
        sizes = [("empty app", None), ("1 release", None), ("10 000 releases / 50 channels", seed_releases),
                 ("+100 000 devices", seed_devices)]
        for size, seed in sizes:
            if size == "1 release":
                bundle = retried_once(lambda: bench.api.upload_zip(SLUG, "1.0.0", small_zip()))
                retried_once(lambda: bench.api.release(SLUG, bundle["id"]))
            if seed:
                bench.otabox.stop()
                seed(bench.data_dir)
            print(f"\n-- {size}: {json.dumps(counts(bench.data_dir))}")
            if seed:
                bench.restart_otabox()
            bench.measure(size)
        if args.profile:
            print(f"\n-- py-spy profile of otabox under the {args.profile} load (largest data size)")
            bench.profile(args.profile)
        if common.otabox_supports("--workers"):
            print("\n-- workers 2 (largest data size; the run above is 1 worker)")
            bench.restart_otabox(("--workers", "2"))
            bench.measure("workers 2")
        else:
            print("\n-- otabox serve has no --workers option yet: multi-process run skipped")
    print()
    print(summary(bench))


if __name__ == "__main__":
    main()
