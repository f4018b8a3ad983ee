"""What every benchmark script shares: the servers it starts (otabox, the hello-world baseline,
nginx), an admin API client, the machine description and the printing of figures.

Every server listens on a free loopback port and is stopped when the script's `Workspace` closes,
even when the script fails or is interrupted."""
from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import platform
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

INSTALL_HINT = "apt-get install -y wrk nginx"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(port: int, path: str) -> bool:
    """Whether a server on the port answers the path with 200 (one short HTTP/1.1 request)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        conn.request("GET", path)
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


class Server:
    """A server subprocess; `ready_seconds` is the time from spawn to the first 200 on `ready_path`."""

    def __init__(self, name: str, argv: list[str], port: int, log_path: Path, ready_path: str,
                 env: dict | None = None, timeout: float = 20):
        self.name = name
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self._log = open(log_path, "ab")
        started = time.perf_counter()
        self.process = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, **(env or {})},
                                        stdout=self._log, stderr=subprocess.STDOUT)
        deadline = started + timeout
        while not answers(port, ready_path):
            if self.process.poll() is not None or time.perf_counter() > deadline:
                self.stop()
                raise RuntimeError(f"{name} did not start; its log:\n{log_path.read_text(errors='replace')[-3000:]}")
            time.sleep(0.005)
        self.ready_seconds = time.perf_counter() - started

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


class Workspace(contextlib.ExitStack):
    """A temporary directory and the servers started in it, all removed/stopped on exit."""

    def __enter__(self) -> "Workspace":
        super().__enter__()
        self.dir = Path(self.enter_context(tempfile.TemporaryDirectory(prefix="otabox-bench-")))
        self.servers: list[Server] = []
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and not issubclass(exc_type, KeyboardInterrupt):
            for server in self.servers:
                server.stop()
                tail = server.log_path.read_text(errors="replace").splitlines()[-30:]
                print(f"--- last lines of the {server.name} log ({server.log_path.name}):", *tail, sep="\n",
                      file=sys.stderr)
        return super().__exit__(exc_type, exc, tb)

    def start(self, server_factory, *args, **kwargs) -> Server:
        server = server_factory(self.dir, *args, **kwargs)
        self.servers.append(server)
        self.callback(server.stop)
        return server

    def restart(self, server: Server, server_factory, *args, **kwargs) -> Server:
        server.stop()
        return self.start(server_factory, *args, **kwargs)


def otabox_supports(option: str) -> bool:
    """Whether `otabox serve` accepts an option (e.g. --workers, which may not exist yet)."""
    result = subprocess.run([sys.executable, "otabox.py", "serve", "--help"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    return option in result.stdout


BENCH_ENV = {"OTABOX_ADDRESS_RATE_PER_MINUTE": "1000000000"}
"""Every load comes from one loopback address: the per-address limit still runs, at a rate no load reaches."""


def otabox_server(workdir: Path, data_dir: Path, env: dict | None = None, extra_args: tuple = ()) -> Server:
    """A real `python otabox.py serve` from the repository root, with its default thread count."""
    port = free_port()
    argv = [sys.executable, "otabox.py", "serve", "--data-dir", str(data_dir), "--port", str(port), *extra_args]
    return Server("otabox", argv, port, workdir / f"otabox-{port}.log", "/healthz", {**BENCH_ENV, **(env or {})})


def hello_server(workdir: Path, threads: int) -> Server:
    """The baseline: Flask + waitress answering a constant JSON object (bench/hello.py)."""
    port = free_port()
    argv = [sys.executable, str(BENCH / "hello.py"), "--port", str(port), "--threads", str(threads)]
    return Server("hello", argv, port, workdir / f"hello-{port}.log", "/hello")


def nginx_server(workdir: Path, root: Path, ready_path: str) -> Server:
    """Debian's nginx as the current user: a generated minimal config serving `root` with sendfile."""
    port = free_port()
    prefix = workdir / f"nginx-{port}"
    (prefix / "logs").mkdir(parents=True)
    conf = prefix / "nginx.conf"
    # nginx started by root hands its workers to "nobody", who cannot read the private temp dir.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
    conf.write_text(f"""daemon off;
{user}worker_processes auto;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{ worker_connections 256; }}
http {{
    default_type application/zip;
    access_log off;
    sendfile on;
    tcp_nopush on;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
""")
    argv = [nginx_path(), "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "logs" / "error.log")]
    return Server("nginx", argv, port, prefix / "logs" / "stdout.log", ready_path)


def nginx_path() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


def cli(data_dir: Path, *args: str, env: dict | None = None) -> str:
    result = subprocess.run([sys.executable, "otabox.py", *args, "--data-dir", str(data_dir)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})})
    if result.returncode != 0:
        raise RuntimeError(f"otabox {' '.join(args)} failed: {result.stderr}")
    return result.stdout


def create_admin_key(data_dir: Path, env: dict | None = None) -> str:
    """A new admin key through the real CLI (the key is the last line it prints)."""
    return cli(data_dir, "keys", "create", "--name", "bench", "--role", "admin", env=env).strip().splitlines()[-1]


class Api:
    """The management REST API of a running otabox, with an admin key."""

    def __init__(self, url: str, key: str):
        self.url = url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {key}"

    def call(self, method: str, path: str, expect: int = 200, **kwargs) -> dict:
        response = self.session.request(method, self.url + "/api/v1" + path, timeout=300, **kwargs)
        if response.status_code != expect:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response.json()

    def create_app(self, slug: str) -> dict:
        return self.call("POST", "/apps", 201, json={"slug": slug, "name": slug})

    def channel(self, slug: str, name: str) -> dict:
        return self.call("GET", f"/apps/{slug}/channels/{name}")

    def upload_zip(self, slug: str, version: str, zip_bytes: bytes) -> dict:
        return self.call("POST", f"/apps/{slug}/bundles", 201, data={"version": version},
                         files={"file": ("bundle.zip", zip_bytes, "application/zip")})

    def upload_file(self, slug: str, version: str, path: Path) -> dict:
        """A multipart upload streamed from disk (the client holds one chunk at a time, not the file)."""
        boundary = "otabox-bench-" + os.urandom(8).hex()
        head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"version\"\r\n\r\n{version}\r\n"
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"bundle.zip\"\r\n"
                "Content-Type: application/zip\r\n\r\n").encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        status, body = self.send_file("POST", f"/api/v1/apps/{slug}/bundles", path, headers, head, tail)
        if status != 201:
            raise RuntimeError(f"multipart upload: {status} {body[:500]!r}")
        return json.loads(body)

    def send_file(self, method: str, path_and_query: str, path: Path, headers: dict, head: bytes = b"",
                  tail: bytes = b"") -> tuple[int, bytes]:
        """Send `head`, the file and `tail` as one body with a Content-Length, 1 MiB at a time."""
        parts = urlsplit(self.url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=600)
        try:
            conn.putrequest(method, path_and_query)
            for name, value in {**self.session.headers, **headers}.items():
                conn.putheader(name, value)
            conn.putheader("Content-Length", str(len(head) + path.stat().st_size + len(tail)))
            conn.endheaders()
            conn.send(head)
            with open(path, "rb") as source:
                while chunk := source.read(1 << 20):
                    conn.send(chunk)
            conn.send(tail)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def release(self, slug: str, bundle_id: int, channel: str = "production") -> dict:
        return self.call("POST", f"/apps/{slug}/releases", 201, json={"channel": channel, "bundleId": bundle_id})


def open_box(data_dir: Path):
    """The otabox appliance on a data dir, for writing rows directly while no server runs."""
    from otabox.box import Box
    from otabox.config import Config

    return Box(Config.from_env(data_dir=data_dir))


def write_random_zip(path: Path, size: int, members: int = 1) -> Path:
    """A valid zip of about `size` bytes: `members` stored (uncompressed) files of random bytes."""
    import zipfile

    each = size // members
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for i in range(members):
            with archive.open(f"payload-{i}.bin", "w", force_zip64=True) as member:
                left = each
                while left:
                    chunk = os.urandom(min(left, 1 << 20))
                    member.write(chunk)
                    left -= len(chunk)
    return path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}")


def ratio(ours: float, theirs: float) -> float:
    return ours / theirs if theirs else float("nan")


def print_header(title: str, load_tool: str) -> None:
    sys.stdout.reconfigure(line_buffering=True)
    print(f"== {title}")
    print(f"machine: {machine()}")
    print(f"load generator: {load_tool}")


def mark(ok: bool) -> str:
    return "ok" if ok else "BELOW TARGET"
