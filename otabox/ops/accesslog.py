"""Observing every request: metrics, and one access-log line per request written off the request threads.

Formatting a line is cheap; writing it through a locked handler on every request is not (it was a
third of an update check's cost under load). Lines are queued and a writer thread writes them in batches."""
from __future__ import annotations

import queue
import threading
import time


MAX_QUEUED_LINES = 100_000
"""Lines waiting for the writer (about 10 MB): a log stream that stops taking them (a stalled pipe, a
paused terminal) must not grow the server's memory with every request it keeps answering."""


class AccessLogWriter:
    """Writes queued lines to a stream in batches from its own thread. Past `max_lines` waiting, a
    line is dropped and counted in `dropped` (shown by /metrics, like the other bounded buffers)."""

    def __init__(self, stream, max_lines: int = MAX_QUEUED_LINES):
        self.stream, self.max_lines = stream, max_lines
        self.lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self.dropped = 0
        self._drop_lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, name="otabox-access-log", daemon=True)
        self.thread.start()

    def write(self, line: str) -> None:
        if self.lines.qsize() >= self.max_lines:
            with self._drop_lock:
                self.dropped += 1
            return
        self.lines.put(line)

    def _run(self) -> None:
        while True:
            line = self.lines.get()
            if line is None:
                return
            batch = [line]
            while len(batch) < 1000:
                try:
                    more = self.lines.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._flush(batch)
                    return
                batch.append(more)
            self._flush(batch)

    def _flush(self, batch: list[str]) -> None:
        try:
            self.stream.write("".join(batch))
            self.stream.flush()
        except (OSError, ValueError):
            pass  # a closed or full log stream must never take requests down with it

    def close(self) -> None:
        self.lines.put(None)
        self.thread.join(timeout=5)


LOG_ESCAPES = {code: f"\\x{code:02x}" for code in [*range(0x20), *range(0x7f, 0xa0), ord('"'), ord("\\")]}
"""Control characters, quotes and backslashes as \\xNN: a request cannot forge or split log lines."""


def log_safe(text: str) -> str:
    return text.translate(LOG_ESCAPES)


class RequestObserver:
    """WSGI middleware: counts every request in `metrics`, marks every response `nosniff`, and, with a
    writer, logs `<time> <client> "<METHOD> <path>" <status> <bytes> <ms>ms`."""

    def __init__(self, app, metrics, writer: AccessLogWriter | None = None):
        self.app, self.metrics, self.writer = app, metrics, writer

    def __call__(self, environ, start_response):
        started = time.perf_counter()

        def observing_start_response(status, headers, exc_info=None):
            elapsed = time.perf_counter() - started
            path = environ.get("PATH_INFO", "")
            self.metrics.observe(path, int(status[:3]), elapsed)
            if self.writer is not None:
                length = next((value for name, value in headers if name.lower() == "content-length"), "-")
                self.writer.write(f'{time.strftime("%Y-%m-%dT%H:%M:%S")} {log_safe(environ.get("REMOTE_ADDR", "-"))} '
                                  f'"{log_safe(environ["REQUEST_METHOD"])} {log_safe(path)}" {status[:3]} {length} '
                                  f'{elapsed * 1000:.1f}ms\n')
            headers.append(("X-Content-Type-Options", "nosniff"))
            return start_response(status, headers, exc_info)

        return self.app(environ, observing_start_response)
