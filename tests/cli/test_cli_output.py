"""What the admin commands print, in-process on a test's data directory: secrets shown once on
stdout under a notice that makes sense when stdout is captured, tables whose columns fit their
content, human lines by default and JSON with --json."""
from __future__ import annotations

import json
import re

import pytest
from support import check, run_otabox, served

from otabox.box import Box
from otabox.cli import common


@pytest.fixture
def config(config):
    """The test's box as `otabox serve` leaves it: its data dir holds the box's files (the schema copy
    on SQLite; on PostgreSQL the database holds it, so the box is opened once here)."""
    Box(config).close()
    return config


def admin(config, *args, input=None):
    return run_otabox(*args, "--data-dir", str(config.data_dir), input=input)


def test_a_key_captured_by_the_shell_leaves_a_notice_that_makes_sense_alone(config):
    """`KEY=$(otabox keys create ...)`: the key goes to the variable, the terminal keeps stderr only."""
    ran = admin(config, "keys", "create", "--name", "ci")
    assert ran.returncode == 0 and ran.stdout.startswith("otabox_sk_") and ran.stdout.count("\n") == 1
    assert ran.stderr == ("Created admin key 'ci'.\n"
                          "The key was written to standard output (store it now; it is not shown again).\n")
    people = admin(config, "users", "create", "--email", "ana@example.com", "--role", "admin")
    assert people.stderr.splitlines()[-1] == ("The password of ana@example.com was written to standard output "
                                              "(shown once; they can use it to sign in now).")


def test_on_a_terminal_the_notice_points_at_the_key_below_it(config, monkeypatch):
    monkeypatch.setattr(common, "stdout_is_terminal", lambda: True)
    ran = admin(config, "keys", "create", "--name", "ci", "--role", "reader")
    assert ran.stderr == "Created reader key 'ci'.\nThe key (store it now; it is not shown again):\n"
    assert ran.stdout.startswith("otabox_sk_")


def cells(output: str) -> list[dict[str, str]]:
    """The rows of a table the CLI printed, as {header: cell}: a column starts where its header does
    and ends two spaces before the next header, so a cell that ran into the next column shows."""
    header, *lines = output.splitlines()
    names = [name.strip() for name in header.split("  ") if name.strip()]
    starts = [header.index(name) for name in names]
    rows = []
    for line in lines:
        row = {}
        for name, start, end in zip(names, starts, [*starts[1:], None]):
            assert end is None or line[end - 2:end] in ("  ", " ", ""), f"{name!r} runs into the next column: {line}"
            row[name] = line[start:end].strip()
        rows.append(row)
    return rows


def test_table_columns_are_as_wide_as_their_longest_cell(config):
    long_key, long_slug, long_email = "quickstart-1796657348", "com.example.an-app-with-a-rather-long-slug", \
        "someone.with.a.long.address@example.com"
    admin(config, "keys", "create", "--name", long_key)
    admin(config, "apps", "create", long_slug)
    admin(config, "users", "create", "--email", long_email, "--role", "admin")

    (key,) = [row for row in cells(admin(config, "keys", "list").stdout) if row["NAME"] == long_key]
    assert (key["OWNER"], key["ROLE"], key["APPS"], key["EXPIRES"]) == ("(api key)", "admin", "*", "never")
    (app,) = cells(admin(config, "apps", "list").stdout)
    assert app["SLUG"] == long_slug and app["CLIENT KEY"].startswith("otabox_ck_")
    (person,) = cells(admin(config, "users", "list").stdout)
    assert (person["EMAIL"], person["ROLE"], person["STATE"]) == (long_email, "admin", "active")
    entries = cells(admin(config, "audit").stdout)
    assert {(row["ACTOR"], row["ACTION"]) for row in entries} >= {("cli", "app.created"), ("cli", "key.created")}


def test_devices_list_shows_what_is_known_of_each_native_binary(flask_app, box, client, admin, demo_app):
    for device, params in (("build-only", {"nativeBuild": 100}), ("version-only", {"nativeVersion": "1.2.0"}),
                           ("both", {"nativeVersion": "1.3.0", "nativeBuild": 130}), ("neither", {})):
        check(client, demo_app, deviceId=device, version="builtin", **params)
    box.tracker.flush()
    with served(flask_app) as url:
        listed = run_otabox("devices", "list", "--app", demo_app["slug"], env={"OTABOX_URL": url,
                                                                             "OTABOX_KEY": admin.key})
    assert listed.returncode == 0, listed.stderr
    native = {row["DEVICE"]: row["NATIVE"] for row in cells(listed.stdout)}
    assert native == {"build-only": "build 100", "version-only": "1.2.0", "both": "1.3.0 (130)", "neither": ""}


def test_releases_list_tells_apart_same_labels_of_two_branches_and_marks_what_each_channel_serves(
        flask_app, admin, demo_app):
    """Labels count a branch's releases: staging pointed at a new branch makes a second `staging v2`."""
    slug, api = demo_app["slug"], f"/api/v1/apps/{demo_app['slug']}"
    for version in ("1.0.0", "1.0.1"):
        admin.publish(slug, version, "staging")
    assert admin.post(f"{api}/branches", {"name": "next"}).status_code == 201
    assert admin.patch(f"{api}/channels/staging", {"branch": "next"}).status_code == 200
    for version in ("2.0.0", "2.0.1"):
        admin.publish(slug, version, "staging")
    with served(flask_app) as url:
        listed = run_otabox("releases", "list", "--app", slug, env={"OTABOX_URL": url, "OTABOX_KEY": admin.key})
    assert listed.returncode == 0, listed.stderr
    header, *lines = [re.split(r"\s{2,}", line.strip()) for line in listed.stdout.splitlines()]
    rows = [tuple(dict(zip(header, line))[name] for name in ("CHANNEL", "BRANCH", "LABEL", "VERSION", "SERVED BY"))
            for line in lines]  # (cells() would find AT inside MANDATORY)
    assert rows == [("staging", "next", "v2", "2.0.1", "staging"), ("staging", "next", "v1", "2.0.0", "-"),
                    ("staging", "staging", "v2", "1.0.1", "-"), ("staging", "staging", "v1", "1.0.0", "-")]


def test_apps_create_gc_and_backup_speak_in_lines_and_in_json_when_asked(config, tmp_path):
    created = admin(config, "apps", "create", "com.example.lines", "--name", "Lines")
    assert created.returncode == 0 and created.stdout.startswith("Created app com.example.lines.\n\n"
                                                                 "com.example.lines (Lines), id 1, created ")
    assert "client key:       otabox_ck_" in created.stdout and "production" in created.stdout
    as_json = json.loads(admin(config, "apps", "create", "com.example.json", "--json").stdout)
    assert as_json["slug"] == "com.example.json" and as_json["clientKey"].startswith("otabox_ck_")

    assert admin(config, "gc").stdout == "Removed 0 expired uploads, 0 staged files and 0 bundle files no bundle uses.\n"
    assert json.loads(admin(config, "gc", "--json").stdout) == {"expiredUploads": 0, "stagedFiles": 0, "blobs": 0}


@pytest.mark.sqlite_only  # otabox backup copies SQLite files
def test_backup_says_what_it_copied_and_where(config, tmp_path):
    dest = tmp_path / "backup"
    backed_up = admin(config, "backup", str(dest))
    assert backed_up.returncode == 0 and backed_up.stdout == (
        f"Backed up the database ({dest / 'otabox.db'}), 0 stored files (bundle zips, the files inside them, "
        f"patches and compressed copies) and the secrets to {dest}.\n")
    report = json.loads(admin(config, "backup", str(tmp_path / "again"), "--json").stdout)
    assert report == {"database": str(tmp_path / "again" / "otabox.db"), "blobs": 0, "missing": []}
