"""API keys: created once, stored only as a hash, checked in constant time; roles and app scope."""
from __future__ import annotations

import hashlib
import hmac
import secrets

from peewee import PeeweeException

from ..errors import BadRequest, Conflict, Forbidden, NotFound, OtaboxError, Unauthorized
from ..store.models import ApiKey, App, utcnow

KEY_PREFIX = "otabox_sk_"
ROLES = ("admin", "publisher", "reader")
ROLE_RANK = {"reader": 0, "publisher": 1, "admin": 2}
LAST_USED_RESOLUTION_SECONDS = 60


def hash_key(key: str) -> str:
    """Keys carry 256 random bits, so one SHA-256 is enough (no password-style stretching needed)."""
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()


def create_key(name: str, role: str, app: App | None = None) -> tuple[ApiKey, str]:
    """A new key row and the key itself, which is shown once and never stored."""
    if not name or len(name) > 100:
        raise BadRequest("a key needs a name of 1 to 100 characters")
    if role not in ROLES:
        raise BadRequest(f"role must be one of {', '.join(ROLES)}", details={"role": role})
    if ApiKey.select().where(ApiKey.name == name).exists():
        raise Conflict(f"a key named {name!r} exists already")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey.create(name=name, role=role, app=app, key_hash=hash_key(key))
    return row, key


def authenticate(key: str | None) -> ApiKey:
    if not key:
        raise Unauthorized("an API key is required: send 'Authorization: Bearer <key>'")
    digest = hash_key(key)
    row = ApiKey.get_or_none(ApiKey.key_hash == digest)
    if row is None or not hmac.compare_digest(row.key_hash, digest):
        raise Unauthorized("unknown or revoked API key")
    now = utcnow()
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > LAST_USED_RESOLUTION_SECONDS:
        try:
            ApiKey.update(last_used_at=now).where(ApiKey.id == row.id).execute()
        except (OtaboxError, PeeweeException):
            pass  # bookkeeping only: a busy or full database must not turn a read into an error
    return row


def require_role(key: ApiKey, role: str) -> None:
    if ROLE_RANK[key.role] < ROLE_RANK[role]:
        raise Forbidden(f"this needs the {role} role; the key {key.name!r} is a {key.role}",
                        details={"required": role, "role": key.role})


def require_app(key: ApiKey, app: App) -> None:
    if key.app_id is not None and key.app_id != app.id:
        raise Forbidden(f"the key {key.name!r} is limited to another app")


def require_unscoped(key: ApiKey) -> None:
    if key.app_id is not None:
        raise Forbidden(f"the key {key.name!r} is limited to one app and cannot do this")


def revoke_key(name: str) -> None:
    if ApiKey.delete().where(ApiKey.name == name).execute() == 0:
        raise NotFound(f"no key named {name!r}")
