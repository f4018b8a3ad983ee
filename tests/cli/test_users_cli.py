"""`otabox users …` and `otabox keys …` on a live server's data directory, seen over HTTP."""
from __future__ import annotations

import json

import requests


def sign_in(server, email, password, browser=requests) -> requests.Response:
    return browser.post(f"{server.url}/api/v1/session", json={"email": email, "password": password})


def test_people_are_made_listed_disabled_and_reset(live_server):
    made = live_server.cli("users", "create", "--email", "Dana@Example.com", "--role", "member")
    generated = made.stdout.strip()
    assert "Created member dana@example.com" in made.stderr and len(generated) >= 20
    signed_in = sign_in(live_server, "dana@example.com", generated)
    assert signed_in.status_code == 200
    cookie = {"otabox_session": signed_in.cookies["otabox_session"]}
    csrf = {"X-CSRF-Token": signed_in.json()["csrfToken"]}
    token = requests.post(f"{live_server.url}/api/v1/auth/tokens", json={"friendlyName": "ci"}, cookies=cookie,
                          headers=csrf).json()["accessToken"]
    bearer = {"Authorization": f"Bearer {token}"}

    own = live_server.cli("users", "create", "--email", "erin@example.com", "--role", "admin", "--password-stdin",
                          input="erin's long passphrase\n")
    assert own.stdout == "" and sign_in(live_server, "erin@example.com", "erin's long passphrase").ok
    for bad in (["--password-stdin"], []):
        again = live_server.cli("users", "create", "--email", "erin@example.com", "--role", "admin", *bad,
                                input="short\n", check=False)
        assert again.returncode == 1 and again.stderr.count("\n") == 1 and "Traceback" not in again.stderr
    listed = json.loads(live_server.cli("users", "list", "--json").stdout)
    assert [(u["email"], u["role"], u["disabled"]) for u in listed] == [
        ("dana@example.com", "member", False), ("erin@example.com", "admin", False)]
    assert "dana@example.com" in live_server.cli("users", "list").stdout

    assert "Disabled dana@example.com" in live_server.cli("users", "disable", "dana@example.com").stdout
    assert requests.get(f"{live_server.url}/api/v1/me", cookies=cookie).status_code == 401
    assert requests.get(f"{live_server.url}/api/v1/me", headers=bearer).status_code == 401
    refused = sign_in(live_server, "dana@example.com", generated)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "account_disabled"
    live_server.cli("users", "enable", "dana@example.com")
    assert requests.get(f"{live_server.url}/api/v1/me", cookies=cookie).status_code == 401
    revived = requests.get(f"{live_server.url}/api/v1/me", headers=bearer)
    assert revived.status_code == 401, "enabling a user revives none of their tokens or sessions"
    assert sign_in(live_server, "dana@example.com", generated).status_code == 200

    reset = live_server.cli("users", "reset-password", "dana@example.com")
    assert sign_in(live_server, "dana@example.com", generated).status_code == 401
    assert sign_in(live_server, "dana@example.com", reset.stdout.strip()).status_code == 200
    missing = live_server.cli("users", "disable", "nobody@example.com", check=False)
    assert missing.returncode == 1 and "no user 'nobody@example.com'" in missing.stderr


def test_keys_list_and_revoke_reach_peoples_tokens(live_server):
    live_server.cli("users", "create", "--email", "fay@example.com", "--role", "admin", "--password-stdin",
                    input="fay's long passphrase\n")
    browser = requests.Session()
    csrf = sign_in(live_server, "fay@example.com", "fay's long passphrase", browser).json()["csrfToken"]
    made = browser.post(f"{live_server.url}/api/v1/auth/tokens", json={"friendlyName": "ci", "ttl": 60_000},
                        headers={"X-CSRF-Token": csrf}).json()
    live_server.cli("keys", "create", "--name", "ci", "--role", "reader")
    listed = json.loads(live_server.cli("keys", "list", "--json").stdout)
    assert [(k["name"], k["owner"], k["role"], k["expires"] is not None) for k in listed] == [
        ("ci", "fay@example.com", "admin", True), ("ci", None, "reader", False)]
    assert "fay@example.com" in live_server.cli("keys", "list").stdout
    live_server.cli("keys", "revoke", "ci", "--user", "fay@example.com")
    assert requests.get(f"{live_server.url}/api/v1/me",
                        headers={"Authorization": f"Bearer {made['accessToken']}"}).status_code == 401
    assert [k["owner"] for k in json.loads(live_server.cli("keys", "list", "--json").stdout)] == [None]

