"""Upgrading a data directory made by an earlier release: every row and blob is still served as before.

Each fixture in tests/fixtures/ is a data directory made by that release with
tests/fixtures/make_datadir.py, with the requests that script recorded and the answers the release
gave. A copy is upgraded by a real `otabox serve` of this code, the requests are replayed in the same
order, and every answer must still contain what the old one did (fields may be added) and every
download must still have the same bytes."""
from __future__ import annotations

import hashlib
import json
import sqlite3

import pytest
import requests
from conftest import ROOT, LiveServer, old_box
from replay import replay

from otabox.store import migrations

pytestmark = pytest.mark.empty_database  # the old release's rows are loaded into a database without a schema

FIXTURES = sorted((ROOT / "tests" / "fixtures").glob("datadir-*.json"))
FIXTURE_SCHEMA = {"0.1.0": 1, "0.2.0": 7}
"""The schema version each release's data directory was left at."""


@pytest.fixture(params=FIXTURES, ids=lambda path: path.stem)
def upgraded(request, tmp_path, database_url):
    """The fixture's data dir upgraded by `otabox serve`; on PostgreSQL, its database moved there first
    (as the old release would have kept it) and its secret files imported by the first start."""
    recorded = json.loads(request.param.read_text())
    # The patch maker would start diffing the old bundles at once (its audit entries and a new serving
    # sequence are this release's behaviour, tested in tests/ops); here only the old answers are replayed.
    server = LiveServer(old_box(tmp_path / "data", database_url, request.param.with_suffix("")),
                        env={"OTABOX_PATCH_BASES": "0"})
    yield server, recorded
    server.stop()


def test_every_answer_of_the_old_release_is_still_given(upgraded):
    server, recorded = upgraded
    problems = replay(server.url, recorded)
    assert problems == [], "\n".join(problems)
    assert "Traceback" not in server.log_text()


@pytest.mark.sqlite_only
def test_the_upgrade_is_announced_and_backed_up(upgraded):
    server, recorded = upgraded
    db = sqlite3.connect(server.data_dir / "otabox.db")
    version = db.execute("SELECT value FROM state WHERE key = 'schema_version'").fetchone()[0]
    assert version == migrations.latest_version()
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    doctor = server.cli("doctor")
    assert f"schema version {migrations.latest_version()}" in doctor.stdout
    was = FIXTURE_SCHEMA[recorded["version"]]
    if migrations.latest_version() > was:
        assert (server.data_dir / f"otabox.db.before-{was}").exists()
        assert f"upgraded the database from schema version {was}" in server.log_text()


def test_every_blob_of_the_old_release_is_still_there(upgraded):
    server, recorded = upgraded
    key = {"Authorization": f"Bearer {recorded['adminKey']}"}
    for app in requests.get(f"{server.url}/api/v1/apps", headers=key).json()["apps"]:
        bundles = requests.get(f"{server.url}/api/v1/apps/{app['slug']}/bundles?limit=500", headers=key).json()
        for bundle in bundles["bundles"]:
            blob = server.data_dir / "blobs" / bundle["sha256"][:2] / bundle["sha256"]
            assert hashlib.sha256(blob.read_bytes()).hexdigest() == bundle["sha256"]


def test_the_old_admin_key_keeps_its_name_and_rights(upgraded):
    """0.1.0's API keys became tokens of the service account with the same role and reach; they keep both."""
    server, recorded = upgraded
    key = {"Authorization": f"Bearer {recorded['adminKey']}"}
    me = requests.get(f"{server.url}/api/v1/me", headers=key).json()
    assert (me["name"], me["role"], me["via"], me["scoped"]) == ("fixture-admin", "admin", "key", False)
    assert requests.get(f"{server.url}/api/v1/audit-log", headers=key).status_code == 200
    created = requests.post(f"{server.url}/api/v1/apps", json={"slug": "com.example.after"}, headers=key)
    assert created.status_code == 201
    assert requests.delete(f"{server.url}/api/v1/apps/com.example.after", headers=key).status_code == 200
    entry = requests.get(f"{server.url}/api/v1/audit-log?limit=1", headers=key).json()["entries"][0]
    assert (entry["action"], entry["actor"], entry["token"]) == ("app.deleted", "fixture-admin", "fixture-admin")
    listed = json.loads(server.cli("keys", "list", "--json").stdout)
    assert [(k["name"], k["owner"], k["role"], k["apps"], k["expires"]) for k in listed] == [
        ("fixture-admin", None, "admin", None, None)]
    assert server.rows("SELECT email, role, service, password_hash FROM users") == [
        ("service:api-keys", "admin", True, None)]
    if recorded["version"] == "0.1.0":  # its audit entries name no token; later ones do
        assert server.rows("SELECT count(*) FROM auditentry WHERE token IS NULL")[0][0] >= 30
