"""The real OpenFeature clients against a live `otabox serve`, with no otabox SDK: Python's
`openfeature-sdk` with `openfeature-provider-ofrep`, and Node's `@openfeature/server-sdk` with
`@openfeature/ofrep-provider` (tests/node/ofrep_harness.mjs). One story end to end: a bundle ships
dark behind a flag, then the flag turns on for 5% of pro users on iOS, then for all of them, without
another release; and a release linked to a flag turns it on for the devices that run it."""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
import requests
from conftest import LiveServer, make_zip
from openfeature import api as openfeature
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason

NODE_DIR = Path(__file__).resolve().parent.parent / "node"
SLUG = "com.example.shop"
PRO_IOS = {"platform": "ios", "plan": "pro"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    live = LiveServer(tmp_path_factory.mktemp("ofrep") / "data", {"OTABOX_CLIENT_RATE_PER_MINUTE": "0"})
    yield live
    live.stop()


class Team:
    """What the team does over the management API."""

    def __init__(self, server: LiveServer):
        key = server.cli("keys", "create", "--name", "team", "--role", "admin").stdout.strip().splitlines()[-1]
        self.url, self.session = server.url, requests.Session()
        self.session.headers["Authorization"] = f"Bearer {key}"
        self.client_key = self.call("POST", "/api/v1/apps", {"slug": SLUG})["clientKey"]

    def call(self, method: str, path: str, body=None, **kw):
        response = self.session.request(method, self.url + path, json=body, timeout=10, **kw)
        assert response.ok, response.text
        return response.json()

    def app(self, method: str, rest: str, body=None, **kw):
        return self.call(method, f"/api/v1/apps/{SLUG}{rest}", body, **kw)


@pytest.fixture(scope="module")
def team(server):
    return Team(server)


@pytest.fixture(scope="module")
def python_client(server, team):
    openfeature.set_provider(OFREPProvider(server.url, headers_factory=lambda: {
        "Authorization": f"Bearer {team.client_key}"}), domain="otabox")
    yield openfeature.get_client("otabox")
    openfeature.clear_providers()


def node_evaluate(server, client_key: str, evaluations: list[dict]) -> list[dict]:
    completed = subprocess.run(["node", "ofrep_harness.mjs", server.url, client_key], cwd=NODE_DIR,
                               input=json.dumps(evaluations), capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def python_details(client, flag: str, default, targeting_key: str | None = None, **attributes):
    method = {bool: client.get_boolean_details, str: client.get_string_details, int: client.get_integer_details,
              float: client.get_float_details, dict: client.get_object_details}[type(default)]
    return method(flag, default, EvaluationContext(targeting_key, attributes))


def test_each_rule_type_through_both_clients(server, team, python_client):
    team.app("POST", "/segments", {"name": "Beta testers", "conditions": [
        {"attribute": "beta", "operator": "eq", "valuesJson": [True]}]})
    bundle = team.app("POST", "/bundles", files={"file": ("b.zip", make_zip())}, data={"version": "3.0.0"})
    flag = team.app("POST", "/flags", {"key": "banner", "flagType": "string", "defaultValue": "none", "variations": [
        {"name": "none", "value": "none"}, {"name": "list", "value": "list"}, {"name": "attr", "value": "attr"},
        {"name": "segment", "value": "segment"}, {"name": "update", "value": "update"},
        {"name": "split", "value": "split"}]})
    for rule in (
            {"ruleType": "user_list", "ruleConfig": {"targetingKeys": ["ada"]}, "variantValue": "list"},
            {"ruleType": "attribute", "ruleConfig": {"attribute": "appVersion", "operator": "semver_lt",
                                                     "values": ["2.0.0"]}, "variantValue": "attr"},
            {"ruleType": "segment", "ruleConfig": {"segmentKey": "beta-testers"}, "variantValue": "segment"},
            {"ruleType": "ota_update", "ruleConfig": {"bundleId": bundle["id"]}, "variantValue": "update"},
            {"ruleType": "percentage_rollout", "ruleConfig": {"rollout": [{"variantValue": "split", "weight": 100}]}}):
        team.app("POST", f"/flags/{flag['id']}/rules", rule)
    cases = [("ada", {}, "list", Reason.TARGETING_MATCH), ("bo", {"appVersion": "1.9"}, "attr", Reason.TARGETING_MATCH),
             ("cy", {"beta": True}, "segment", Reason.TARGETING_MATCH),
             ("di", {"bundleId": bundle["id"]}, "update", Reason.TARGETING_MATCH), ("ed", {}, "split", Reason.SPLIT)]
    node = node_evaluate(server, team.client_key, [{"flag": "banner", "type": "string", "default": "?",
                                         "context": {"targetingKey": key, **attributes}}
                                        for key, attributes, _, _ in cases])
    for (key, attributes, value, reason), from_node in zip(cases, node):
        details = python_details(python_client, "banner", "?", key, **attributes)
        assert (details.value, details.variant, details.reason, details.error_code) == (value, value, reason, None)
        assert (from_node["value"], from_node["variant"], from_node["reason"]) == (value, value, reason.value)
        assert from_node["flagMetadata"]["ruleId"] == details.flag_metadata["ruleId"]


def test_values_of_every_type_and_errors_as_the_clients_report_them(server, team, python_client):
    team.app("POST", "/flags", {"key": "limits", "flagType": "json", "defaultValue": {"retries": 3}})
    team.app("POST", "/flags", {"key": "ratio", "flagType": "number", "defaultValue": 0.25})
    team.app("POST", "/flags", {"key": "page-size", "flagType": "integer", "defaultValue": 20})
    team.app("POST", "/flags", {"key": "discount", "flagType": "float", "defaultValue": 10})
    team.app("POST", "/flags", {"key": "old-number", "flagType": "number", "defaultValue": 10})
    half = team.session.post(f"{team.url}/api/v1/apps/{SLUG}/flags", json={
        "key": "half", "flagType": "integer", "defaultValue": 0.5}, timeout=10)
    assert half.status_code == 400 and "whole number" in half.json()["error"]["message"]
    split = team.app("POST", "/flags", {"key": "split-only", "flagType": "boolean"})
    team.app("POST", f"/flags/{split['id']}/rules", {"ruleType": "percentage_rollout", "ruleConfig": {
        "rollout": [{"variantValue": True, "weight": 50}, {"variantValue": False, "weight": 50}]}})
    assert python_details(python_client, "limits", {}).value == {"retries": 3}
    assert python_details(python_client, "ratio", 1.0).value == 0.25
    page_size = python_details(python_client, "page-size", 10)
    assert (page_size.value, page_size.error_code) == (20, None) and isinstance(page_size.value, int)
    for whole in ("discount", "old-number"):  # a float flag's whole value is a float: 10.0
        details = python_details(python_client, whole, 1.0)
        assert (details.value, details.error_code) == (10.0, None) and isinstance(details.value, float)
    assert python_details(python_client, "page-size", 1.0).error_code == ErrorCode.TYPE_MISMATCH
    missing = python_details(python_client, "no-such-flag", True, "u")
    assert (missing.value, missing.error_code) == (True, ErrorCode.FLAG_NOT_FOUND)
    no_key = python_details(python_client, "split-only", True)
    assert (no_key.value, no_key.error_code) == (True, ErrorCode.TARGETING_KEY_MISSING)
    wrong_type = python_details(python_client, "limits", "text", "u")
    assert (wrong_type.value, wrong_type.error_code) == ("text", ErrorCode.TYPE_MISMATCH)
    node = node_evaluate(server, team.client_key, [
        {"flag": "limits", "type": "object", "default": {}, "context": {}},
        {"flag": "ratio", "type": "number", "default": 1, "context": {}},
        {"flag": "no-such-flag", "type": "boolean", "default": True, "context": {"targetingKey": "u"}},
        {"flag": "split-only", "type": "boolean", "default": True, "context": {}},
        {"flag": "ratio", "type": "string", "default": "x", "context": {}},
        {"flag": "page-size", "type": "number", "default": 1, "context": {}},
        {"flag": "discount", "type": "number", "default": 1, "context": {}}])
    assert [(n["value"], n["errorCode"]) for n in node] == [
        ({"retries": 3}, None), (0.25, None), (True, "FLAG_NOT_FOUND"), (True, "TARGETING_KEY_MISSING"),
        ("x", "TYPE_MISMATCH"), (20, None), (10, None)]


def test_a_wrong_client_key_is_a_general_error_for_both_clients(server, team):
    openfeature.set_provider(OFREPProvider(server.url, headers_factory=lambda: {"X-Client-Key": "wrong"}),
                             domain="wrong-key")
    details = openfeature.get_client("wrong-key").get_boolean_details("anything", False)
    assert (details.value, details.error_code) == (False, ErrorCode.GENERAL)
    assert node_evaluate(server, "otabox_ck_wrong", [{"flag": "x", "type": "boolean", "default": False,
                                                      "context": {}}])[0]["errorCode"] == "GENERAL"


def test_ship_dark_then_five_percent_of_pro_users_on_ios_then_all_of_them(server, team, python_client):
    # The bundle with the new checkout ships dark: the flag serves its default, off, to everyone.
    flag = team.app("POST", "/flags", {"key": "new-checkout", "name": "New checkout", "flagType": "boolean",
                                       "defaultValue": False, "description": "Shipped in 2.0.0"})
    bundle = team.app("POST", "/bundles", files={"file": ("b.zip", make_zip())}, data={"version": "2.0.0"})
    team.app("POST", "/releases", {"bundleId": bundle["id"], "channel": "production"})
    users = [f"user-{n:04d}" for n in range(600)]
    dark = [python_details(python_client, "new-checkout", True, key, **PRO_IOS) for key in users[:50]]
    assert {(d.value, d.reason) for d in dark} == {(False, Reason.STATIC)}

    # 5% of pro users on iOS: a segment, and a split of that segment only; no new release.
    team.app("POST", "/segments", {"name": "iOS Pro Users", "matchType": "all", "conditions": [
        {"attribute": "platform", "operator": "eq", "valuesJson": ["ios"]},
        {"attribute": "plan", "operator": "eq", "valuesJson": ["pro"]}]})
    rule = team.app("POST", f"/flags/{flag['id']}/rules", {"ruleType": "percentage_rollout", "ruleConfig": {
        "segmentKey": "ios-pro-users", "rollout": [{"variantValue": True, "weight": 5}]}})
    on = {key for key in users if python_details(python_client, "new-checkout", False, key, **PRO_IOS).value}
    assert 0.02 * len(users) <= len(on) <= 0.08 * len(users), len(on)
    sample = users[:40] + sorted(on)[:10]
    node = node_evaluate(server, team.client_key, [{"flag": "new-checkout", "type": "boolean", "default": False,
                                         "context": {"targetingKey": key, **PRO_IOS}} for key in sample])
    assert [n["value"] for n in node] == [key in on for key in sample], "both clients see the same split"
    assert {n["reason"] for n in node if n["value"]} == {"SPLIT"}
    others = [python_details(python_client, "new-checkout", False, key, platform=platform, plan=plan).value
              for key in sorted(on) for platform, plan in (("android", "pro"), ("ios", "free"))]
    assert not any(others), "only pro users on iOS are in the split"

    # Everyone who had it keeps it as the rollout widens to all pro users on iOS.
    team.app("PATCH", f"/flags/{flag['id']}/rules/{rule['id']}", {"ruleConfig": {
        "segmentKey": "ios-pro-users", "rollout": [{"variantValue": True, "weight": 100}]}})
    assert all(python_details(python_client, "new-checkout", False, key, **PRO_IOS).value for key in users[:100])

    # A web client polls the bulk evaluation with its ETag: unchanged flags cost a 304.
    bulk = requests.post(f"{server.url}/ofrep/v1/evaluate/flags", json={"context": {"targetingKey": users[0],
                                                                                    **PRO_IOS}},
                         headers={"X-Client-Key": team.client_key}, timeout=10)
    assert {f["key"]: f["value"] for f in bulk.json()["flags"]}["new-checkout"] is True
    polled = requests.post(f"{server.url}/ofrep/v1/evaluate/flags", json={"context": {"targetingKey": users[0],
                                                                                      **PRO_IOS}},
                           headers={"X-Client-Key": team.client_key, "If-None-Match": bulk.headers["ETag"]},
                           timeout=10)
    assert polled.status_code == 304

    # The kill switch: off for everyone at the next evaluation.
    team.app("PATCH", f"/flags/{flag['id']}", {"enabled": False})
    killed = python_details(python_client, "new-checkout", True, users[0], **PRO_IOS)
    assert (killed.value, killed.reason) == (False, Reason.DISABLED)
    team.app("PATCH", f"/flags/{flag['id']}", {"enabled": True})

    # The evaluations were counted per variant, and the contexts recorded (both in batches).
    deadline = time.monotonic() + 10
    evaluated = 50 + len(users) + len(sample) + 2 * len(on) + 100 + 2  # by the steps above
    while sum((counts := team.app("GET", f"/flags/{flag['id']}/evaluations"))["totals"].values()) < evaluated:
        assert time.monotonic() < deadline, counts
        time.sleep(0.1)
    assert counts["totals"]["on"] >= len(on) and counts["totals"]["off"] >= len(users) - len(on)
    quiet = next(key for key in users if key not in on)
    assert [(c["kind"], c["attributes"]) for c in team.app("GET", "/contexts", params={"search": quiet})[
        "contexts"]] == [("user", PRO_IOS)]


def test_a_release_linked_to_a_flag_turns_it_on_for_the_devices_that_run_it(server, team, python_client):
    flag = team.app("POST", "/flags", {"key": "dark-mode", "flagType": "boolean"})
    bundle = team.app("POST", "/bundles", files={"file": ("b.zip", make_zip({"index.html": "dark"}))},
                      data={"version": "2.1.0"})
    release = team.app("POST", "/releases", {"bundleId": bundle["id"], "channel": "production", "rollout": 50,
                                             "linkedFlags": [{"flagId": flag["id"], "enabled": True}]})["release"]
    got_it = []
    for phone in (f"phone-{n}" for n in range(12)):
        check = requests.get(f"{server.url}/api/v1/apps/{SLUG}/check", timeout=10,
                             params={"platform": "ios", "deviceId": phone, "version": "2.0.0"},
                             headers={"X-Client-Key": team.client_key}).json()
        running = check["bundle"]["id"] if check["updateAvailable"] else None
        details = python_details(python_client, "dark-mode", False, phone,
                                 **({"bundleId": running} if running else {"bundleVersion": "2.0.0"}))
        assert details.value is (running == bundle["id"]), phone
        got_it.append(details.value)
    assert 0 < sum(got_it) < len(got_it), "the 50% rollout reached some phones, and the flag only those"
    node = node_evaluate(server, team.client_key, [
        {"flag": "dark-mode", "type": "boolean", "default": False,
         "context": {"targetingKey": "phone-7", "releaseId": release["id"]}},
        {"flag": "dark-mode", "type": "boolean", "default": False,
         "context": {"targetingKey": "phone-6", "bundleVersion": "2.0.0"}}])
    assert [n["value"] for n in node] == [True, False]
