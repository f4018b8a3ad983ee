"""Management API: audit log, who is calling, the signing key."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify

from ..core import audit, tokens, users
from ..fields import Choice, Schema, Text, Whole
from ..store.models import App
from ..web import accepts, api_key, box, public_document, query

bp = Blueprint("api_meta", __name__)


AUDIT_QUERY = Schema({"limit": Whole(1, 1000, default=100), "before": Whole(0, 10**12, description="Entries with a smaller id"),
                      "action": Text(200), "entityType": Text(200), "entityId": Text(200)},
                     aliases={"entity_type": "entityType", "entity_id": "entityId"})


@bp.get("/audit-log")
@accepts(query=AUDIT_QUERY)
def audit_log():
    api_key("admin", unscoped=True)
    args = query()
    return jsonify({"entries": audit.query(args["limit"], args.get("before") or None, args.get("action"),
                                           args.get("entityType"), args.get("entityId"))})


@bp.get("/me")
@accepts()
def me():
    """Who is calling (a session, a token or an API key): its name, role and the apps it reaches
    with its role on each (the dashboard adapts its controls to it)."""
    caller = api_key("reader")
    reach = list(caller.visible(App.select().order_by(App.id))) if caller.scoped else None
    only = reach[0] if reach is not None and len(reach) == 1 else None
    return jsonify({"name": caller.name, "role": caller.role, "via": caller.via, "scoped": caller.scoped,
                    "appId": only.id if only else None, "appSlug": only.slug if only else None,
                    "apps": [{"id": a.id, "slug": a.slug, "role": caller.role_on(a.id)} for a in reach]
                    if reach is not None else None,
                    "user": users.user_json(caller.user),
                    "token": tokens.token_json(caller.token) if caller.token is not None else None})


SIGNING_KEY_MAX_AGE = 300
"""Seconds a client may cache the signing keys (a rotation keeps the old key published for 30 days)."""


@bp.get("/signing-key")
@accepts(query=Schema({"format": Choice(("json", "pem"), default="json",
                                        description="pem: the current public key alone, as a PEM file")}))
def signing_key():
    """The public keys that verify bundle signatures and signed check replies (`?format=pem`: the
    current one as the PEM file `otabox_verify.py --key` reads). Public, cacheable, and not counted
    against the anonymous hourly limit."""
    secrets = box().secrets
    keys = secrets.published_keys()
    if query()["format"] == "pem":
        reply = Response(keys[0]["publicKey"], mimetype="application/x-pem-file")
    else:
        reply = jsonify({"algorithm": secrets.bundle_signer.algorithm, "publicKey": keys[0]["publicKey"],
                         "keyId": keys[0]["keyId"], "keys": keys})
    return public_document(reply, SIGNING_KEY_MAX_AGE)

