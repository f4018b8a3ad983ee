"""Schema step 9 (issue 22) on the data directory of every earlier release: tokens remember what they
were minted from, and a user disabled before the upgrade keeps no token or session."""
from __future__ import annotations

import hashlib
import json

import pytest
from conftest import RELEASED_DATA_DIRS, Api, old_box

from otabox.app import create_app
from otabox.config import Config
from otabox.store import migrations
from otabox.store.models import ApiKey, User, UserSession

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
