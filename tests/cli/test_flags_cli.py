"""`otabox flags list|create|toggle` against a real `otabox serve`, checked by what OFREP then answers."""
from __future__ import annotations

import json

import requests
from test_live_server import cli_key, run_cli


def evaluate(server, client_key: str, flag_key: str, **context) -> dict:
    return requests.post(f"{server.url}/ofrep/v1/evaluate/flags/{flag_key}", json={"context": context},
                         headers={"X-Client-Key": client_key}, timeout=10).json()


def test_create_list_and_toggle_flags(live_server):
    key = cli_key(live_server, "flags-ci", "publisher")
    admin = cli_key(live_server, "flags-admin", "admin")
    app = requests.post(f"{live_server.url}/api/v1/apps", json={"slug": "com.example.flags"},
                        headers={"Authorization": f"Bearer {admin}"}).json()

    created = run_cli(live_server, key, "flags", "create", "new-checkout", "--app", "com.example.flags",
                      "--description", "Shipped dark in 2.0")
    assert created.stdout.splitlines()[0].split() == ["ID", "KEY", "TYPE", "ENABLED", "DEFAULT", "RULES", "ON", "IN"]
    assert created.stdout.splitlines()[1].split()[1:] == ["new-checkout", "boolean", "True", "false", "0",
                                                          "production,staging"]
    theme = json.loads(run_cli(live_server, key, "flags", "create", "theme", "--app", "com.example.flags",
                               "--type", "string", "--default", "blue", "--variation", "blue=blue",
                               "--variation", "dark=midnight blue", "--disabled", "--json").stdout)
    assert (theme["enabled"], [v["value"] for v in theme["variations"]]) == (False, ["blue", "midnight blue"])
    limits = json.loads(run_cli(live_server, key, "flags", "create", "limits", "--app", "com.example.flags",
                                "--type", "json", "--default", '{"retries": 3}', "--json").stdout)
    assert limits["defaultValue"] == {"retries": 3}
    assert evaluate(live_server, app["clientKey"], "theme")["reason"] == "DISABLED"

    listed = json.loads(run_cli(live_server, key, "flags", "list", "--app", "com.example.flags", "--json").stdout)
    assert [f["key"] for f in listed["flags"]] == ["limits", "new-checkout", "theme"]
    table = run_cli(live_server, key, "flags", "list", "--app", "com.example.flags").stdout.splitlines()
    assert len(table) == 4 and table[3].split()[1:4] == ["theme", "string", "False"]

    run_cli(live_server, key, "flags", "toggle", "theme", "--app", "com.example.flags", "--on")
    assert evaluate(live_server, app["clientKey"], "theme")["reason"] == "STATIC"
    off_in_staging = run_cli(live_server, key, "flags", "toggle", "theme", "--app", "com.example.flags", "--off",
                             "--channel", "staging").stdout
    assert off_in_staging.splitlines()[1].split()[-1] == "production"
    assert evaluate(live_server, app["clientKey"], "theme", channel="staging")["reason"] == "DISABLED"
    assert evaluate(live_server, app["clientKey"], "theme")["reason"] == "STATIC"


def test_errors_are_one_line_and_exit_1(live_server):
    key = cli_key(live_server, "flags-errors", "admin")
    requests.post(f"{live_server.url}/api/v1/apps", json={"slug": "com.example.flags"},
                  headers={"Authorization": f"Bearer {key}"})
    for args in (("toggle", "nope", "--on"), ("create", "bad key"), ("create", "n", "--variation", "x"),
                 ("create", "n", "--type", "number", "--default", "three")):
        result = run_cli(live_server, key, "flags", *args, "--app", "com.example.flags", check=False)
        assert result.returncode == 1 and result.stdout == "", args
        assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("Error: "), result.stderr
    missing = run_cli(live_server, key, "flags", "toggle", "nope", "--on", "--app", "com.example.flags", check=False)
    assert missing.returncode == 1 and missing.stderr.strip() == (
        "Error: no flag 'nope' in app 'com.example.flags' (otabox flags list --app com.example.flags)")
    reader = cli_key(live_server, "flags-reader", "reader")
    refused = run_cli(live_server, reader, "flags", "create", "x", "--app", "com.example.flags", check=False)
    assert refused.returncode == 1 and "publisher role" in refused.stderr and len(refused.stderr.splitlines()) == 1
