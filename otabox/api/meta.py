"""Management API: audit log, who a key is, the signing key."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from ..core import audit
from ..security import auth
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
    """Who the key is: its name, role and app scope (the dashboard adapts its controls to it)."""
    key = api_key("reader")
    return jsonify({"name": key.name, "role": key.role, "appId": key.app_id,
                    "appSlug": key.app.slug if key.app_id else None})


@bp.get("/signing-key")
def signing_key():
    secrets = box().secrets
    signer = secrets.bundle_signer
    return jsonify({"algorithm": signer.algorithm, "publicKey": signer.public_pem, "keyId": signer.key_id,
                    "keys": secrets.published_keys()})

