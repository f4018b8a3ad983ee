"""The dashboard's health panel, rollout controls, policies and webhooks pages in Chromium against a live server."""
from __future__ import annotations

import time

import pytest
import requests
from conftest import LiveServer, make_zip
from fleet import WebhookReceiver
from playwright.sync_api import expect
from test_dashboard import Session, browser, new_key  # noqa: F401 (browser is a fixture)

SLUG = "com.example.healthy"


@pytest.fixture
def server(tmp_path):
    server = LiveServer(tmp_path / "data", {"OTABOX_WEBHOOK_ALLOW_PRIVATE": "1"})
    yield server
    server.stop()


def call(server, key, method, path, **kw):
    response = requests.request(method, server.url + path, headers={"Authorization": f"Bearer {key}"}, timeout=10, **kw)
    assert response.status_code < 400, response.text
    return response.json()


def test_release_health_rollout_controls_policies_and_webhooks(server, browser, tmp_path):  # noqa: F811
    admin = new_key(server, "admin", "ui")
    app = call(server, admin, "POST", "/api/v1/apps", json={"slug": SLUG})
    policy = call(server, admin, "POST", f"/api/v1/apps/{SLUG}/rollout-policies", json={
        "name": "careful", "stages": [{"percentage": 20, "minDevices": 1000}, {"percentage": 100}]})
    bundle = requests.post(f"{server.url}/api/v1/apps/{SLUG}/bundles", headers={"Authorization": f"Bearer {admin}"},
                           files={"file": ("b.zip", make_zip())}, data={"version": "1.0.0"}, timeout=10).json()
    created = call(server, admin, "POST", f"/api/v1/apps/{SLUG}/releases",
                   json={"bundleId": bundle["id"], "channel": "production", "policyId": policy["id"]})
    release_id = created["release"]["id"]
    for device in range(4):
        events = [{"type": "app_launch", "count": 5}]
        if device == 0:
            events.append({"type": "crash", "count": 1, "message": "NullPointerException in Checkout"})
        reply = requests.post(f"{server.url}/api/v1/apps/{SLUG}/health", headers={"X-Client-Key": app["clientKey"]},
                              json={"deviceId": f"d{device}", "platform": "android", "bundleId": bundle["id"],
                                    "events": events}, timeout=10)
        assert reply.status_code == 204
    time.sleep(0.6)  # the server writes health in batches (every 0.2 s here)

    session = Session(browser, server, tmp_path)
    page = session.page
    session.sign_in(admin, f"#/apps/{SLUG}/releases/{release_id}")
    health = page.get_by_role("group", name="Health figures")
    expect(health).to_contain_text("95.00%")  # crash-free: 1 crash in 20 launches
    expect(health).to_contain_text("20")
    expect(page.get_by_text("NullPointerException in Checkout")).to_be_visible()
    expect(page.get_by_role("img", name="Launches, crashes, JS errors and update failures per hour")).to_be_visible()
    expect(page.get_by_text("Policy “careful”")).to_be_visible()
    expect(page.get_by_text("No patches yet")).to_be_visible()  # one release: nothing to patch from
    session.shot("release-health")
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_role("status").filter(has_text="paused")).to_be_visible()
    page.get_by_role("button", name="Resume").click()
    expect(page.get_by_role("status").filter(has_text="running")).to_be_visible()
    page.get_by_role("button", name="Advance to the next stage").click()
    expect(page.get_by_role("status").filter(has_text="stage 2 of 2 · 100%")).to_be_visible()

    page.goto(f"{server.url}/#/apps/{SLUG}/rollouts")
    policies = page.get_by_role("table", name="Rollout policies")
    expect(policies.get_by_role("cell", name="careful", exact=True)).to_be_visible()
    expect(page.get_by_role("table", name="Rollout executions")).to_contain_text("stage 2 of 2")
    page.get_by_label("Name").fill("canary")
    page.get_by_label("Crash rate above").fill("1.5")
    page.get_by_role("button", name="Create policy").click()
    expect(policies.get_by_role("cell", name="canary", exact=True)).to_be_visible()
    session.shot("rollouts")
    assert [p["name"] for p in call(server, admin, "GET", f"/api/v1/apps/{SLUG}/rollout-policies")["policies"]] == [
        "careful", "canary"]

    receiver = WebhookReceiver()
    try:
        page.get_by_role("link", name="Webhooks").click()
        page.get_by_label("URL").fill(receiver.url)
        page.get_by_label("release.created").check()
        page.get_by_role("button", name="Create webhook").click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text("whsec_")
        receiver.secret = dialog.locator("code.key").inner_text()
        dialog.get_by_role("button", name="I stored it").click()
        page.get_by_role("button", name="Send a test").click()
        expect(page.get_by_role("status").filter(has_text="Test delivered (HTTP 200)")).to_be_visible()
        expect(page.get_by_role("cell", name="webhook.test")).to_be_visible()
        session.shot("webhooks")
        assert receiver.events() == ["webhook.test"] and receiver.received[0]["verified"]
    finally:
        receiver.close()
    session.close()
