"""Upload cost: a 200 MB bundle (and a 20 MB one, to show the memory does not follow the size) as
a multipart upload and as a two-step upload (initiate, PUT to the signed URL, finalize): seconds,
MB/s and the server's peak RSS growth, read from /proc/<pid>/status (VmRSS sampled every 5 ms,
and VmHWM, the kernel's own peak).

Each upload gets a freshly started `otabox serve` on the same data dir (so its VmHWM is its own),
warmed up by a tiny upload of the same kind before the baseline is read.

Run from the repository root: python bench/upload.py [--size-mb 200]"""
from __future__ import annotations

import argparse
import dataclasses
import threading
import time
import zipfile
from io import BytesIO
from pathlib import Path
from urllib.parse import urlsplit

import common

SLUG = "com.bench.upload"
RSS_LIMIT_MB = 30


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


class RssSampler(threading.Thread):
    """Samples a process's VmRSS until stopped; `peak_kb` is the highest value seen."""

    def __init__(self, pid: int, interval: float = 0.005):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_kb = status_kb(pid, "VmRSS")
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.wait(self.interval):
            self.peak_kb = max(self.peak_kb, status_kb(self.pid, "VmRSS"))

    def finish(self) -> int:
        self._stopping.set()
        self.join()
        return self.peak_kb


@dataclasses.dataclass
class UploadResult:
    method: str
    size: int
    seconds: float
    baseline_kb: int
    peak_kb: int
    phases: str

    @property
    def mb_per_s(self) -> float:
        return self.size / self.seconds / 1e6

    @property
    def growth_mb(self) -> float:
        return (self.peak_kb - self.baseline_kb) / 1024


def tiny_zip(path: Path) -> Path:
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.js", "console.log('warm-up');")
    path.write_bytes(buffer.getvalue())
    return path


def multipart(api: common.Api, version: str, path: Path) -> str:
    api.upload_file(SLUG, version, path)
    return "one request"


def two_step(api: common.Api, version: str, path: Path) -> str:
    started = time.perf_counter()
    upload = api.call("POST", f"/apps/{SLUG}/bundles/initiate", 201,
                      json={"version": version, "size": path.stat().st_size, "sha256": common.file_sha256(path)})
    initiated = time.perf_counter()
    url = urlsplit(upload["uploadUrl"])
    status, body = api.send_file("PUT", f"{url.path}?{url.query}", path, {"Content-Type": "application/zip"})
    if status != 200:
        raise RuntimeError(f"PUT upload: {status} {body[:300]!r}")
    sent = time.perf_counter()
    api.call("POST", f"/apps/{SLUG}/bundles/finalize", 201, json={"uploadId": upload["uploadId"]})
    done = time.perf_counter()
    return (f"initiate {initiated - started:.2f} s (incl. client sha256), PUT {sent - initiated:.2f} s, "
            f"finalize {done - sent:.2f} s")


METHODS = {"multipart": multipart, "two-step": two_step}


class UploadBench:
    def __init__(self, ws: common.Workspace, max_mb: int):
        self.ws = ws
        self.data_dir = ws.dir / "data"
        self.env = {"OTABOX_MAX_BUNDLE_MB": str(max_mb)}
        self.server = ws.start(common.otabox_server, self.data_dir, env=self.env)  # it makes the box the key goes in
        self.key = common.create_admin_key(self.data_dir)
        common.Api(self.server.url, self.key).create_app(SLUG)
        self.warm_up_zip = tiny_zip(ws.dir / "tiny.zip")
        self.versions = iter(f"1.0.{i}" for i in range(1, 1000))
        self.ready: list[float] = []

    def measure(self, method: str, path: Path) -> UploadResult:
        self.server = self.ws.restart(self.server, common.otabox_server, self.data_dir, env=self.env)
        self.ready.append(self.server.ready_seconds)
        api = common.Api(self.server.url, self.key)
        METHODS[method](api, next(self.versions), self.warm_up_zip)
        baseline = status_kb(self.server.pid, "VmRSS")
        hwm_before = status_kb(self.server.pid, "VmHWM")
        sampler = RssSampler(self.server.pid)
        sampler.start()
        started = time.perf_counter()
        phases = METHODS[method](api, next(self.versions), path)
        seconds = time.perf_counter() - started
        peak = sampler.finish()
        hwm_after = status_kb(self.server.pid, "VmHWM")
        if hwm_after > hwm_before:
            peak = max(peak, hwm_after)
        return UploadResult(method, path.stat().st_size, seconds, baseline, peak, phases)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=200, help="the big upload in MB (default 200)")
    parser.add_argument("--small-mb", type=int, default=20, help="the small upload in MB (default 20)")
    args = parser.parse_args()
    common.print_header("bench/upload.py: multipart and two-step uploads, time and server memory", "n/a (one client)")
    with common.Workspace() as ws:
        files = {mb: common.write_random_zip(ws.dir / f"bundle-{mb}.zip", mb * 1_000_000, members=4)
                 for mb in (args.small_mb, args.size_mb)}
        bench = UploadBench(ws, args.size_mb + 50)
        print(f"bundles: zips of 4 stored members of random bytes; server limit {args.size_mb + 50} MiB; each upload "
              "on a freshly started server after a tiny warm-up upload of the same kind")
        print(f"  {'method':10} {'MB':>5} {'seconds':>8} {'MB/s':>7} {'RSS before':>11} {'peak':>8} {'growth':>8}"
              "  phases")
        results = []
        for mb, path in files.items():
            for method in METHODS:
                result = bench.measure(method, path)
                results.append(result)
                print(f"  {method:10} {result.size / 1e6:5.0f} {result.seconds:8.2f} {result.mb_per_s:7.1f} "
                      f"{result.baseline_kb / 1024:9.1f}MB {result.peak_kb / 1024:6.1f}MB {result.growth_mb:6.1f}MB"
                      f"  {result.phases}")
        print("otabox serve ready on the existing data dir: " + ", ".join(f"{s:.3f} s" for s in bench.ready))
    print()
    print(summary(results, args.size_mb, bench.ready))


def summary(results: list[UploadResult], big_mb: int, ready: list[float]) -> str:
    big = [r for r in results if round(r.size / 1e6) == big_mb]
    small = {r.method: r for r in results if r not in big}
    parts = [f"{r.method} {r.size / 1e6:.0f} MB in {r.seconds:.1f} s ({r.mb_per_s:.0f} MB/s), "
             f"RSS +{r.growth_mb:.1f} MB "
             f"({common.mark(r.growth_mb < RSS_LIMIT_MB)}; {small[r.method].size / 1e6:.0f} MB: "
             f"+{small[r.method].growth_mb:.1f} MB)" for r in big]
    parts.append(f"target RSS growth < {RSS_LIMIT_MB} MB; ready {max(ready):.2f} s max ({common.mark(max(ready) < 1)})")
    return "SUMMARY upload: " + "; ".join(parts)


if __name__ == "__main__":
    main()
