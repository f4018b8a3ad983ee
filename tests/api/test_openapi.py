"""The OpenAPI document: it lists exactly the app's routes, and a live server honours it under fuzzing."""
from __future__ import annotations

import dataclasses
import hashlib
import io
import re
import time
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from conftest import LiveServer, make_zip
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable

from otabox.openapi import document, openapi_path

try:
    import schemathesis
except ImportError:  # the coverage tests need only the document; `pip install -e .[test]` brings it
    schemathesis = None

needs_schemathesis = pytest.mark.skipif(schemathesis is None, reason="schemathesis is not installed")

UNDOCUMENTED = {"/static/<path:filename>", "/"}
HTTP_METHODS = {"get", "put", "post", "patch", "delete"}


def flask_operations(app) -> set[tuple[str, str]]:
    operations = set()
    for rule in app.url_map.iter_rules():
        if rule.rule in UNDOCUMENTED:
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        operations |= {(path, method.lower()) for method in rule.methods - {"HEAD", "OPTIONS"}}
    return operations


def documented_operations(doc: dict) -> set[tuple[str, str]]:
    return {(path, method) for path, item in doc["paths"].items() for method in item if method in HTTP_METHODS}


def test_document_lists_exactly_the_routes_of_the_app(flask_app):
    routes, documented = flask_operations(flask_app), documented_operations(document(flask_app))
    assert sorted(routes - documented) == [], "routes missing from the OpenAPI document"
    assert sorted(documented - routes) == [], "documented operations without a route"


def test_path_parameters_are_declared_for_every_operation(flask_app):
    for path, item in document(flask_app)["paths"].items():
        in_path = set(re.findall(r"{(\w+)}", path))
        for method, op in item.items():
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == in_path, (method, path)


def test_every_reference_resolves(flask_app):
    doc = document(flask_app)

    def walk(node):
        if isinstance(node, dict):
            if "$ref" in node:
                _, section, kind, name = node["$ref"].split("/")
                assert name in doc[section][kind], node["$ref"]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)


def declared_operations(app):
    """(path, method, what its route declares with @web.accepts) of every route that declares its input."""
    for rule in app.url_map.iter_rules():
        declared = getattr(app.view_functions[rule.endpoint], "accepted", None)
        if declared is not None:
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield openapi_path(rule.rule), method.lower(), declared


def test_each_request_schema_is_what_its_route_accepts(flask_app):
    """The body and query of every route that declares them with @web.accepts are described by that
    declaration, field for field, whatever its openapi/ module writes (so neither can drift)."""
    doc, drift = document(flask_app), []
    for path, method, declared in declared_operations(flask_app):
        operation = doc["paths"][path][method]
        content = operation.get("requestBody", {}).get("content", {})
        if declared.form is not None:
            form = content["multipart/form-data"]["schema"]
            body = {**form, "properties": {k: v for k, v in form["properties"].items() if k not in declared.files}}
            body.pop("required", None)
            want = {**declared.form.json_schema()}
            want.pop("required", None)
            files = set(form["properties"]) - set(body["properties"])
            if files != set(declared.files):
                drift.append(f"{method} {path}: file fields {sorted(files)}")
        else:
            body = content.get("application/json", {}).get("schema")
            want = declared.body.json_schema() if declared.body.fields or declared.body.aliases else None
        query = {p["name"]: p["schema"] for p in operation.get("parameters", []) if p["in"] == "query"}
        want_query = {name: schema for name, schema in declared.query.json_schema()["properties"].items()
                      if name not in declared.query.ignored}
        if body != want or query != want_query:
            drift.append(f"{method} {path}")
    assert drift == []


def test_enums_come_from_the_code(flask_app):
    """A few enumerations, checked against the constants the code validates with (no retyped lists)."""
    from otabox.core import apps, bundles, executions, flag_eval, health, segments

    doc = document(flask_app)
    schemas = doc["components"]["schemas"]
    assert schemas["Bundle"]["properties"]["platform"]["enum"] == list(bundles.PLATFORMS)
    assert schemas["RolloutExecution"]["properties"]["status"]["enum"] == list(executions.STATUSES)
    assert schemas["FlagRule"]["properties"]["ruleType"]["enum"] == list(flag_eval.RULE_TYPES)
    assert schemas["Segment"]["properties"]["matchType"]["enum"] == list(segments.MATCH_TYPES)
    assert schemas["HealthEvent"]["properties"]["type"]["enum"] == list(health.EVENT_TYPES)
    assert schemas["Channel"]["properties"]["blockUpgrades"]["enum"] == list(apps.BLOCK_UPGRADES)


def test_served_without_a_key_with_the_request_host_as_server(flask_app, client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.json["openapi"] == "3.1.0"
    assert response.json["servers"] == [{"url": "http://localhost"}]
    assert documented_operations(response.json) == documented_operations(document(flask_app))


@needs_schemathesis
def test_document_is_valid_openapi_3_1_and_every_operation_loads(flask_app):
    schema = schemathesis.openapi.from_dict(document(flask_app, "http://127.0.0.1"))
    schema.validate()  # against the OpenAPI 3.1 meta-schema
    results = list(schema.get_all_operations())
    assert all(result.ok() for result in results)
    assert len(results) == len(documented_operations(document(flask_app)))


HUGE = "9" * 30
"""Beyond SQLite's 64-bit integers."""


@pytest.mark.parametrize("method, url, body", [
    ("get", f"/api/v1/apps/{HUGE}", None),
    ("get", "/api/v1/apps/\u00b2", None),  # str.isdigit() is true for '²', int() fails on it
    ("get", f"/api/v1/apps/com.example.demo/bundles/{HUGE}", None),
    ("get", "/api/v1/apps/com.example.demo/releases/\u00b2", None),
    ("get", "/api/v1/apps/com.example.demo/bundles?limit=\u00b2", None),
    ("post", "/api/v1/apps/com.example.demo/channels/production/rollback", {"toReleaseId": int(HUGE)}),
    ("put", "/api/v1/apps/com.example.demo/devices/d1", {"bundleId": int(HUGE)}),
    ("post", "/api/v1/apps/com.example.demo/bundles/initiate",
     {"version": "1.0.0", "size": 10, "sha256": "a" * 64, "minNativeBuild": int(HUGE)}),
    ("get", "/api/v1/apps/com.example.demo/check?nativeBuild=\u00b2", None),
    ("get", "/v1/sdk/ota/check?version=\u00b2", None),
    ("get", f"/expo/{HUGE}/manifest", None),
    ("get", f"/dl/{'a' * 64}?expires=\u00b2&signature=x", None),
])
def test_out_of_range_and_non_ascii_numbers_are_client_errors(client, admin, demo_app, method, url, body):
    headers = {"Authorization": f"Bearer {admin.key}", "X-Client-Key": demo_app["clientKey"],
               "x-api-key": demo_app["clientKey"], "expo-platform": "ios", "expo-runtime-version": "1"}
    response = getattr(client, method)(url, json=body, headers=headers)
    assert 400 <= response.status_code < 500
    assert set(response.json["error"]) == {"code", "message", "details"}


def test_capacitor_version_code_with_non_ascii_digits_is_no_native_build(client, demo_app):
    response = client.post("/capgo/updates", json={"app_id": demo_app["slug"], "device_id": "d1", "platform": "ios",
                                                   "version_code": "\u00b2"})
    assert response.status_code == 200
    assert response.json["kind"] == "up_to_date"


# --- fuzzing a live server ---------------------------------------------------------------------------

EXAMPLES = 10
"""Per operation and per round (random ids, known ids, invalid data with known ids)."""
SECONDS_PER_OPERATION = 8.0
"""A guard against a fuzzing run that never ends, not a speed check: about 0.7 s per operation on a
quiet machine, 1.5 s on one busy with other suites (a CI run saw 151 operations take 227 s)."""
DESTRUCTIVE_LAST = (
    ("post", "/api/v1/apps/{app_id}/bundles/finalize"),
    ("delete", "/api/v1/apps/{app_id}/devices/{device_id}/override"),
    ("post", "/api/v1/apps/{app_id}/channels/{name}/rotate-key"),
    ("delete", "/api/v1/apps/{app_id}/flags/{flag_id}/rules/{rule_id}"),
    ("delete", "/api/v1/apps/{app_id}/contexts/{context_id}"),
    ("delete", "/api/v1/apps/{app_id}/flags/{flag_id}"),
    ("delete", "/api/v1/apps/{app_id}/segments/{segment_id}"),
    ("patch", "/apps/{app_name}"),
    ("patch", "/apps/{app_name}/deployments/{dep}"),
    ("delete", "/api/v1/apps/{app_id}/bundles/{bundle_id}"),
    ("delete", "/apps/{app_name}/deployments/{dep}"),
    ("delete", "/api/v1/apps/{app_id}/channels/{name}"),
    ("delete", "/apps/{app_name}"),
    ("delete", "/api/v1/apps/{app_id}"),
)
CODEPUSH_PREFIXES = ("/updateCheck", "/reportStatus", "/v0.1/", "/authenticated", "/account", "/apps", "/accessKeys",
                     "/sessions")


@dataclasses.dataclass
class Seed:
    """Real resources on the live server, and where generated requests should name them."""

    path: dict
    query: dict
    body: dict
    signed_queries: dict
    """Path prefix -> the query of a valid signed URL for it."""

    def aim(self, case):
        """Point a generated case at the seeded resources. A generated value is replaced only by a
        seeded one of the same type, so invalid (negative) values stay invalid."""
        if isinstance(case.path_parameters, dict):
            replace_same_typed(case.path_parameters, self.path)
        known_query = {**self.query, **next((q for prefix, q in self.signed_queries.items()
                                             if case.operation.path.startswith(prefix)), {})}
        if isinstance(case.query, dict):
            replace_same_typed(case.query, known_query)
        for item in case.body if isinstance(case.body, list) else [case.body]:
            if isinstance(item, dict):
                replace_same_typed(item, self.body)
        return case


def replace_same_typed(values: dict, known: dict) -> None:
    for name, value in known.items():
        if name in values and isinstance(values[name], type(value)):
            values[name] = value


def seed(server: LiveServer, key: str) -> tuple[Seed, str]:
    """Two apps (the second for the CodePush management routes, which delete it), a released bundle
    each, a two-step upload in progress, a device, and signed URLs."""
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {key}"
    archive = make_zip()

    def released_app(slug: str) -> tuple[dict, dict, dict]:
        app = api.post(f"{server.url}/api/v1/apps", json={"slug": slug}).json()
        bundle = api.post(f"{server.url}/api/v1/apps/{slug}/bundles", data={"version": "1.0.1"},
                          files={"file": ("bundle.zip", io.BytesIO(archive))}).json()
        release = api.post(f"{server.url}/api/v1/apps/{slug}/releases",
                           json={"bundleId": bundle["id"], "channel": "production"}).json()["release"]
        return app, bundle, release

    app, bundle, release = released_app("com.example.fuzz")
    codepush_app, _, _ = released_app("com.example.codepush")
    slug, device_id = app["slug"], "fuzz-device-1"
    api.patch(f"{server.url}/api/v1/apps/{slug}/channels/staging", json={"allowDeviceSelfAssign": True})
    upload = api.post(f"{server.url}/api/v1/apps/{slug}/bundles/initiate",
                      json={"version": "1.0.2", "size": len(archive), "sha256": hashlib.sha256(archive).hexdigest()}
                      ).json()
    deployment_key = api.get(f"{server.url}/api/v1/apps/{slug}/channels/production").json()["deploymentKey"]
    offer = requests.get(f"{server.url}/api/v1/apps/{slug}/check", params={"deviceId": device_id},
                         headers={"X-Client-Key": app["clientKey"]}).json()["bundle"]
    flags = f"{server.url}/api/v1/apps/{slug}/flags"
    flag = api.post(flags, json={"key": "checkout", "flagType": "string", "defaultValue": "v1", "variations": [
        {"name": "one", "value": "v1"}, {"name": "two", "value": "v2"}]}).json()
    segment = api.post(f"{server.url}/api/v1/apps/{slug}/segments", json={"name": "Pro", "conditions": [
        {"attribute": "plan", "operator": "eq", "valuesJson": ["pro"]}]}).json()
    rule = api.post(f"{flags}/{flag['id']}/rules", json={"ruleType": "segment", "variantValue": "v2",
                                                          "ruleConfig": {"segmentKey": segment["key"]}}).json()
    context = api.post(f"{server.url}/api/v1/apps/{slug}/contexts", json={"targetingKey": "user-1"}).json()

    def signed_query(url: str) -> dict:
        query = dict(parse_qsl(urlsplit(url).query))
        return {**query, "expires": int(query["expires"])}

    return Seed(
        path={"app_id": slug, "app_name": codepush_app["slug"], "name": "production", "dep": "production",
              "src": "production", "dest": "staging", "bundle_id": bundle["id"], "release_id": release["id"],
              "device_id": device_id, "label": "v1", "sha256": bundle["sha256"], "upload_id": upload["uploadId"],
              "flag_id": flag["id"], "variation_id": flag["variations"][0]["id"], "rule_id": rule["id"],
              "segment_id": segment["id"], "context_id": context["id"], "flag_key": "checkout",
              "project_slug": slug},
        query={"deploymentKey": deployment_key, "deployment_key": deployment_key, "appVersion": "1.0.0",
               "app_version": "1.0.0", "app_id": slug, "channel": "production", "deviceId": device_id},
        body={"app_id": slug, "device_id": device_id, "deviceId": device_id, "bundleId": bundle["id"],
              "channel": "staging", "to": "staging", "uploadId": upload["uploadId"], "version": "2.0.0",
              "deploymentKey": deployment_key, "deployment_key": deployment_key, "appVersion": "1.0.0",
              "app_version": "1.0.0", "label": "v1"},
        signed_queries={"/uploads/": signed_query(upload["uploadUrl"]), "/dl/": signed_query(offer["url"])},
        ), app["clientKey"]


def errors_have_the_protocol_shape(ctx, response, case):
    """4xx bodies: otabox's JSON error shape, CodePush's plain text, or capacitor-updater's refusal."""
    if not 400 <= response.status_code < 500:
        return None
    path = case.operation.path
    content_type = response.headers.get("content-type", [""])[0]
    if path.startswith(CODEPUSH_PREFIXES) and content_type.startswith("text/plain"):
        assert response.content, "a CodePush error needs a message"
        return None
    data = response.json()
    if path.startswith("/capgo/"):
        assert {"kind", "error", "message"} <= set(data), data
        return None
    if path.startswith("/ofrep/"):
        assert isinstance(data["errorCode"], str) and isinstance(data["errorDetails"], str), data
        return None
    error = data["error"]
    assert isinstance(error["code"], str) and isinstance(error["message"], str), data
    assert isinstance(error["details"], dict), data
    return None


def ordered_operations(schema):
    """Every operation, the ones that would wreck the seeded resources last (in a fixed order)."""
    operations = [result.ok() for result in schema.get_all_operations()]
    late = {key: position for position, key in enumerate(DESTRUCTIVE_LAST)}
    return sorted(operations, key=lambda op: late.get((op.method.lower(), op.path), -1))


@pytest.fixture
def fuzz_server(tmp_path):
    # Rate limits off: the fuzzer sends thousands of requests from one address. Sign-ins stay limited,
    # so the fuzzer does not spend its time budget on password hashing. Webhook delivery off: a
    # generated webhook may name a public address, which no test may send traffic to.
    server = LiveServer(tmp_path / "live-data", {"OTABOX_CLIENT_RATE_PER_MINUTE": "0",
                                                  "OTABOX_AUTH_FAILURES_PER_MINUTE": "0",
                                                  "OTABOX_LOGIN_ATTEMPTS_PER_MINUTE": "10",
                                                  "OTABOX_WEBHOOK_DELIVERY": "0"})
    yield server
    server.stop()


@needs_schemathesis
def test_live_server_honours_the_document_under_fuzzing(fuzz_server):
    key = fuzz_server.cli("keys", "create", "--name", "fuzz", "--role", "admin").stdout.strip().splitlines()[-1]
    known, client_key = seed(fuzz_server, key)
    schema = schemathesis.openapi.from_url(f"{fuzz_server.url}/api/v1/openapi.json")
    headers = {"Authorization": f"Bearer {key}", "X-Client-Key": client_key, "x-api-key": client_key}
    checks = [schemathesis.checks.not_a_server_error, schemathesis.checks.status_code_conformance,
              schemathesis.checks.content_type_conformance, schemathesis.checks.response_schema_conformance,
              errors_have_the_protocol_shape]
    session = requests.Session()
    failures, requests_sent = [], 0
    started = time.monotonic()

    def run(operation, strategy):
        @given(case=strategy)
        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        def fuzz(case):
            nonlocal requests_sent
            requests_sent += 1
            response = case.call(session=session, headers=headers, timeout=10)
            case.validate_response(response, checks=checks, headers=headers)

        try:
            fuzz()
        except Unsatisfiable:  # no invalid request exists for an operation without inputs
            pass
        except (Exception, BaseExceptionGroup) as exc:  # collect every operation's failure, report them together
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")

    operations = ordered_operations(schema)
    for operation in operations:
        if time.monotonic() - started > SECONDS_PER_OPERATION * len(operations):
            failures.append("time budget exhausted before " + operation.label)
            break
        run(operation, operation.as_strategy())
        run(operation, operation.as_strategy().map(known.aim))
        run(operation, operation.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE).map(known.aim))
    print(f"schemathesis {schemathesis.__version__}: {len(operations)} operations, {requests_sent} requests, "
          f"{time.monotonic() - started:.1f} s")
    assert not failures, "\n\n".join(failures)
    assert "Traceback" not in fuzz_server.log_text()
