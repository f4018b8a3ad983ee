"""HTTP load on loopback: Debian's `wrk` when installed, else a bundled asyncio client.

A `Target` is one request shape; `{n}` in its path or body is replaced by a 12-digit number that
differs from request to request (a device id), cycling below `span`. Every run is bounded by its duration
and its number of connections."""
from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit


@dataclasses.dataclass(frozen=True)
class Target:
    url: str
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    body: str | None = None
    span: int = 100_000

    @property
    def varies(self) -> bool:
        return "{n}" in self.url or "{n}" in (self.body or "")

    def fill(self, text: str, n: int) -> str:
        """`text` with `{n}` replaced by n, zero-padded to 12 digits (so it can end a UUID)."""
        return text.replace("{n}", f"{n:012d}")


@dataclasses.dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    bytes: int
    errors: int
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def mb_per_s(self) -> float:
        return self.bytes / self.seconds / 1e6 if self.seconds else 0.0


def wrk_path() -> str | None:
    """wrk's path, unless BENCH_NO_WRK=1 asks for the bundled client."""
    return None if os.environ.get("BENCH_NO_WRK") == "1" else shutil.which("wrk")


def tool_name() -> str:
    return f"wrk ({wrk_path()})" if wrk_path() else "bundled asyncio client (install wrk for better figures)"


def run(target: Target, seconds: float, connections: int) -> LoadResult:
    if wrk_path():
        return run_wrk(target, seconds, connections)
    return asyncio.run(run_asyncio(target, seconds, connections))


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal for these ASCII inputs


def wrk_script(target: Target, threads: int) -> str:
    """A wrk Lua script: the request (varying `{n}` per request and thread), and a JSON result line."""
    parts = urlsplit(target.url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    headers = ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in target.headers)
    body = _lua_string(target.body) if target.body is not None else "nil"
    return f"""
local path_template = {_lua_string(path)}
local body_template = {body}
local method = {_lua_string(target.method)}
local headers = {{ {headers} }}
local threads = {threads}
local span = {target.span}
local counter = 0
local fixed = nil
tid = 0
local registered = 0

function setup(thread)
  thread:set("tid", registered)
  registered = registered + 1
end

local function fill(template, n)
  if template == nil then return nil end
  return (string.gsub(template, "{{n}}", n))
end

function request()
  if {str(not target.varies).lower()} then
    if fixed == nil then fixed = wrk.format(method, path_template, headers, body_template) end
    return fixed
  end
  local n = string.format("%012d", (counter * threads + tid) % span)
  counter = counter + 1
  return wrk.format(method, fill(path_template, n), headers, fill(body_template, n))
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKRESULT {{"requests":%d,"duration_us":%d,"bytes":%d,"errors":%d,'
    .. '"p50_us":%d,"p99_us":%d}}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect + e.read + e.write + e.status + e.timeout,
    math.floor(latency:percentile(50)), math.floor(latency:percentile(99))))
end
"""


def run_wrk(target: Target, seconds: float, connections: int) -> LoadResult:
    threads = max(1, min(connections, os.cpu_count() or 1))
    parts = urlsplit(target.url)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(wrk_script(target, threads))
    try:
        result = subprocess.run(
            [wrk_path(), f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s", "-s", script.name,
             f"{parts.scheme}://{parts.netloc}/"],
            capture_output=True, text=True, timeout=seconds + 60)
    finally:
        Path(script.name).unlink()
    line = next((l for l in result.stdout.splitlines() if l.startswith("WRKRESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed: {result.stdout}{result.stderr}")
    data = json.loads(line.split(" ", 1)[1])
    return LoadResult(requests=data["requests"], seconds=data["duration_us"] / 1e6, bytes=data["bytes"],
                      errors=data["errors"], p50_ms=data["p50_us"] / 1000, p99_ms=data["p99_us"] / 1000)


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, int]:
    """Read one HTTP/1.1 response with a Content-Length body (or none: 204, 304); return (status, bytes read)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = next((int(l.split(":", 1)[1]) for l in lines[1:] if l.lower().startswith("content-length:")), None)
    if length is None and status in (204, 304):  # no body by definition
        length = 0
    if length is None:
        raise RuntimeError("the bundled client needs a Content-Length in every response")
    left = length
    while left:
        chunk = await reader.read(min(left, 1 << 20))
        if not chunk:
            raise ConnectionError("connection closed mid-body")
        left -= len(chunk)
    return status, len(head) + length


def _request_bytes(target: Target, host: str, n: int) -> bytes:
    parts = urlsplit(target.fill(target.url, n))
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    body = target.fill(target.body or "", n).encode()
    lines = [f"{target.method} {path} HTTP/1.1", f"Host: {host}", *(f"{k}: {v}" for k, v in target.headers)]
    if target.body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def run_asyncio(target: Target, seconds: float, connections: int) -> LoadResult:
    parts = urlsplit(target.url)
    latencies: list[float] = []
    totals = {"bytes": 0, "errors": 0}
    counter = iter(range(10**12))
    started = time.perf_counter()
    deadline = started + seconds

    async def connection() -> None:
        reader = writer = None
        while time.perf_counter() < deadline:
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
                sent = time.perf_counter()
                writer.write(_request_bytes(target, parts.netloc, next(counter) % target.span))
                status, size = await asyncio.wait_for(_read_response(reader), max(0.1, deadline + 30 - sent))
                latencies.append(time.perf_counter() - sent)
                totals["bytes"] += size
                totals["errors"] += status >= 400
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError):
                totals["errors"] += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    latencies.sort()

    def percentile(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000 if latencies else 0.0

    return LoadResult(requests=len(latencies), seconds=elapsed, bytes=totals["bytes"], errors=totals["errors"],
                      p50_ms=percentile(0.50), p99_ms=percentile(0.99))
