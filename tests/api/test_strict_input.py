"""Management input is strict: every management route names what it accepts, and refuses anything
else with a 400 that names the field (after authorization); device protocols stay tolerant."""
from __future__ import annotations

import re

from conftest import make_key

from otabox.openapi import document
from otabox.web import APP_PARAMETERS

MANAGEMENT_MODULES = ("otabox.api.", "otabox.protocols.codepush.management", "otabox.protocols.codepush.accounts",
                      "otabox.protocols.koolbase.management", "otabox.protocols.capgo.management",
                      "otabox.protocols.appdispatch.management", "otabox.protocols.appdispatch.flags",
                      "otabox.protocols.appdispatch.segments", "otabox.protocols.appdispatch.policies",
                      "otabox.protocols.appdispatch.telemetry", "otabox.protocols.appdispatch.branches")
MANAGEMENT_ENDPOINTS = {"openapi_document"}
"""Management routes the app itself serves."""
NOT_MANAGEMENT = {"uploads.put_upload"}
"""The signed upload URL of a two-step upload: its body is the bundle and its query the signature
(like a download URL); the signature is its only input."""
UNKNOWN = "surelyNotAField"


def management_routes(flask_app):
    """(rule, method, view) of every management operation the app serves."""
    for rule in flask_app.url_map.iter_rules():
        view = flask_app.view_functions[rule.endpoint]
        if rule.endpoint in NOT_MANAGEMENT or not (view.__module__.startswith(MANAGEMENT_MODULES)
                                                   or rule.endpoint in MANAGEMENT_ENDPOINTS):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method, view


def concrete(rule, app_slug: str) -> str:
    """The rule's path with the app's slug for the app and a placeholder for every other parameter
    (input is checked once the app is reached, before any other lookup)."""
    return re.sub(r"<(?:[\w]+:)?(\w+)>", lambda m: app_slug if m.group(1) in APP_PARAMETERS else "x1", rule.rule)


def refused_by_name(response) -> bool:
    if response.status_code != 400:
        return False
    if response.is_json:
        error = response.json["error"]
        return error["code"] == "unknown_field" and error["details"]["field"] == UNKNOWN
    return UNKNOWN in response.get_data(as_text=True)  # code-push-server's plain-text errors


def test_every_management_route_declares_what_it_accepts_and_no_device_route_does(flask_app):
    routes = list(management_routes(flask_app))
    assert len(routes) > 100
    undeclared = sorted(f"{method} {rule.rule}" for rule, method, view in routes if not hasattr(view, "accepted"))
    assert undeclared == []
    management = {rule.endpoint for rule, _, _ in routes}
    strict_devices = sorted(rule.rule for rule in flask_app.url_map.iter_rules()
                            if hasattr(flask_app.view_functions[rule.endpoint], "accepted")
                            and rule.endpoint not in management)
    assert strict_devices == []


def test_every_management_route_refuses_an_unknown_field_by_name(flask_app, admin, demo_app):
    escaped = []
    for rule, method, view in management_routes(flask_app):
        url = concrete(rule, demo_app["slug"])
        headers = admin._headers({"X-Project": demo_app["slug"]})  # AppDispatch's routes name the app there
        with_body = method in ("POST", "PUT", "PATCH")
        sent = [admin.client.open(f"{url}?{UNKNOWN}=1", method=method, headers=headers,
                                  json={} if with_body else None)]
        if with_body:
            if view.accepted.form is not None:
                sent.append(admin.client.open(url, method=method, headers=headers,
                                              data={UNKNOWN: "1"}, content_type="multipart/form-data"))
            else:
                sent.append(admin.client.open(url, method=method, headers=headers, json={UNKNOWN: 1}))
        for response in sent:
            if not refused_by_name(response):
                escaped.append(f"{method} {url}: {response.status_code} {response.get_data(as_text=True)[:200]}")
    assert escaped == []


def test_a_misspelt_channel_setting_is_refused_with_the_right_name_and_changes_nothing(admin, demo_app):
    url = f"/api/v1/apps/{demo_app['slug']}/channels/production"
    response = admin.patch(url, {"blockUpgrade": "major"})
    assert response.status_code == 400
    error = response.json["error"]
    assert error["code"] == "unknown_field"
    assert error["details"]["field"] == "blockUpgrade" and error["details"]["suggestion"] == "blockUpgrades"
    assert "did you mean 'blockUpgrades'" in error["message"]
    assert admin.get(url).json["blockUpgrades"] == "none"


def test_json_sent_with_curls_default_form_type_is_read_not_ignored(admin, demo_app):
    """`curl -d '{...}'` without a Content-Type labels the JSON as a form: it is still the body."""
    url = f"/api/v1/apps/{demo_app['slug']}/channels/production"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    response = admin.client.patch(url, data='{"blockUpgrades": "major"}', headers=admin._headers(form))
    assert response.status_code == 200 and response.json["blockUpgrades"] == "major"
    response = admin.client.patch(url, data='{"blockUpgrade": "minor"}', headers=admin._headers(form))
    assert response.status_code == 400 and response.json["error"]["details"]["field"] == "blockUpgrade"
    response = admin.client.patch(url, data="blockUpgrades=minor", headers=admin._headers(form))
    assert response.status_code == 400 and response.json["error"]["code"] == "invalid_json"
    assert "application/x-www-form-urlencoded" in response.json["error"]["message"]
    assert "Content-Type: application/json" in response.json["error"]["message"]
    assert admin.get(url).json["blockUpgrades"] == "major"


def test_a_query_typo_is_refused_with_a_suggestion(admin, demo_app):
    response = admin.get(f"/api/v1/apps/{demo_app['slug']}/releases?limt=5")
    assert response.status_code == 400
    assert response.json["error"]["details"] == {"field": "limt", "suggestion": "limit",
                                                 "accepted": response.json["error"]["details"]["accepted"]}
    assert "limit" in response.json["error"]["details"]["accepted"]


def test_a_seed_field_otabox_does_not_support_is_refused_by_name_with_what_to_do(admin, demo_app):
    """Capgo documents `version` on a channel (the bundle it serves); otabox releases to channels."""
    response = admin.post(f"/api/v1/apps/{demo_app['slug']}/channels", {"name": "beta", "version": "1.0.0"})
    assert response.status_code == 400
    error = response.json["error"]
    assert error["details"]["field"] == "version" and "releases" in error["details"]["hint"]
    assert admin.get(f"/api/v1/apps/{demo_app['slug']}/channels/beta").status_code == 404


def test_appdispatch_publish_names_are_refused_instead_of_a_silent_full_release(admin, demo_app):
    """The publish of the issue: rolloutPercentage, isCritical and releaseMessage used to be ignored,
    making a 100% non-mandatory release with empty notes."""
    bundle = admin.upload(demo_app["slug"], "1.0.0").json
    for name, value in (("rolloutPercentage", 10), ("isCritical", True), ("releaseMessage", "v2.1 release")):
        response = admin.release(demo_app["slug"], bundle["id"], **{name: value})
        assert response.status_code == 400, response.json
        assert response.json["error"]["details"]["field"] == name
        assert "otabox calls it" in response.json["error"]["message"]
    assert admin.get(f"/api/v1/apps/{demo_app['slug']}/releases").json["total"] == 0


def test_a_bad_value_is_one_error_naming_the_field(admin, demo_app):
    response = admin.patch(f"/api/v1/apps/{demo_app['slug']}/channels/production", {"rolloutPercentage": 101})
    assert response.status_code == 400
    assert response.json["error"]["details"] == {"field": "rolloutPercentage"}


def test_unknown_fields_are_refused_only_after_authorization(client, box, admin, demo_app):
    """401 without a key, 403 without the role, 404 for another app: the caller learns nothing of a
    request it may not make, whatever it sends."""
    channel = f"/api/v1/apps/{demo_app['slug']}/channels/production"
    body = {"blockUpgrade": "major"}
    assert client.patch(channel, json=body).status_code == 401
    reader = {"Authorization": f"Bearer {make_key(box, 'reader')}"}
    assert client.patch(channel, json=body, headers=reader).status_code == 403
    assert admin.patch("/api/v1/apps/com.example.none/channels/production", body).status_code == 404
    other = admin.post("/api/v1/apps", {"slug": "com.example.other"}).json
    scoped = {"Authorization": f"Bearer {make_key(box, 'admin', app=other['id'])}"}
    assert client.patch(channel, json=body, headers=scoped).status_code in (403, 404)
    assert client.post("/api/v1/webhooks", json={"url": "https://93.184.216.34/h", "bogus": 1},
                       headers=scoped).status_code == 403
    assert admin.patch(channel, body).status_code == 400


def test_code_push_management_refuses_unknown_fields_in_its_plain_text(admin, demo_app):
    response = admin.patch(f"/apps/{demo_app['slug']}/deployments/production/release",
                           {"packageInfo": {"rollout": 50, "isMandatry": True}})
    assert response.status_code == 400
    assert "packageInfo.isMandatry" in response.get_data(as_text=True)
    assert "packageInfo.isMandatory" in response.get_data(as_text=True)


def test_device_protocols_stay_tolerant_of_fields_they_do_not_know(client, demo_app):
    """Clients add fields across versions: an update check with an extra parameter is answered."""
    response = client.get(f"/api/v1/apps/{demo_app['slug']}/check",
                          query_string={"platform": "ios", "aFieldOfTheNextSdk": "1"},
                          headers={"X-Client-Key": demo_app["clientKey"]})
    assert response.status_code == 200, response.json


def documented_fields(doc: dict, schema: dict) -> set[str]:
    if "$ref" in schema:
        return documented_fields(doc, doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]])
    names = set(schema.get("properties", {}))
    for alternative in schema.get("anyOf", []) + schema.get("oneOf", []) + schema.get("allOf", []):
        names |= documented_fields(doc, alternative)
    return names


def test_the_openapi_document_names_exactly_what_each_management_route_accepts(flask_app):
    """Checked against the routes' own schemas, so the description cannot drift from what is accepted."""
    doc, drift = document(flask_app), []
    for rule, method, view in management_routes(flask_app):
        operation = doc["paths"][re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)][method.lower()]
        accepted = view.accepted
        fields = accepted.form if accepted.form is not None else accepted.body
        want_body = {*fields.fields, *fields.aliases, *fields.ignored, *accepted.files}
        content = operation.get("requestBody", {}).get("content", {})
        got_body = set().union(*(documented_fields(doc, c["schema"]) for c in content.values()))
        want_query = {*accepted.query.fields, *accepted.query.aliases}
        got_query = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        if (got_body, got_query) != (want_body, want_query) or "400" not in operation["responses"]:
            drift.append(f"{method} {rule.rule}: body {sorted(got_body ^ want_body)} query "
                         f"{sorted(got_query ^ want_query)} 400 documented: {'400' in operation['responses']}")
    assert drift == []
