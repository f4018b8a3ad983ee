"""One access-log line per request, written off the request threads.

Formatting a line is cheap; writing it through a locked handler on every request is not (it was a
third of an update check's cost under load). Lines are queued and a writer thread writes them in batches."""
from __future__ import annotations

import queue
import threading
import time


class AccessLog:
    """WSGI middleware: `<client> "<METHOD> <path>" <status> <bytes> <ms>ms`."""

    def __init__(self, app, stream):
        self.app = app
        self.stream = stream
        self.lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self.writer = threading.Thread(target=self._write_lines, name="otabox-access-log", daemon=True)
        self.writer.start()

    def __call__(self, environ, start_response):
        started = time.perf_counter()

        def logging_start_response(status, headers, exc_info=None):
            length = next((value for name, value in headers if name.lower() == "content-length"), "-")
            elapsed = (time.perf_counter() - started) * 1000
            self.lines.put(f'{time.strftime("%Y-%m-%dT%H:%M:%S")} {environ.get("REMOTE_ADDR", "-")} '
                           f'"{environ["REQUEST_METHOD"]} {environ.get("PATH_INFO", "")}" {status[:3]} {length} '
                           f'{elapsed:.1f}ms\n')
            return start_response(status, headers, exc_info)

        return self.app(environ, logging_start_response)

    def _write_lines(self) -> None:
        while True:
            line = self.lines.get()
            if line is None:
                break
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
        self.writer.join(timeout=5)
