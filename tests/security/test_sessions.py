"""People signing in: scrypt passwords, the session cookie and its CSRF token, expiry, sign-out,
and the limits on sign-in attempts per address and per account."""
from __future__ import annotations

import datetime as dt
import hmac

import pytest
from conftest import PASSWORD_COST, Api, configured_app, make_key

from otabox.core import users
from otabox.security import passwords, sessions
from otabox.store.models import User, UserSession, utcnow

PASSWORD = "correct horse battery staple"


def add_user(box, email="alice@example.com", role="member", password=PASSWORD) -> User:
    with box.db.connection_context():
        return users.create_user(email, role, password, "test")


def sign_in(client, email="alice@example.com", password=PASSWORD, **kw):
    return client.post("/api/v1/session", json={"email": email, "password": password}, **kw)


def cookie_of(response) -> str:
    header = response.headers["Set-Cookie"]
    return header.split(";")[0].split("=", 1)[1]


def test_sign_in_sets_a_strict_http_only_cookie_and_returns_the_csrf_token(client, box):
    add_user(box)
    response = sign_in(client)
    assert response.status_code == 200
    assert response.json["user"]["email"] == "alice@example.com" and response.json["user"]["role"] == "member"
    attributes = {part.strip().split("=")[0].lower() for part in response.headers["Set-Cookie"].split(";")}
    assert {"httponly", "path", "max-age"} <= attributes and "secure" not in attributes
    assert "SameSite=Strict" in response.headers["Set-Cookie"]
    cookie = cookie_of(response)
    assert response.json["csrfToken"] == sessions.csrf_token(cookie)
    me = client.get("/api/v1/me").json
    assert (me["name"], me["via"], me["role"], me["apps"]) == ("alice@example.com", "session", "reader", [])
    again = client.get("/api/v1/session").json
    assert again["csrfToken"] == response.json["csrfToken"]


def test_the_cookie_is_secure_when_the_public_url_is_https(tmp_path):
    with configured_app(tmp_path, public_url="https://ota.example.com") as app:
        add_user(app.config["BOX"])
        assert "; Secure" in sign_in(app.test_client()).headers["Set-Cookie"]


def test_wrong_password_and_unknown_email_answer_alike(client, box):
    add_user(box)
    wrong = sign_in(client, password="not the password")
    unknown = sign_in(client, email="nobody@example.com")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json == unknown.json and wrong.json["error"]["code"] == "invalid_credentials"
    assert "Set-Cookie" not in wrong.headers
    assert sign_in(client, password=None).status_code == 400
    assert client.post("/api/v1/session", data='{"email": "a@b.c", "password": "x"}',
                       content_type="text/plain").status_code == 415


def test_passwords_are_scrypt_hashes_compared_in_constant_time(box, monkeypatch):
    monkeypatch.setattr(passwords, "LOG2_N", PASSWORD_COST)  # what a server uses, not the tests' quick cost
    user = add_user(box)
    scheme, log2_n, r, p, salt, digest = user.password_hash.split("$")
    assert (scheme, log2_n, r, p) == ("scrypt", "15", "8", "1") and len(salt) == 22 and len(digest) == 43
    assert PASSWORD not in user.password_hash
    compared = []
    original = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: compared.append(1) or original(a, b))
    assert passwords.verify_password(PASSWORD, user.password_hash)
    assert not passwords.verify_password(PASSWORD + "!", user.password_hash)
    assert not passwords.verify_password(PASSWORD, None)
    assert len(compared) == 3, "every check, even without an account, derives and compares"


def test_changes_made_with_the_cookie_need_the_csrf_token(client, box, admin):
    add_user(box, "root@example.com", "admin")
    csrf = sign_in(client, "root@example.com").json["csrfToken"]
    refused = client.post("/api/v1/apps", json={"slug": "com.example.csrf"})
    assert refused.status_code == 403 and refused.json["error"]["code"] == "csrf_required"
    wrong = client.post("/api/v1/apps", json={"slug": "com.example.csrf"}, headers={"X-CSRF-Token": "x" * 43})
    assert wrong.status_code == 403
    made = client.post("/api/v1/apps", json={"slug": "com.example.csrf"}, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201
    assert client.get("/api/v1/apps/com.example.csrf").status_code == 200
    entry = admin.get("/api/v1/audit-log?action=app.created").json["entries"][0]
    assert (entry["actor"], entry["token"]) == ("root@example.com", None)
    owners = admin.get("/api/v1/apps/com.example.csrf/collaborators").json["collaborators"]
    assert [(c["email"], c["permission"]) for c in owners] == [("root@example.com", "Owner")]


def test_sign_out_ends_the_session_for_good(client, box):
    add_user(box)
    response = sign_in(client)
    cookie, csrf = cookie_of(response), response.json["csrfToken"]
    assert client.delete("/api/v1/session").status_code == 403
    out = client.delete("/api/v1/session", headers={"X-CSRF-Token": csrf})
    assert out.status_code == 200 and "otabox_session=;" in out.headers["Set-Cookie"]
    replay = client.application.test_client(use_cookies=False).get(
        "/api/v1/me", headers={"Cookie": f"otabox_session={cookie}"})
    assert replay.status_code == 401 and replay.json["error"]["code"] == "session_expired"
    with box.db.connection_context():
        assert UserSession.select().count() == 0
    key = Api(client, make_key(box, "reader"))
    assert key.delete("/api/v1/session").json["error"]["code"] == "no_session"


@pytest.mark.parametrize("column", ["last_seen_at", "expires_at"])
def test_idle_and_old_sessions_expire(client, box, column):
    add_user(box)
    sign_in(client)
    assert client.get("/api/v1/me").status_code == 200
    box.usage.flush()
    ago = {"last_seen_at": box.config.session_idle_seconds + 60, "expires_at": 1}[column]
    with box.db.connection_context():
        UserSession.update({column: utcnow() - dt.timedelta(seconds=ago)}).execute()
    expired = client.get("/api/v1/me")
    assert expired.status_code == 401 and expired.json["error"]["code"] == "session_expired"


def test_use_keeps_a_session_alive_in_batches(client, box):
    add_user(box)
    sign_in(client)
    with box.db.connection_context():
        before = UserSession.get().last_seen_at - dt.timedelta(hours=1)
        UserSession.update(last_seen_at=before).execute()
    assert client.get("/api/v1/me").status_code == 200
    with box.db.connection_context():
        assert UserSession.get().last_seen_at == before, "not written on the request"
    box.usage.flush()
    with box.db.connection_context():
        assert UserSession.get().last_seen_at > before + dt.timedelta(minutes=59)


def test_only_the_hash_of_the_cookie_is_stored(client, box):
    add_user(box)
    cookie = cookie_of(sign_in(client))
    box.usage.flush()
    for path in (p for p in box.config.data_dir.rglob("*") if p.is_file()):
        content = path.read_bytes()
        assert cookie.encode() not in content and PASSWORD.encode() not in content, path


def test_disabled_users_and_reset_passwords_end_sessions(client, box):
    user = add_user(box)
    sign_in(client)
    with box.db.connection_context():
        users.reset_password(user, "a brand new password", "test")
    assert client.get("/api/v1/me").status_code == 401
    assert sign_in(client).status_code == 401
    assert sign_in(client, password="a brand new password").status_code == 200
    with box.db.connection_context():
        users.set_disabled(user, True, "test")
    assert client.get("/api/v1/me").status_code == 401
    refused = sign_in(client, password="a brand new password")
    assert refused.status_code == 401 and refused.json["error"]["code"] == "account_disabled"


@pytest.fixture
def limited(tmp_path):
    with configured_app(tmp_path, login_attempts_per_minute=4, login_failures_per_account=2,
                        anonymous_requests_per_hour=2) as app:
        yield app


def test_failed_sign_ins_of_an_account_meet_a_short_back_off_from_any_address(limited):
    add_user(limited.config["BOX"])
    client = limited.test_client()
    assert [sign_in(client, password="wrong password!").status_code for _ in range(2)] == [401, 401]
    blocked = sign_in(client, environ_base={"REMOTE_ADDR": "192.0.2.9"})
    assert blocked.status_code == 429 and blocked.json["error"]["code"] == "sign_in_backoff"
    assert blocked.headers["Retry-After"] == "1"
    assert blocked.json["error"]["message"] == "too many failed sign-ins for this account; retry in 1 s"
    assert "Set-Cookie" not in blocked.headers
    assert sign_in(client, email="someone.else@example.com", environ_base={"REMOTE_ADDR": "192.0.2.9"}
                   ).status_code == 401


def test_failed_sign_ins_from_an_address_meet_a_back_off_for_every_account(tmp_path):
    with configured_app(tmp_path, login_failures_per_address=3) as app:
        add_user(app.config["BOX"])
        client = app.test_client()
        office = {"REMOTE_ADDR": "198.51.100.20"}
        guesses = [sign_in(client, email=f"guess{n}@example.com", environ_base=office).status_code for n in range(4)]
        assert guesses == [401, 401, 401, 429]
        assert "from this address" in sign_in(client, environ_base=office).json["error"]["message"]
        assert sign_in(client, environ_base={"REMOTE_ADDR": "198.51.100.21"}).status_code == 200


def test_keyless_requests_never_lock_an_address_out_of_signing_in(limited):
    """The hourly window of requests without a key (or with a wrong one) is a budget of its own."""
    add_user(limited.config["BOX"])
    client = limited.test_client()
    answers = [client.get("/api/v1/apps").status_code for _ in range(2)]
    answers.append(client.get("/api/v1/apps", headers={"Authorization": "Bearer otabox_sk_wrong"}).status_code)
    assert answers == [401, 401, 429]
    signed_in = sign_in(client)
    assert signed_in.status_code == 200 and "X-RateLimit-Limit" not in signed_in.headers


def test_sign_in_attempts_are_limited_per_address(limited):
    add_user(limited.config["BOX"])
    client = limited.test_client()
    answers = [sign_in(client, email=f"guess{n}@example.com").status_code for n in range(5)]
    assert answers == [401] * 4 + [429]
    assert sign_in(client).status_code == 429
    assert sign_in(client, environ_base={"REMOTE_ADDR": "192.0.2.10"}).status_code == 200
