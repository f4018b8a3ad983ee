"""Sampling a running server with py-spy while load runs, and summing the samples by function."""
from __future__ import annotations

import collections
import shutil
import subprocess
from pathlib import Path

INSTALL_HINT = "pip install py-spy"


def available() -> bool:
    return shutil.which("py-spy") is not None


def record(pid: int, seconds: float, out: Path) -> subprocess.Popen:
    """Start sampling `pid` for `seconds` (collapsed stacks, one function per frame) into `out`."""
    return subprocess.Popen(["py-spy", "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "200",
                             "--format", "raw", "--function", "--nonblocking", "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


IDLE_LEAVES = ("Condition.wait (", "Event.wait (", "poll (", "select (")
"""Leaf frames of a thread that waits for work (py-spy cannot always tell idle threads apart)."""


def summarize(collapsed: Path, groups: tuple[tuple[str, str], ...] = (), top: int = 12) -> str:
    """Where the busy samples go: by `groups` ((label, text in a frame); a sample belongs to the
    deepest frame that matches), then the functions most often on the stack and running themselves."""
    inclusive: collections.Counter = collections.Counter()
    leaf: collections.Counter = collections.Counter()
    grouped: collections.Counter = collections.Counter()
    busy = idle = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        raw = [f for f in stack.split(";") if not f.startswith("Thread.")]
        frames = [_short(f) for f in raw]
        if not frames or not count.isdigit():
            continue
        if frames[-1].startswith(IDLE_LEAVES):
            idle += int(count)
            continue
        busy += int(count)
        for frame in set(frames):
            inclusive[frame] += int(count)
        leaf[frames[-1]] += int(count)
        grouped[_group(raw, groups)] += int(count)
    if not busy:
        return "  (no busy samples)"
    lines = [f"  {busy} busy samples over all threads ({idle} idle ones left out)"]
    if groups:
        lines.append("  by activity (deepest matching frame):")
        lines += [f"    {100 * grouped[label] / busy:5.1f}%  {label}"
                  for label in dict.fromkeys([label for label, _ in groups] + ["other"]) if grouped[label]]
    lines.append("  functions on the stack (inclusive):")
    lines += [f"    {100 * n / busy:5.1f}%  {frame}" for frame, n in inclusive.most_common(top)]
    lines.append("  functions running themselves (self):")
    lines += [f"    {100 * n / busy:5.1f}%  {frame}" for frame, n in leaf.most_common(top)]
    return "\n".join(lines)


def _group(frames: list[str], groups: tuple[tuple[str, str], ...]) -> str:
    for frame in reversed(frames):
        for label, text in groups:
            if text in frame:
                return label
    return "other"


def _short(frame: str) -> str:
    """'func (/long/path/site-packages/pkg/mod.py:12)' -> 'func (pkg/mod.py:12)'."""
    name, _, where = frame.partition(" (")
    parts = where.rstrip(")").split("/")
    return f"{name} ({'/'.join(parts[-2:])})" if where else name
