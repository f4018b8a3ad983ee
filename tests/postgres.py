"""A private PostgreSQL server for the test suite: Debian's binaries, a new cluster in a temporary
directory, its own port and socket directory, run as the unprivileged `postgres` user (or the
current one when that is not root), stopped and removed at the end.

`OTABOX_TEST_DATABASE=postgresql` makes every test that builds a box use a new database on it."""
from __future__ import annotations

import getpass
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEMPLATE = "otabox_template"


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"PostgreSQL's {name} is not installed (apt-get install postgresql)")
    return path


class PostgresServer:
    def __init__(self, port: int):
        self.port = port
        self.root = Path(tempfile.mkdtemp(prefix="otabox-pg-"))
        self.data, self.sockets = self.root / "data", self.root / "sockets"
        self.sockets.mkdir()
        self.user = "postgres" if os.geteuid() == 0 else getpass.getuser()
        if os.geteuid() == 0:
            shutil.chown(self.root, self.user)
            shutil.chown(self.sockets, self.user)
        self._run(_bin("initdb"), "-D", str(self.data), "-U", "otabox", "--auth=trust", "-E", "UTF8", "--no-sync")
        settings = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off", "max_connections": "300",
                    "unix_socket_directories": str(self.sockets), "port": str(port),
                    "listen_addresses": "127.0.0.1"}
        self._options = " ".join(f"-c {name}={value}" for name, value in settings.items())
        self.start()
        self.admin_url = self.url("postgres")
        self._count = 0
        self._template_made = False

    def start(self) -> None:
        """Start the cluster (again, after `halt`)."""
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"), "-o", self._options,
                  "-w", "start")

    def halt(self) -> None:
        """Stop the server as a crash would (connections cut, nothing flushed), keeping the cluster."""
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", self.user, "--"] if os.geteuid() == 0 else []
        subprocess.run(prefix + list(command), check=True, capture_output=True, cwd=self.root)

    def sql(self, statement: str, database: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as conn:
            conn.execute(statement)

    def new_database(self, empty: bool = False) -> str:
        """The URL of a new database: a copy of one holding otabox's current schema (made once per
        server, so no test pays for creating forty tables), or with `empty`, a database with nothing
        in it (for tests of schema creation and upgrades themselves)."""
        if not empty and not self._template_made:
            self._create(TEMPLATE, "template0")
            subprocess.run([sys.executable, "-c", "import sys; from otabox.store.db import open_database; "
                            "open_database(sys.argv[1])[0].close()", self.url(TEMPLATE)], check=True)
            self._template_made = True
        self._count += 1
        name = f"otabox_test_{os.getpid()}_{self._count}"
        self._create(name, "template0" if empty else TEMPLATE)
        return self.url(name)

    def url(self, database: str) -> str:
        return f"postgresql://otabox@127.0.0.1:{self.port}/{database}"

    def _create(self, name: str, template: str) -> None:
        for attempt in range(20):
            try:
                # FILE_COPY: a copy of the files, twice as fast as the default for databases this small
                self.sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY')
                return
            except Exception as exc:  # another CREATE DATABASE holds the template for a moment
                if "being accessed" not in str(exc) or attempt == 19:
                    raise
                time.sleep(0.05)

    def drop(self, url: str) -> None:
        self.sql(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')

    def stop(self) -> None:
        self.halt()
        shutil.rmtree(self.root, ignore_errors=True)


def load_sqlite_database(sqlite_path: Path, url: str) -> None:
    """Move an otabox SQLite database into an empty PostgreSQL one, keeping its schema version: the
    tables otabox makes today, less the tables and columns the old file lacks, then every row (ids
    kept, sequences moved past them). An old release's data dir thus becomes the PostgreSQL box that
    release would have made, for the upgrade test to upgrade on this engine too."""
    import sqlite3

    import psycopg
    from peewee import PostgresqlDatabase

    from otabox.store.models import ALL_MODELS

    source = sqlite3.connect(sqlite_path)
    source.row_factory = sqlite3.Row
    declared = {table: {row[1]: row[2] for row in source.execute(f'PRAGMA table_info("{table}")')}
                for (table,) in source.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    old = {table: list(columns) for table, columns in declared.items()}
    target = PostgresqlDatabase(url.rsplit("/", 1)[1], **_connect_params(url))
    with target.bind_ctx(ALL_MODELS):
        target.create_tables(ALL_MODELS)
    target.close()
    with psycopg.connect(url, autocommit=True) as conn:
        for model in ALL_MODELS:
            table = model._meta.table_name
            if table not in old:
                conn.execute(f'DROP TABLE "{table}" CASCADE')
                continue
            for column in model._meta.columns:
                if column not in old[table]:
                    conn.execute(f'ALTER TABLE "{table}" DROP COLUMN "{column}"')
            for column in old[table]:  # a column a later step moved elsewhere and dropped
                if column not in model._meta.columns:
                    conn.execute(f'ALTER TABLE "{table}" ADD COLUMN "{column}" {_postgres_type(declared[table][column])}')
        for model in ALL_MODELS:  # parents before children, as ALL_MODELS lists them
            table = model._meta.table_name
            if table not in old:
                continue
            types = dict(conn.execute("SELECT column_name, data_type FROM information_schema.columns "
                                      "WHERE table_name = %s", (table,)).fetchall())
            columns = old[table]
            for row in source.execute(f'SELECT * FROM "{table}"'):
                values = [bool(row[c]) if types[c] == "boolean" and row[c] is not None else row[c] for c in columns]
                conn.execute(f'INSERT INTO "{table}" ({", ".join(chr(34) + c + chr(34) for c in columns)}) '
                             f'VALUES ({", ".join(["%s"] * len(columns))})', values)
            if "id" in columns and types.get("id") in ("integer", "bigint"):
                conn.execute(f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                             f'COALESCE((SELECT MAX(id) FROM "{table}"), 0) + 1, false)')
    source.close()


def _postgres_type(sqlite_type: str) -> str:
    kind = sqlite_type.upper()
    if "INT" in kind:
        return "BIGINT"
    if "REAL" in kind or "FLOAT" in kind or "DOUBLE" in kind:
        return "DOUBLE PRECISION"
    if "DATETIME" in kind:
        return "TIMESTAMP"
    return "TEXT"


def _connect_params(url: str) -> dict:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return {"host": parts.hostname, "port": parts.port, "user": parts.username}
