"""OFREP evaluation and AppDispatch's flag definitions over HTTP: one scenario per rule type and per
operator, OFREP's errors and statuses, ETag/304, authentication by client key, rate limits, the fast
path agreeing with the Flask route, and evaluation without a database query."""
from __future__ import annotations

import json

import pytest

from otabox.core import serving
from otabox.store.models import FlagContext
from support import record_queries

APP = "/api/v1/apps/com.example.demo"
SINGLE, BULK = "/ofrep/v1/evaluate/flags/{}", "/ofrep/v1/evaluate/flags"


@pytest.fixture
def key(demo_app):
    return {"Authorization": f"Bearer {demo_app['clientKey']}"}


@pytest.fixture
def make_flag(admin, demo_app):
    def make(flag_key="new-checkout", *rules, flag_type="boolean", **fields):
        flag = admin.post(f"{APP}/flags", {"key": flag_key, "flagType": flag_type, **fields})
        assert flag.status_code == 201, flag.json
        for rule in rules:
            created = admin.post(f"{APP}/flags/{flag.json['id']}/rules", rule)
            assert created.status_code == 201, created.json
        return flag.json
    return make


def evaluate(client, key, flag_key="new-checkout", **context):
    return client.post(SINGLE.format(flag_key), json={"context": context}, headers=key)


def user_list(*keys, value=True):
    return {"ruleType": "user_list", "ruleConfig": {"targetingKeys": list(keys)}, "variantValue": value}


def test_a_flag_without_rules_is_static_and_the_reply_has_ofreps_shape(client, key, make_flag):
    make_flag()
    response = evaluate(client, key, targetingKey="u1")
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    assert response.json == {"key": "new-checkout", "value": False, "reason": "STATIC", "variant": "off",
                             "metadata": {"flagType": "boolean", "channel": "production"}}


def test_user_list_rule(client, key, make_flag):
    make_flag("new-checkout", user_list("alice", "bob"))
    assert evaluate(client, key, targetingKey="bob").json["reason"] == "TARGETING_MATCH"
    assert evaluate(client, key, targetingKey="bob").json["value"] is True
    assert evaluate(client, key, targetingKey="carol").json["reason"] == "DEFAULT"
    assert evaluate(client, key).json["value"] is False, "no targeting key: not on any list"


def test_percentage_rollout_rule(client, key, make_flag):
    make_flag("new-checkout", {"ruleType": "percentage_rollout", "ruleConfig": {"rollout": [
        {"variantValue": True, "weight": 30}, {"variantValue": False, "weight": 70}]}})
    answers = [evaluate(client, key, targetingKey=f"user-{n}").json for n in range(400)]
    assert {a["reason"] for a in answers} == {"SPLIT"}
    assert 80 <= sum(a["value"] for a in answers) <= 160
    assert [evaluate(client, key, targetingKey=f"user-{n}").json["value"] for n in range(20)] == \
        [a["value"] for a in answers[:20]], "the same key gets the same value"
    missing = evaluate(client, key, plan="pro")
    assert missing.status_code == 400 and missing.json["errorCode"] == "TARGETING_KEY_MISSING"
    assert missing.json["key"] == "new-checkout"


def test_attribute_rule(client, key, make_flag):
    make_flag("new-checkout", {"ruleType": "attribute", "variantValue": True, "ruleConfig": {
        "attribute": "appVersion", "operator": "semver_gte", "values": ["2.4.0"]}})
    assert evaluate(client, key, appVersion="2.10.0").json["value"] is True
    assert evaluate(client, key, appVersion="2.3.9").json["value"] is False


def test_segment_rule(admin, client, key, make_flag):
    admin.post(f"{APP}/segments", {"name": "iOS Pro Users", "matchType": "all", "conditions": [
        {"attribute": "platform", "operator": "eq", "valuesJson": ["ios"]},
        {"attribute": "plan", "operator": "eq", "valuesJson": ["pro"]}]})
    make_flag("new-checkout", {"ruleType": "segment", "ruleConfig": {"segmentKey": "ios-pro-users"},
                               "variantValue": True})
    assert evaluate(client, key, platform="ios", plan="pro").json["reason"] == "TARGETING_MATCH"
    assert evaluate(client, key, platform="android", plan="pro").json["value"] is False


def test_ota_update_rule(admin, client, key, make_flag):
    bundle = admin.upload("com.example.demo", "1.2.0", platform="ios").json
    make_flag("new-checkout", {"ruleType": "ota_update", "ruleConfig": {"bundleId": bundle["id"]},
                               "variantValue": True})
    assert evaluate(client, key, targetingKey="d", bundleId=bundle["id"]).json["value"] is True
    assert evaluate(client, key, bundleVersion="1.2.0", platform="ios").json["value"] is True
    assert evaluate(client, key, bundleVersion="1.2.0", platform="android").json["value"] is False
    assert evaluate(client, key, bundleVersion="1.1.0").json["value"] is False


@pytest.mark.parametrize("operator, values, match, miss", [
    ("eq", ["pro"], "pro", "free"), ("neq", ["free"], "pro", "free"), ("in", ["US", "CA"], "CA", "GB"),
    ("not_in", ["CN"], "US", "CN"), ("contains", ["@corp"], "a@corp.com", "a@b.com"),
    ("starts_with", ["admin"], "admin-7", "user-7"), ("ends_with", [".co"], "x.co", "x.com"),
    ("gt", [18], 19, 18), ("gte", [18], 18, 17), ("lt", [5], 4.5, 5), ("lte", [5], 5, 6),
    ("semver_eq", ["2.0.0"], "2.0.0", "2.0.1"), ("semver_gt", ["2.0.0"], "2.0.1", "2.0.0"),
    ("semver_gte", ["2.0.0"], "2.0.0", "1.9.9"), ("semver_lt", ["2.0.0"], "1.9.9", "2.0.0"),
    ("semver_lte", ["2.0.0"], "2.0.0", "2.0.1"), ("exists", [], "anything", None),
    ("not_exists", [], None, "anything"),
])
def test_each_operator_in_an_attribute_rule(client, key, make_flag, operator, values, match, miss):
    make_flag("new-checkout", {"ruleType": "attribute", "variantValue": True,
                               "ruleConfig": {"attribute": "a", "operator": operator, "values": values}})
    assert evaluate(client, key, **({"a": match} if match is not None else {})).json["value"] is True
    assert evaluate(client, key, **({"a": miss} if miss is not None else {})).json["value"] is False


def test_values_of_every_type_and_the_channel_from_the_context(admin, client, key, make_flag):
    make_flag("limits", flag_type="json", defaultValue={"maxRetries": 3})
    make_flag("ratio", flag_type="number", defaultValue=0.5)
    make_flag("label", flag_type="string", defaultValue="Buy")
    flag = make_flag("new-checkout")
    admin.patch(f"{APP}/flags/{flag['id']}/env/staging", {"defaultValue": True})
    assert evaluate(client, key, "limits").json["value"] == {"maxRetries": 3}
    assert evaluate(client, key, "ratio").json["value"] == 0.5
    assert evaluate(client, key, "label").json["variant"] == "default"
    staging = evaluate(client, key, channel="staging").json
    assert (staging["value"], staging["metadata"]["channel"]) == (True, "staging")


def test_a_request_without_a_body_is_evaluated_with_an_empty_context(client, key, make_flag):
    """OFREP's openapi.yaml makes the request body optional (no `required: true`) and `context`
    optional in it; openfeature-provider-ofrep sends no body for an evaluation without attributes.
    A body of `{}`, no body at all, or `Content-Length: 0` all evaluate the empty context; a body
    that is there must be JSON."""
    make_flag()
    answers = [client.post(SINGLE.format("new-checkout"), data=data, headers={**key, **headers})
               for data, headers in ((b"", {"Content-Length": "0"}), (None, {}), (b"{}", {}))]
    assert [(a.status_code, a.json["value"], a.json["reason"]) for a in answers] == [(200, False, "STATIC")] * 3
    bulk = client.post(BULK, data=b"", headers={**key, "Content-Length": "0"})
    assert bulk.status_code == 200 and [f["key"] for f in bulk.json["flags"]] == ["new-checkout"]
    garbled = client.post(SINGLE.format("new-checkout"), data=b"{context", headers=key)
    assert garbled.status_code == 400 and garbled.json["errorCode"] == "PARSE_ERROR"


def test_errors_and_their_statuses(client, key, make_flag, demo_app):
    make_flag("new-checkout", {"ruleType": "percentage_rollout", "ruleConfig": {"rollout": [
        {"variantValue": True, "weight": 50}]}})
    cases = [
        (client.post(SINGLE.format("nope"), json={"context": {}}, headers=key), 404, "FLAG_NOT_FOUND"),
        (client.post(SINGLE.format("new-checkout"), data="{not json", headers=key), 400, "PARSE_ERROR"),
        (client.post(SINGLE.format("new-checkout"), json=[1], headers=key), 400, "INVALID_CONTEXT"),
        (client.post(SINGLE.format("new-checkout"), json={"context": "x"}, headers=key), 400, "INVALID_CONTEXT"),
        (client.post(SINGLE.format("new-checkout"), json={"context": {"targetingKey": 7}}, headers=key), 400,
         "INVALID_CONTEXT"),
        (client.post(SINGLE.format("new-checkout"), json={"context": {"channel": "beta"}}, headers=key), 400,
         "INVALID_CONTEXT"),
        (client.post(SINGLE.format("new-checkout"), json={"context": {}}, headers=key), 400,
         "TARGETING_KEY_MISSING"),
        (client.post(SINGLE.format("new-checkout"), json={"context": {"pad": "x" * 70_000}}, headers=key), 413,
         "GENERAL"),
        (client.post(SINGLE.format("new-checkout"), json={}), 401, "GENERAL"),
        (client.post(SINGLE.format("new-checkout"), json={}, headers={"Authorization": "Bearer wrong"}), 401,
         "GENERAL"),
        (client.post(BULK, data="[", headers=key), 400, "PARSE_ERROR"),
        (client.post(BULK, json={"context": []}, headers=key), 400, "INVALID_CONTEXT"),
    ]
    for response, status, code in cases:
        assert (response.status_code, response.json["errorCode"]) == (status, code), response.json
        assert isinstance(response.json["errorDetails"], str)
    assert cases[0][0].json["key"] == "nope" and "key" not in cases[-1][0].json
    assert client.get(SINGLE.format("new-checkout"), headers=key).status_code == 405


def test_the_client_key_is_accepted_in_each_header_and_rotation_ends_the_old_one(admin, client, demo_app,
                                                                                   make_flag):
    make_flag()
    client_key = demo_app["clientKey"]
    for headers in ({"Authorization": f"Bearer {client_key}"}, {"authorization": f"bearer {client_key}"},
                    {"X-Client-Key": client_key}, {"X-API-Key": client_key},
                    {"X-Client-Key": client_key, "Authorization": "Bearer otabox_sk_an_api_key"}):
        assert evaluate(client, headers).status_code == 200, headers
    admin.post(f"{APP}/rotate-client-key")
    assert evaluate(client, {"X-Client-Key": client_key}).status_code == 401
    other = admin.post("/api/v1/apps", {"slug": "com.example.other"}).json
    assert evaluate(client, {"X-Client-Key": other["clientKey"]}).status_code == 404, "its own flags only"


def test_bulk_evaluation_with_etag(admin, client, key, make_flag):
    make_flag("a-flag", user_list("vip"))
    make_flag("b-flag", {"ruleType": "percentage_rollout", "ruleConfig": {"rollout": [
        {"variantValue": True, "weight": 50}, {"variantValue": False, "weight": 50}]}})
    first = client.post(BULK, json={"context": {"targetingKey": "vip"}}, headers=key)
    assert first.status_code == 200
    assert [(f["key"], f["reason"]) for f in first.json["flags"]] == [("a-flag", "TARGETING_MATCH"),
                                                                      ("b-flag", "SPLIT")]
    etag = first.headers["ETag"]
    again = client.post(BULK, json={"context": {"targetingKey": "vip"}}, headers={**key, "If-None-Match": etag})
    assert (again.status_code, again.data, again.headers["ETag"]) == (304, b"", etag)
    for header in (f"W/{etag}", f'"x", {etag}', etag.strip('"'), "*"):
        assert client.post(BULK, json={"context": {"targetingKey": "vip"}},
                           headers={**key, "If-None-Match": header}).status_code == 304, header
    other_context = client.post(BULK, json={"context": {"targetingKey": "someone"}},
                                headers={**key, "If-None-Match": etag})
    assert other_context.status_code == 200 and other_context.headers["ETag"] != etag
    no_key = client.post(BULK, json={"context": {}}, headers=key).json["flags"]
    assert no_key[1] == {"key": "b-flag", "errorCode": "TARGETING_KEY_MISSING", "errorDetails": no_key[1][
        "errorDetails"]} and no_key[0]["value"] is False
    flag_id = admin.get(f"{APP}/flags").json["flags"][0]["id"]
    admin.patch(f"{APP}/flags/{flag_id}", {"enabled": False})
    changed = client.post(BULK, json={"context": {"targetingKey": "vip"}}, headers={**key, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.json["flags"][0]["reason"] == "DISABLED"


def test_rate_limited_per_targeting_key(flask_app, client, key, make_flag, monkeypatch):
    make_flag()
    from otabox.security.ratelimit import TokenBucketLimiter

    monkeypatch.setattr(flask_app.config["BOX"], "client_limiter", TokenBucketLimiter(2))
    assert [evaluate(client, key, targetingKey="busy").status_code for _ in range(3)] == [200, 200, 429]
    limited = evaluate(client, key, targetingKey="busy")
    assert int(limited.headers["Retry-After"]) >= 1 and limited.json["errorCode"] == "GENERAL"
    assert evaluate(client, key, targetingKey="calm").status_code == 200


def test_fast_path_and_flask_route_answer_alike(flask_app, client, key, make_flag):
    make_flag("new-checkout", user_list("vip"))
    cases = [(SINGLE.format("new-checkout"), json.dumps({"context": {"targetingKey": "vip"}}), key),
             (SINGLE.format("nope"), "{}", key), (SINGLE.format("new-checkout"), "{bad", key),
             (BULK, json.dumps({"context": {"targetingKey": "x"}}), key), (BULK, "{}", {"X-Client-Key": "wrong"})]
    for path, body, headers in cases:
        fast = client.post(path, data=body, headers=headers, content_type="application/json")
        with flask_app.test_request_context(path, method="POST", data=body, headers=headers,
                                            content_type="application/json"):
            endpoint, args = flask_app.url_map.bind("localhost").match(path, method="POST")
            slow = flask_app.view_functions[endpoint](**args)
        assert (fast.status_code, fast.content_type, fast.get_data(), fast.headers.get("ETag")) == (
            slow.status_code, slow.content_type, slow.get_data(), slow.headers.get("ETag")), path
    vip = json.dumps({"context": {"targetingKey": "vip"}})
    slash, plain = (client.post(SINGLE.format("new-checkout") + end, data=vip, headers=key,
                                content_type="application/json") for end in ("/", ""))
    assert slash.status_code == plain.status_code == 200 and slash.json == plain.json


def test_evaluation_makes_no_database_query(box, client, key, make_flag, monkeypatch):
    for n in range(20):
        make_flag(f"flag-{n:02d}", user_list("vip"))
    monkeypatch.setattr(serving, "VERIFY_SECONDS", 3600.0)
    client.post(BULK, json={"context": {"targetingKey": "warm-up"}}, headers=key)
    queries = record_queries(box, monkeypatch)
    for n in range(10):
        bulk = client.post(BULK, json={"context": {"targetingKey": f"user-{n}"}}, headers=key)
        assert len(bulk.json["flags"]) == 20
        assert evaluate(client, key, "flag-07", targetingKey="vip").json["value"] is True
    assert queries == []


def test_flag_definitions_for_on_device_providers(admin, client, key, demo_app, make_flag):
    admin.post(f"{APP}/segments", {"name": "Pro", "conditions": [
        {"attribute": "plan", "operator": "eq", "valuesJson": ["pro"]}]})
    make_flag("a-flag", user_list("vip"), {"ruleType": "segment", "ruleConfig": {"segmentKey": "pro"},
                                           "variantValue": True, "channelName": "staging"})
    off = make_flag("b-flag", enabled=False)
    staged = make_flag("c-flag")
    admin.patch(f"{APP}/flags/{staged['id']}/env/production", {"enabled": False})
    url = "/v1/ota/flag-definitions/com.example.demo"
    production = client.get(url, headers=key)
    assert production.status_code == 200
    assert [f["key"] for f in production.json["flags"]] == ["a-flag"]
    definition = production.json["flags"][0]
    assert definition["defaultValue"] is False and definition["enabled"] is True
    assert [r["ruleType"] for r in definition["rules"]] == ["user_list"]
    assert definition["rules"][0]["ruleConfig"] == {"targetingKeys": ["vip"], "userIds": "vip"}
    assert [(v["name"], v["value"]) for v in definition["variations"]] == [("on", True), ("off", False)]
    staging = client.get(f"{url}?channel=staging", headers={"X-Client-Key": demo_app["clientKey"]}).json
    assert [f["key"] for f in staging["flags"]] == ["a-flag", "c-flag"]
    assert staging["flags"][0]["rules"][1]["ruleConfig"]["segment"] == {
        "key": "pro", "matchType": "all", "conditions": [{"attribute": "plan", "operator": "eq",
                                                          "valuesJson": ["pro"]}]}
    cached = client.get(url, headers={**key, "If-None-Match": production.headers["ETag"]})
    assert cached.status_code == 304
    assert client.get(url).json == production.json  # public: an app made by this release
    assert admin.patch(APP, {"publicFlagDefinitions": False}).json["publicFlagDefinitions"] is False
    assert client.get(url).status_code == 401
    assert client.get(url, headers={"X-Client-Key": "wrong"}).json["error"]["code"] == "invalid_client_key"
    assert client.get("/v1/ota/flag-definitions/com.example.nope", headers=key).status_code == 404
    assert client.get(f"{url}?channel=nope", headers=key).status_code == 404
    admin.patch(f"{APP}/flags/{off['id']}", {"enabled": True})
    split = make_flag("d-flag", {"ruleType": "percentage_rollout", "ruleConfig": {"rollout": [
        {"variantValue": True, "weight": 5}, {"variantValue": False, "weight": 95}]}})
    flags = client.get(url, headers=key).json["flags"]
    assert [f["key"] for f in flags] == ["a-flag", "b-flag", "d-flag"]
    assert flags[2]["rules"][0]["ruleConfig"]["rollout"] == [
        {"variantValue": True, "weight": 5, "variationId": split["variations"][0]["id"]},
        {"variantValue": False, "weight": 95, "variationId": split["variations"][1]["id"]}]


def strict_json(data: bytes):
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")
    return json.loads(data, parse_constant=refuse)


def test_non_finite_numbers_are_refused_and_never_rendered(admin, box, client, key, make_flag, demo_app):
    """Python reads 1e999 as Infinity and accepts NaN; JSON holds neither, so a context that kept them
    made the contexts list invalid JSON. They are refused, and a row an older box stored reads as null."""
    make_flag("new-checkout")
    for number in ("1e999", "-1e999", "NaN", "Infinity"):
        body = '{"context": {"targetingKey": "user-1", "score": %s}}' % number
        response = client.post(SINGLE.format("new-checkout"), data=body, headers=key,
                               content_type="application/json")
        assert (response.status_code, response.json["errorCode"]) == (400, "PARSE_ERROR"), number
    with box.db.connection_context():
        FlagContext.create(app=demo_app["id"], kind="user", targeting_key="old-row",
                           attributes={"score": float("inf"), "nan": float("nan")})
    listed = admin.get(f"{APP}/contexts")
    assert listed.status_code == 200
    row = next(c for c in strict_json(listed.data)["contexts"] if c["targetingKey"] == "old-row")
    assert row["attributes"] == {"score": None, "nan": None}
