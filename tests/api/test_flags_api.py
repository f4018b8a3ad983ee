"""The feature-flag management API: flags, variations, channel settings, rules, segments, contexts,
evaluation counts, flags linked to a release, and the audit entries they leave."""
from __future__ import annotations

import pytest
from conftest import Api, make_key

from otabox.store.models import AuditEntry, FlagRule

APP = "/api/v1/apps/com.example.demo"


def ofrep(client, app, flag_key, **context):
    return client.post(f"/ofrep/v1/evaluate/flags/{flag_key}", json={"context": context},
                       headers={"Authorization": f"Bearer {app['clientKey']}"})


@pytest.fixture
def color(admin, demo_app):
    """A string flag with three variations."""
    response = admin.post(f"{APP}/flags", {
        "key": "theme-color", "name": "Theme color", "flagType": "string", "defaultValue": "blue",
        "description": "The accent color", "variations": [
            {"name": "blue", "value": "blue"}, {"name": "green", "value": "green"}, {"name": "red", "value": "red"}]})
    assert response.status_code == 201, response.json
    return response.json


def variation_id(flag: dict, name: str) -> int:
    return next(v["id"] for v in flag["variations"] if v["name"] == name)


def test_a_boolean_flag_gets_on_and_off_and_is_shown_per_channel(admin, demo_app):
    created = admin.post(f"{APP}/flags", {"key": "new-checkout", "flagType": "boolean"})
    assert created.status_code == 201
    flag = created.json
    assert (flag["name"], flag["defaultValue"], flag["enabled"], flag["rules"]) == ("new-checkout", False, True, [])
    assert [(v["name"], v["value"]) for v in flag["variations"]] == [("on", True), ("off", False)]
    assert flag["channels"] == [
        {"channelName": "production", "enabled": True, "defaultValue": None, "active": True},
        {"channelName": "staging", "enabled": True, "defaultValue": None, "active": True}]
    assert admin.get(f"{APP}/flags").json["flags"] == [flag]
    assert admin.get(f"{APP}/flags/{flag['id']}").json == flag


@pytest.mark.parametrize("body, field", [
    ({"key": "has space", "flagType": "boolean"}, "key"),
    ({"key": "/slash", "flagType": "boolean"}, "key"),
    ({"key": "k", "flagType": "date"}, "flagType"),
    ({"key": "k", "flagType": "string"}, "defaultValue"),
    ({"key": "k", "flagType": "boolean", "defaultValue": "yes"}, "defaultValue"),
    ({"key": "k", "flagType": "number", "defaultValue": "1"}, "defaultValue"),
    ({"key": "k", "flagType": "json", "defaultValue": 3}, "defaultValue"),
    ({"key": "k", "flagType": "string", "defaultValue": "a", "variations": [{"name": "b", "value": "b"}]},
     "defaultValue"),
    ({"key": "k", "flagType": "string", "defaultValue": "a", "variations": [{"name": "a", "value": "a"},
                                                                            {"name": "a", "value": "b"}]},
     "variations[1]"),
    ({"key": "k", "flagType": "number", "defaultValue": 1, "variations": [{"name": "one", "value": 1},
                                                                          {"name": "uno", "value": 1.0}]},
     "variations[1]"),
    ({"key": "k", "flagType": "boolean", "variations": []}, "variations"),
    ({"key": "k", "flagType": "boolean", "enabled": "yes"}, "enabled"),
])
def test_flags_and_their_values_are_checked(admin, demo_app, body, field):
    response = admin.post(f"{APP}/flags", body)
    assert response.status_code == 400 and response.json["error"]["details"]["field"] == field, response.json
    assert admin.get(f"{APP}/flags").json["flags"] == []


def test_keys_are_unique_per_app_and_fixed(admin, demo_app, color):
    assert admin.post(f"{APP}/flags", {"key": "theme-color", "flagType": "boolean"}).status_code == 409
    admin.post("/api/v1/apps", {"slug": "com.example.other"})
    assert admin.post("/api/v1/apps/com.example.other/flags", {"key": "theme-color", "flagType": "boolean"}
                      ).status_code == 201
    for change in ({"key": "other"}, {"flagType": "json"}):
        assert admin.patch(f"{APP}/flags/{color['id']}", change).status_code == 400
    assert admin.patch(f"{APP}/flags/{color['id']}", {}).status_code == 400


def test_update_toggle_and_delete(admin, box, client, demo_app, color):
    changed = admin.patch(f"{APP}/flags/{color['id']}", {"name": "Accent", "defaultValue": "green",
                                                         "enabled": False}).json
    assert (changed["name"], changed["defaultValue"], changed["enabled"]) == ("Accent", "green", False)
    assert [c["active"] for c in changed["channels"]] == [False, False]
    assert ofrep(client, demo_app, "theme-color").json["reason"] == "DISABLED"
    assert admin.patch(f"{APP}/flags/{color['id']}", {"defaultValue": "purple"}).status_code == 409
    publisher = Api(client, make_key(box, "publisher"))
    assert publisher.delete(f"{APP}/flags/{color['id']}").status_code == 403
    assert admin.delete(f"{APP}/flags/{color['id']}").json == {"deleted": True, "id": color["id"]}
    assert admin.get(f"{APP}/flags/{color['id']}").status_code == 404
    assert ofrep(client, demo_app, "theme-color").status_code == 404


def test_a_variation_value_changes_wherever_it_is_served(admin, client, demo_app, color):
    flag_path = f"{APP}/flags/{color['id']}"
    admin.post(f"{flag_path}/rules", {"ruleType": "user_list", "ruleConfig": {"targetingKeys": ["vip"]},
                                      "variantValue": "green"})
    admin.post(f"{flag_path}/rules", {"ruleType": "percentage_rollout", "ruleConfig": {"rollout": [
        {"variantValue": "green", "weight": 100}]}})
    admin.patch(f"{flag_path}/env/staging", {"defaultValue": "green"})
    green = variation_id(color, "green")
    changed = admin.patch(f"{flag_path}/variations/{green}", {"name": "teal", "value": "teal"}).json
    assert ("teal", "teal") in [(v["name"], v["value"]) for v in changed["variations"]]
    assert [r["variantValue"] for r in changed["rules"]] == ["teal", None]
    assert changed["rules"][1]["ruleConfig"]["rollout"][0]["variantValue"] == "teal"
    assert changed["channels"][1]["defaultValue"] == "teal"
    assert ofrep(client, demo_app, "theme-color", targetingKey="vip").json["value"] == "teal"
    assert admin.patch(f"{flag_path}/variations/{green}", {"value": "red"}).status_code == 409
    assert admin.patch(f"{flag_path}/variations/{green}", {"value": 3}).status_code == 400
    assert admin.patch(f"{flag_path}/variations/999", {"name": "x"}).status_code == 404


def test_variations_can_be_replaced_but_not_while_served(admin, demo_app, color):
    flag_path = f"{APP}/flags/{color['id']}"
    rule = admin.post(f"{flag_path}/rules", {"ruleType": "user_list", "ruleConfig": {"targetingKeys": ["vip"]},
                                             "variantValue": "red"}).json
    keep = [{"id": variation_id(color, name), "name": name, "value": name} for name in ("blue", "green")]
    refused = admin.patch(flag_path, {"variations": keep})
    assert refused.status_code == 409 and refused.json["error"]["details"]["servedBy"] == [f"rule {rule['id']}"]
    assert len(admin.get(flag_path).json["variations"]) == 3, "nothing of the refused change was kept"
    swapped = admin.patch(flag_path, {"variations": [
        {"id": variation_id(color, "blue"), "name": "blue", "value": "red"},
        {"id": variation_id(color, "red"), "name": "red", "value": "blue"},
        {"name": "yellow", "value": "yellow"}]})
    assert swapped.status_code == 200, swapped.json
    assert swapped.json["defaultValue"] == "red" and swapped.json["rules"][0]["variantValue"] == "blue"
    assert [v["name"] for v in swapped.json["variations"]] == ["blue", "red", "yellow"]


def test_channel_settings(admin, client, demo_app, color):
    flag_path = f"{APP}/flags/{color['id']}"
    changed = admin.patch(f"{flag_path}/env/staging", {"enabled": False, "defaultValue": "red"}).json
    assert changed["channels"][1] == {"channelName": "staging", "enabled": False, "defaultValue": "red",
                                      "active": False}
    answer = ofrep(client, demo_app, "theme-color", channel="staging").json
    assert (answer["value"], answer["reason"]) == ("red", "DISABLED")
    assert ofrep(client, demo_app, "theme-color").json["reason"] == "STATIC"
    assert admin.patch(f"{flag_path}/env/staging", {"defaultValue": None}).json["channels"][1]["defaultValue"] is None
    assert admin.patch(f"{flag_path}/env/nope", {"enabled": True}).status_code == 404
    assert admin.patch(f"{flag_path}/env/staging", {"defaultValue": "purple"}).status_code == 400
    assert admin.patch(f"{flag_path}/env/staging", {}).status_code == 400


def test_rules_of_each_type_are_checked_and_kept_in_priority_order(admin, demo_app, color):
    rules = f"{APP}/flags/{color['id']}/rules"
    bundle = admin.upload("com.example.demo", "1.0.0").json
    release = admin.release("com.example.demo", bundle["id"]).json["release"]
    segment = admin.post(f"{APP}/segments", {"name": "Pro", "conditions": [
        {"attribute": "plan", "operator": "eq", "valuesJson": ["pro"]}]}).json
    created = [admin.post(rules, body) for body in (
        {"ruleType": "user_list", "ruleConfig": {"targetingKeys": ["a", "b", "a"]}, "variantValue": "red"},
        {"ruleType": "attribute", "ruleConfig": {"attribute": "country", "operator": "in", "values": ["US", "CA"]},
         "variantValue": "green", "channelName": "staging"},
        {"ruleType": "segment", "ruleConfig": {"segmentKey": segment["key"]}, "variantValue": "green"},
        {"ruleType": "ota_update", "ruleConfig": {"bundleId": bundle["id"]}, "variantValue": "red"},
        {"ruleType": "ota_update", "ruleConfig": {"releaseId": release["id"]}, "variantValue": "red", "priority": -5},
        {"ruleType": "percentage_rollout", "ruleConfig": {"rollout": [{"variantValue": "red", "weight": 10},
                                                                      {"variantValue": "green", "weight": 20.5}]}})]
    assert [r.status_code for r in created] == [201] * 6, [r.json for r in created]
    assert created[0].json["ruleConfig"] == {"targetingKeys": ["a", "b"]}
    assert [r.json["priority"] for r in created] == [0, 1, 2, 3, -5, 4]
    listed = admin.get(f"{APP}/flags/{color['id']}").json["rules"]
    assert [r["id"] for r in listed] == [created[i].json["id"] for i in (4, 0, 1, 2, 3, 5)]
    moved = admin.patch(f"{rules}/{created[5].json['id']}", {"priority": -10}).json
    assert moved["priority"] == -10 and moved["ruleConfig"]["rollout"][1]["weight"] == 20.5
    assert admin.get(f"{APP}/flags/{color['id']}").json["rules"][0]["id"] == moved["id"]
    assert admin.delete(f"{rules}/{created[0].json['id']}").json == {"deleted": True, "id": created[0].json["id"]}
    assert admin.delete(f"{rules}/{created[0].json['id']}").status_code == 404


@pytest.mark.parametrize("body, status", [
    ({"ruleType": "everyone", "ruleConfig": {}, "variantValue": "red"}, 400),
    ({"ruleType": "user_list", "ruleConfig": {"targetingKeys": []}, "variantValue": "red"}, 400),
    ({"ruleType": "user_list", "ruleConfig": {"targetingKeys": ["a"]}, "variantValue": "purple"}, 400),
    ({"ruleType": "user_list", "ruleConfig": {"targetingKeys": ["a"]}}, 400),
    ({"ruleType": "user_list", "ruleConfig": "a,b", "variantValue": "red"}, 400),
    ({"ruleType": "user_list", "ruleConfig": {"targetingKeys": ["a"]}, "variantValue": "red", "priority": "1"}, 400),
    ({"ruleType": "user_list", "ruleConfig": {"targetingKeys": ["a"]}, "variantValue": "red",
      "channelName": "nope"}, 404),
    ({"ruleType": "attribute", "ruleConfig": {"attribute": "email", "operator": "matches", "values": [".*"]},
      "variantValue": "red"}, 400),
    ({"ruleType": "segment", "ruleConfig": {"segmentKey": "nope"}, "variantValue": "red"}, 404),
    ({"ruleType": "segment", "ruleConfig": {}, "variantValue": "red"}, 400),
    ({"ruleType": "ota_update", "ruleConfig": {"bundleId": 999}, "variantValue": "red"}, 404),
    ({"ruleType": "ota_update", "ruleConfig": {"bundleId": 1, "releaseId": 1}, "variantValue": "red"}, 400),
    ({"ruleType": "percentage_rollout", "ruleConfig": {"rollout": [{"variantValue": "red", "weight": 70},
                                                                   {"variantValue": "blue", "weight": 31}]}}, 400),
    ({"ruleType": "percentage_rollout", "ruleConfig": {"rollout": [{"variantValue": "pink", "weight": 5}]}}, 400),
])
def test_rules_that_cannot_be_evaluated_are_refused(admin, demo_app, color, body, status):
    response = admin.post(f"{APP}/flags/{color['id']}/rules", body)
    assert response.status_code == status, response.json
    assert admin.get(f"{APP}/flags/{color['id']}").json["rules"] == []


def test_segments(admin, client, demo_app, color):
    created = admin.post(f"{APP}/segments", {"name": "iOS Pro Users", "description": "Pro on iOS",
                                             "conditions": [
                                                 {"attribute": "platform", "operator": "eq", "valuesJson": ["ios"]},
                                                 {"attribute": "plan", "operator": "in",
                                                  "valuesJson": '["pro", "enterprise"]'}]})
    assert created.status_code == 201, created.json
    segment = created.json
    assert (segment["key"], segment["matchType"], segment["usedBy"]) == ("ios-pro-users", "all", [])
    assert segment["conditions"][1] == {"attribute": "plan", "operator": "in", "valuesJson": ["pro", "enterprise"]}
    assert admin.post(f"{APP}/segments", {"name": "iOS pro users!"}).json["key"] == "ios-pro-users-2"
    assert admin.post(f"{APP}/segments", {"name": "x", "key": "ios-pro-users"}).status_code == 409
    assert admin.post(f"{APP}/segments", {"name": "x", "conditions": [
        {"attribute": "email", "operator": "regex", "valuesJson": [".*"]}]}).status_code == 400
    assert admin.post(f"{APP}/segments", {"name": "x", "matchType": "most"}).status_code == 400
    assert [s["key"] for s in admin.get(f"{APP}/segments").json["segments"]] == ["ios-pro-users", "ios-pro-users-2"]

    rule = admin.post(f"{APP}/flags/{color['id']}/rules", {
        "ruleType": "segment", "ruleConfig": {"segmentKey": "ios-pro-users"}, "variantValue": "red"}).json
    assert ofrep(client, demo_app, "theme-color", platform="ios", plan="enterprise").json["value"] == "red"
    changed = admin.patch(f"{APP}/segments/{segment['id']}", {"matchType": "any", "conditions": [
        {"attribute": "plan", "operator": "eq", "valuesJson": ["free"]}]}).json
    assert changed["matchType"] == "any" and changed["usedBy"] == [
        {"flagId": color["id"], "flagKey": "theme-color", "ruleId": rule["id"]}]
    assert ofrep(client, demo_app, "theme-color", platform="ios", plan="enterprise").json["value"] == "blue"
    assert ofrep(client, demo_app, "theme-color", plan="free").json["value"] == "red"
    assert admin.patch(f"{APP}/segments/{segment['id']}", {"key": "renamed"}).status_code == 400

    in_use = admin.delete(f"{APP}/segments/{segment['id']}")
    assert in_use.status_code == 409 and in_use.json["error"]["code"] == "segment_in_use"
    admin.delete(f"{APP}/flags/{color['id']}/rules/{rule['id']}")
    assert admin.delete(f"{APP}/segments/{segment['id']}").json["deleted"] is True
    assert admin.get(f"{APP}/segments/{segment['id']}").status_code == 404


def test_contexts_by_hand_and_from_evaluations(admin, box, client, demo_app, color):
    made = admin.post(f"{APP}/contexts", {"kind": "device", "targetingKey": "phone-1", "name": "QA phone",
                                          "attributes": {"platform": "ios"}})
    assert made.status_code == 201
    assert (made.json["source"], made.json["evaluations"]) == ("manual", 0)
    assert admin.post(f"{APP}/contexts", {"kind": "device", "targetingKey": "phone-1"}).status_code == 409
    assert admin.post(f"{APP}/contexts", {"kind": "robot", "targetingKey": "r"}).status_code == 400
    assert admin.post(f"{APP}/contexts", {"kind": "user"}).status_code == 400

    for key, plan in (("user-1", "pro"), ("user-2", "free"), ("user-1", "pro")):
        ofrep(client, demo_app, "theme-color", targetingKey=key, plan=plan, name="Ada")
    ofrep(client, demo_app, "theme-color", targetingKey="phone-1", kind="device", platform="android")
    ofrep(client, demo_app, "theme-color", plan="anonymous")
    box.flag_recorder.flush()

    listed = admin.get(f"{APP}/contexts").json
    assert listed["total"] == 3
    by_key = {c["targetingKey"]: c for c in listed["contexts"]}
    assert (by_key["user-1"]["evaluations"], by_key["user-1"]["name"], by_key["user-1"]["attributes"]) == (
        2, "Ada", {"plan": "pro"})
    assert (by_key["phone-1"]["source"], by_key["phone-1"]["attributes"]["platform"]) == ("manual", "android")
    assert [c["targetingKey"] for c in admin.get(f"{APP}/contexts?kind=device").json["contexts"]] == ["phone-1"]
    assert [c["targetingKey"] for c in admin.get(f"{APP}/contexts?search=free").json["contexts"]] == ["user-2"]
    assert admin.get(f"{APP}/contexts?kind=robot").status_code == 400
    kinds = admin.get(f"{APP}/contexts/kinds").json["kinds"]
    assert [(k["kind"], k["contexts"]) for k in kinds] == [("user", 2), ("device", 1), ("organization", 0),
                                                           ("service", 0), ("environment", 0)]
    assert admin.get(f"{APP}/contexts/{made.json['id']}").json["targetingKey"] == "phone-1"
    assert admin.delete(f"{APP}/contexts/{made.json['id']}").json["deleted"] is True
    assert admin.get(f"{APP}/contexts/{made.json['id']}").status_code == 404


def test_recorded_contexts_are_bounded_oldest_first_and_manual_ones_stay(admin, box, client, demo_app, color,
                                                                          monkeypatch):
    recorder = box.flag_recorder
    monkeypatch.setattr(recorder, "max_pending", 3)
    monkeypatch.setattr(recorder, "max_per_app", 4)
    assert admin.post(f"{APP}/contexts", {"kind": "user", "targetingKey": "by-hand"}).status_code == 201
    for n in range(5):
        ofrep(client, demo_app, "theme-color", targetingKey=f"early-{n}")
    assert recorder.flush() == 1 + 3, "one counter and three contexts waited for the flush"
    for n in range(5):
        ofrep(client, demo_app, "theme-color", targetingKey=f"late-{n}")
    recorder.flush()
    keys = sorted(c["targetingKey"] for c in admin.get(f"{APP}/contexts").json["contexts"])
    assert keys == ["by-hand", "early-2", "late-0", "late-1", "late-2"]
    monkeypatch.setattr(recorder, "max_bytes_per_app", 2 * len("late-9" + "{}"))  # two contexts, no attributes
    ofrep(client, demo_app, "theme-color", targetingKey="late-9")
    recorder.flush()
    keys = sorted(c["targetingKey"] for c in admin.get(f"{APP}/contexts").json["contexts"])
    assert keys == ["by-hand", "late-2", "late-9"]


def test_evaluation_counts_per_day_and_variant(admin, box, client, demo_app, color):
    admin.post(f"{APP}/flags/{color['id']}/rules", {"ruleType": "user_list", "variantValue": "red",
                                                    "ruleConfig": {"targetingKeys": ["vip"]}})
    for key in ("vip", "vip", "a", "b", "c"):
        ofrep(client, demo_app, "theme-color", targetingKey=key)
    assert admin.get(f"{APP}/flags/{color['id']}/evaluations").json["evaluations"] == [], "counted in memory"
    box.flag_recorder.flush()
    client.post("/ofrep/v1/evaluate/flags", json={"context": {"targetingKey": "vip"}},
                headers={"X-Client-Key": demo_app["clientKey"]})
    box.flag_recorder.flush()
    counts = admin.get(f"{APP}/flags/{color['id']}/evaluations?days=7").json
    today = counts["evaluations"][0]["day"]
    assert counts["evaluations"] == [{"day": today, "variant": "blue", "count": 3},
                                     {"day": today, "variant": "red", "count": 3}]
    assert counts["totals"] == {"blue": 3, "red": 3} and counts["days"] == 7
    assert admin.get(f"{APP}/flags/{color['id']}/evaluations?days=0").status_code == 400


def test_a_release_with_linked_flags_turns_them_on_for_its_devices(admin, box, client, demo_app, color):
    dark = admin.post(f"{APP}/flags", {"key": "new-checkout", "flagType": "boolean"}).json
    bundle = admin.upload("com.example.demo", "1.1.0").json
    refused = admin.release("com.example.demo", bundle["id"], linkedFlags=[{"flagId": color["id"], "enabled": True}])
    assert refused.status_code == 400 and refused.json["error"]["details"]["field"] == "linkedFlags"
    assert admin.release("com.example.demo", bundle["id"], linkedFlags=[{"flagId": 999, "enabled": True}]
                         ).status_code == 404
    assert admin.get(f"{APP}/releases").json["total"] == 0, "a refused link leaves no release behind"

    admin.post(f"{APP}/flags/{dark['id']}/rules", {"ruleType": "user_list", "variantValue": False,
                                                   "ruleConfig": {"targetingKeys": ["x"]}, "priority": 0})
    released = admin.release("com.example.demo", bundle["id"], linkedFlags=[
        {"flagId": dark["id"], "enabled": True}, {"flagId": color["id"], "value": "green"}])
    assert released.status_code == 201, released.json
    release_id = released.json["release"]["id"]
    rules = admin.get(f"{APP}/flags/{dark['id']}").json["rules"]
    assert rules[0]["ruleType"] == "ota_update" and rules[0]["ruleConfig"] == {"releaseId": release_id}
    assert (rules[0]["variantValue"], rules[0]["priority"], rules[0]["channelName"]) == (True, -1, None)
    on_update = ofrep(client, demo_app, "new-checkout", targetingKey="d1", bundleId=bundle["id"]).json
    assert (on_update["value"], on_update["reason"], on_update["metadata"]["ruleId"]) == (
        True, "TARGETING_MATCH", rules[0]["id"])
    assert ofrep(client, demo_app, "new-checkout", targetingKey="d2", bundleVersion="1.0.0").json["value"] is False
    assert ofrep(client, demo_app, "theme-color", releaseId=release_id).json["value"] == "green"
    with box.db.connection_context():
        assert FlagRule.select().where(FlagRule.rule_type == "ota_update").count() == 2


def test_every_change_is_audited(admin, box, demo_app, color):
    flag_path = f"{APP}/flags/{color['id']}"
    rule = admin.post(f"{flag_path}/rules", {"ruleType": "user_list", "ruleConfig": {"targetingKeys": ["a"]},
                                             "variantValue": "red"}).json
    admin.patch(f"{flag_path}/rules/{rule['id']}", {"priority": 3})
    admin.delete(f"{flag_path}/rules/{rule['id']}")
    admin.patch(flag_path, {"enabled": False})
    admin.patch(f"{flag_path}/env/staging", {"enabled": False})
    admin.patch(f"{flag_path}/variations/{variation_id(color, 'red')}", {"name": "crimson"})
    segment = admin.post(f"{APP}/segments", {"name": "S"}).json
    admin.patch(f"{APP}/segments/{segment['id']}", {"description": "d"})
    admin.delete(f"{APP}/segments/{segment['id']}")
    context = admin.post(f"{APP}/contexts", {"targetingKey": "u"}).json
    admin.delete(f"{APP}/contexts/{context['id']}")
    admin.delete(flag_path)
    with box.db.connection_context():
        actions = [e.action for e in AuditEntry.select().where(
            AuditEntry.entity_type.in_(["flag", "segment", "context"])).order_by(AuditEntry.id)]
    assert actions == ["flag.created", "flag.rule_created", "flag.rule_updated", "flag.rule_deleted", "flag.toggled",
                       "flag.channel_updated", "flag.variation_updated", "segment.created", "segment.updated",
                       "segment.deleted", "context.created", "context.deleted", "flag.deleted"]


def test_settings_and_rules_follow_a_renamed_channel_and_go_with_a_deleted_one(admin, client, demo_app, color):
    admin.post(f"{APP}/channels", {"name": "beta"})
    flag_path = f"{APP}/flags/{color['id']}"
    admin.patch(f"{flag_path}/env/beta", {"defaultValue": "red"})
    admin.post(f"{flag_path}/rules", {"ruleType": "user_list", "ruleConfig": {"targetingKeys": ["vip"]},
                                      "variantValue": "green", "channelName": "beta"})
    renamed = client.patch("/apps/com.example.demo/deployments/beta", json={"name": "canary"},
                           headers={"Authorization": f"Bearer {admin.key}"})
    assert renamed.status_code == 200, renamed.data
    flag = admin.get(flag_path).json
    assert flag["channels"][-1] == {"channelName": "canary", "enabled": True, "defaultValue": "red", "active": True}
    assert flag["rules"][0]["channelName"] == "canary"
    assert ofrep(client, demo_app, "theme-color", targetingKey="vip", channel="canary").json["value"] == "green"
    admin.delete(f"{APP}/channels/canary")
    admin.post(f"{APP}/channels", {"name": "canary"})
    flag = admin.get(flag_path).json
    assert (flag["channels"][-1]["defaultValue"], flag["rules"]) == (None, [])
    assert ofrep(client, demo_app, "theme-color", targetingKey="vip", channel="canary").json["value"] == "blue"
