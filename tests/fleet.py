"""A simulated fleet of devices and a webhook receiver, against a live otabox (tests and bench/fleet.py).

`Fleet` gives every device an id; each round, every device asks for an update (the native check),
installs what it is offered, and then, if it runs a released bundle, reports its health: one
`app_launch`, and a `crash` or `js_error` with the given probabilities. `WebhookReceiver` is an HTTP
server on 127.0.0.1 that checks every signature and records what it was sent."""
from __future__ import annotations

import json
import random
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from otabox.core import webhooks


class Fleet:
    def __init__(self, url: str, slug: str, client_key: str, devices: int, threads: int = 8, seed: int = 7,
                 prefix: str = "fleet"):
        self.url, self.slug, self.client_key = url, slug, client_key
        self.devices = [f"{prefix}-{n:05d}" for n in range(devices)]
        self.running: dict[str, dict | None] = {device: None for device in self.devices}
        self.rng = random.Random(seed)
        self.threads = threads
        self._local = threading.local()

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
            self._local.session.headers["X-Client-Key"] = self.client_key
        return self._local.session

    def _device_round(self, device: str, crash: bool, error: bool) -> tuple[bool, int]:
        session = self._session()
        current = self.running[device]
        reply = session.get(f"{self.url}/api/v1/apps/{self.slug}/check", timeout=30, params={
            "deviceId": device, "platform": "ios", "channel": "production", "nativeVersion": "1.0.0",
            "nativeBuild": "1", "version": current["version"] if current else "builtin"})
        reply.raise_for_status()
        answer = reply.json()
        if answer.get("updateAvailable"):
            current = self.running[device] = {"id": answer["bundle"]["id"], "version": answer["bundle"]["version"]}
        elif answer.get("revertToBuiltin"):
            current = self.running[device] = None
        if current is None:
            return False, 0
        events = [{"type": "app_launch", "count": 1}]
        if crash:
            events.append({"type": "crash", "count": 1, "message": f"EXC_BAD_ACCESS in {current['version']}"})
        if error:
            events.append({"type": "js_error", "count": 1, "message": "TypeError: undefined is not a function"})
        health = session.post(f"{self.url}/api/v1/apps/{self.slug}/health", timeout=30, json={
            "deviceId": device, "platform": "ios", "channel": "production", "bundleId": current["id"],
            "events": events})
        assert health.status_code == 204, health.text
        return True, len(events)

    def round(self, crash_rate: float = 0.0, error_rate: float = 0.0) -> dict:
        """Every device checks once and, if it runs a release, reports; returns what happened."""
        plan = [(d, self.rng.random() < crash_rate, self.rng.random() < error_rate) for d in self.devices]
        with ThreadPoolExecutor(self.threads) as pool:
            results = list(pool.map(lambda item: self._device_round(*item), plan))
        versions: dict = {}
        for state in self.running.values():
            key = state["version"] if state else "builtin"
            versions[key] = versions.get(key, 0) + 1
        return {"reporting": sum(1 for reported, _ in results if reported),
                "requests": len(results) + sum(1 for reported, _ in results if reported), "versions": versions}


class WebhookReceiver:
    """Records every request (headers, raw body, path, delivery id, event, parsed body, the status it
    answered, whether the signature verified with `secret`). Answers 500 while `down`, else the next
    status in `replies` (a 3xx with a Location), else 200."""

    def __init__(self, secret: str | None = None):
        self.secret = secret
        self.down = False
        self.replies: list[int] = []
        self.received: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    status = 500 if receiver.down else (receiver.replies.pop(0) if receiver.replies else 200)
                    receiver.received.append({
                        "headers": dict(self.headers), "raw": raw, "path": self.path,
                        "delivery": self.headers["X-Otabox-Delivery"], "event": self.headers["X-Otabox-Event"],
                        "body": json.loads(raw), "status": status,
                        "verified": bool(receiver.secret) and webhooks.verify(
                            receiver.secret, raw, self.headers["X-Otabox-Signature"])})
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "http://127.0.0.1:1/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/otabox"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def events(self) -> list[str]:
        return [r["event"] for r in self.received]

    def accepted(self) -> list[dict]:
        with self.lock:
            return [r for r in self.received if r["status"] == 200]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class TricklingReceiver:
    """A webhook receiver that reads the request, then answers one byte a second: a complete answer
    (`HTTP/1.1 200 OK`, a 30-byte body) would take about a minute. It counts the requests it got."""

    ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 30\r\n\r\n" + b"x" * 30

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/slow"
        self.requests = 0
        self.closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn):
        with conn:
            received = b""
            while b"\r\n\r\n" not in received:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                received += chunk
            self.requests += 1
            for byte in self.ANSWER:
                if self.closed.wait(1.0):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    def close(self):
        self.closed.set()
        self.listener.close()
