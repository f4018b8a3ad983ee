"""People: accounts, passwords, and signing in and out of the dashboard. Every change is audited."""
from __future__ import annotations

import datetime as dt
import re

from ..errors import BadRequest, Conflict, NotFound, Unauthorized
from ..fields import Schema, Text
from ..security import auth, passwords, sessions
from ..store.models import ApiKey, User, UserSession, iso, utcnow
from . import audit
from .change import changing

SIGN_IN = Schema({"email": Text(320, required=True), "password": Text(1024, required=True)})

USER_ROLES = ("admin", "member")
EMAIL = re.compile(r"^[^@\s/]+@[^@\s/]+$")
"""Loose on purpose (people's addresses vary); no '/', since emails travel in URL paths."""


def normalize_email(email) -> str:
    if not isinstance(email, str) or len(email) > 254 or not EMAIL.match(email.strip()):
        raise BadRequest("email must be an e-mail address", code="invalid_email", details={"field": "email"})
    return email.strip().lower()


def find_user(email) -> User:
    user = User.get_or_none(User.email == normalize_email(email))
    if user is None or user.service:
        raise NotFound(f"no user {email!r}; create one first with `otabox users create --email {email} --role member`",
                       code="no_such_user")
    return user


def user_json(user: User) -> dict:
    return {"email": user.email, "role": user.role, "disabled": user.disabled, "serviceAccount": user.service,
            "createdAt": iso(user.created_at), "lastLoginAt": iso(user.last_login_at)}


def people():
    return User.select().where(~User.service).order_by(User.email)


def create_user(email, role: str, password: str, actor: str) -> User:
    email = normalize_email(email)
    if role not in USER_ROLES:
        raise BadRequest(f"role must be one of {', '.join(USER_ROLES)}", details={"field": "role"})
    password_hash = passwords.hash_password(password)
    with changing(actor, "user.created", "user", details={"email": email, "role": role}, signal=None) as change:
        if User.select().where(User.email == email).exists():
            raise Conflict(f"a user {email} exists already", details={"email": email})
        user = User.create(email=email, role=role, password_hash=password_hash)
        change.entity_id = user.id
    return user


def set_disabled(user: User, disabled: bool, actor: str) -> User:
    """A disabled user can neither sign in nor use a token: their sessions end and their tokens are
    revoked at once, so enabling them again revives none (they sign in and make new ones)."""
    with changing(actor, "user.disabled" if disabled else "user.enabled", "user", user.id, {"email": user.email},
                  signal=None) as change:
        User.update(disabled=disabled).where(User.id == user.id).execute()
        if disabled:
            change.details["sessionsEnded"] = UserSession.delete().where(UserSession.user == user).execute()
            change.details["tokensRevoked"] = ApiKey.delete().where(ApiKey.user == user).execute()
    return User.get_by_id(user.id)


def reset_password(user: User, password: str, actor: str) -> None:
    """A new password; every session of the user ends (tokens stay, revoke them separately)."""
    password_hash = passwords.hash_password(password)
    with changing(actor, "user.password_reset", "user", user.id, {"email": user.email}, signal=None):
        User.update(password_hash=password_hash).where(User.id == user.id).execute()
        UserSession.delete().where(UserSession.user == user).execute()


def sign_in(email: str, password: str, created_by: str, lifetime_seconds: int, idle_seconds: int
            ) -> tuple[User, str]:
    """Check the password (one scrypt whether or not the account exists) and start a session.
    Returns the user and the session cookie's value."""
    try:
        user = find_user(email)
    except (BadRequest, NotFound):
        user = None
    stored = user.password_hash if user is not None else None
    if not passwords.verify_password(password, stored):
        raise Unauthorized("wrong email or password", code="invalid_credentials")
    auth.active_user(user)
    now = utcnow()
    with changing(audit.Actor(user.email), "user.signed_in", "user", user.id, {"from": created_by}, signal=None):
        UserSession.delete().where((UserSession.expires_at <= now) | (
            UserSession.last_seen_at < now - dt.timedelta(seconds=idle_seconds))).execute()
        _, secret = sessions.start_session(user, created_by, lifetime_seconds)
        User.update(last_login_at=now).where(User.id == user.id).execute()
    return user, secret


def sign_out(session: UserSession, actor: str) -> None:
    with changing(actor, "user.signed_out", "user", session.user_id, signal=None):
        UserSession.delete().where(UserSession.id == session.id).execute()


def end_sessions(user: User, created_by: str, actor: str) -> int:
    """End the user's sessions started from `created_by` (code-push's `session rm <machine>`)."""
    with changing(actor, "user.sessions_ended", "user", user.id, {"from": created_by}, signal=None) as change:
        ended = (UserSession.delete()
                 .where((UserSession.user == user) & (UserSession.created_by == created_by)).execute())
        change.details["count"] = ended
        if not ended:
            change.skip()
    return ended
