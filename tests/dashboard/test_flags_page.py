"""The dashboard's feature-flag pages in a real browser against a live `otabox serve`: create a flag,
switch it per channel, add a segment and a rule, read the evaluation counts."""
from __future__ import annotations

import requests
from playwright.sync_api import expect
from test_dashboard import api, browser, new_key, server, sessions  # noqa: F401 (fixtures)

SLUG = "com.example.flagsui"


def evaluate(live, client_key, flag_key, **context):
    return requests.post(f"{live.url}/ofrep/v1/evaluate/flags/{flag_key}", json={"context": context},
                         headers={"X-Client-Key": client_key}, timeout=10).json()


def test_flags_page_switches_rules_segments_and_counts(server, sessions):  # noqa: F811
    admin = new_key(server, "admin", "flags-ui")
    client_key = api(server, admin, "POST", "/api/v1/apps", json={"slug": SLUG}).json()["clientKey"]
    session = sessions()
    page = session.page
    session.sign_in(admin, f"#/apps/{SLUG}")
    page.get_by_role("link", name="Flags").click()
    page.get_by_role("heading", name="Feature flags").wait_for()

    page.get_by_role("button", name="New flag").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Key").fill("new-checkout")
    dialog.get_by_role("button", name="Create flag").click()
    page.get_by_text("Flag new-checkout created.").wait_for()
    flag = api(server, admin, "GET", f"/api/v1/apps/{SLUG}/flags").json()["flags"][0]
    assert (flag["key"], flag["flagType"], flag["enabled"]) == ("new-checkout", "boolean", True)

    page.get_by_role("row", name="new-checkout").get_by_label("staging").uncheck()
    page.get_by_text("new-checkout in staging: off.").wait_for()
    assert evaluate(server, client_key, "new-checkout", channel="staging")["reason"] == "DISABLED"

    page.get_by_role("button", name="New segment").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Name").fill("iOS Pro Users")
    dialog.get_by_label("Conditions").fill("platform eq ios\nplan in pro,enterprise")
    dialog.get_by_role("button", name="Create segment").click()
    page.get_by_text("Segment ios-pro-users created.").wait_for()
    session.shot("flags")

    page.get_by_role("link", name="new-checkout").click()
    page.get_by_role("heading", name="Rules", exact=True).wait_for()
    page.get_by_role("button", name="Add rule").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Rule type").select_option("segment")
    dialog.get_by_label("Segment", exact=True).select_option("ios-pro-users")
    dialog.get_by_label("Serve").select_option(label="on (true)")
    dialog.get_by_role("button", name="Add rule").click()
    page.get_by_text("Rule added to new-checkout.").wait_for()
    expect(page.get_by_text("in segment ios-pro-users")).to_be_visible()
    answer = evaluate(server, client_key, "new-checkout", targetingKey="u1", platform="ios", plan="enterprise")
    assert (answer["value"], answer["reason"]) == (True, "TARGETING_MATCH")

    page.get_by_role("button", name="Add rule").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Rule type").select_option("percentage_rollout")
    dialog.get_by_label("Percent for on").fill("5")
    dialog.get_by_label("Priority").fill("-1")
    dialog.get_by_role("button", name="Add rule").click()
    page.get_by_text("Rule added to new-checkout.").last.wait_for()
    rows = page.get_by_role("table", name="Rules in priority order").get_by_role("row")
    expect(rows.nth(1)).to_contain_text("5% on")
    expect(rows.nth(2)).to_contain_text("in segment ios-pro-users")

    for n in range(30):
        evaluate(server, client_key, "new-checkout", targetingKey=f"user-{n}", platform="android")
    page.wait_for_timeout(600)
    page.reload()  # a pasted key lives in the page only: the reload asks for it again
    session.use_key(admin)
    page.get_by_role("heading", name="Evaluations").wait_for()
    counted = api(server, admin, "GET", f"/api/v1/apps/{SLUG}/flags/{flag['id']}/evaluations").json()["totals"]
    assert sum(counted.values()) == 32  # the staging, segment and 30 split evaluations
    expect(page.get_by_text(f"off: {counted['off']}")).to_be_visible()

    page.get_by_label("Flag on").uncheck()
    page.get_by_text("new-checkout is off.").wait_for()
    assert evaluate(server, client_key, "new-checkout", targetingKey="u1")["reason"] == "DISABLED"
    session.shot("flag")
    session.close()
