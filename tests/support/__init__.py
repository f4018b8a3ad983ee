"""What the tests build with: zips, keys, the management API client (with the one `publish` every
test uses to put a release on a channel) and the native check. conftest.py re-exports them."""
from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import socketserver
import threading
import typing
import zipfile
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from click.testing import CliRunner

from otabox.cli import main as otabox_command
from otabox.security import auth


def make_zip(files: dict[str, bytes | str] | None = None) -> bytes:
    """A zip of `files`, the same bytes for the same files (a fixed date: zip stamps the current time,
    and two calls a second apart would differ)."""
    files = files or {"index.html": "<html>hello</html>", "js/app.js": "console.log('v1')"}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            entry = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            entry.external_attr = 0o600 << 16  # as writestr(name) gives
            archive.writestr(entry, content, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def new_box(data_dir) -> None:
    """An empty box in `data_dir`, as the first `otabox serve` there leaves it: the admin commands
    refuse a folder without one."""
    from otabox.box import Box
    from otabox.config import Config

    Box(Config.from_env(data_dir=data_dir)).close()


def make_key(box, role="admin", name=None, app=None) -> str:
    with box.db.connection_context():
        _, key = auth.create_key(name or f"{role}-key-{os.urandom(3).hex()}", role, app)
    return key


class Api:
    """A thin JSON client over the Flask test client with a bearer key."""

    def __init__(self, client, key):
        self.client, self.key = client, key

    def _headers(self, extra=None):
        return {"Authorization": f"Bearer {self.key}", **(extra or {})}

    def get(self, path, **kw):
        return self.client.get(path, headers=self._headers(kw.pop("headers", None)), **kw)

    def post(self, path, json=None, **kw):
        return self.client.post(path, json=json, headers=self._headers(kw.pop("headers", None)), **kw)

    def patch(self, path, json=None, **kw):
        return self.client.patch(path, json=json, headers=self._headers(kw.pop("headers", None)), **kw)

    def put(self, path, json=None, **kw):
        return self.client.put(path, json=json, headers=self._headers(kw.pop("headers", None)), **kw)

    def delete(self, path, **kw):
        return self.client.delete(path, headers=self._headers(kw.pop("headers", None)), **kw)

    def upload(self, app, version, zip_bytes=None, **fields):
        data = {"file": (io.BytesIO(zip_bytes if zip_bytes is not None else make_zip()), "bundle.zip"),
                "version": version, **{k: str(v) for k, v in fields.items()}}
        return self.client.post(f"/api/v1/apps/{app}/bundles", data=data, headers=self._headers(),
                                content_type="multipart/form-data")

    def release(self, app, bundle_id, channel="production", **extra):
        return self.post(f"/api/v1/apps/{app}/releases", {"bundleId": bundle_id, "channel": channel, **extra})

    def publish(self, app, version, channel="production", *, files=None, zip_bytes=None, bundle_fields=None,
                **release) -> "Published":
        """Upload a bundle of `files` (default: an index.html naming the version) and release it to
        `channel` with the `release` fields; both must succeed."""
        data = zip_bytes if zip_bytes is not None else make_zip(files or {"index.html": version})
        bundle = self.upload(app, version, data, **(bundle_fields or {}))
        assert bundle.status_code == 201, bundle.json
        released = self.release(app, bundle.json["id"], channel, **release)
        assert released.status_code == 201, released.json
        return Published(bundle.json, released.json["release"])


class Published(typing.NamedTuple):
    bundle: dict
    release: dict


def unsigned(reply: dict) -> dict:
    """A native check reply without its signed statement (tested on its own in tests/security)."""
    return {k: v for k, v in reply.items() if k not in ("signed", "signedSignature")}


def check(client, app, client_key=None, headers=None, environ_base=None, **params):
    params.setdefault("platform", "ios")
    return client.get(f"/api/v1/apps/{app['slug']}/check", query_string=params, environ_base=environ_base or {},
                      headers={"X-Client-Key": client_key or app["clientKey"], **(headers or {})})


@dataclasses.dataclass
class Ran:
    """What a run of the `otabox` command gave, named as subprocess.run names it."""

    returncode: int
    stdout: str
    stderr: str


def run_otabox(*args: str, env: dict | None = None, input: str | None = None) -> Ran:
    """`otabox ARGS` in this process (click's CliRunner) with `env` added to the environment: the
    publishing commands, which talk to a server over HTTP and open no database here."""
    result = CliRunner().invoke(otabox_command, list(args), env=env, input=input, catch_exceptions=False)
    return Ran(result.exit_code, result.stdout, result.stderr)


@contextlib.contextmanager
def served(app):
    """`app` (a Flask app of create_app) answering HTTP on a free loopback port from threads of this
    process, for the commands that talk to a server (`run_otabox(..., env={"OTABOX_URL": url})`)
    without starting one; yields its base URL."""
    class Threaded(socketserver.ThreadingMixIn, WSGIServer):
        daemon_threads = True

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    server = make_server("127.0.0.1", 0, app, server_class=Threaded, handler_class=Quiet)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()  # shutdown waits a poll
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def record_queries(box, monkeypatch) -> list[str]:
    """The SQL the calling thread sends to the box's database from now on (the box's background
    loops, webhook deliveries say, run their own queries at any moment and are left out)."""
    import threading
    queries: list[str] = []
    original, caller = box.db.execute_sql, threading.get_ident()

    def execute_sql(sql, *args, **kwargs):
        if threading.get_ident() == caller:
            queries.append(sql)
        return original(sql, *args, **kwargs)

    monkeypatch.setattr(box.db, "execute_sql", execute_sql)
    return queries
