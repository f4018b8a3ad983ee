"""Binary patches on real bundles: consecutive releases of public npm packages, as JavaScript and as
Hermes bytecode (the `hermes-compiler` package's `hermesc -emit-binary -O`), each pair's full, gzip,
brotli (q11) and bsdiff patch sizes and ratios, and the patch's build time and peak memory as the
patch maker builds it (ops.patches.Differ: bsdiff in a spawned child above 1 MB, then the patch
checked by applying it, and the full file gzipped), in a fresh process per pair; the same for the
BSDIFFXZ patch the native protocol's `otabox-patch-v1` archive holds. A second table compares other
producers (bench/patch_alternatives.py: bzip2 block splitting, HDiffPatch's `hdiffz -BSD`, 7-Zip's
bzip2 encoder), each BSDIFF40 one checked with Debian's `bspatch` when installed.

Then the 10 MB target: a 10 MB bundle (the first 10 MB of typescript's lib/typescript.js followed
by lib/tsserver.js, of 5.4.4 and of 5.4.5) patched the same way.

    python bench/patches.py [--cache DIR] [--only PACKAGE]

The packages come from the npm registry through `npm pack` (the cache keeps them between runs);
`hermesc` through `npm install hermes-compiler`. A pair whose source hermesc refuses is measured as
JavaScript only."""
from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import patch_alternatives  # noqa: E402 (bench/, beside this script)

PAIRS = [
    ("react-dom", "18.2.0", "18.3.1", ["umd/react-dom.production.min.js"]),
    ("@babel/standalone", "7.24.0", "7.24.1", ["babel.min.js"]),
    ("typescript", "5.4.4", "5.4.5", ["lib/typescript.js"]),
    ("three", "0.162.0", "0.163.0", ["build/three.cjs", "build/three.min.js"]),
]
TEN_MB = 10 * 1024 * 1024
MB = 1024 * 1024


def run(command: list[str], cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def package_file(cache: Path, name: str, version: str, candidates: list[str]) -> Path:
    """The first of `candidates` inside the package's tarball (`npm pack`, kept in `cache`)."""
    folder = cache / f"{name.replace('/', '+')}-{version}"
    if not folder.exists():
        folder.mkdir(parents=True)
        packed = run(["npm", "pack", f"{name}@{version}", "--silent", "--pack-destination", str(folder)])
        if packed.returncode != 0:
            raise SystemExit(f"npm pack {name}@{version} failed: {packed.stderr.strip()}")
        with tarfile.open(next(folder.glob("*.tgz"))) as tar:
            tar.extractall(folder, filter="data")
    for candidate in candidates:
        if (folder / "package" / candidate).exists():
            return folder / "package" / candidate
    raise SystemExit(f"none of {candidates} in {name}@{version}")


def hermesc(cache: Path) -> Path | None:
    folder = cache / "hermes-compiler"
    binary = folder / "node_modules" / "hermes-compiler" / "hermesc" / "linux64-bin" / "hermesc"
    if not binary.exists():
        folder.mkdir(parents=True, exist_ok=True)
        run(["npm", "install", "--no-audit", "--no-fund", "--silent", "--prefix", str(folder), "hermes-compiler"])
    return binary if binary.exists() else None


def compile_hbc(compiler: Path | None, source: Path) -> Path | None:
    if compiler is None:
        return None
    out = source.with_suffix(source.suffix + ".hbc")
    if not out.exists():
        done = run([str(compiler), "-emit-binary", "-O", "-w", "-out", str(out), str(source)])
        if done.returncode != 0:
            print(f"  hermesc refused {source.name}: {done.stderr.strip().splitlines()[-1:]}")
            out.unlink(missing_ok=True)
            return None
    return out


def measure(old: Path, new: Path) -> dict:
    """Build the patch in a fresh process, as the patch maker does; its size, seconds and peak RSS."""
    done = run([sys.executable, __file__, "--measure", str(old), str(new)], timeout=900)
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout)


def measure_here(old: Path, new: Path) -> None:
    """(In the child) the patch maker's steps for one pair: diff, apply to check, gzip the full file;
    then the native archive's BSDIFFXZ patch of the same pair (diff, apply to check)."""
    from otabox.core import patches, xzdiff
    from otabox.ops.patches import Differ
    from otabox.store.blobs import Staging

    def cpu() -> float:
        own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime

    with tempfile.TemporaryDirectory() as staging_dir:
        cpu_before, started = cpu(), time.perf_counter()
        with Differ(Staging(Path(staging_dir))) as differ:
            patch = differ.diff_files(old, new)
        rebuilt = patches.apply_patch(old.read_bytes(), patch)
        assert rebuilt == new.read_bytes()
        patches.compressed_size(rebuilt)
        seconds, cpu_seconds = time.perf_counter() - started, cpu() - cpu_before
        del rebuilt
        cpu_before, started = cpu(), time.perf_counter()
        with Differ(Staging(Path(staging_dir))) as differ:
            xz_patch = differ.diff_files(old, new, codec=xzdiff)
        assert xzdiff.patch(old.read_bytes(), xz_patch) == new.read_bytes()
        xz_seconds, xz_cpu_seconds = time.perf_counter() - started, cpu() - cpu_before
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({"patch": len(patch), "seconds": seconds, "cpu_seconds": cpu_seconds,
                      "xz_patch": len(xz_patch), "xz_seconds": xz_seconds, "xz_cpu_seconds": xz_cpu_seconds,
                      "rss_mb": own.ru_maxrss / 1024, "child_rss_mb": children.ru_maxrss / 1024}))


def sizes(data: bytes) -> tuple[int, int]:
    import brotli

    return len(gzip.compress(data, 9)), len(brotli.compress(data, quality=11))


def report(label: str, kind: str, old: Path, new: Path, rows: list) -> None:
    data = new.read_bytes()
    gz, br = sizes(data)
    got = measure(old, new)
    row = {"pair": label, "kind": kind, "full": len(data), "gzip": gz, "brotli": br, **got,
           "ratio": got["patch"] / br, "alternatives": patch_alternatives.measure_apart(old, new)}
    rows.append(row)
    print(f"| {label} | {kind} | {len(data) / 1024:,.0f} KB | {gz / 1024:,.0f} KB | {br / 1024:,.0f} KB | "
          f"{got['patch'] / 1024:,.1f} KB | {got['patch'] / gz:.2f} | {row['ratio']:.2f} | {got['seconds']:.1f} s "
          f"({got['cpu_seconds']:.1f} s CPU) | {got['xz_patch'] / 1024:,.1f} KB, {got['xz_patch'] / br:.2f} | "
          f"{got['xz_seconds']:.1f} s ({got['xz_cpu_seconds']:.1f} s CPU) | "
          f"{got['rss_mb']:.0f} MB | {got['child_rss_mb']:.0f} MB |", flush=True)


def alternatives(rows: list[dict]) -> None:
    """The second table: each pair's patch by every method of bench/patch_alternatives.py, as a share
    of the brotli'd full file (and its size, and the CPU seconds to make it), then each method's
    median over the HBC pairs."""
    methods = patch_alternatives.METHODS
    print("\nPatch / brotli full (patch size, CPU seconds to make it); BSDIFF40 except `xz`; — where the tool is missing")
    print("| pair | kind | " + " | ".join(methods) + " |")
    print("|---|---|" + "---|" * len(methods))
    for row in rows:
        cells = []
        for method in methods:
            got = row["alternatives"][method]
            cells.append("—" if got is None else f"{got[0] / row['brotli']:.3f} ({got[0] / 1024:,.1f} KB, {got[1]:.1f} s)")
        print(f"| {row['pair']} | {row['kind']} | " + " | ".join(cells) + " |")
    hbc = [row for row in rows if row["kind"] == "HBC" and not row["pair"].startswith("10 MB")]
    medians = []
    for method in methods:
        ratios = [row["alternatives"][method][0] / row["brotli"] for row in hbc if row["alternatives"][method]]
        medians.append(f"{method} {statistics.median(ratios):.3f}" if len(ratios) == len(hbc) and hbc else f"{method} —")
    print("SUMMARY median HBC patch/brotli by method: " + ", ".join(medians))


def ten_mb_pair(cache: Path, work: Path) -> tuple[Path, Path]:
    made = []
    for version in ("5.4.4", "5.4.5"):
        parts = [package_file(cache, "typescript", version, [name]).read_bytes()
                 for name in ("lib/typescript.js", "lib/tsserver.js")]
        path = work / f"ten-{version}.js"
        path.write_bytes(b"".join(parts)[:TEN_MB])
        made.append(path)
    return made[0], made[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "otabox-bench-patches")
    parser.add_argument("--only", help="Only this package's pair (no 10 MB run).")
    parser.add_argument("--measure", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        return measure_here(*args.measure)
    args.cache.mkdir(parents=True, exist_ok=True)
    compiler = hermesc(args.cache)
    print(f"hermesc: {compiler or 'not available (JS only)'}")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (wall time grows with it; CPU time less)")
    print("| pair | kind | full | gzip | brotli q11 | bsdiff patch | patch/gzip | patch/brotli | build (wall, CPU) | "
          "BSDIFFXZ patch (native), /brotli | its build (wall, CPU) | peak RSS | differ child RSS |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    rows: list[dict] = []
    for name, before, after, candidates in PAIRS:
        if args.only and name != args.only:
            continue
        old, new = (package_file(args.cache, name, v, candidates) for v in (before, after))
        label = f"{name} {before} → {after}"
        report(label, "JS", old, new, rows)
        old_hbc, new_hbc = compile_hbc(compiler, old), compile_hbc(compiler, new)
        if old_hbc and new_hbc:
            report(label, "HBC", old_hbc, new_hbc, rows)
    if args.only:
        return alternatives(rows)
    with tempfile.TemporaryDirectory() as work:
        old, new = ten_mb_pair(args.cache, Path(work))
        report("10 MB (typescript 5.4.4 → 5.4.5)", "JS", old, new, rows)
        ten_js = rows[-1]
        old_hbc, new_hbc = compile_hbc(compiler, old), compile_hbc(compiler, new)
        if old_hbc and new_hbc:
            report("10 MB (typescript 5.4.4 → 5.4.5)", "HBC", old_hbc, new_hbc, rows)
    alternatives(rows)
    hbc = [row for row in rows if row["kind"] == "HBC" and not row["pair"].startswith("10 MB")]
    median = statistics.median(row["ratio"] for row in hbc) if hbc else float("nan")
    median_xz = statistics.median(row["xz_patch"] / row["brotli"] for row in hbc) if hbc else float("nan")
    peak = max(ten_js["rss_mb"], ten_js["child_rss_mb"])
    print(f"SUMMARY median HBC patch/brotli {median:.2f} BSDIFF40 (Expo), {median_xz:.2f} BSDIFFXZ (native "
          f"otabox-patch-v1) (target <= 0.25); 10 MB bundle patched in {ten_js['seconds']:.1f} s, "
          f"{ten_js['cpu_seconds']:.1f} s CPU, BSDIFFXZ {ten_js['xz_seconds']:.1f} s, {ten_js['xz_cpu_seconds']:.1f} s "
          f"CPU (target < 20), peak RSS {peak:.0f} MB (target < 300)")


if __name__ == "__main__":
    main()
