"""AppDispatch's flags, segments, contexts, flag health, rollout policies and executions, adoption,
telemetry and observe events (shared/seeds/001_84439e3998bbed08.txt), driven with the document's own
example requests, as written, in the order a team would send them: a segment before the rule that
names it, a flag before its rules, reports from devices before the health and telemetry read from them.

Where the document is silent or contradicts itself, the choices made are:
- flag values: the document writes them as text (`"value": "true"`, `"variantValue": "true"`) for a
  boolean flag whose `defaultValue` is `false` (typed) in the same body. otabox takes both and stores
  and answers typed values (the issue pins it), so management answers, OFREP and the flag definitions
  carry `true`/`false`, never the string "false";
- the env example's `"defaultValue": "variant-a"` names a variation (of a string flag): a channel's
  default may be given by a variation's value or, when no value matches, by its name;
- a percentage rollout's top-level `variantValue` (in the document's example) is accepted and unused:
  the rollout's own entries say what each share gets;
- answers: one item under its name (`{"flag": ...}`, `{"rule": ...}`, `{"segment": ...}`,
  `{"context": ...}`, `{"policy": ...}`, `{"execution": ...}`), lists under their plural, as
  test_appdispatch.py's builds and updates;
- how an execution starts is not documented: a release made with the policy's id (otabox's API).
"""
from __future__ import annotations

import pytest
from conftest import make_zip
from support import record_queries
from test_appdispatch import PROJECT, dispatch, resolvable  # noqa: F401 (fixtures)

from otabox.store.models import FlagEvaluationCount, OutboxEvent, TelemetryEvent

SEGMENT = {"name": "iOS Pro Users", "key": "ios-pro-users", "description": "Pro-tier users on iOS", "matchType": "all",
           "conditions": [{"attribute": "platform", "operator": "eq", "valuesJson": ["ios"]},
                          {"attribute": "plan", "operator": "eq", "valuesJson": ["pro"]}]}
FLAG = {"name": "New Checkout", "key": "new-checkout", "flagType": "boolean", "defaultValue": False, "enabled": True,
        "description": "Enable the new checkout flow",
        "variations": [{"name": "On", "value": "true"}, {"name": "Off", "value": "false"}]}
ROLLOUT_RULE = {"ruleType": "percentage_rollout", "ruleConfig": {"rollout": [
    {"variantValue": "true", "weight": 50}, {"variantValue": "false", "weight": 50}]}, "variantValue": "true",
    "priority": 0, "channelName": "production"}
SEGMENT_RULE = {"ruleType": "segment", "ruleConfig": {"segmentKey": "ios-pro-users"}, "variantValue": "true",
                "priority": 2, "channelName": "production"}
CONTEXT = {"kind": "user", "targetingKey": "user-abc-123", "name": "Alice",
           "attributes": {"plan": "pro", "platform": "ios"}}
POLICY = {"name": "Staged production rollout", "stages": [
    {"percentage": 5, "minDevices": 100, "minDurationMinutes": 60},
    {"percentage": 25, "minDevices": 500, "minDurationMinutes": 120},
    {"percentage": 100, "minDevices": 0, "minDurationMinutes": 0}],
    "thresholds": {"errorRate": 2.0, "crashRate": 0.5, "action": "auto-rollback"}}
HEALTH = {"projectSlug": PROJECT, "deviceId": "device-xyz", "channel": "production", "platform": "ios",
          "runtimeVersion": "49.0.0", "updateUuid": "abc-123", "events": [
              {"type": "js_error", "message": "TypeError: undefined is not an object", "count": 3,
               "flagStates": {"new-checkout": True, "theme": "dark"}}, {"type": "app_launch", "count": 1}]}


def client_key(dispatch):
    return dispatch.get(f"/api/v1/apps/{PROJECT}").json["clientKey"]


def made(response, status=201):
    assert response.status_code == status, response.json
    return response.json


# --- flags, rules, variations, env, segments -------------------------------------------------------

def test_the_documented_flag_rules_and_segment_as_written_serve_typed_values(dispatch, client):
    segment = made(dispatch.post("/v1/ota/segments", SEGMENT))["segment"]
    assert {k: segment[k] for k in SEGMENT} == SEGMENT
    flag = made(dispatch.post("/v1/ota/flags", FLAG))["flag"]
    assert (flag["key"], flag["name"], flag["flagType"], flag["defaultValue"], flag["enabled"]) == (
        "new-checkout", "New Checkout", "boolean", False, True)
    assert [(v["name"], v["value"]) for v in flag["variations"]] == [("On", True), ("Off", False)]
    rollout = made(dispatch.post(f"/v1/ota/flags/{flag['id']}/rules", ROLLOUT_RULE))["rule"]
    assert rollout["ruleConfig"]["rollout"] == [{"variantValue": True, "weight": 50},
                                                {"variantValue": False, "weight": 50}]
    assert (rollout["priority"], rollout["channelName"]) == (0, "production")
    assert rollout["variantValue"] is True, "the document's top-level variantValue, kept as sent (typed)"
    off_variation = dispatch.post(f"/v1/ota/flags/{flag['id']}/rules", {**ROLLOUT_RULE, "variantValue": "maybe"})
    assert off_variation.status_code == 400 and off_variation.json["error"]["details"]["field"] == "variantValue"
    by_segment = made(dispatch.post(f"/v1/ota/flags/{flag['id']}/rules", SEGMENT_RULE))["rule"]
    assert (by_segment["variantValue"], by_segment["ruleConfig"]) == (True, {"segmentKey": "ios-pro-users"})

    fetched = made(dispatch.get(f"/v1/ota/flags/{flag['id']}"), 200)["flag"]
    assert [r["id"] for r in fetched["rules"]] == [rollout["id"], by_segment["id"]]
    assert [f["key"] for f in made(dispatch.get("/v1/ota/flags"), 200)["flags"]] == ["new-checkout"]
    in_use = dispatch.delete(f"/v1/ota/segments/{segment['id']}")
    assert in_use.status_code == 409  # documented: referenced by a flag rule

    # Where clients evaluate: OFREP and the (public) flag definitions, typed.
    pro = client.post("/ofrep/v1/evaluate/flags/new-checkout", headers={"X-Client-Key": client_key(dispatch)},
                      json={"context": {"targetingKey": "u-1", "platform": "ios", "plan": "pro"}}).json
    assert pro["value"] in (True, False) and pro["variant"] in ("On", "Off")
    definitions = client.get(f"/v1/ota/flag-definitions/{PROJECT}?channel=production")
    assert definitions.status_code == 200
    served = definitions.json["flags"][0]
    assert served["defaultValue"] is False
    assert [v["value"] for v in served["variations"]] == [True, False]
    assert [r["variantValue"] for r in served["rules"]] == [True, True]
    assert [e["variantValue"] for e in served["rules"][0]["ruleConfig"]["rollout"]] == [True, False]

    # Changing: a variation, a rule, the flag; then the rule and the segment go.
    renamed = made(dispatch.patch(f"/v1/ota/flags/{flag['id']}/variations/{flag['variations'][0]['id']}",
                                  {"name": "Enabled"}), 200)["flag"]
    assert [v["name"] for v in renamed["variations"]] == ["Enabled", "Off"]
    changed = made(dispatch.patch(f"/v1/ota/flags/{flag['id']}/rules/{by_segment['id']}",
                                  {"variantValue": "false"}), 200)["rule"]
    assert changed["variantValue"] is False
    toggled = made(dispatch.patch(f"/v1/ota/flags/{flag['id']}", {"enabled": False, "defaultValue": "true"}), 200)
    assert (toggled["flag"]["enabled"], toggled["flag"]["defaultValue"]) == (False, True)
    assert made(dispatch.delete(f"/v1/ota/flags/{flag['id']}/rules/{by_segment['id']}"), 200)["deleted"] is True
    assert made(dispatch.delete(f"/v1/ota/segments/{segment['id']}"), 200)["deleted"] is True
    assert made(dispatch.delete(f"/v1/ota/flags/{flag['id']}"), 200) == {"deleted": True, "id": flag["id"]}
    assert dispatch.get(f"/v1/ota/flags/{flag['id']}").status_code == 404


def test_values_as_text_and_typed_alike_and_what_spells_no_value_is_refused_by_name(dispatch):
    typed = made(dispatch.post("/v1/ota/flags", {**FLAG, "key": "typed", "variations": [
        {"name": "On", "value": True}, {"name": "Off", "value": False}]}))["flag"]
    assert [v["value"] for v in typed["variations"]] == [True, False]
    number = made(dispatch.post("/v1/ota/flags", {"key": "max-items", "flagType": "integer", "defaultValue": "42",
                                                  "variations": [{"name": "few", "value": "42"},
                                                                 {"name": "many", "value": 100}]}))["flag"]
    assert (number["defaultValue"], [v["value"] for v in number["variations"]]) == (42, [42, 100])
    config = made(dispatch.post("/v1/ota/flags", {"key": "theme", "flagType": "json",
                                                  "defaultValue": '{"color": "dark"}'}))["flag"]
    assert config["defaultValue"] == {"color": "dark"}
    text = made(dispatch.post("/v1/ota/flags", {"key": "label", "flagType": "string", "defaultValue": "true"}))["flag"]
    assert text["defaultValue"] == "true"  # a string flag's values stay strings
    refused = dispatch.post("/v1/ota/flags", {**FLAG, "key": "bad", "variations": [{"name": "On", "value": "yes"}]})
    assert refused.status_code == 400 and refused.json["error"]["details"]["field"] == "variations[0].value"
    unknown = dispatch.post("/v1/ota/flags", {**FLAG, "key": "strict", "flagKind": "boolean"})
    assert unknown.status_code == 400 and unknown.json["error"]["code"] == "unknown_field"


def test_env_settings_as_written_name_a_variation(dispatch, client):
    flag = made(dispatch.post("/v1/ota/flags", {"key": "checkout-variant", "flagType": "string",
                                                "defaultValue": "control", "variations": [
                                                    {"name": "control", "value": "control"},
                                                    {"name": "variant-a", "value": "A"}]}))["flag"]
    env = made(dispatch.patch(f"/v1/ota/flags/{flag['id']}/env/production",
                              {"enabled": True, "defaultValue": "variant-a"}), 200)["flag"]
    production = next(c for c in env["channels"] if c["channelName"] == "production")
    assert (production["enabled"], production["defaultValue"]) == (True, "A")
    served = client.get(f"/v1/ota/flag-definitions/{PROJECT}?channel=production").json["flags"][0]
    assert served["defaultValue"] == "A"
    assert dispatch.patch(f"/v1/ota/flags/{flag['id']}/env/nowhere", {"enabled": False}).status_code == 404


def test_an_env_default_that_is_no_variation_is_refused_listing_the_variations_by_name_and_value(dispatch):
    flag = made(dispatch.post("/v1/ota/flags", FLAG))["flag"]
    refused = dispatch.patch(f"/v1/ota/flags/{flag['id']}/env/production",
                             {"enabled": True, "defaultValue": "variant-a"})
    assert refused.status_code == 400 and refused.json["error"]["details"]["field"] == "defaultValue"
    assert refused.json["error"]["message"] == ("defaultValue must be the name or the value of one of the flag's "
                                                "variations: On (true), Off (false)")
    by_name = made(dispatch.patch(f"/v1/ota/flags/{flag['id']}/env/production", {"defaultValue": "Off"}), 200)
    production = next(c for c in by_name["flag"]["channels"] if c["channelName"] == "production")
    assert production["defaultValue"] is False


def test_the_new_routes_need_x_project_and_name_it(dispatch, client, admin):
    for path in ("/v1/ota/flags", "/v1/ota/segments", "/v1/ota/contexts/kinds", "/v1/ota/rollout-policies",
                 "/v1/ota/insights/adoption", "/v1/ota/telemetry/events", "/v1/ota/observe/events"):
        missing = client.get(path, headers={"Authorization": f"Bearer {admin.key}"})
        assert missing.status_code == 400 and "X-Project" in missing.json["error"]["message"], path
        assert dispatch.get(path, headers={"X-Project": "com.example.nobody"}).status_code == 404, path
        assert client.get(path, headers={"X-Project": PROJECT}).status_code == 401, path


# --- contexts ----------------------------------------------------------------------------------------

def test_contexts_and_their_kinds_as_documented(dispatch):
    context = made(dispatch.post("/v1/ota/contexts", CONTEXT))["context"]
    assert {k: context[k] for k in CONTEXT} == CONTEXT
    kinds = made(dispatch.get("/v1/ota/contexts/kinds"), 200)["kinds"]
    assert [k["kind"] for k in kinds] == ["user", "device", "organization", "service", "environment"]
    found = made(dispatch.get("/v1/ota/contexts?kind=user&search=Alice"), 200)
    assert (found["total"], found["contexts"][0]["id"]) == (1, context["id"])
    assert made(dispatch.get(f"/v1/ota/contexts/{context['id']}"), 200)["context"]["targetingKey"] == "user-abc-123"
    assert made(dispatch.delete(f"/v1/ota/contexts/{context['id']}"), 200)["deleted"] is True
    assert made(dispatch.get("/v1/ota/contexts"), 200) == {"contexts": [], "total": 0}


# --- health from devices: flag health, observe, telemetry, adoption --------------------------------

def test_reports_feed_flag_health_observe_and_telemetry(dispatch, client, box):
    flag = made(dispatch.post("/v1/ota/flags", FLAG))["flag"]
    assert client.post("/v1/ota/health-metrics", json=HEALTH).status_code == 204
    assert client.post("/v1/ota/health-metrics", json={**HEALTH, "deviceId": "device-2", "platform": "android",
                                                       "events": [{"type": "custom", "name": "checkout_done",
                                                                   "count": 2}, {"type": "crash", "count": 1,
                                                                   "message": "SIGSEGV"}]}).status_code == 204
    launched = {**HEALTH, "events": [{"type": "app_launch", "count": 1, "flagStates": {"new-checkout": True}}]}
    assert client.post("/v1/ota/health-metrics", json=launched).status_code == 204
    box.health.flush()
    box.events.flush()

    flag_health = made(dispatch.get(f"/v1/ota/flags/{flag['id']}/health"), 200)
    assert (flag_health["launches"], flag_health["jsErrors"], flag_health["affectedDevices"]) == (1, 3, 1)
    assert flag_health["errorRate"] == 300.0 and flag_health["crashFreeRate"] == 100.0
    [on] = flag_health["variants"]
    assert (on["variant"], on["value"], on["jsErrors"], on["affectedDevices"]) == ("On", True, 3, 1)

    observed = made(dispatch.get("/v1/ota/observe/events"), 200)
    assert (observed["page"], observed["pageSize"], observed["total"]) == (1, 50, 3)
    assert [e["type"] for e in observed["events"]] == ["crash", "custom", "js_error"]  # newest first
    errors = made(dispatch.get("/v1/ota/observe/events?type=js_error&channel=production&platform=ios"), 200)
    [error] = errors["events"]
    assert (error["message"], error["count"], error["deviceId"], error["flagStates"]) == (
        "TypeError: undefined is not an object", 3, "device-xyz", {"new-checkout": True}), "typed, as reported"
    typed = made(dispatch.get("/v1/ota/telemetry/events?type=js_error"), 200)["events"]
    assert [e["flagStates"] for e in typed] == [{"new-checkout": True}]
    android = made(dispatch.get("/v1/ota/telemetry/events?platform=android&type=custom"), 200)
    assert [(e["name"], e["count"]) for e in android["events"]] == [("checkout_done", 2)]
    assert dispatch.get("/v1/ota/observe/events?type=app_launch").status_code == 400  # launches are sums only

    impacts = made(dispatch.get("/v1/ota/telemetry/flag-impacts"), 200)
    assert [(i["flagKey"], i["variant"], i["jsErrors"]) for i in impacts["flags"]] == [("new-checkout", True, 3)]
    series = made(dispatch.get("/v1/ota/telemetry/timeseries?days=1"), 200)
    assert (series["days"], series["bucketSeconds"]) == (1, 3600) and isinstance(series["points"], list)
    adoption = made(dispatch.get("/v1/ota/insights/adoption?days=30"), 200)
    assert {"days", "totalActiveDevices", "totalDownloads", "updates", "daily"} <= set(adoption)
    assert dispatch.get("/v1/ota/insights/adoption?days=10").status_code == 400  # 7, 14, 30 or 90


def test_adoption_counts_devices_and_downloads_per_update(dispatch, client, admin, box):
    published = admin.publish(PROJECT, "1.0.0")
    for n in range(3):
        check = client.get(f"/api/v1/apps/{PROJECT}/check", headers={"X-Client-Key": client_key(dispatch)},
                           query_string={"deviceId": f"phone-{n}", "platform": "ios", "channel": "production",
                                         "bundleVersion": "builtin", "nativeVersion": "1.0.0"})
        assert check.status_code == 200, check.json
    client.post(f"/api/v1/apps/{PROJECT}/events", headers={"X-Client-Key": client_key(dispatch)},
                json={"deviceId": "phone-0", "action": "downloaded", "bundleVersion": "1.0.0"})
    box.tracker.flush()
    adoption = made(dispatch.get("/v1/ota/insights/adoption"), 200)
    assert adoption["totalActiveDevices"] == 3
    [update] = adoption["updates"]
    assert (update["updateId"], update["channel"], update["activeDevices"], update["share"]) == (
        published.release["id"], "production", 3, 100.0)
    assert update["downloads"] == adoption["totalDownloads"]


# --- rollout policies and executions, with their webhook events ------------------------------------

def test_a_policy_as_written_its_execution_controls_and_appdispatch_webhooks(dispatch, admin, box, resolvable):
    hook = made(dispatch.post("/v1/ota/webhooks", {"url": "https://your-app.example.com/webhook",
                                                   "events": ["flag.updated", "rollout.advanced",
                                                              "rollout.rolled_back"],
                                                   "secret": "whsec_your_signing_secret"}))["webhook"]
    policy = made(dispatch.post("/v1/ota/rollout-policies", POLICY))["policy"]
    assert [s["percentage"] for s in policy["stages"]] == [5, 25, 100]
    assert policy["thresholds"]["action"] == "auto-rollback"
    assert made(dispatch.get(f"/v1/ota/rollout-policies/{policy['id']}"), 200)["policy"]["name"] == POLICY["name"]
    assert [p["id"] for p in made(dispatch.get("/v1/ota/rollout-policies"), 200)["policies"]] == [policy["id"]]

    bundle = admin.upload(PROJECT, "2.0.0", make_zip({"index.html": "2"})).json
    release = made(admin.release(PROJECT, bundle["id"], policyId=policy["id"]))["release"]
    [execution] = made(dispatch.get("/v1/ota/rollout-executions"), 200)["executions"]
    assert (execution["releaseId"], execution["status"], execution["percentage"]) == (release["id"], "running", 5)
    locked = dispatch.patch(f"/v1/ota/rollout-policies/{policy['id']}", {"name": "Renamed"})
    assert locked.status_code == 409  # documented: editing is locked while an execution runs

    path = f"/v1/ota/rollout-executions/{execution['id']}"
    assert made(dispatch.post(f"{path}/pause"), 200)["execution"]["status"] == "paused"
    assert made(dispatch.post(f"{path}/resume"), 200)["execution"]["status"] == "running"
    advanced = made(dispatch.post(f"{path}/advance"), 200)["execution"]
    assert (advanced["stage"], advanced["percentage"]) == (2, 25)
    assert made(dispatch.get(path), 200)["execution"]["events"][-1]["kind"] == "advanced"
    assert made(dispatch.post(f"{path}/cancel"), 200)["execution"]["status"] == "cancelled"
    assert dispatch.post(f"{path}/resume").status_code == 409
    assert made(dispatch.patch(f"/v1/ota/rollout-policies/{policy['id']}", {"name": "Renamed"}), 200)
    flag = made(dispatch.post("/v1/ota/flags", FLAG))["flag"]
    made(dispatch.patch(f"/v1/ota/flags/{flag['id']}", {"enabled": False}), 200)
    with box.db.connection_context():
        assert {"rollout.advanced", "flag.updated"} <= {row.event for row in OutboxEvent.select()}
    deliveries = made(dispatch.get(f"/v1/ota/webhooks/{hook['id']}/deliveries"), 200)["deliveries"]
    assert {d["event"] for d in deliveries} >= {"rollout.advanced", "flag.updated"}
    assert made(dispatch.delete(f"/v1/ota/rollout-policies/{policy['id']}"), 200)["deleted"] is True


# --- public endpoints: flag definitions and flag evaluations ---------------------------------------

def test_flag_evaluations_are_counted_per_flag_and_variant(dispatch, client, box):
    flag = made(dispatch.post("/v1/ota/flags", FLAG))["flag"]
    body = {"projectSlug": PROJECT, "deviceId": "device-xyz", "channel": "production", "evaluations": [
        {"flagKey": "new-checkout", "variant": "On", "count": 7}, {"flagKey": "new-checkout", "value": False,
                                                                   "count": 2},
        {"flagKey": "no-such-flag", "variant": "On", "count": 5}, {"flagKey": "new-checkout", "variant": "Maybe"}]}
    answer = client.post("/v1/ota/flag-evaluations", json=body)
    assert answer.status_code == 204 and answer.data == b""
    box.flag_recorder.flush()
    counted = made(dispatch.get(f"/v1/ota/flags/{flag['id']}/evaluations"), 200)
    assert counted["totals"] == {"On": 7, "Off": 2}
    assert client.post("/v1/ota/flag-evaluations", json={**body, "projectSlug": "com.example.nobody"}
                       ).status_code == 404
    bad = client.post("/v1/ota/flag-evaluations", json={**body, "evaluations": [{"flagKey": "x", "count": -1}]})
    assert bad.status_code == 400 and bad.json["error"]["details"]["field"] == "count"


def test_a_flood_of_evaluation_counts_from_fresh_ids_stays_one_row_per_variant(dispatch, client, box):
    made(dispatch.post("/v1/ota/flags", FLAG))
    for n in range(300):
        response = client.post("/v1/ota/flag-evaluations", environ_base={"REMOTE_ADDR": f"10.0.{n // 250}.{n % 250}"},
                               json={"projectSlug": PROJECT, "deviceId": f"fresh-{n}", "evaluations": [
                                   {"flagKey": "new-checkout", "variant": "On", "count": 100_000},
                                   {"flagKey": f"made-up-{n}", "variant": f"v-{n}", "count": 1},
                                   {"flagKey": "new-checkout", "variant": f"made-up-{n}", "count": 1}]})
        assert response.status_code == 204
    box.flag_recorder.flush()
    with box.db.connection_context():
        assert FlagEvaluationCount.select().count() == 1
        assert FlagEvaluationCount.get().count == 300 * 600  # each report adds at most 600 per variant


def test_one_report_adds_at_most_a_minute_of_evaluations_to_a_variant(dispatch, client, box):
    """The provider posts every 60 s: a fresh id claiming 99 999 evaluations of one variant (in one
    entry or spread over several) moves it by 600, ten a second for that minute."""
    flag = made(dispatch.post("/v1/ota/flags", FLAG))["flag"]
    forged = client.post("/v1/ota/flag-evaluations", json={"projectSlug": PROJECT, "deviceId": "fresh", "evaluations": [
        {"flagKey": "new-checkout", "variant": "On", "count": 99_999}]})
    spread = client.post("/v1/ota/flag-evaluations", json={"projectSlug": PROJECT, "deviceId": "fresh-2",
                                                           "evaluations": [{"flagKey": "new-checkout", "value": False,
                                                                            "count": 400}] * 3})
    assert (forged.status_code, spread.status_code) == (204, 204)
    box.flag_recorder.flush()
    assert made(dispatch.get(f"/v1/ota/flags/{flag['id']}/evaluations"), 200)["totals"] == {"On": 600, "Off": 600}


def test_a_flood_of_health_events_from_fresh_devices_keeps_only_the_ring(dispatch, client, box, monkeypatch):
    monkeypatch.setattr(box.events, "per_app", 25)
    for n in range(120):
        response = client.post("/v1/ota/health-metrics", json={
            **HEALTH, "deviceId": f"fresh-{n}", "events": [{"type": "js_error", "message": f"error {n}", "count": 1},
                                                           {"type": "custom", "name": f"name-{n}", "count": 1}]},
            environ_base={"REMOTE_ADDR": f"10.{n}.0.1"})  # one address adds a tenth of the ring an hour
        assert response.status_code == 204
        if n % 50 == 0:
            box.events.flush()
    box.events.flush()
    with box.db.connection_context():
        assert TelemetryEvent.select().count() == 5  # ids no check has seen keep a fifth of the ring
    newest = made(dispatch.get("/v1/ota/telemetry/events?limit=1"), 200)
    assert newest["total"] == 5 and newest["events"][0]["name"] == "name-119"


def test_a_flood_of_custom_events_from_fresh_ids_leaves_the_real_devices_events(dispatch, client, box, monkeypatch):
    """The public-side attack: 100 keyless reports of 100 custom events each filled the app's 10 000
    kept events and pushed out every real one. Ids no update check has seen keep at most a fifth of
    the ring (here 200 events of 1 000), so a phone's crash and events stay."""
    monkeypatch.setattr(box.events, "per_app", 1000)
    key = client_key(dispatch)
    assert client.get(f"/api/v1/apps/{PROJECT}/check", query_string={"platform": "ios", "deviceId": "device-xyz"},
                      headers={"X-Client-Key": key}).status_code == 200
    box.tracker.flush()
    real = [{"type": "crash", "message": "SIGSEGV in checkout", "count": 1},
            *({"type": "custom", "name": f"purchase-{k}", "count": 1} for k in range(9))]
    assert client.post("/v1/ota/health-metrics", json={**HEALTH, "events": real}).status_code == 204
    box.events.flush()
    for n in range(100):
        forged = client.post("/v1/ota/health-metrics", json={**HEALTH, "deviceId": f"fresh-{n}", "events": [
            {"type": "custom", "name": f"noise-{n}-{k}", "count": 1} for k in range(100)]},
            environ_base={"REMOTE_ADDR": f"10.{n}.0.1"})  # many addresses: one is held to a tenth an hour
        assert forged.status_code == 204
        if n % 5 == 4:
            box.events.flush()
    box.events.flush()
    kept = made(dispatch.get("/v1/ota/telemetry/events?limit=500"), 200)
    assert kept["total"] == 210
    assert {e["name"] or e["message"] for e in kept["events"] if e["deviceId"] == "device-xyz"} == \
        {"SIGSEGV in checkout", *(f"purchase-{k}" for k in range(9))}


def test_a_flood_of_custom_events_from_ids_that_checked_once_leaves_the_real_devices_events(dispatch, client, box,
                                                                                             monkeypatch):
    """The public-side re-attack: a check makes any id a seen device, so 24 x [a check with a fresh
    id, a report of 500 custom events] (48 requests) filled the 10 000 kept events and pushed out a
    phone's 5. One device id now keeps at most 1% of the ring, its newest (here 10 of 1 000), and
    one address adds at most a tenth of it in an hour (here 100)."""
    monkeypatch.setattr(box.events, "per_app", 1000)
    key = client_key(dispatch)

    def checked(device_id):
        assert client.get(f"/api/v1/apps/{PROJECT}/check", query_string={"platform": "ios", "deviceId": device_id},
                          headers={"X-Client-Key": key}).status_code == 200
        box.tracker.flush()

    checked("device-xyz")
    real = [{"type": "crash", "message": "SIGSEGV in checkout", "count": 1},
            *({"type": "custom", "name": f"purchase-{k}", "count": 1} for k in range(4))]
    assert client.post("/v1/ota/health-metrics", json={**HEALTH, "events": real}).status_code == 204
    box.events.flush()

    def flood(address):
        for n in range(24):
            checked(f"fresh-{address}-{n}")
            forged = client.post("/v1/ota/health-metrics", json={**HEALTH, "deviceId": f"fresh-{address}-{n}",
                                                                 "events": [{"type": "custom", "name": f"noise-{k}",
                                                                             "count": 1} for k in range(500)]},
                                 environ_base={"REMOTE_ADDR": address or f"10.{n}.0.1"})
            assert forged.status_code == 204
            box.events.flush()
        return made(dispatch.get("/v1/ota/telemetry/events?limit=500"), 200)

    kept = flood(None)  # from 24 addresses
    assert kept["total"] == 5 + 24 * 10
    assert {e["name"] or e["message"] for e in kept["events"] if e["deviceId"] == "device-xyz"} == \
        {"SIGSEGV in checkout", *(f"purchase-{k}" for k in range(4))}
    kept = flood("198.51.100.7")
    assert kept["total"] <= 5 + 24 * 10 + 2 * 100  # 100 an hour (two hours' worth if the hour turned)


def test_definitions_are_cached_per_generation_and_limited_per_address(dispatch, client, box, monkeypatch):
    from otabox.core import serving
    made(dispatch.post("/v1/ota/flags", FLAG))
    url = f"/v1/ota/flag-definitions/{PROJECT}"
    monkeypatch.setattr(serving, "VERIFY_SECONDS", 3600.0)
    first = client.get(url)
    queries = record_queries(box, monkeypatch)
    for _ in range(5):
        assert client.get(url).data == first.data
    assert queries == []
    statuses = {client.get(f"/v1/ota/flag-definitions/com.example.nobody-{n}").status_code
                for n in range(box.config.client_rate_per_minute + 5)}
    assert 429 in statuses


def test_a_custom_event_without_a_name_is_kept_as_custom(dispatch, client, box):
    """The document marks `name` optional ("Event name (for custom events)"), so a custom event
    without one does not refuse the batch (otabox's own health route still requires it): it is
    counted under the name "custom"."""
    unnamed = {**HEALTH, "events": [{"type": "custom", "count": 2}, {"type": "crash", "count": 1}]}
    assert client.post("/v1/ota/health-metrics", json=unnamed).status_code == 204
    box.events.flush()
    kept = made(dispatch.get("/v1/ota/telemetry/events?type=custom"), 200)
    assert [(e["name"], e["count"]) for e in kept["events"]] == [("custom", 2)]
    assert made(dispatch.get("/v1/ota/telemetry/events?type=crash"), 200)["total"] == 1
