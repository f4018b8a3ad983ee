"""`otabox webhooks create|list|test|delete` against the API served from a thread of the test (in-process)."""
from __future__ import annotations

import json

import pytest
from conftest import make_key
from support import run_otabox, served

from otabox.app import create_app
from otabox.config import Config
from otabox.core.webhooks import FORMATS

RECEIVER = "https://93.184.216.34/hook"  # a public address, never called: the delivery worker is stopped


@pytest.fixture
def remote(tmp_path):
    """The environment of a publishing command pointed at a box whose webhook deliveries wait."""
    app = create_app(Config.from_env(data_dir=tmp_path / "data", device_flush_seconds=3600.0))
    box = app.config["BOX"]
    box.webhooks.loop.stop()
    try:
        with served(app) as url:
            yield {"OTABOX_URL": url, "OTABOX_KEY": make_key(box, "admin", "admin")}
    finally:
        box.close()


def test_every_format_the_api_takes_is_offered_and_codepush_gets_its_one_event(remote):
    assert all(name in run_otabox("webhooks", "create", "--help").stdout for name in FORMATS)
    created = run_otabox("webhooks", "create", "--url", RECEIVER, "--format", "codepush", "--json", env=remote)
    assert created.returncode == 0, created.stderr
    hook = json.loads(created.stdout)
    assert hook["format"] == "codepush" and hook["events"] == ["deployment.released"]
    plain = json.loads(run_otabox("webhooks", "create", "--url", RECEIVER, "--json", env=remote).stdout)
    assert plain["format"] == "json" and plain["events"] == ["*"]


def test_a_webhook_is_tested_and_deleted_from_the_command_line(remote):
    hook = json.loads(run_otabox("webhooks", "create", "--url", RECEIVER, "--json", env=remote).stdout)
    tested = run_otabox("webhooks", "test", str(hook["id"]), env=remote)
    assert tested.returncode == 0, tested.stderr
    assert f"for webhook {hook['id']}" in tested.stdout and f"otabox webhooks deliveries {hook['id']}" in tested.stdout
    deliveries = json.loads(run_otabox("webhooks", "deliveries", str(hook["id"]), "--json", env=remote).stdout)
    assert [(d["event"], d["status"]) for d in deliveries["deliveries"]] == [("webhook.test", "pending")]

    deleted = run_otabox("webhooks", "delete", str(hook["id"]), env=remote)
    assert deleted.returncode == 0 and deleted.stdout == f"Deleted webhook {hook['id']}.\n"
    assert json.loads(run_otabox("webhooks", "list", "--json", env=remote).stdout)["webhooks"] == []
    again = run_otabox("webhooks", "delete", str(hook["id"]), env=remote)
    assert again.returncode == 1 and "HTTP 404" in again.stderr
