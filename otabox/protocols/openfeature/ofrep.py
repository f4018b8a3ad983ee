"""Feature-flag evaluation for clients with no otabox SDK.

**OFREP**, the OpenFeature Remote Evaluation Protocol (open-feature/protocol `service/openapi.yaml`),
which OpenFeature's `ofrep` providers speak (web, Node, Python, Kotlin, Swift...):
- `POST /ofrep/v1/evaluate/flags/{key}` → `{key, value, reason, variant, metadata}`;
- `POST /ofrep/v1/evaluate/flags` → `{flags: [...]}` with an `ETag` (a digest of the reply), and 304
  for a request whose `If-None-Match` names the reply it would get.
The body is `{context: {targetingKey, kind?, channel?, ...attributes}}`; the channel defaults to
`production`; a missing context is an empty one (the Python provider sends none without attributes).
The app is the one whose client key comes as `X-Client-Key`, OFREP's `X-API-Key` or
`Authorization: Bearer <clientKey>`. Errors are OFREP's `{key, errorCode, errorDetails}`: FLAG_NOT_FOUND (404),
PARSE_ERROR, INVALID_CONTEXT, TARGETING_KEY_MISSING (400); GENERAL for 401, 413 and 429 (with
`Retry-After`). Every success carries a `variant` (the Python provider requires one).

**AppDispatch's** `GET /v1/ota/flag-definitions/{projectSlug}?channel=production` gives the flags
that are on in that channel, with their rules and variations, for providers that evaluate on the
device (segments and OTA updates that rules name are resolved into their `ruleConfig`).

Both answer from the in-memory flag set of the serving state (no query per evaluation); the
evaluation endpoints are also answered by fastpath.FastPath before Flask, with these functions."""
from __future__ import annotations

import hashlib

from flask import Blueprint, Response, request
from werkzeug.exceptions import HTTPException

from ... import jsonsafe
from ...core import flag_eval as ev
from ...errors import NotFound, OtaboxError, TooManyRequests
from ...security.ratelimit import limit_key
from ...web import box, json_bytes, limit_client
from ..native.updates import client_app
from ..wire import JSON, Protocol, Reply, WireRequest

bp = Blueprint("ofrep", __name__)

PREFIX = "/ofrep/v1/evaluate/flags"
MAX_BODY = 64 * 1024
"""An evaluation request is a context; anything larger is refused (413) before it is parsed."""
MAX_BULK_REPLIES = 1024
"""Bulk replies kept per flag set (a few hundred bytes to a few KB each)."""


FLAG_NOT_FOUND, PARSE_ERROR, INVALID_CONTEXT, GENERAL = "FLAG_NOT_FOUND", "PARSE_ERROR", "INVALID_CONTEXT", "GENERAL"
ERROR_CODES = (FLAG_NOT_FOUND, PARSE_ERROR, ev.TARGETING_KEY_MISSING, INVALID_CONTEXT, GENERAL)
"""OFREP's error codes otabox answers with (GENERAL for its own errors: 401, 413, 429, 503)."""


class OfrepError(Exception):
    """An error in OFREP's shape; `key` names the flag of a single-flag evaluation."""

    def __init__(self, status: int, code: str, details: str, headers: dict | None = None, key: str | None = None):
        super().__init__(details)
        self.status, self.code, self.details, self.headers, self.key = status, code, details, headers or {}, key

    def body(self) -> dict:
        return {**({"key": self.key} if self.key is not None else {}), "errorCode": self.code,
                "errorDetails": self.details}


def render_error(exc: OfrepError | OtaboxError) -> Reply:
    """OFREP's `{key?, errorCode, errorDetails}`; otabox's own errors (401, 429, 503) are GENERAL."""
    if not isinstance(exc, OfrepError):
        exc = OfrepError(exc.status, GENERAL, exc.message, exc.headers)
    return Reply(exc.status, JSON, json_bytes(exc.body()), exc.headers)


PROTOCOL = Protocol(render_error, (OfrepError, OtaboxError))


def client_key(headers) -> str:
    """The client key, from `X-Client-Key`, `X-API-Key` or `Authorization: Bearer` (`headers.get`)."""
    named = headers.get("X-Client-Key") or headers.get("X-API-Key")
    if named:
        return named
    authorization = headers.get("Authorization") or ""
    return authorization[7:].strip() if authorization[:7].lower() == "bearer " else ""


def _context(raw: bytes) -> ev.Context:
    if len(raw) > MAX_BODY:
        raise OfrepError(413, GENERAL, f"the request body is larger than {MAX_BODY // 1024} KB")
    try:
        data = jsonsafe.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        raise OfrepError(400, PARSE_ERROR, f"the body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise OfrepError(400, INVALID_CONTEXT, "the body must be an object: {\"context\": {...}}")
    try:
        return ev.read_context(data.get("context"))
    except ev.Refused as exc:
        raise OfrepError(400, INVALID_CONTEXT, str(exc)) from None


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def not_modified(etag: str, if_none_match: str | None) -> bool:
    """RFC 9110's weak comparison of an If-None-Match header with the current ETag."""
    if not if_none_match:
        return False
    tags = [tag.strip() for tag in if_none_match.split(",")]
    return "*" in tags or etag in (tag[2:] if tag.startswith("W/") else tag for tag in tags) \
        or etag.strip('"') in tags


def _reply(flag: ev.FlagView, result: ev.Evaluation, channel: str) -> bytes:
    """One flag's evaluation as JSON; a success is encoded once per outcome and flag set (a flag has few)."""
    if result.error_code:
        return json_bytes({"key": result.key, "errorCode": result.error_code, "errorDetails": result.error_details})
    outcome = (id(result), channel)  # evaluate() shares one Evaluation per outcome, kept by the flag
    encoded = flag.encoded.get(outcome)
    if encoded is None:
        metadata = {"flagType": flag.flag_type, "channel": channel}
        if result.rule_id is not None:
            metadata["ruleId"] = result.rule_id
        encoded = flag.encoded[outcome] = json_bytes({"key": result.key, "value": result.value,
                                                      "reason": result.reason, "variant": result.variant,
                                                      "metadata": metadata})
    return encoded


def _bulk_reply(flag_set: ev.FlagSet, results: list[tuple[ev.FlagView, ev.Evaluation]],
                channel: str) -> tuple[bytes, str]:
    """The bulk body and its ETag. Contexts share few outcome combinations, so a body without errors is
    kept by the flag set per combination (the outcomes' ids are stable while the set lives: its flags
    keep them), up to MAX_BULK_REPLIES; digesting each body again cost a tenth of the request."""
    errors = any(r.error_code for _, r in results)
    combination = (channel, *(id(r) for _, r in results))
    found = None if errors else flag_set.replies.get(combination)
    if found is None:
        body = b'{"flags":[' + b",".join(_reply(f, r, channel) for f, r in results) + b"]}"
        found = body, etag_of(body)
        if not errors and len(flag_set.replies) < MAX_BULK_REPLIES:
            flag_set.replies[combination] = found
    return found


def answer(b, wire: WireRequest) -> Reply:
    """One OFREP request (bulk, or one flag named in the path), for its Flask routes and
    fastpath.FastPath (raises OfrepError or OtaboxError)."""
    flag_key = wire.path_args.get("flag_key")
    try:
        return _evaluate(b, flag_key, wire)
    except OfrepError as exc:
        exc.key = flag_key
        raise
    except TooManyRequests as exc:
        raise OfrepError(429, GENERAL, exc.message, exc.headers, flag_key) from None


def _evaluate(b, flag_key: str | None, wire: WireRequest) -> Reply:
    key = client_key(wire.headers)
    view = b.serving.by_client_key(key) if key else None
    if view is None:
        raise OfrepError(401, GENERAL, "a valid client key is required: send 'Authorization: Bearer "
                                         "<clientKey>' or 'X-Client-Key: <clientKey>'")
    context = _context(wire.body)
    b.client_limiter.take(limit_key("ofrep", context.targeting_key, wire.client_address))
    if context.channel not in view.channels:
        raise OfrepError(400, INVALID_CONTEXT, f"the app has no channel {context.channel!r}")
    if flag_key is not None:
        flag = b.flags.flag_set(view).flags.get(flag_key)
        if flag is None:
            raise OfrepError(404, FLAG_NOT_FOUND, f"no flag {flag_key!r} in this app")
        result = ev.evaluate(flag, context)
        if not result.error_code:
            b.flag_recorder.evaluated(view.id, context, [(flag.id, result.variant)])
        return Reply(400 if result.error_code else 200, JSON, _reply(flag, result, context.channel), {})
    flag_set = b.flags.flag_set(view)
    results = [(flag, ev.evaluate(flag, context)) for flag in flag_set.flags.values()]
    b.flag_recorder.evaluated(view.id, context, [(f.id, r.variant) for f, r in results if not r.error_code])
    body, etag = _bulk_reply(flag_set, results, context.channel)
    if not_modified(etag, wire.headers.get("If-None-Match")):
        return Reply(304, JSON, b"", {"ETag": etag})
    return Reply(200, JSON, body, {"ETag": etag})


@bp.post(PREFIX)
def evaluate_flags():
    return PROTOCOL.flask(answer)


@bp.post(f"{PREFIX}/<flag_key>")
def evaluate_flag(flag_key):
    return PROTOCOL.flask(answer)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    """A body over the server's request limit (413) and the like, in OFREP's error shape."""
    return Response(json_bytes({"errorCode": GENERAL, "errorDetails": exc.description}), exc.code,
                    mimetype=JSON)


# --- AppDispatch's flag definitions, for providers that evaluate on the device -------------------------

def _condition_json(condition: ev.Condition) -> dict:
    return {"attribute": condition.attribute, "operator": condition.operator, "valuesJson": list(condition.values)}


def _rule_definition(rule: ev.RuleView) -> dict:
    """A rule as stored, with what it names resolved, and the fields AppDispatch's own provider reads
    (`userIds`, `conditions`, `variationId`; its splits hash differently, so they will not agree)."""
    config = dict(rule.config)
    if rule.rule_type == "user_list":
        config["userIds"] = ",".join(config["targetingKeys"])
    elif rule.rule_type == "attribute":
        config["conditions"] = [rule.config]
    elif rule.rule_type == "percentage_rollout":
        config["rollout"] = [{**entry, "variationId": variant.id}
                             for entry, (_, variant) in zip(config["rollout"], rule.rollout)]
    if rule.segment is not None:
        config["segment"] = {"key": rule.segment.key, "matchType": "all" if rule.segment.match_all else "any",
                             "conditions": [_condition_json(c) for c in rule.segment.conditions]}
    if rule.ota is not None:
        config["update"] = {"bundleId": rule.ota.bundle_id, "bundleVersion": rule.ota.version,
                            "platform": rule.ota.platform, "packageHash": rule.ota.package_hash,
                            "releaseId": rule.ota.release_id}
    return {"id": rule.id, "priority": rule.priority, "ruleType": rule.rule_type,
            "variantValue": rule.variant.value if rule.variant else None, "ruleConfig": config}


def flag_definitions(flag_set: ev.FlagSet, channel: str) -> dict:
    flags = []
    for flag in flag_set.flags.values():
        enabled, default, rules = flag.served_in(channel)
        if enabled:
            flags.append({"key": flag.key, "flagType": flag.flag_type, "defaultValue": default.value,
                          "enabled": True, "rules": [_rule_definition(r) for r in rules],
                          "variations": [{"id": v.id, "name": v.name, "value": v.value} for v in flag.variants]})
    return {"channel": channel, "flags": flags}


@bp.get("/v1/ota/flag-definitions/<project_slug>")
def definitions(project_slug):
    """Public (no key) for an app with `publicFlagDefinitions` (apps made since schema step 16; what
    it reveals is in the README), else the app's client key. Limited per address before anything is
    looked up; the body of each channel is made once per serving generation (kept on the app's view,
    so at most one per channel the app has) and answered 304 to an If-None-Match that names it."""
    b = box()
    limit_client("flag-definitions", None)
    view = b.serving.app_by_slug(project_slug)
    if view is None:
        raise NotFound(f"no app {project_slug[:200]!r}")
    if not view.public_flag_definitions:
        view = client_app(b, project_slug, client_key(request.headers))
    channel = request.args.get("channel") or ev.DEFAULT_CHANNEL
    if channel not in view.channels:
        raise NotFound(f"no channel {channel[:200]!r} in app {view.slug!r}", details={"field": "channel"})
    cached = view.memo.get(("flag-definitions", channel))
    if cached is None:
        body = json_bytes(flag_definitions(b.flags.flag_set(view), channel))
        cached = view.memo[("flag-definitions", channel)] = (body, etag_of(body))
    body, etag = cached
    if not_modified(etag, request.headers.get("If-None-Match")):
        return Response(status=304, headers={"ETag": etag})
    return Response(body, 200, {"ETag": etag}, mimetype=JSON)
