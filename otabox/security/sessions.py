"""Dashboard sessions: a random cookie of which only the SHA-256 is stored, with an idle and an
absolute expiry, and the CSRF token that cookie-authenticated changes must send back.

The CSRF token is an HMAC of the cookie itself, so nothing more is stored and the dashboard can ask
for it again after a reload (`GET /api/v1/session`); a page on another origin can neither read the
cookie nor the reply that carries the token."""
from __future__ import annotations

import base64
import datetime as dt
import hmac

from ..errors import Unauthorized
from ..store.models import User, UserSession, iso, utcnow
from .auth import hash_key, new_secret

COOKIE_NAME = "otabox_session"
HINT_COOKIE_NAME = "otabox_signed_in"
"""Readable by the dashboard's script, holds no secret: only that a session cookie was set."""
SESSION_PREFIX = "otabox_ss_"
CSRF_HEADER = "X-CSRF-Token"


def start_session(user, created_by: str, lifetime_seconds: int) -> tuple[UserSession, str]:
    """A new session row for `user` and the cookie value, which is never stored."""
    secret, digest = new_secret(SESSION_PREFIX)
    now = utcnow()
    row = UserSession.create(user=user, token_hash=digest, created_by=created_by[:200], created_at=now,
                             last_seen_at=now, expires_at=now + dt.timedelta(seconds=lifetime_seconds))
    return row, secret


def find_session(secret: str, idle_seconds: int, noted_use=lambda session_id: None) -> UserSession:
    """The live session behind a cookie; `noted_use(id)` is a later use noted but not yet written."""
    digest = hash_key(secret)
    row = UserSession.select(UserSession, User).join(User).where(UserSession.token_hash == digest).first()
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        raise Unauthorized("this session has ended; sign in again", code="session_expired")
    now = utcnow()
    last_seen = max(row.last_seen_at, noted_use(row.id) or row.last_seen_at)
    if row.expires_at <= now or (now - last_seen).total_seconds() > idle_seconds:
        row.delete_instance()
        ended = min(row.expires_at, last_seen + dt.timedelta(seconds=idle_seconds))
        raise Unauthorized("this session has expired; sign in again", code="session_expired",
                           details={"expiredAt": iso(ended)})
    return row


def csrf_token(secret: str) -> str:
    digest = hmac.new(secret.encode(), b"otabox csrf token", "sha256").digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def csrf_matches(secret: str, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(csrf_token(secret).encode(), presented.encode("utf-8", "replace"))
