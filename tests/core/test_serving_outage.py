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
    bundle = admin.upload(demo_app["slug"], "1.0.0").json
    admin.release(demo_app["slug"], bundle["id"])
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


def test_an_app_never_loaded_answers_503(client, released, database_away):
    database_away()
    reply = check(client, released, deviceId="d")
    assert reply.status_code == 503 and reply.json["error"]["code"] == "database_unavailable"
