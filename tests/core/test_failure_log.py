"""A background loop's failing rounds cost two log lines per outage, not a traceback a second."""
from __future__ import annotations

import logging

from peewee import OperationalError

from otabox.core.batching import FailureLog


def lines(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.INFO]


def test_a_database_outage_is_one_line_when_it_starts_and_one_when_it_ends(caplog):
    failures = FailureLog("policy-scheduler")
    with caplog.at_level(logging.INFO, logger="otabox"):
        for _ in range(44):
            failures.failed(OperationalError("connection refused\nIs the server running?"))
        failures.succeeded()
        failures.succeeded()
    assert len(lines(caplog)) == 2
    assert lines(caplog)[0] == ("policy-scheduler: the database does not answer (connection refused); "
                                "trying again every round, quiet until it does")
    assert lines(caplog)[1].startswith("policy-scheduler: database reachable again after ")
    assert lines(caplog)[1].endswith(" (44 failed rounds)")
    assert not any(record.exc_info for record in caplog.records if record.levelno >= logging.INFO)


def test_another_failure_keeps_its_traceback_once_and_a_new_kind_is_told_again(caplog):
    failures = FailureLog("janitor")
    with caplog.at_level(logging.INFO, logger="otabox"):
        failures.failed(ValueError("bad"))
        failures.failed(ValueError("bad"))
        failures.failed(OperationalError("gone"))
        failures.succeeded()
    errors = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert len(errors) == 3 and errors[0].exc_info and not errors[1].exc_info
    assert errors[2].getMessage().endswith("(1 failed round)")


def test_success_without_a_failure_says_nothing(caplog):
    with caplog.at_level(logging.INFO, logger="otabox"):
        FailureLog("device flush").succeeded()
    assert lines(caplog) == []
