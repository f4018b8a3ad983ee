"""Management API: audit log, who is calling, the signing key."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from ..core import audit, tokens, users
from ..security import auth
from ..store.models import App
from ..web import api_key, box, int_arg

bp = Blueprint("api_meta", __name__)


@bp.get("/audit-log")
def audit_log():
    key = api_key("admin")
    auth.require_unscoped(key)
    before = int_arg("before", 0, 0, 10**12) or None
    args = request.args
    return jsonify({"entries": audit.query(int_arg("limit", 100, 1, 1000), before, args.get("action"),
                                           args.get("entityType") or args.get("entity_type"),
                                           args.get("entityId") or args.get("entity_id"))})


@bp.get("/me")
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


@bp.get("/signing-key")
def signing_key():
    secrets = box().secrets
    signer = secrets.bundle_signer
    return jsonify({"algorithm": signer.algorithm, "publicKey": signer.public_pem, "keyId": signer.key_id,
                    "keys": secrets.published_keys()})

