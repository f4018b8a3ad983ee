"""`otabox keys list` shows what each key and token can really do; `keys revoke` points at --user
when the name is a person's token. In-process, on the data dir of a test app."""
from __future__ import annotations

import json

from click.testing import CliRunner

from otabox.cli import main
from otabox.core import collaborators, users
from otabox.core.apps import find_app


def cli(box, *args):
    return CliRunner().invoke(main, [*args, "--data-dir", str(box.config.data_dir)], catch_exceptions=False)


def member_token(client, box, email, permission, slug, **token):
    """A member who collaborates on `slug` with `permission`, signed in, makes an access token."""
    with box.db.connection_context():
        person = users.create_user(email, "member", "a long enough passphrase", "test")
        collaborators.add_collaborator(find_app(slug), person, permission, "test")
    signed_in = client.post("/api/v1/session", json={"email": email, "password": "a long enough passphrase"})
    made = client.post("/api/v1/auth/tokens", json={"friendlyName": "ci", **token},
                       headers={"X-CSRF-Token": signed_in.json["csrfToken"]})
    assert made.status_code == 201, made.json
    client.delete("/api/v1/session", headers={"X-CSRF-Token": signed_in.json["csrfToken"]})


def test_keys_list_shows_a_member_tokens_real_reach(admin, demo_app, client, box):
    admin.post("/api/v1/apps", {"slug": "com.example.other"})
    member_token(client, box, "mo@example.com", "Collaborator", "com.example.demo")  # asks for admin on every app
    listed = {(k["name"], k["owner"]): k for k in json.loads(cli(box, "keys", "list", "--json").stdout)}
    token = listed[("ci", "mo@example.com")]
    assert (token["role"], token["apps"], token["appRoles"]) == ("publisher", ["com.example.demo"],
                                                                  {"com.example.demo": "publisher"})
    key = listed[("admin", None)]
    assert (key["role"], key["apps"], key["appRoles"]) == ("admin", None, None)
    table = {line.split()[0] + " " + line.split()[1]: line.split() for line in cli(box, "keys", "list").stdout.splitlines()}
    assert table["ci mo@example.com"][2:4] == ["publisher", "com.example.demo"]
    assert table["admin (api"][3:5] == ["admin", "*"]


def test_revoking_a_persons_token_without_user_says_how(admin, demo_app, client, box):
    member_token(client, box, "mo@example.com", "Reader", "com.example.demo")
    refused = cli(box, "keys", "revoke", "ci")
    assert refused.exit_code == 1
    assert refused.stderr == ("Error: no key named 'ci'; revoke the token of that name with "
                              "`otabox keys revoke ci --user mo@example.com`\n")
    assert cli(box, "keys", "revoke", "ci", "--user", "mo@example.com").exit_code == 0
    assert cli(box, "keys", "revoke", "ci").stderr == "Error: no key named 'ci'\n"
