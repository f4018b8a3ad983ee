"""Schema step 9 (issue 22) on the data directory of every earlier release: tokens remember what they
were minted from, a user disabled before the upgrade keeps no token or session, and secrets sealed in
the database the 0.2.0 way are sealed again under a salted scrypt key."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import RELEASED_DATA_DIRS, ROOT, Api, old_box
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from otabox.app import create_app
from otabox.box import Box
from otabox.config import Config
from otabox.store import migrations
from otabox.store.models import ApiKey, Secret, User, UserSession

FORMER_TOKEN = "otabox_at_a-token-of-a-user-disabled-before-the-upgrade"


def add_a_disabled_user_with_a_token_and_a_session(db) -> None:
    """What 0.2.0 left after `otabox users disable`: the user's token and (had it not ended them) a session."""
    if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'users'").fetchone():
        return  # 0.1.0 had no users
    db.execute("INSERT INTO users (email, role, disabled, service, created_at) "
               "VALUES ('gone@example.com', 'member', 1, 0, '2026-12-01 00:00:00')")
    user_id = db.execute("SELECT id FROM users WHERE email = 'gone@example.com'").fetchone()[0]
    db.execute("INSERT INTO apikey (user_id, name, role, key_hash, scoped, created_by, created_at) "
               "VALUES (?, 'laptop', 'admin', ?, 0, '', '2026-12-01 00:00:00')",
               (user_id, hashlib.sha256(FORMER_TOKEN.encode()).hexdigest()))
    db.execute("INSERT INTO usersession (user_id, token_hash, created_by, created_at, last_seen_at, expires_at) "
               "VALUES (?, 'x', '', '2026-12-01 00:00:00', '2026-12-01 00:00:00', '2099-01-01 00:00:00')", (user_id,))


@pytest.mark.empty_database
@pytest.mark.parametrize("fixture", RELEASED_DATA_DIRS, ids=lambda path: path.name)
def test_tokens_of_an_upgraded_box_are_minted_revoked_and_disabled_as_now(tmp_path, database_url, fixture):
    admin_key = json.loads(fixture.with_name(fixture.name + ".json").read_text())["adminKey"]
    data_dir = old_box(tmp_path / "data", database_url, fixture, add_a_disabled_user_with_a_token_and_a_session)
    app = create_app(Config.from_env(data_dir=data_dir, device_flush_seconds=3600.0))
    box = app.config["BOX"]
    try:
        client = app.test_client()
        with box.db.connection_context():
            assert migrations.current_version(box.db) == migrations.latest_version() >= 9
            assert not UserSession.select().join(User).where(User.disabled).exists()
        assert Api(client, FORMER_TOKEN).get("/api/v1/me").status_code == 401
        admin = Api(client, admin_key)
        assert admin.get("/api/v1/me").json["name"] == "fixture-admin"
        made = admin.post("/api/v1/auth/tokens", {"friendlyName": "ci", "role": "reader"}).json
        child = Api(client, made["accessToken"]).post("/api/v1/auth/tokens", {"friendlyName": "ci-child"}).json
        with box.db.connection_context():
            minted = {t.name: (t.minted_from.name if t.minted_from else None) for t in ApiKey.select()}
        assert minted["fixture-admin"] is None and minted["ci"] == "fixture-admin" and minted["ci-child"] == "ci"
        assert admin.delete("/api/v1/auth/tokens/ci").json["alsoRevoked"] == ["ci-child"]
        assert Api(client, child["accessToken"]).get("/api/v1/me").status_code == 401
    finally:
        box.close()


STRONG_KEY = "0d5f8e2a9c4b7163e8a0f2d4c6b8a9e1f3d5c7b9a2e4f6081a3c5e7f9b1d3f5a"
NEW_KEY = "9a7c5e3f1b8d6a4c2e0f9d7b5a3c1e8f6d4b2a0c9e7f5d3b1a8c6e4f2d0b9a7c"


def sealed_like_0_2_0(secret_key: str, name: str, value: bytes) -> str:
    """How otabox 0.2.0 sealed a row of the secret table: AES-GCM under an unsalted HKDF of the key."""
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"otabox-secrets",
               info=b"otabox secret store v1").derive(secret_key.encode())
    nonce = os.urandom(12)
    return base64.b64encode(nonce + AESGCM(key).encrypt(nonce, value, name.encode())).decode()


def secrets_sealed_by_0_2_0(data_dir: Path, secret_key: str):
    """A `prepare` for old_box: the data dir's secret files as 0.2.0 kept them with OTABOX_SECRET_KEY."""
    def prepare(db) -> None:
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'secret'").fetchone():
            return  # 0.1.0 kept secrets as files only
        for path in sorted((data_dir / "secrets").iterdir()):
            db.execute("INSERT INTO secret (name, value, updated_at) VALUES (?, ?, '2026-12-01 00:00:00')",
                       (path.name, sealed_like_0_2_0(secret_key, path.name, path.read_bytes())))
    return prepare


def assert_secrets_are_the_files_sealed_with_scrypt(data_dir: Path, secret_key: str, monkeypatch) -> None:
    """Open the box with `secret_key`: its secrets are the data dir's files, each row sealed the new way."""
    monkeypatch.setenv("OTABOX_SECRET_KEY", secret_key)
    box = Box(Config.from_env(data_dir=data_dir))
    try:
        with box.db.connection_context():
            rows = {row.name: row.value for row in Secret.select()}
            for path in (data_dir / "secrets").iterdir():
                assert rows[path.name].startswith("scrypt1:") and box.secret_store.get(path.name) == path.read_bytes()
    finally:
        box.close()


@pytest.mark.empty_database
@pytest.mark.parametrize("fixture", RELEASED_DATA_DIRS, ids=lambda path: path.name)
def test_the_upgrade_seals_the_secrets_again_under_a_salted_scrypt_key(tmp_path, database_url, fixture, monkeypatch):
    data_dir = tmp_path / "data"
    old_box(data_dir, database_url, fixture, secrets_sealed_by_0_2_0(data_dir, STRONG_KEY))
    assert_secrets_are_the_files_sealed_with_scrypt(data_dir, STRONG_KEY, monkeypatch)


@pytest.mark.empty_database
@pytest.mark.parametrize("fixture", RELEASED_DATA_DIRS, ids=lambda path: path.name)
def test_a_box_with_a_weak_key_is_refused_and_rotated_to_a_good_one(tmp_path, database_url, fixture, monkeypatch):
    """Issue 22: OTABOX_SECRET_KEY="a" was accepted, and the key it derived came out of a database copy
    at the first guess. Now a start refuses it and names the way out, which works on the old box."""
    data_dir = tmp_path / "data"
    old_box(data_dir, database_url, fixture, secrets_sealed_by_0_2_0(data_dir, "a"))
    env = {**os.environ, "OTABOX_SECRET_KEY": "a"}
    cli = [sys.executable, str(ROOT / "otabox.py")]
    refused = subprocess.run([*cli, "keys", "list", "--data-dir", str(data_dir)], env=env, capture_output=True,
                             text=True, timeout=60)
    assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1
    assert "OTABOX_SECRET_KEY is too weak" in refused.stderr and "otabox secret-key rotate --to NEW" in refused.stderr
    rotated = subprocess.run([*cli, "secret-key", "rotate", "--to", NEW_KEY, "--data-dir", str(data_dir)], env=env,
                             capture_output=True, text=True, timeout=60)
    assert rotated.returncode == 0, rotated.stderr
    assert_secrets_are_the_files_sealed_with_scrypt(data_dir, NEW_KEY, monkeypatch)
