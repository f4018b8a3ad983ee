"""Hundreds of idle or slowly trickling connections do not starve update checks, a request whose
headers trickle in forever is cut at the deadline, and an upload whose bytes keep flowing is not."""
from __future__ import annotations

import hashlib
import os
import select
import socket
import threading
import time

import requests
from conftest import LiveServer, make_zip

APP = "com.example.conn"


def setup_app(server) -> dict:
    key = server.cli("keys", "create", "--name", "ci").stdout.strip().splitlines()[-1]
    auth = {"Authorization": f"Bearer {key}"}
    app = requests.post(f"{server.url}/api/v1/apps", json={"slug": APP}, headers=auth).json()
    return {"auth": auth, "clientKey": app["clientKey"]}


def open_socket(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.settimeout(10)
    return sock


def closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(0.2)
    try:
        return sock.recv(1) == b""
    except socket.timeout:
        return False
    except OSError:
        return True


def test_400_idle_and_300_trickling_connections_do_not_starve_checks(tmp_path):
    server = LiveServer(tmp_path / "d", env={"OTABOX_ADDRESS_RATE_PER_MINUTE": "0"})
    idle, trickling = [], []
    stop = threading.Event()
    try:
        app = setup_app(server)
        idle = [open_socket(server.port) for _ in range(400)]
        trickling = [open_socket(server.port) for _ in range(300)]
        for sock in trickling:
            sock.sendall(f"GET /api/v1/apps/{APP}/check HTTP/1.1\r\nHost: x\r\nX-Slow: ".encode())

        def trickle():
            while not stop.wait(0.5):
                for sock in trickling:
                    try:
                        sock.send(b"a")
                    except OSError:
                        pass

        threading.Thread(target=trickle, daemon=True).start()
        time.sleep(1)
        started = time.monotonic()
        answers = [requests.get(f"{server.url}/api/v1/apps/{APP}/check", params={"deviceId": f"d{n}"},
                                headers={"X-Client-Key": app["clientKey"]}, timeout=10).status_code
                   for n in range(20)]
        elapsed = time.monotonic() - started
        assert answers == [200] * 20
        assert elapsed < 15, f"20 checks took {elapsed:.1f} s beside 700 held connections"
        poller = select.poll()
        for sock in idle:
            poller.register(sock, select.POLLIN)
        assert poller.poll(300) == []  # none closed: the checks did not wait for held connections to go away
    finally:
        stop.set()
        for sock in idle + trickling:
            sock.close()
        server.stop()


def test_trickled_headers_are_cut_at_the_deadline_but_a_flowing_upload_is_not(tmp_path):
    server = LiveServer(tmp_path / "d", env={"OTABOX_IDLE_TIMEOUT": "1"})
    try:
        app = setup_app(server)
        data = make_zip({"index.html": "x" * 50_000})
        ticket = requests.post(f"{server.url}/api/v1/apps/{APP}/bundles/initiate", headers=app["auth"], json={
            "version": "1.0.0", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}).json()
        path = ticket["uploadUrl"][len(server.url):]
        slow_headers = open_socket(server.port)
        slow_headers.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        silent = open_socket(server.port)
        upload = open_socket(server.port)
        upload.sendall(f"PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(data)}\r\n"
                       "Content-Type: application/zip\r\n\r\n".encode())
        step = len(data) // 8 + 1
        started = time.monotonic()
        cut_after = None
        for start in range(0, len(data), step):  # ~3.2 s of flowing body, three times the deadline
            upload.sendall(data[start:start + step])
            try:
                slow_headers.send(b"a")
            except OSError:
                cut_after = cut_after or time.monotonic() - started
            time.sleep(0.4)
        reply = upload.recv(4096).decode()
        assert reply.startswith("HTTP/1.1 200"), reply
        assert cut_after is not None or closed_by_server(slow_headers)
        assert cut_after is None or cut_after < 3
        assert closed_by_server(silent)
        finalized = requests.post(f"{server.url}/api/v1/apps/{APP}/bundles/finalize", headers=app["auth"],
                                  json={"uploadId": ticket["uploadId"]})
        assert finalized.status_code == 201, finalized.text
    finally:
        server.stop()


def test_the_open_files_limit_is_raised_for_the_connection_limit(monkeypatch):
    from otabox import server

    limits = {"now": (256, 4096)}
    monkeypatch.setattr(server.resource, "getrlimit", lambda kind: limits["now"])
    monkeypatch.setattr(server.resource, "setrlimit", lambda kind, value: limits.update(now=value))
    server.raise_open_files_limit(1000)
    assert limits["now"] == (1256, 4096)
    limits["now"] = (256, 512)
    server.raise_open_files_limit(1000)
    assert limits["now"] == (512, 512)


def raw_reply(sock: socket.socket) -> str:
    sock.settimeout(5)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except OSError:  # reset: the server closed with the announced body unread
        pass
    return data.decode(errors="replace")


def test_only_bundle_uploads_may_send_large_bodies_and_only_a_few_at_once(tmp_path):
    """A public endpoint announcing a 100 MB body (multipart or not) is answered 413 at once, before
    any of it is buffered, and is never exempt from the deadline; bundle uploads may be large, but
    beyond OTABOX_MAX_UPLOAD_BODIES arriving together the next is told to come back later."""
    server = LiveServer(tmp_path / "d", env={"OTABOX_MAX_UPLOAD_BODIES": "2"})
    held = []
    try:
        for path, kind in (("/capgo/stats", "multipart/form-data; boundary=zz"), ("/capgo/stats", "application/json"),
                           (f"/api/v1/apps/{APP}/events", "multipart/form-data; boundary=zz")):
            sock = open_socket(server.port)
            sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {kind}\r\n"
                         "Content-Length: 100000000\r\n\r\n".encode() + b"x" * 65536)
            reply = raw_reply(sock)
            assert reply.startswith("HTTP/1.1 413") and '"code": "too_large"' in reply, reply
            assert "Connection: close" in reply and reply.count("HTTP/1.") == 1
            sock.close()
        upload = (f"POST /api/v1/apps/{APP}/bundles HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
                  "boundary=zz\r\nContent-Length: 50000000\r\n\r\n").encode() + b"x" * 1000
        for _ in range(2):
            held.append(open_socket(server.port))
            held[-1].sendall(upload)
        time.sleep(0.5)
        third = open_socket(server.port)
        third.sendall(upload)
        reply = raw_reply(third)
        assert reply.startswith("HTTP/1.1 503") and "Retry-After: 5" in reply and '"code": "busy"' in reply, reply
        assert not closed_by_server(held[0]) and not closed_by_server(held[1])  # still receiving
    finally:
        for sock in held:
            sock.close()
        server.stop()


def test_slow_readers_of_ranges_of_a_large_bundle_do_not_hold_the_threads(tmp_path):
    """Twelve clients reading a 40 MB bundle's Range a little at a time (more than the 8 threads,
    and past waitress's 16 MB output buffer): checks still answer at once."""
    server = LiveServer(tmp_path / "d")
    readers = []
    try:
        app = setup_app(server)
        big = make_zip({"index.html": "x", "blob.bin": os.urandom(40 * 1024 * 1024)})
        bundle = requests.post(f"{server.url}/api/v1/apps/{APP}/bundles", headers=app["auth"],
                               files={"file": ("b.zip", big)}, data={"version": "1.0.0"}).json()
        requests.post(f"{server.url}/api/v1/apps/{APP}/releases", headers=app["auth"],
                      json={"bundleId": bundle["id"], "channel": "production"}).raise_for_status()
        check = {"params": {"deviceId": "d", "platform": "ios", "version": "builtin"},
                 "headers": {"X-Client-Key": app["clientKey"]}, "timeout": 10}
        url = requests.get(f"{server.url}/api/v1/apps/{APP}/check", **check).json()["bundle"]["url"]
        path = url[url.index("/dl/"):]
        for _ in range(12):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", server.port))
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nRange: bytes=0-{len(big) - 2}\r\n\r\n".encode())
            readers.append(sock)
        time.sleep(2)
        assert readers[0].recv(4096).startswith(b"HTTP/1.1 206")
        answers = [requests.get(f"{server.url}/api/v1/apps/{APP}/check", **check).status_code for _ in range(5)]
        assert answers == [200] * 5  # each within its 10 s timeout (with the threads held, none answers)
        whole = requests.get(server.url + path, headers={"Range": "bytes=1000-1999"}, timeout=10)
        assert whole.status_code == 206 and whole.content == big[1000:2000]
    finally:
        for sock in readers:
            sock.close()
        server.stop()


def test_a_connection_stays_open_after_a_204(tmp_path):
    """waitress closes a connection after any response without Content-Length, and a 204 may not
    carry one: otabox keeps HTTP/1.1 connections open after bodiless answers (health reports)."""
    server = LiveServer(tmp_path / "data")
    try:
        client_key = setup_app(server)["clientKey"]
        body = b'{"deviceId": "d", "platform": "ios", "events": [{"type": "app_launch"}]}'
        request = (f"POST /api/v1/apps/{APP}/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Client-Key: {client_key}\r\n"
                   f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
        sock = open_socket(server.port)
        for _ in range(2):
            sock.sendall(request)
            head = sock.recv(4096)
            assert head.startswith(b"HTTP/1.1 204 ") and b"connection: close" not in head.lower(), head
        assert not closed_by_server(sock)
        sock.sendall(request.replace(b"HTTP/1.1\r\n", b"HTTP/1.1\r\nConnection: close\r\n", 1))
        assert b"connection: close" in sock.recv(4096).lower()
        sock.close()
    finally:
        server.stop()
