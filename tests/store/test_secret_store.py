"""Where the server's secrets live, and the one-line refusals around the database setting."""
from __future__ import annotations

import base64
import hashlib
import os
import sqlite3
import subprocess
import sys
from urllib.parse import urlsplit

import pytest
from conftest import ROOT, Api, check, database_rows, make_key, make_zip
from support import new_box

from otabox.app import create_app
from otabox.config import Config
from otabox.store import secrets

SECRET_KEY = "c7a23414160c7d3ccb5dbcc2c2614878b2f0c932785d4bad9258de03c74fbfa4"
OTHER_KEY = "cffeff726bebfd8349ac78ea4553ea20476556dd2e75ed3d309f89b512660d02"


def otabox(*args, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "otabox.py"), *args], capture_output=True, text=True,
                          timeout=60, env=env)


def released_download_url(client, admin) -> tuple[dict, dict]:
    app = admin.post("/api/v1/apps", {"slug": "com.example.secrets", "name": "Secrets"}).json
    bundle = admin.upload(app["slug"], "1.0.1", make_zip({"index.html": "one"})).json
    admin.release(app["slug"], bundle["id"])
    return app, check(client, app, deviceId="d1", version="builtin").json["bundle"]


@pytest.mark.sqlite_only
def test_a_box_given_a_secret_key_moves_its_secrets_into_the_database_and_keeps_its_urls(tmp_path, monkeypatch):
    data_dir = tmp_path / "data"
    monkeypatch.delenv("OTABOX_SECRET_KEY", raising=False)
    first = create_app(Config.from_env(data_dir=data_dir, address_rate_per_minute=0))
    client = first.test_client()
    app, bundle = released_download_url(client, Api(client, make_key(first.config["BOX"])))
    signing_key = client.get("/api/v1/signing-key").json
    first.config["BOX"].close()
    secret_files = {p.relative_to(data_dir / "secrets").as_posix(): p.read_bytes()
                    for p in (data_dir / "secrets").rglob("*") if p.is_file()}
    assert secret_files

    second = create_app(Config.from_env(data_dir=data_dir, secret_key=SECRET_KEY, address_rate_per_minute=0))
    try:
        client = second.test_client()
        download = urlsplit(bundle["url"])
        downloaded = client.get(download.path, query_string=download.query)
        assert downloaded.status_code == 200 and hashlib.sha256(downloaded.data).hexdigest() == bundle["sha256"]
        assert client.get("/api/v1/signing-key").json == signing_key
    finally:
        second.config["BOX"].close()
    rows = dict(sqlite3.connect(data_dir / "otabox.db").execute("SELECT name, value FROM secret"))
    assert set(secret_files) <= set(rows)
    for name, value in secret_files.items():
        prefix, salt, sealed = rows[name].split(":")
        assert prefix == "scrypt1" and len(base64.b64decode(salt)) == 16, "sealed under a salted scrypt key"
        sealed = base64.b64decode(sealed)
        assert value not in sealed and base64.b64encode(value) not in rows[name].encode()

    refused = otabox("doctor", "--data-dir", str(data_dir),
                     env={"PATH": "/usr/bin:/bin", "OTABOX_SECRET_KEY": OTHER_KEY})
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        "Error: OTABOX_SECRET_KEY does not open the secrets in the database; every otabox process on one database "
        "needs the same OTABOX_SECRET_KEY"]


def test_a_database_server_without_a_secret_key_is_refused_in_one_line(tmp_path, database_url):
    if not database_url:
        pytest.skip("needs the PostgreSQL server of OTABOX_TEST_DATABASE=postgresql")
    new_box(tmp_path / "machine")
    result = otabox("keys", "create", "--name", "ops", "--data-dir", str(tmp_path / "machine"),
                    env={"PATH": "/usr/bin:/bin", "OTABOX_DATABASE_URL": database_url})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: OTABOX_SECRET_KEY is required with a database server: every otabox process on it must share the "
        "URL- and bundle-signing keys (set the same key on each; `otabox secret-key generate` makes one)"]


@pytest.mark.single_engine
@pytest.mark.parametrize("command", [["serve", "--port", "1"], ["keys", "create", "--name", "ops"]])
def test_an_unreachable_database_is_one_line_without_its_password(tmp_path, command):
    if command[0] == "keys":
        new_box(tmp_path / "data")  # admin commands refuse a folder without a box before opening the database
    result = otabox(*command, "--data-dir", str(tmp_path / "data"),
                    env={"PATH": "/usr/bin:/bin", "OTABOX_SECRET_KEY": SECRET_KEY,
                         "OTABOX_DATABASE_URL": "postgresql://otabox:hunter2@127.0.0.1:9/otabox"})
    assert result.returncode == 1, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "Error: cannot use the database at postgresql://otabox:***@127.0.0.1:9/otabox: "), result.stderr
    assert "hunter2" not in result.stderr + result.stdout


@pytest.mark.single_engine
def test_a_database_otabox_cannot_use_is_named_in_one_line(tmp_path):
    result = otabox("serve", "--data-dir", str(tmp_path / "data"),
                    env={"PATH": "/usr/bin:/bin", "OTABOX_DATABASE_URL": "mysql://otabox@db/otabox"})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: OTABOX_DATABASE_URL must start with sqlite:/// or postgresql:// (not mysql://)"]
    assert not (tmp_path / "data").exists()


def test_a_database_server_that_goes_away_is_a_503_until_it_is_back(request, client, admin, demo_app, database_url):
    """Management requests answer 503 `database_unavailable` with Retry-After while the database
    refuses connections (nothing half-done, no crash), and work again as soon as it is back."""
    if not database_url:
        pytest.skip("needs the PostgreSQL server of OTABOX_TEST_DATABASE=postgresql")
    server = request.getfixturevalue("postgres_server")
    name = urlsplit(database_url).path.lstrip("/")
    bundle = admin.upload(demo_app["slug"], "1.0.1").json
    server.sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    server.sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
    try:
        refused = admin.release(demo_app["slug"], bundle["id"])
        assert refused.status_code == 503, refused.json
        assert refused.json["error"]["code"] == "database_unavailable" and refused.headers["Retry-After"] == "5"
    finally:
        server.sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    assert admin.get(f"/api/v1/apps/{demo_app['slug']}/releases").json["releases"] == []
    assert admin.release(demo_app["slug"], bundle["id"]).status_code == 201
    assert check(client, demo_app, deviceId="d1", version="builtin").json["bundle"]["id"] == bundle["id"]


@pytest.mark.parametrize("key, weak", [
    ("a", True),
    ("the suite's shared secret key, as every process on one database has", True),
    ("a long random value the operator keeps apart from the database, with 80 characters", True),
    ("bf30ca1abd7753c8158116f1b53f856bb9f0f5eda94b6d19509877405c70a4", True),  # 31 bytes of hex
    ("0" * 64, True),
    ("ab" * 32, True),
    ("bf30ca1abd7753c8158116f1b53f856bb9f0f5eda94b6d19509877405c70a479", False),
    ("BF30CA1ABD7753C8158116F1B53F856BB9F0F5EDA94B6D19509877405C70A479", False),
    ("3xlMWa-DemOqG8_dTHtPq2Bvg0hZ0Vd8n4c3kq1fYxQ", False),  # 43 characters of URL-safe base64
    ("79qESlYFeoMCGlbrl2qE+Gk1nTq0cQ1u7k1s2v3w4x8=", False),  # standard base64, padded
    ("79qESlYFeoMCGlbrl2qE+Gk1nTq0cQ1u7k1s2v3w4x", True),  # 42 characters: 31 bytes
    (" bf30ca1abd7753c8158116f1b53f856bb9f0f5eda94b6d19509877405c70a479", True),
])
def test_a_secret_key_must_be_32_random_bytes_as_hex_or_base64(key, weak):
    assert (secrets.weakness(key) is not None) == weak


@pytest.mark.single_engine
@pytest.mark.parametrize("command", [["serve", "--port", "1"], ["keys", "create", "--name", "ops"]])
def test_a_weak_secret_key_is_refused_at_start_in_one_line_naming_the_rotation(tmp_path, command):
    starts_a_box = command[0] == "serve"
    if not starts_a_box:
        new_box(tmp_path / "data")  # admin commands refuse a folder without a box before reading the key
    result = otabox(*command, "--data-dir", str(tmp_path / "data"),
                    env={"PATH": "/usr/bin:/bin", "OTABOX_SECRET_KEY": "a"})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: OTABOX_SECRET_KEY is too weak (it is not written as hex or base64): it must be 32 random bytes as "
        "64 hex or 43 base64 characters; make one with `otabox secret-key generate`, move the secrets to it with "
        "`otabox secret-key rotate --to NEW`, then start with it"]
    assert (tmp_path / "data").exists() != starts_a_box


@pytest.mark.single_engine
def test_generate_prints_a_new_good_key_each_time():
    keys = {otabox("secret-key", "generate", env={"PATH": "/usr/bin:/bin"}).stdout.strip() for _ in range(2)}
    assert len(keys) == 2 and all(len(key) == 64 and secrets.weakness(key) is None for key in keys)


def test_rotate_seals_every_secret_again_under_the_new_key_in_one_go(tmp_path, monkeypatch):
    data_dir = tmp_path / "data"
    monkeypatch.setenv("OTABOX_SECRET_KEY", SECRET_KEY)
    first = create_app(Config.from_env(data_dir=data_dir, address_rate_per_minute=0))
    client = first.test_client()
    app, bundle = released_download_url(client, Api(client, make_key(first.config["BOX"])))
    signing_key = client.get("/api/v1/signing-key").json
    first.config["BOX"].close()
    before = dict(database_rows(data_dir, "SELECT name, value FROM secret", os.environ.get("OTABOX_DATABASE_URL")))
    assert before and all(value.startswith("scrypt1:") for value in before.values())

    env = {**os.environ, "OTABOX_SECRET_KEY": SECRET_KEY}
    weak_target = otabox("secret-key", "rotate", "--to", "short", "--data-dir", str(data_dir), env=env)
    assert weak_target.returncode == 1 and weak_target.stderr.count("\n") == 1
    assert "the key given to --to is too weak" in weak_target.stderr
    rotated = otabox("secret-key", "rotate", "--to", OTHER_KEY, "--data-dir", str(data_dir), env=env)
    assert rotated.returncode == 0, rotated.stderr
    assert rotated.stdout.startswith(f"Sealed {len(before)} secrets with the new key")
    after = dict(database_rows(data_dir, "SELECT name, value FROM secret", os.environ.get("OTABOX_DATABASE_URL")))
    assert set(after) == set(before) and not set(after.values()) & set(before.values())

    old = otabox("keys", "list", "--data-dir", str(data_dir), env=env)
    assert old.returncode == 1 and "does not open the secrets" in old.stderr
    monkeypatch.setenv("OTABOX_SECRET_KEY", OTHER_KEY)
    second = create_app(Config.from_env(data_dir=data_dir, address_rate_per_minute=0))
    try:
        client = second.test_client()
        assert client.get("/api/v1/signing-key").json == signing_key
        download = urlsplit(bundle["url"])
        assert client.get(download.path, query_string=download.query).status_code == 200
    finally:
        second.config["BOX"].close()
