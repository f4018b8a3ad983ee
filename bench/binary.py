"""The single binary (otabox-binary/otabox from scripts/build-binary) against the installed package: its size,
and how long each takes to answer `--version` and to start `serve` until /healthz answers, the best of
several alternating runs (the one-file binary unpacks itself to a temporary folder on every start).

Run: scripts/build-binary && python bench/binary.py [--rounds 5]"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time

from common import ROOT, Server, Workspace, free_port, machine, ratio

BINARY = ROOT / "otabox-binary" / "otabox"
PACKAGE = [sys.executable, str(ROOT / "otabox.py")]


def seconds_to_version(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([*command, "--version"], check=True, capture_output=True, env={"PATH": "/usr/bin:/bin"})
    return time.perf_counter() - started


def seconds_to_serve(workspace: Workspace, name: str, command: list[str]) -> float:
    port = free_port()
    data_dir = workspace.dir / f"{name}-{port}"
    server = workspace.start(lambda workdir: Server(name, [*command, "serve", "--port", str(port), "--data-dir",
                                                           str(data_dir)], port, workdir / f"{name}-{port}.log",
                                                    "/healthz", timeout=60))
    server.stop()
    return server.ready_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if not BINARY.is_file():
        sys.exit(f"no {BINARY}: run scripts/build-binary first")
    print(machine())
    print(f"binary: {BINARY.stat().st_size / 1e6:.1f} MB")
    commands = {"binary": [str(BINARY)], "package": PACKAGE}
    version = {name: [] for name in commands}
    ready = {name: [] for name in commands}
    with Workspace() as workspace:
        for round_number in range(args.rounds):
            for name in ("binary", "package") if round_number % 2 == 0 else ("package", "binary"):
                version[name].append(seconds_to_version(commands[name]))
                ready[name].append(seconds_to_serve(workspace, name, commands[name]))
    for name in commands:
        print(f"{name:8} --version {min(version[name]):.2f} s (runs: {', '.join(f'{s:.2f}' for s in version[name])}); "
              f"serve ready {min(ready[name]):.2f} s (runs: {', '.join(f'{s:.2f}' for s in ready[name])})")
    print(f"SUMMARY binary {BINARY.stat().st_size / 1e6:.1f} MB; --version {min(version['binary']):.2f} s "
          f"({ratio(min(version['binary']), min(version['package'])):.2f}x the package); serve ready "
          f"{min(ready['binary']):.2f} s ({ratio(min(ready['binary']), min(ready['package'])):.2f}x the package)")


if __name__ == "__main__":
    main()
