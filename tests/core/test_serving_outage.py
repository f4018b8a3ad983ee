"""The rule for answering checks while the database is away (driven in-process, with the database's
answer to "what is the current state" made to fail): the last confirmed state answers, within the
configured age; a process that never loaded the app, or whose state is too old, answers 503."""
from __future__ import annotations

import pytest
from conftest import check
from peewee import OperationalError

from otabox.core import serving


@pytest.fixture
def database_away(monkeypatch):
    """Every later refresh asks the database (no one-second grace) and finds it gone."""
    def gone():
        raise OperationalError("connection refused")

    def away():
        monkeypatch.setattr(serving, "VERIFY_SECONDS", 0.0)
        monkeypatch.setattr(serving, "current_state", gone)
    return away


@pytest.fixture
def released(admin, demo_app):
    admin.publish(demo_app["slug"], "1.0.0")
    return demo_app


def test_a_loaded_state_answers_checks_while_the_database_is_away(client, released, database_away):
    assert check(client, released, deviceId="d").json["bundle"]["version"] == "1.0.0"
    database_away()
    reply = check(client, released, deviceId="d")
    assert reply.status_code == 200
    assert reply.json["bundle"]["version"] == "1.0.0" and reply.json["signed"]["version"] == "1.0.0"


def test_a_state_older_than_the_limit_answers_503(client, box, released, database_away):
    assert check(client, released, deviceId="d").status_code == 200
    box.serving.stale_limit = 0
    database_away()
    reply = check(client, released, deviceId="d")
    assert reply.status_code == 503 and reply.json["error"]["code"] == "database_unavailable"
    assert reply.headers["Retry-After"]


@pytest.fixture
def no_patch_maker(box):
    """The patch maker's rounds load every app's serving state in the background; without it an app
    stays unloaded until a check asks for it."""
    box.patch_maker.stop()


def test_an_app_never_loaded_answers_503(no_patch_maker, client, released, database_away):
    database_away()
    reply = check(client, released, deviceId="d")
    assert reply.status_code == 503 and reply.json["error"]["code"] == "database_unavailable"


def test_no_codepush_diff_is_built_while_the_database_is_away(admin, client, demo_app, database_away):
    slug = demo_app["slug"]
    old = admin.publish(slug, "1.0.0", files={"index.html": "one", "same.js": "x" * 5000})
    new = admin.publish(slug, "2.0.0", files={"index.html": "two", "same.js": "x" * 5000})
    key = admin.get(f"/api/v1/apps/{slug}/channels/production").json["deploymentKey"]

    def update_check(**params):
        return client.get("/v0.1/public/codepush/update_check",
                          query_string={"deployment_key": key, "app_version": "1.0.0", **params}).json["update_info"]

    assert update_check()["package_size"] == new.bundle["size"]  # loads the serving state
    database_away()
    offered = update_check(package_hash=old.bundle["packageHash"])
    assert offered["is_available"] and offered["package_hash"] == new.bundle["packageHash"]
    assert offered["package_size"] == new.bundle["size"], "the full package, not a diff built now"
    assert new.bundle["sha256"] in offered["download_url"]
