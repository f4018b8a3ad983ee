"""Prometheus metrics: requests by kind and status, a latency histogram, Expo patch requests and launch
asset bytes, active devices per app, what a database outage costs (checks answered from memory,
buffered writes dropped) and access-log lines a stalled log stream lost.

Counting happens in the request observer (accesslog.RequestObserver) with plain dict increments
under one lock; the text format is produced only when /metrics is scraped."""
from __future__ import annotations

import datetime as dt
import threading

from peewee import JOIN, fn

from ..store.db import database_failure
from ..store.models import App, Device, utcnow

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CHECK_PATHS = ("/check", "/updateCheck", "/update_check", "/capgo/updates", "/v1/sdk/ota/check", "/manifest")


def request_kind(path: str) -> str:
    """A small, fixed set of labels (never the raw path, which would explode the series count)."""
    if path.startswith("/dl/"):
        return "download"
    if path.endswith(CHECK_PATHS):
        return "check"
    if path.startswith("/api/"):
        return "api"
    if path.startswith(("/capgo/", "/reportStatus", "/v0.1/", "/uploads/", "/expo/", "/v1/")):
        return "client"
    return "other"


class Metrics:
    def __init__(self, serving=None, buffers: dict | None = None, budgets: dict | None = None):
        """`serving`: the ServingCache (whether checks are answered from memory); `buffers`: the
        bounded buffers by name (BatchWriters), and `budgets`: the daily budgets of devices' data by name
        (security/ratelimit.py), whose `dropped` counts are shown."""
        self.serving, self.buffers, self.budgets = serving, buffers or {}, budgets or {}
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str], int] = {}
        self.buckets: dict[str, list[int]] = {}
        self.latency_sum: dict[str, float] = {}
        self.patch_requests: dict[str, int] = {}
        self.launch_asset_bytes: dict[str, int] = {}

    def show_drops(self, name: str, buffer) -> None:
        """Show the `dropped` count of one more bounded buffer (the access log's, whose writer the
        server makes)."""
        self.buffers[name] = buffer

    def count_patch_request(self, outcome: str) -> None:
        """A launch asset request that asked for a patch: `hit` (served one), `miss` (no patch of a good
        base yet, or none worth it) or `fallback` (the base or the stored patch was unusable)."""
        with self._lock:
            self.patch_requests[outcome] = self.patch_requests.get(outcome, 0) + 1

    def count_launch_asset_bytes(self, form: str, size: int) -> None:
        """Bytes of launch assets sent, `full` or `patched`."""
        with self._lock:
            self.launch_asset_bytes[form] = self.launch_asset_bytes.get(form, 0) + size

    def observe(self, path: str, status: int, seconds: float) -> None:
        kind = request_kind(path)
        klass = f"{status // 100}xx"
        with self._lock:
            self.requests[(kind, klass)] = self.requests.get((kind, klass), 0) + 1
            counts = self.buckets.get(kind)
            if counts is None:
                counts = self.buckets[kind] = [0] * (len(LATENCY_BUCKETS) + 1)
            for index, bound in enumerate(LATENCY_BUCKETS):
                if seconds <= bound:
                    counts[index] += 1
                    break
            else:
                counts[-1] += 1
            self.latency_sum[kind] = self.latency_sum.get(kind, 0.0) + seconds

    def render(self) -> str:
        with self._lock:
            requests = dict(self.requests)
            buckets = {k: list(v) for k, v in self.buckets.items()}
            sums = dict(self.latency_sum)
            patch_requests, launch_bytes = dict(self.patch_requests), dict(self.launch_asset_bytes)
        lines = ["# HELP otabox_requests_total Requests answered, by kind and status class.",
                 "# TYPE otabox_requests_total counter"]
        lines += [f'otabox_requests_total{{kind="{kind}",status="{klass}"}} {count}'
                  for (kind, klass), count in sorted(requests.items())]
        errors = sum(c for (_, klass), c in requests.items() if klass in ("4xx", "5xx"))
        lines += ["# HELP otabox_errors_total Requests answered with a 4xx or 5xx status.",
                  "# TYPE otabox_errors_total counter", f"otabox_errors_total {errors}",
                  "# HELP otabox_request_duration_seconds Time to produce the response headers.",
                  "# TYPE otabox_request_duration_seconds histogram"]
        for kind, counts in sorted(buckets.items()):
            running = 0
            for bound, count in zip(LATENCY_BUCKETS, counts):
                running += count
                lines.append(f'otabox_request_duration_seconds_bucket{{kind="{kind}",le="{bound}"}} {running}')
            running += counts[-1]
            lines.append(f'otabox_request_duration_seconds_bucket{{kind="{kind}",le="+Inf"}} {running}')
            lines.append(f'otabox_request_duration_seconds_sum{{kind="{kind}"}} {sums.get(kind, 0.0):.6f}')
            lines.append(f'otabox_request_duration_seconds_count{{kind="{kind}"}} {running}')
        lines += ["# HELP otabox_patch_requests_total Launch asset requests that asked for a patch: hit (226), miss "
                  "(no patch of that base, full asset), fallback (unusable base or stored patch, full asset).",
                  "# TYPE otabox_patch_requests_total counter"]
        lines += [f'otabox_patch_requests_total{{outcome="{outcome}"}} {patch_requests.get(outcome, 0)}'
                  for outcome in ("hit", "miss", "fallback")]
        lines += ["# HELP otabox_launch_asset_bytes_total Bytes of Expo launch assets sent, in full or as patches.",
                  "# TYPE otabox_launch_asset_bytes_total counter"]
        lines += [f'otabox_launch_asset_bytes_total{{form="{form}"}} {launch_bytes.get(form, 0)}'
                  for form in ("full", "patched")]
        lines += ["# HELP otabox_buffered_writes_dropped_total Device sightings, flag contexts or access-log lines "
                  "not kept because their buffer was full (the database or the log stream did not take them in time).",
                  "# TYPE otabox_buffered_writes_dropped_total counter"]
        lines += [f'otabox_buffered_writes_dropped_total{{buffer="{name}"}} {writer.dropped}'
                  for name, writer in sorted(self.buffers.items())]
        lines += ["# HELP otabox_over_budget_dropped_total Client events and new device rows not recorded because "
                  "their device's or address's daily budget was spent (the device was answered).",
                  "# TYPE otabox_over_budget_dropped_total counter"]
        lines += [f'otabox_over_budget_dropped_total{{budget="{name}"}} {budget.dropped}'
                  for name, budget in sorted(self.budgets.items())]
        if self.serving is not None:
            lines += ["# HELP otabox_serving_from_memory 1 when the last update check was answered from the "
                      "state in memory because the database did not answer.", "# TYPE otabox_serving_from_memory gauge",
                      f"otabox_serving_from_memory {int(self.serving.offline)}"]
        try:
            lines += self._active_devices()
        except Exception as exc:  # the database is away: the rest still tells what is going on
            if database_failure(exc) is None:
                raise
        return "\n".join(lines) + "\n"

    @staticmethod
    def _active_devices() -> list[str]:
        since = utcnow() - dt.timedelta(hours=24)
        active = (App.select(App.slug, fn.COUNT(Device.id).alias("n"))
                  .join(Device, on=((Device.app == App.id) & (Device.last_seen >= since)), join_type=JOIN.LEFT_OUTER)
                  .group_by(App.slug).order_by(App.slug))
        return ["# HELP otabox_active_devices Devices seen in the last 24 hours, per app.",
                "# TYPE otabox_active_devices gauge", *(f'otabox_active_devices{{app="{row.slug}"}} {row.n}'
                                                        for row in active)]
