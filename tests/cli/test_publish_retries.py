"""The publishing commands' client tries a call again when the server answers 503 or 429 (a busy
server, a database or bucket briefly away), waiting what Retry-After asks, and says so; an upload's
bytes are sent again whole."""
from __future__ import annotations

import http.server
import io
import json
import threading

import pytest

from otabox.cli.client import OtaboxClient, ProgressReader


class FlakyServer(http.server.ThreadingHTTPServer):
    """Answers the first `failures` requests 503 storage_unavailable (Retry-After: 0), then 201 with
    the body it got; keeps every body received."""

    def __init__(self, failures: int):
        self.failures, self.bodies = failures, []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_PUT(handler):
                body = handler.rfile.read(int(handler.headers["Content-Length"]))
                self.bodies.append(body)
                failing = len(self.bodies) <= self.failures
                reply = json.dumps({"error": {"code": "storage_unavailable", "message": "m", "details": {}}}
                                   if failing else {"received": len(body)}).encode()
                handler.send_response(503 if failing else 201)
                if failing:
                    handler.send_header("Retry-After", "0")
                handler.send_header("Content-Length", str(len(reply)))
                handler.end_headers()
                handler.wfile.write(reply)

            def log_message(handler, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture
def flaky():
    servers = []

    def start(failures: int) -> FlakyServer:
        server = FlakyServer(failures)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return server
    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_an_upload_answered_503_is_sent_again_whole_and_the_retries_are_told(flaky):
    server = flaky(failures=2)
    told, progress = [], []
    client = OtaboxClient(f"http://127.0.0.1:{server.server_port}", "key", on_retry=told.append)
    data = bytes(range(256)) * 100
    reply = client.request("PUT", "/upload", body=ProgressReader(io.BytesIO(data), progress.append), length=len(data))
    assert reply == {"received": len(data)}
    assert server.bodies == [data, data, data]
    assert sum(progress) == len(data)
    assert told == ["PUT /upload answered HTTP 503 (storage_unavailable); trying again in 0 s (1/5)",
                    "PUT /upload answered HTTP 503 (storage_unavailable); trying again in 0 s (2/5)"]


def test_the_last_503_is_one_clear_error(flaky):
    server = flaky(failures=100)
    client = OtaboxClient(f"http://127.0.0.1:{server.server_port}", "key")
    with pytest.raises(Exception) as raised:
        client.request("PUT", "/upload", body=b"x")
    assert str(raised.value) == "m (storage_unavailable, HTTP 503)"
    assert len(server.bodies) == 6
