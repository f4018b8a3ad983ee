"""Download throughput: a 50 MB bundle through otabox's signed URL against nginx (Debian's, with
sendfile) serving the same bytes, alternately, with 1 and with 8 connections; plus one Range request.

Run from the repository root: python bench/download.py [--seconds 5] [--size-mb 50]"""
from __future__ import annotations

import argparse
import hashlib
import time

import common
import load
import requests

SLUG = "com.bench.download"
TARGET = 0.8
RANGE = (10_000_000, 10_999_999)


def range_request(url: str, expected: bytes) -> tuple[float, str]:
    """One `Range` request for the 1 MB slice RANGE: its time in ms and whether the reply is right."""
    started = time.perf_counter()
    response = requests.get(url, headers={"Range": f"bytes={RANGE[0]}-{RANGE[1]}"}, timeout=60)
    elapsed = (time.perf_counter() - started) * 1000
    right = (response.status_code == 206 and response.content == expected
             and response.headers.get("Content-Range", "").startswith(f"bytes {RANGE[0]}-{RANGE[1]}/"))
    return elapsed, "206, right bytes" if right else f"WRONG: {response.status_code} {len(response.content)} bytes"


def downloaded_sha256(url: str) -> str:
    digest = hashlib.sha256()
    with requests.get(url, stream=True, timeout=60) as response:
        response.raise_for_status()
        for chunk in response.iter_content(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=5, help="duration of each load run (default 5)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs per server (default 2)")
    parser.add_argument("--size-mb", type=int, default=50, help="bundle size in MB (default 50)")
    args = parser.parse_args()
    common.print_header("bench/download.py: signed-URL download vs nginx sendfile", load.tool_name())
    if not load.wrk_path():
        print(f"  (wrk not found; install it with: {common.INSTALL_HINT})")
    with common.Workspace() as ws:
        www = ws.dir / "www"
        www.mkdir()
        (www / "ready.txt").write_text("ok")
        bundle_path = common.write_random_zip(www / "bundle.zip", args.size_mb * 1_000_000)
        size = bundle_path.stat().st_size
        data_dir = ws.dir / "data"
        otabox = ws.start(common.otabox_server, data_dir)  # the server makes the box the key goes in
        key = common.create_admin_key(data_dir)
        api = common.Api(otabox.url, key)
        client_key = api.create_app(SLUG)["clientKey"]
        bundle = api.upload_file(SLUG, "1.0.0", bundle_path)
        api.release(SLUG, bundle["id"])
        offer = requests.get(f"{otabox.url}/api/v1/apps/{SLUG}/check?platform=ios&version=builtin&deviceId=bench",
                             headers={"X-Client-Key": client_key}, timeout=10).json()
        signed_url = offer["bundle"]["url"]
        servers = {"otabox signed URL": signed_url}
        nginx_binary = common.nginx_path()
        if nginx_binary:
            nginx = ws.start(common.nginx_server, www, "/ready.txt")
            servers["nginx sendfile"] = f"{nginx.url}/bundle.zip"
        else:
            print(f"  nginx not found: no baseline (install it with: {common.INSTALL_HINT})")
        print(f"bundle: {size / 1e6:.1f} MB zip; otabox threads {otabox_threads()}; nginx "
              f"{'workers auto (Debian default), sendfile on' if nginx_binary else 'absent'}; {args.seconds} s per run, "
              f"best of {args.rounds} alternating runs")
        expected_sha = common.file_sha256(bundle_path)
        for name, url in servers.items():
            same = downloaded_sha256(url) == expected_sha
            print(f"  full download from {name}: sha256 {'matches' if same else 'DIFFERS'}")
        best: dict[tuple[str, int], load.LoadResult] = {}
        for connections in (1, 8):
            print(f"\n-- {connections} connection{'s' if connections > 1 else ''}")
            runs: dict[str, list[load.LoadResult]] = {name: [] for name in servers}
            names = list(servers)
            for round_ in range(args.rounds):
                for name in names if round_ % 2 == 0 else reversed(names):
                    runs[name].append(load.run(load.Target(servers[name]), args.seconds, connections))
            print(f"  {'server':20} {'MB/s':>8} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'x nginx':>8}"
                  "  runs (MB/s)")
            for name in names:
                best[(name, connections)] = max(runs[name], key=lambda r: r.mb_per_s)
            baseline = best.get(("nginx sendfile", connections))
            for name in names:
                result = best[(name, connections)]
                print(f"  {name:20} {result.mb_per_s:8.0f} {result.rps:7.1f} {result.p50_ms:8.1f} {result.p99_ms:8.1f} "
                      f"{result.errors:7d} {common.ratio(result.mb_per_s, baseline.mb_per_s if baseline else 0):8.2f}  "
                      + ", ".join(f"{r.mb_per_s:.0f}" for r in runs[name]))
        print("\n-- one Range request (1 MB from offset 10 MB)")
        expected = bundle_path.read_bytes()[RANGE[0]:RANGE[1] + 1]
        range_ok = True
        for name, url in servers.items():
            elapsed, verdict = range_request(url, expected)
            range_ok &= verdict.startswith("206")
            print(f"  {name:20} {elapsed:7.1f} ms  {verdict}")
    print()
    print(summary(best, range_ok))


def otabox_threads() -> int:
    from otabox.config import Config

    return Config.from_env().threads


def summary(best: dict, range_ok: bool) -> str:
    parts = []
    for connections in (1, 8):
        ours = best[("otabox signed URL", connections)]
        nginx = best.get(("nginx sendfile", connections))
        if nginx:
            ratio = ours.mb_per_s / nginx.mb_per_s
            parts.append(f"{connections} conn: otabox {ours.mb_per_s:.0f} MB/s vs nginx {nginx.mb_per_s:.0f} MB/s "
                         f"= {ratio:.3f}x ({common.mark(ratio >= TARGET)}, target >= {TARGET})")
        else:
            parts.append(f"{connections} conn: otabox {ours.mb_per_s:.0f} MB/s (no nginx baseline)")
    parts.append("Range " + ("ok" if range_ok else "WRONG"))
    return "SUMMARY download: " + "; ".join(parts)


if __name__ == "__main__":
    main()
