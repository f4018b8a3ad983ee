"""`otabox channels`, `otabox collaborators` and `otabox apps show` on a live server's data directory
(the commands in-process), seen by devices and people over HTTP: what a React Native team needs first."""
from __future__ import annotations

import json

import pytest
import requests
from click.testing import CliRunner
from support import make_zip, run_otabox
from test_live_server import cli_key

from otabox.cli import main

SLUG = "com.example.rn"
PASSWORD = "a long enough passphrase"


def cli(server, *args, input=None):
    return CliRunner().invoke(main, [*args, "--data-dir", str(server.data_dir)], input=input, catch_exceptions=False)


@pytest.fixture
def team(live_server):
    """A live server with an app; `api(method, path, json)` calls it with an admin key."""
    key = cli_key(live_server)

    def api(method, path, body=None, **kw):
        return requests.request(method, live_server.url + path, json=body,
                                headers={"Authorization": f"Bearer {key}"}, **kw)

    assert api("POST", "/api/v1/apps", {"slug": SLUG}).status_code == 201
    return live_server, api


def channels(server) -> dict[str, dict]:
    listed = cli(server, "channels", "list", "--app", SLUG, "--json")
    assert listed.exit_code == 0, listed.output
    return {c["name"]: c for c in json.loads(listed.stdout)}


def codepush_check(server, key):
    return requests.get(f"{server.url}/v0.1/public/codepush/update_check",
                        params={"deployment_key": key, "app_version": "1.0.0"})


def test_channels_are_listed_with_their_deployment_keys_created_updated_and_deleted(team):
    server, api = team
    made = cli(server, "channels", "create", "beta", "--app", SLUG, "--block-upgrades", "major", "--json")
    assert made.exit_code == 0, made.output
    beta = json.loads(made.stdout)[0]
    assert (beta["name"], beta["blockUpgrades"]) == ("beta", "major")
    served = {c["name"]: c for c in api("GET", f"/api/v1/apps/{SLUG}/channels").json()["channels"]}
    assert served["beta"]["deploymentKey"] == beta["deploymentKey"]
    assert codepush_check(server, beta["deploymentKey"]).status_code == 200

    table = cli(server, "channels", "list", "--app", SLUG).stdout.splitlines()
    assert table[0].split() == ["CHANNEL", "DEFAULT", "DEPLOYMENT", "KEY", "SERVES", "ACTIVE", "NUMBER", "BLOCKS",
                                "SPLIT"]
    assert any(line.split()[:3] == ["production", "yes", served["production"]["deploymentKey"]] for line in table)

    changed = cli(server, "channels", "update", "beta", "--app", SLUG, "--rename", "preview", "--split-to",
                  "production", "--split-percentage", "20", "--default", "--rotate-deployment-key", "--no-ios")
    assert changed.exit_code == 0, changed.output
    after = channels(server)
    assert set(after) == {"production", "staging", "preview"}
    preview = after["preview"]
    assert (preview["rolloutChannel"], preview["rolloutPercentage"], preview["public"], preview["ios"]) == (
        "production", 20, True, False)
    assert preview["deploymentKey"] != beta["deploymentKey"]
    assert codepush_check(server, beta["deploymentKey"]).status_code != 200
    assert codepush_check(server, preview["deploymentKey"]).status_code == 200
    assert api("GET", f"/api/v1/apps/{SLUG}").json()["defaultChannel"] == "preview"

    deleted = cli(server, "channels", "delete", "preview", "--yes", "--app", SLUG)
    assert deleted.stdout == f"Deleted channel 'preview' of {SLUG}.\n"
    assert set(channels(server)) == {"production", "staging"}
    actions = {e["action"] for e in api("GET", "/api/v1/audit-log?limit=20").json()["entries"] if e["actor"] == "cli"}
    assert {"channel.created", "channel.updated", "channel.renamed", "channel.key_rotated",
            "channel.deleted"} <= actions


def test_a_refused_channel_change_is_one_line_and_changes_nothing(team):
    server, _ = team
    before = channels(server)
    for args, message in [
            (["update", "staging", "--rename", "production"], "Error: channel 'production' exists already\n"),
            (["update", "staging", "--split-to", "nowhere"],
             "Error: rolloutChannel must name another channel of the app (or be null)\n"),
            (["update", "nightly", "--no-ios"], f"Error: no channel 'nightly' in app '{SLUG}'\n"),
            (["create", "bad name"], "Error: channel name must be 1-64 letters, digits, '.', '_' or '-'\n")]:
        refused = cli(server, "channels", *args, "--app", SLUG)
        assert (refused.exit_code, refused.stderr) == (1, message), args
    assert cli(server, "channels", "list", "--app", "com.example.none").stderr == "Error: no app 'com.example.none'\n"
    # A rename refused after a setting was changed leaves the setting as it was: all or nothing.
    partly = cli(server, "channels", "update", "staging", "--app", SLUG, "--block-upgrades", "minor", "--rename",
                 "production")
    assert partly.exit_code == 1
    assert channels(server) == before


def test_collaborators_are_listed_added_and_removed_and_reach_follows(team):
    server, _ = team
    assert cli(server, "users", "create", "--email", "ro@example.com", "--role", "member", "--password-stdin",
               input=PASSWORD + "\n").exit_code == 0
    person = requests.Session()
    person.post(f"{server.url}/api/v1/session", json={"email": "ro@example.com", "password": PASSWORD})
    assert person.get(f"{server.url}/api/v1/apps/{SLUG}").status_code == 403

    added = cli(server, "collaborators", "add", "ro@example.com", "--app", SLUG, "--permission", "Reader")
    assert added.stdout == f"ro@example.com is now Reader of {SLUG}.\n"
    assert person.get(f"{server.url}/api/v1/apps/{SLUG}").status_code == 200
    changed = cli(server, "collaborators", "add", "ro@example.com", "--app", SLUG)
    assert changed.stdout == f"ro@example.com is Collaborator of {SLUG}.\n"
    listed = json.loads(cli(server, "collaborators", "list", "--app", SLUG, "--json").stdout)
    assert [(c["email"], c["permission"]) for c in listed] == [("ro@example.com", "Collaborator")]
    assert "ro@example.com  Collaborator" in cli(server, "collaborators", "list", "--app", SLUG).stdout

    assert cli(server, "collaborators", "remove", "ro@example.com", "--app", SLUG).stdout == (
        f"Removed ro@example.com from {SLUG}.\n")
    assert person.get(f"{server.url}/api/v1/apps/{SLUG}").status_code == 403
    missing = cli(server, "collaborators", "add", "nobody@example.com", "--app", SLUG)
    assert missing.exit_code == 1 and missing.stderr == (
        "Error: no user 'nobody@example.com'; create one first with "
        "`otabox users create --email nobody@example.com --role member`\n")


def test_apps_show_has_everything_a_build_is_configured_with(team):
    server, api = team
    cli(server, "users", "create", "--email", "ow@example.com", "--role", "member", "--password-stdin",
        input=PASSWORD + "\n")
    cli(server, "collaborators", "add", "ow@example.com", "--app", SLUG, "--permission", "Owner")
    shown = json.loads(cli(server, "apps", "show", SLUG, "--json").stdout)
    served = api("GET", f"/api/v1/apps/{SLUG}").json()
    assert (shown["clientKey"], shown["defaultChannel"]) == (served["clientKey"], "production")
    assert {c["name"]: c["deploymentKey"] for c in shown["channels"]} == {
        c["name"]: c["deploymentKey"] for c in api("GET", f"/api/v1/apps/{SLUG}/channels").json()["channels"]}
    assert [(c["email"], c["permission"]) for c in shown["collaborators"]] == [("ow@example.com", "Owner")]
    text = cli(server, "apps", "show", str(served["id"])).stdout
    assert f"client key:       {served['clientKey']}" in text and "ow@example.com (Owner)" in text
    assert all(channel["deploymentKey"] in text for channel in shown["channels"])


def column(table: list[str], header: str, row: int) -> str:
    """The cell under `header` in line `row` of a table the CLI printed (columns start where headers do)."""
    start = table[0].index(header)
    rest = table[0][start + len(header):]
    end = start + len(header) + (len(rest) - len(rest.lstrip())) if rest.strip() else None
    return table[row][start:end].strip()


def test_koolbase_numbers_and_the_active_bundle_show_in_the_cli(team):
    """A team on Koolbase's numbering finds each bundle's number per channel and the active one in
    `bundles list`, `releases list` and `channels list`."""
    server, api = team
    key = cli_key(server, "numbers")
    ids = []
    for content in ("1", "2"):
        uploaded = requests.post(f"{server.url}/v1/projects/{SLUG}/ota/upload",
                                 files={"bundle": ("b.zip", make_zip({"a": content}))}, data={"channel": "production"},
                                 headers={"Authorization": f"Bearer {key}"})
        assert uploaded.status_code == 201, uploaded.text
        ids.append(uploaded.json()["id"])
    assert api("POST", f"/v1/projects/{SLUG}/ota/bundles/{ids[0]}/activate").status_code == 200
    remote = {"OTABOX_URL": server.url, "OTABOX_KEY": key}

    bundles = run_otabox("bundles", "list", "--app", SLUG, env=remote)
    assert bundles.returncode == 0, bundles.stderr
    table = bundles.stdout.splitlines()
    assert [column(table, "CHANNEL NUMBERS", row) for row in (1, 2)] == ["production 2", "production 1 (active)"]

    assert api("POST", f"/v1/projects/{SLUG}/ota/bundles/{ids[1]}/activate").status_code == 200
    listed = json.loads(run_otabox("bundles", "list", "--app", SLUG, "--json", env=remote).stdout)
    assert [b["channelVersions"][0]["active"] for b in listed["bundles"]] == [True, False]
    releases = run_otabox("releases", "list", "--app", SLUG, "--channel", "production", env=remote).stdout.splitlines()
    assert [column(releases, "NUMBER", row) for row in (1, 2)] == ["2", "1"]
    table = cli(server, "channels", "list", "--app", SLUG).stdout.splitlines()
    production = next(i for i, line in enumerate(table) if line.startswith("production"))
    assert column(table, "ACTIVE NUMBER", production) == "2"
