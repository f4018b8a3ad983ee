"""`otabox keys list` shows what each key and token can really do; `keys revoke` points at --user
when the name is a person's token. The commands in-process, on a live server's data directory."""
from __future__ import annotations

import json

import requests
from click.testing import CliRunner
from test_live_server import cli_key

from otabox.cli import main

PASSWORD = "a long enough passphrase"


def cli(server, *args, input=None):
    return CliRunner().invoke(main, [*args, "--data-dir", str(server.data_dir)], input=input, catch_exceptions=False)


def member_token(server, email, permission, slug):
    """A member who collaborates on `slug` with `permission` makes an access token `ci` (asking for
    nothing in particular: the most there is)."""
    cli(server, "users", "create", "--email", email, "--role", "member", "--password-stdin", input=PASSWORD + "\n")
    cli(server, "collaborators", "add", email, "--app", slug, "--permission", permission)
    person = requests.Session()
    csrf = person.post(f"{server.url}/api/v1/session", json={"email": email, "password": PASSWORD}).json()["csrfToken"]
    made = person.post(f"{server.url}/api/v1/auth/tokens", json={"friendlyName": "ci"}, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201, made.text


def test_keys_list_shows_a_member_tokens_real_reach(live_server):
    cli_key(live_server, "admin")
    for slug in ("com.example.demo", "com.example.other"):
        cli(live_server, "apps", "create", slug)
    member_token(live_server, "mo@example.com", "Collaborator", "com.example.demo")
    listed = {(k["name"], k["owner"]): k for k in json.loads(cli(live_server, "keys", "list", "--json").stdout)}
    token = listed[("ci", "mo@example.com")]
    assert (token["role"], token["apps"], token["appRoles"]) == ("publisher", ["com.example.demo"],
                                                                  {"com.example.demo": "publisher"})
    key = listed[("admin", None)]
    assert (key["role"], key["apps"], key["appRoles"]) == ("admin", None, None)
    table = {" ".join(line.split()[:2]): line.split() for line in cli(live_server, "keys", "list").stdout.splitlines()}
    assert table["ci mo@example.com"][2:4] == ["publisher", "com.example.demo"]
    assert table["admin (api"][3:5] == ["admin", "*"]


def test_revoking_a_persons_token_without_user_says_how(live_server):
    cli_key(live_server, "admin")
    cli(live_server, "apps", "create", "com.example.demo")
    member_token(live_server, "mo@example.com", "Reader", "com.example.demo")
    refused = cli(live_server, "keys", "revoke", "ci")
    assert refused.exit_code == 1
    assert refused.stderr == ("Error: no key named 'ci'; revoke the token of that name with "
                              "`otabox keys revoke ci --user mo@example.com`\n")
    assert cli(live_server, "keys", "revoke", "ci", "--user", "mo@example.com").exit_code == 0
    assert cli(live_server, "keys", "revoke", "ci").stderr == "Error: no key named 'ci'\n"
