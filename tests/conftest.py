"""Shared fixtures: an app on a temporary data dir, keys, zips, and a live `otabox serve`."""
from __future__ import annotations

import sys
from pathlib import Path

if sys.dont_write_bytecode:
    # With PYTHONDONTWRITEBYTECODE set (shells and containers often set it), every run compiled otabox
    # and rewrote the tests' asserts again in each xdist worker: about 4 s of CPU a worker, a tenth of
    # `pytest -m "not live"`. The tests keep their bytecode in .pytest_cache instead, out of the tree.
    sys.dont_write_bytecode = False
    sys.pycache_prefix = str(Path(__file__).resolve().parent.parent / ".pytest_cache" / "pycache")

import contextlib
import inspect
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time

import pytest
import requests

from otabox.app import create_app
from otabox.config import SQLITE_FILE, Config
from otabox.security import passwords
from otabox.store.db import open_database
from fleet import WebhookReceiver
from support import Api, Published, check, make_key, make_zip, unsigned  # noqa: F401 (tests import them from here too)

ROOT = Path(__file__).resolve().parent.parent
TEST_DATABASE = os.environ.get("OTABOX_TEST_DATABASE", "sqlite")
"""`postgresql` runs the suite against a private PostgreSQL server (tests/postgres.py)."""
SHARED_SECRET_KEY = "bf30ca1abd7753c8158116f1b53f856bb9f0f5eda94b6d19509877405c70a479"
"""The secret key every process of a test's box shares (32 random bytes as hex, as `otabox secret-key generate`
prints one)."""


def pytest_configure(config):
    config.addinivalue_line("markers", "sqlite_only: checks something only SQLite has (its files, WAL, pragmas)")
    config.addinivalue_line("markers", "empty_database: on PostgreSQL, starts from a database without otabox's schema")
    config.addinivalue_line("markers", "single_engine: does not depend on the database engine (packaging, docs, "
                                       "command-line checks that stop before any database): runs on SQLite only")
    config.addinivalue_line("markers", "engine: reaches a database in a way tests/conftest.py's reading misses: runs on "
                                       "PostgreSQL too (set automatically on the tests that name a box, a server, an "
                                       "admin command or a database URL)")
    config.addinivalue_line("markers", "live: starts a process (an otabox server, moto, PostgreSQL, Node, a browser, "
                                       "the otabox command); set automatically; `pytest -m 'not live'` is the inner loop")


LIVE_NAMES = {"subprocess", "Popen", "LiveServer", "MotoServer", "live_server", "moto_server", "s3_bucket",
              "postgres_server", "sync_playwright"}
"""What a test, a fixture or a helper of the tests names (a module, a fixture, a parameter) when it
starts a process."""
DATABASE_NAMES = {"create_app", "Box", "open_database", "connect_database", "LiveServer", "old_box", "database_rows",
                  "configured_app", "database_url", "module_database_url", "postgres_server", "run_otabox",
                  "CliRunner", "otabox_command"}
"""What a test, a fixture or a helper of the tests names when it reaches a database (a box, a server, an
admin command, a database URL); mark a test `engine` when the reading misses it."""
ENGINE_FIXTURES = {"database_url", "module_database_url", "no_processes_unless_live"}
"""Every test uses these; they start PostgreSQL only on the PostgreSQL run, which is all live."""
TESTS = Path(__file__).resolve().parent
MEMORY_DISK = Path("/dev/shm")
MEMORY_DISK_ROOM = 2 * 1024**3


def _temporary_files_in_memory() -> None:
    """Every SQLite commit of a test's box is synced to disk (synchronous=full), and on a shared disk
    the syncs were most of the suite's time (a test file of 40 API tests: 24 s on disk, 15 s here).
    Temporary directories (tmp_path, and so every box, live server and PostgreSQL cluster of the tests)
    go to /dev/shm, a memory filesystem where a sync costs nothing, when it has room (Docker's
    default 64 MB has not); PYTEST_DEBUG_TEMPROOT or TMPDIR, when set, choose instead. Only failed
    tests keep their directories (setup.cfg's tmp_path_retention_policy), so the memory comes back."""
    if "PYTEST_DEBUG_TEMPROOT" in os.environ or "TMPDIR" in os.environ or not MEMORY_DISK.is_dir():
        return
    room = os.statvfs(MEMORY_DISK)
    if room.f_bavail * room.f_frsize >= MEMORY_DISK_ROOM and os.access(MEMORY_DISK, os.W_OK):
        os.environ["TMPDIR"] = str(MEMORY_DISK)
        tempfile.tempdir = None  # read TMPDIR again


_temporary_files_in_memory()


def _names_used(code) -> set[str]:
    names = set(code.co_names) | set(code.co_varnames) | {c for c in code.co_consts if isinstance(c, str)}
    for constant in code.co_consts:
        if inspect.iscode(constant):
            names |= _names_used(constant)
    return names


class Reading:
    """Whether a test, a fixture it uses or a helper they call by name (followed transitively through
    the tests' own code) names one of `names`; each helper is read once per session."""

    def __init__(self, names: set[str]):
        self.names = names
        self.verdicts: dict = {}
        """Each helper's answer (False while being read, which ends cycles)."""

    def of_item(self, item) -> bool:
        functions = [getattr(item, "function", None)]
        for name in set(getattr(item, "fixturenames", ())) - ENGINE_FIXTURES:
            functions += [definition.func for definition in item._fixtureinfo.name2fixturedefs.get(name, ())]
        return any(self.of_helper(function) for function in functions if function is not None)

    def of_helper(self, helper) -> bool:
        """`helper`: a function, or a class whose methods are read."""
        if inspect.isclass(helper):
            return helper.__module__ != "builtins" and any(
                self.of_helper(method) for method in vars(helper).values() if inspect.isfunction(method))
        helper = inspect.unwrap(helper)
        if not inspect.isfunction(helper):
            return False
        if helper not in self.verdicts:
            self.verdicts[helper] = False
            self.verdicts[helper] = self._reads(helper)
        return self.verdicts[helper]

    def _reads(self, function) -> bool:
        if not Path(function.__code__.co_filename).resolve().is_relative_to(TESTS):
            return False
        names = _names_used(function.__code__)
        if names & self.names:
            return True
        helpers = (function.__globals__.get(name) for name in names)
        return any(self.of_helper(helper) for helper in helpers if callable(helper))


STARTS_PROCESSES = Reading(LIVE_NAMES)
USES_DATABASE = Reading(DATABASE_NAMES)


def starts_processes(item) -> bool:
    """Whether the test, a fixture it uses or a helper they call starts a process. The
    `no_processes_unless_live` guard below catches what this reading misses."""
    if TEST_DATABASE == "postgresql" or item.get_closest_marker("live"):
        return True
    return STARTS_PROCESSES.of_item(item)


def depends_on_the_engine(item) -> bool:
    """Whether the test reaches a database (a box in this process, a server, an admin command, a
    database URL): the tests that do not are the same on every engine and run once, with SQLite."""
    return not item.get_closest_marker("single_engine") and (
        item.get_closest_marker("engine") is not None or USES_DATABASE.of_item(item))


def pytest_collection_modifyitems(config, items):
    """Tests that start processes are marked `live`. On the PostgreSQL run, what is about SQLite itself
    or the same on every engine (single_engine, or reaching no database) is skipped before any of its
    fixtures run (some install packages or start servers)."""
    for item in items:
        if starts_processes(item):
            item.add_marker(pytest.mark.live)
    if TEST_DATABASE != "postgresql":
        return
    for item in items:
        if item.get_closest_marker("sqlite_only"):
            item.add_marker(pytest.mark.skip(reason="about SQLite itself"))
        elif not depends_on_the_engine(item):
            item.add_marker(pytest.mark.skip(reason="the same on every engine; runs with SQLite"))


@pytest.fixture(autouse=True)
def no_processes_unless_live(request, monkeypatch):
    """A test not marked `live` starts no process, so `pytest -m 'not live'` needs nothing beyond
    `pip install -e '.[test]'` and stays quick; one that does fails here and names the marker."""
    if request.node.get_closest_marker("live"):
        yield
        return

    def refuse(*args, **kwargs):
        raise AssertionError(f"{request.node.nodeid} starts a process ({args[0] if args else kwargs.get('args')}): "
                             "mark it `live` (pytest.mark.live) or keep it in-process")

    monkeypatch.setattr(subprocess, "Popen", refuse)
    yield


PASSWORD_COST = passwords.LOG2_N
"""The scrypt cost otabox hashes passwords at (log2 n); a test of the cost itself sets it back."""
QUICK_PASSWORD_COST = 10


@pytest.fixture(autouse=True)
def quick_password_hashing(monkeypatch):
    """otabox hashes passwords with scrypt at 2^15 (32 MiB, a fraction of a second each), and the suite
    signs people in hundreds of times: in this process the tests hash at 2^10. A stored hash names its
    cost, so checking works as in production; servers the tests start keep the real cost."""
    monkeypatch.setattr(passwords, "LOG2_N", QUICK_PASSWORD_COST)


@pytest.fixture(scope="session")
def postgres_server():
    from postgres import PostgresServer

    server = PostgresServer(free_port())
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def database_url(request, monkeypatch):
    """With OTABOX_TEST_DATABASE=postgresql, every box a test builds (in this process or a server it
    starts) uses a new PostgreSQL database, dropped afterwards; SQLite-only tests are skipped."""
    if TEST_DATABASE != "postgresql":
        yield None
        return
    server = request.getfixturevalue("postgres_server")
    url = server.new_database(empty=request.node.get_closest_marker("empty_database") is not None)
    monkeypatch.setenv("OTABOX_DATABASE_URL", url)
    monkeypatch.setenv("OTABOX_SECRET_KEY", SHARED_SECRET_KEY)
    yield url
    server.drop(url)

@pytest.fixture(scope="module", autouse=True)
def module_database_url(request):
    """The same for what a module starts once (its module-scoped servers): a database of its own."""
    if TEST_DATABASE != "postgresql":
        yield None
        return
    server = request.getfixturevalue("postgres_server")
    url = server.new_database()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OTABOX_DATABASE_URL", url)
        patch.setenv("OTABOX_SECRET_KEY", SHARED_SECRET_KEY)
        yield url
    server.drop(url)


# The suite makes thousands of management requests and sign-ins from one address, which the hourly
# limits (by default the CodePush seed's 1000 per token and 60 per address) would stop. Tests of the
# limits set their own; live servers inherit these.
for limit in ("API_REQUESTS_PER_HOUR", "ANONYMOUS_REQUESTS_PER_HOUR", "LOGIN_ATTEMPTS_PER_MINUTE"):
    os.environ.setdefault(f"OTABOX_{limit}", "1000000")


def copy_data_dir(source: Path, dest: Path) -> Path:
    """A copy of a data directory from tests/fixtures with the modes otabox gave it (git keeps none)."""
    shutil.copytree(source, dest)
    dest.chmod(0o700)
    (dest / "secrets").chmod(0o700)
    for secret in (dest / "secrets").iterdir():
        secret.chmod(0o600)
    return dest


def readme_block(after: str) -> str:
    """The indented command block that follows the paragraph ending in `after`."""
    readme = (ROOT / "README.md").read_text()
    tail = readme[readme.index(after) + len(after):]
    return "\n".join(line[4:] for line in re.match(r"\s*\n((?:    .*\n|\n)+)", tail).group(1).splitlines()).strip()


OLD_DATA_DIR = ROOT / "tests" / "fixtures" / "datadir-0.1.0"
"""A data directory otabox 0.1.0 made (tests/fixtures/make_datadir.py)."""
RELEASED_DATA_DIRS = sorted(p for p in (ROOT / "tests" / "fixtures").glob("datadir-*") if p.is_dir())
"""The data directory of every earlier release (0.1.0, 0.2.0, ...): schema steps are tested from each."""


def old_box(dest: Path, database_url: str | None, fixture: Path = OLD_DATA_DIR, prepare=None) -> Path:
    """A copy of an earlier release's data directory at `dest`, for otabox to upgrade; on PostgreSQL
    (`database_url`, an empty database: mark the test `empty_database`) its rows are moved into that
    database first, as that release would have kept them there. `prepare(sqlite3 connection)` may add
    rows that release could have held, before that."""
    copy_data_dir(fixture, dest)
    if prepare is not None:
        with contextlib.closing(sqlite3.connect(dest / "otabox.db")) as db:
            prepare(db)
            db.commit()
    if database_url:
        from postgres import load_sqlite_database

        load_sqlite_database(dest / "otabox.db", database_url)
        (dest / "otabox.db").unlink()
    return dest


def database_rows(data_dir: Path, sql: str, database_url: str | None = None) -> list[tuple]:
    """The rows of `sql` from a box's database, read as an operator would with the engine's own
    client: the PostgreSQL database at `database_url`, else the data dir's SQLite file."""
    if database_url:
        import psycopg

        with psycopg.connect(database_url) as conn:
            return [tuple(row) for row in conn.execute(sql).fetchall()]
    db = sqlite3.connect(f"file:{data_dir / 'otabox.db'}?mode=ro", uri=True)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


@contextlib.contextmanager
def configured_app(tmp_path, **settings):
    """A Flask app on its own data dir with these configuration settings, closed afterwards."""
    app = create_app(Config.from_env(data_dir=tmp_path / "configured", device_flush_seconds=3600.0, **settings))
    try:
        yield app
    finally:
        app.config["BOX"].close()


@pytest.fixture(scope="session")
def schema_template(tmp_path_factory) -> Path | None:
    """A SQLite database holding otabox's current schema, made once per session (per xdist worker):
    each test's box starts from a copy of it rather than creating its forty tables (PostgreSQL runs
    do the same with a template database, tests/postgres.py)."""
    if TEST_DATABASE == "postgresql":
        return None
    path = tmp_path_factory.mktemp("schema") / SQLITE_FILE
    db, _ = open_database(f"sqlite:///{path}")
    db.close()
    return path


def with_schema(data_dir: Path, schema_template: Path | None) -> Path:
    """`data_dir`, made to hold a copy of the schema template (on PostgreSQL, where there is none,
    left for otabox to make)."""
    if schema_template is not None:
        data_dir.mkdir(mode=0o700, parents=True)
        shutil.copy2(schema_template, data_dir / SQLITE_FILE)
    return data_dir


@pytest.fixture
def config(tmp_path, schema_template):
    """Every test client request comes from 127.0.0.1, so the per-address limit is off here; the tests
    of the limits turn it on. The data directory holds a copy of the schema template."""
    return Config.from_env(data_dir=with_schema(tmp_path / "data", schema_template), device_flush_seconds=3600.0,
                           address_rate_per_minute=0)


@pytest.fixture
def flask_app(config):
    app = create_app(config)
    yield app
    app.config["BOX"].close()


@pytest.fixture
def box(flask_app):
    return flask_app.config["BOX"]


@pytest.fixture
def client(flask_app):
    return flask_app.test_client()


@pytest.fixture
def admin(client, box):
    return Api(client, make_key(box, "admin", "admin"))


@pytest.fixture
def demo_app(admin):
    response = admin.post("/api/v1/apps", {"slug": "com.example.demo", "name": "Demo"})
    assert response.status_code == 201, response.json
    return response.json


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers_health(url: str, seconds: float, process: subprocess.Popen | None = None) -> bool:
    """Wait until `url`/healthz answers 200 (False after `seconds`, or when `process` has ended)."""
    deadline = time.time() + seconds
    while time.time() < deadline and (process is None or process.poll() is None):
        try:
            if requests.get(url + "/healthz", timeout=1).status_code == 200:
                return True
        except (requests.ConnectionError, requests.Timeout):  # a busy machine may answer late
            time.sleep(0.05)
    return False


class LiveServer:
    """A real `otabox serve` subprocess on a free port."""

    def __init__(self, data_dir: Path, env: dict | None = None):
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "OTABOX_DEVICE_FLUSH_SECONDS": "0.2", "OTABOX_ADDRESS_RATE_PER_MINUTE": "0",
                    **(env or {})}  # every test client shares 127.0.0.1; the address limit has its own tests
        self.log = open(data_dir.parent / f"server-{self.port}.log", "wb")
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "otabox.py"), "serve", "--port", str(self.port), "--data-dir", str(data_dir)],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        if answers_health(self.url, 15, self.process):
            return
        self.stop()
        raise RuntimeError("otabox serve did not start: " + self.log_text())

    def cli(self, *args, check=True, input: str | None = None, env: dict | None = None,
            data_dir: bool = True) -> subprocess.CompletedProcess:
        """`otabox ARGS` with the server's environment (and `env`), on its data dir unless `data_dir` is
        False (the publishing commands, which talk to a server)."""
        where = ["--data-dir", str(self.data_dir)] if data_dir else []
        return subprocess.run([sys.executable, str(ROOT / "otabox.py"), *args, *where], cwd=ROOT,
                              env={**self.env, **(env or {})}, capture_output=True, text=True, check=check,
                              timeout=60, input=input)

    @property
    def database_url(self) -> str | None:
        return self.env.get("OTABOX_DATABASE_URL") or None

    def rows(self, sql: str) -> list[tuple]:
        """Rows of `sql` from this server's database, whichever engine it runs on."""
        return database_rows(self.data_dir, sql, self.database_url)

    def log_text(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return (self.data_dir.parent / f"server-{self.port}.log").read_text(errors="replace")

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


class MotoServer:
    """moto's S3 API server as a subprocess on a private loopback port."""

    def __init__(self, directory: Path):
        self.port = free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self.log = open(directory / "moto.log", "wb")
        self.process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                        stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                requests.get(self.endpoint_url + "/moto-api/", timeout=1)
                return
            except requests.ConnectionError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("moto server did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self.log.close()


S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory):
    saved = {name: os.environ.get(name) for name in S3_ENV}
    os.environ.update(S3_ENV)
    server = MotoServer(tmp_path_factory.mktemp("moto"))
    yield server
    server.stop()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


class S3Bucket:
    def __init__(self, endpoint_url: str, bucket: str, prefix: str):
        self.endpoint_url, self.bucket, self.prefix = endpoint_url, bucket, prefix
        self.storage_url = f"s3://{bucket}/{prefix}"
        self.env = {**S3_ENV, "OTABOX_STORAGE_URL": self.storage_url, "OTABOX_S3_ENDPOINT_URL": endpoint_url}


@pytest.fixture
def s3_bucket(moto_server):
    """A new, empty bucket on the moto server (bundle files go under a prefix, as users may set one)."""
    import boto3

    name = f"otabox-{os.urandom(4).hex()}"
    boto3.client("s3", endpoint_url=moto_server.endpoint_url).create_bucket(Bucket=name)
    return S3Bucket(moto_server.endpoint_url, name, "bundles")


@pytest.fixture
def receiver():
    """A webhook receiver on 127.0.0.1 (fleet.WebhookReceiver), closed afterwards."""
    server = WebhookReceiver()
    yield server
    server.close()


@pytest.fixture
def live_server(tmp_path):
    server = LiveServer(tmp_path / "live-data")
    yield server
    server.stop()
