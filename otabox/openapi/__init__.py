"""The OpenAPI 3.1 description of otabox's HTTP API, served at `GET /api/v1/openapi.json`.

One module per part of the HTTP surface, mirroring the package: `api/<module>.py` describes the routes
of `otabox/api/<module>.py`, `protocols/<system>.py` those of `otabox/protocols/<system>/`, and
`service.py` what the app itself serves; `shapes.py` holds the builders they share. Each module's
`paths()` gives its routes' summaries, parameters and replies, and `schemas()` (where it has one) the
components they refer to; the request body and query of a route that declares them with
`@web.accepts` are generated from that declaration by `document` (see `_declared_input`), so they
cannot drift from what the route accepts.

tests/api/test_openapi.py fails when a route exists that the document lacks, or the reverse, checks
each route's request schema against its @web.accepts, and fuzzes a live server against the document.
Four error shapes exist by design: the management API and otabox's own client routes answer
`{"error": {code, message, details}}`; the CodePush routes answer plain text as code-push-server does;
capacitor-updater's routes answer `{kind, error, message}`, which the plugin understands; the OFREP
routes answer `{key, errorCode, errorDetails}`, which OpenFeature's providers read."""
from __future__ import annotations

import copy
import re

from flask import Flask

from .. import __version__
from ..web import Accepted
from . import service
from .api import account, apps, bundles, collaborators, devices, flags, health, meta, releases, rollouts, webhooks
from .protocols import appdispatch, capgo, codepush, expo, koolbase, native, openfeature
from .shapes import BLOB, STRING, body, error_responses, json_errors, obj, query, text_errors

SECTIONS = (apps, bundles, devices, releases, flags, health, rollouts, webhooks, account, collaborators, meta,
            service, native, codepush, capgo, koolbase, expo, openfeature, appdispatch)
"""Every part of the document; a new module goes here."""
FORM = "multipart/form-data"


def _declared_input(route: str, op: dict, declared: Accepted) -> None:
    """Give an operation the request body and query parameters its route declares with `@web.accepts`
    (whatever its module wrote), and the 400 that refuses anything else: otabox's JSON under /api/v1
    and /v1/ota, code-push-server's plain text elsewhere."""
    request_body = _declared_body(op, declared)
    if request_body is None:
        op.pop("requestBody", None)
    else:
        op["requestBody"] = request_body
    query_fields = declared.query.json_schema()
    parameters = [p for p in op.get("parameters", []) if p["in"] != "query"] + [
        query(name, schema, required=name in query_fields.get("required", ()))
        for name, schema in query_fields["properties"].items() if name not in declared.query.ignored]
    if parameters:
        op["parameters"] = parameters
    else:
        op.pop("parameters", None)
    if "400" not in op["responses"]:
        op["responses"].update(json_errors(400) if route.startswith(("/api/v1/", "/v1/ota/")) else text_errors(400))


def _declared_body(op: dict, declared: Accepted) -> dict | None:
    """A JSON body from the declared schema; a multipart one from the declared form, with the file
    fields as the module describes them (their media type; a plain blob otherwise)."""
    if declared.form is not None:
        written = op.get("requestBody", {}).get("content", {}).get(FORM, {}).get("schema", {})
        form = declared.form.json_schema()
        files = {name: written.get("properties", {}).get(name, BLOB) for name in declared.files}
        required = [name for name in written.get("required", []) if name in files] + form.get("required", [])
        return body({**form, "properties": {**files, **form["properties"]},
                     **({"required": required} if required else {})}, FORM)
    if declared.body.fields or declared.body.aliases or declared.body.ignored:
        schema = declared.body.json_schema()
        return body(schema, required="required" in schema)
    return None


def openapi_path(rule: str) -> str:
    """A Flask rule's path as OpenAPI writes it: /apps/<int:app_id> is /apps/{app_id}."""
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)


def document(app: Flask, base_url: str | None = None) -> dict:
    """The whole OpenAPI 3.1 document of `app`'s routes; `base_url` (e.g. "https://ota.example.com")
    becomes its server.

    The builders reuse small schema dicts; the copy returned shares none of them with this module,
    so a caller may change it freely."""
    paths, schemas = {}, {
        "Error": obj({"error": obj({"code": STRING, "message": STRING, "details": {"type": "object"}})})}
    for section in SECTIONS:
        paths.update(section.paths())
        schemas.update(section.schemas() if hasattr(section, "schemas") else {})
    for rule in app.url_map.iter_rules():
        declared = getattr(app.view_functions[rule.endpoint], "accepted", None)
        route = openapi_path(rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            if declared is not None and method.lower() in paths.get(route, {}):
                _declared_input(route, paths[route][method.lower()], declared)
    doc = {
        "openapi": "3.1.0",
        "info": {"title": "otabox", "version": __version__,
                 "description": "Management API and client update protocols of otabox, a self-hosted "
                                "over-the-air update server. Management errors are "
                                "{\"error\": {\"code\", \"message\", \"details\"}}; CodePush routes answer "
                                "plain-text errors, capacitor-updater routes {kind, error, message} and "
                                "OFREP routes {key, errorCode, errorDetails}, as their clients expect. "
                                "Management responses carry X-RateLimit-Limit, "
                                "X-RateLimit-Remaining and X-RateLimit-Reset (unix seconds): requests per "
                                "hour per token or session, or per address without one; past the limit, 429 "
                                "with Retry-After."},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": error_responses(),
            "securitySchemes": SECURITY_SCHEMES,
        },
        "security": [{"bearerAuth": []}, {"sessionCookie": []}],
    }
    if base_url:
        doc["servers"] = [{"url": base_url}]
    return copy.deepcopy(doc)


SECURITY_SCHEMES = {
    "bearerAuth": {"type": "http", "scheme": "bearer",
                   "description": "An otabox API key (otabox keys create) or access token "
                                  "(POST /api/v1/auth/tokens); the code-push CLI's access key"},
    "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "otabox_session",
                      "description": "The dashboard's session (POST /api/v1/session); changes "
                                     "made with it need the X-CSRF-Token header"},
    "clientKey": {"type": "apiKey", "in": "header", "name": "X-Client-Key",
                  "description": "The app's public client key"},
    "clientKeyBearer": {"type": "http", "scheme": "bearer",
                        "description": "The app's public client key (OFREP providers send it so)"},
    "capgoKey": {"type": "apiKey", "in": "header", "name": "authorization",
                 "description": "An otabox API key or access token, as the whole header (Capgo's API)"},
    "flutterKey": {"type": "apiKey", "in": "header", "name": "x-api-key",
                   "description": "The app's public client key"},
    "metricsToken": {"type": "http", "scheme": "bearer",
                     "description": "OTABOX_METRICS_TOKEN, when set"},
}
