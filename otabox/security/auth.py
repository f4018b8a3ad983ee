"""Who is calling: API keys and access tokens (bearer secrets stored as SHA-256), the principal they
stand for, and the checks every route makes (role, app, unscoped).

A principal is a user acting through a session cookie, one of their access tokens, or an API key of
the service account. Its rights are the least of: the user's (an admin reaches every app; a member
only the apps they collaborate on, with that app's permission), the token's role, and the token's
apps when it is scoped. Permissions map onto roles: Owner = admin, Collaborator = publisher,
Reader = reader, so every route's role check holds for people too."""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets

from ..errors import BadRequest, Conflict, Forbidden, Unauthorized
from ..store.models import SERVICE_ACCOUNT, ApiKey, App, Collaborator, TokenApp, User, UserSession, iso, utcnow

KEY_PREFIX = "otabox_sk_"
TOKEN_PREFIX = "otabox_at_"
ROLES = ("admin", "publisher", "reader")
ROLE_RANK = {"reader": 0, "publisher": 1, "admin": 2}
PERMISSIONS = ("Owner", "Collaborator", "Reader")
PERMISSION_ROLES = {"Owner": "admin", "Collaborator": "publisher", "Reader": "reader"}


def hash_key(key: str) -> str:
    """Keys carry 256 random bits, so one SHA-256 is enough (no password-style stretching needed)."""
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()


def new_secret(prefix: str) -> tuple[str, str]:
    """A fresh bearer secret (prefix + 256 random bits) and the hash that is stored instead."""
    secret = prefix + secrets.token_urlsafe(32)
    return secret, hash_key(secret)


def lesser(a: str, b: str) -> str:
    return a if ROLE_RANK[a] <= ROLE_RANK[b] else b


def greatest(roles) -> str:
    return max(roles, key=ROLE_RANK.__getitem__, default="reader")


# --- the principal -----------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Principal:
    user: User
    role: str
    """The most it may do anywhere (the role checked before an app is known)."""
    app_roles: dict[int, str] | None
    """None: every app, at `role`. Otherwise the apps it reaches and its role on each."""
    token: ApiKey | None = None
    session: UserSession | None = None

    @property
    def is_key(self) -> bool:
        """An API key of the service account (`otabox keys create`), which acts under its own name."""
        return self.token is not None and self.user.service

    @property
    def name(self) -> str:
        """Who acts, as the audit log and release history name it: an API key's name, else the email."""
        return self.token.name if self.is_key else self.user.email

    @property
    def via(self) -> str:
        return "key" if self.is_key else "token" if self.token is not None else "session"

    @property
    def label(self) -> str:
        if self.is_key:
            return f"the key {self.token.name!r}"
        return f"the token {self.token.name!r} of {self.user.email}" if self.token else self.user.email

    @property
    def scoped(self) -> bool:
        return self.app_roles is not None

    @property
    def app_id(self) -> int | None:
        """Kept for callers written for single-app keys: None when every app is reachable, else one
        reachable app (0 when none), so a filter on it can only show too little, never too much."""
        if self.app_roles is None:
            return None
        return min(self.app_roles, default=0)

    def role_on(self, app_id: int) -> str | None:
        return self.role if self.app_roles is None else self.app_roles.get(app_id)

    def visible(self, query):
        """`query` over App limited to the apps this principal reaches."""
        return query if self.app_roles is None else query.where(App.id.in_(list(self.app_roles)))


def principal_for(user: User, token: ApiKey | None = None, session: UserSession | None = None) -> Principal:
    if user.role == "admin" or user.service:
        reach = None
    else:
        rows = Collaborator.select(Collaborator.app, Collaborator.permission).where(Collaborator.user == user)
        reach = {c.app_id: PERMISSION_ROLES[c.permission] for c in rows}
    if token is not None and token.scoped:
        allowed = {link.app_id for link in TokenApp.select(TokenApp.app).where(TokenApp.token == token)}
        owned = dict.fromkeys(allowed, "admin") if reach is None else reach
        reach = {app_id: role for app_id, role in owned.items() if app_id in allowed}
    cap = token.role if token is not None else "admin"
    if reach is None:
        return Principal(user, cap, None, token, session)
    reach = {app_id: lesser(role, cap) for app_id, role in reach.items()}
    return Principal(user, greatest(reach.values()), reach, token, session)


def authenticate(secret: str | None, header_form: str = "Authorization: Bearer <key>") -> Principal:
    """The principal behind a bearer secret (an API key or an access token); `header_form`: how the
    caller's protocol sends it, named when it is missing."""
    if not secret:
        raise Unauthorized(f"an API key is required: send '{header_form}'")
    digest = hash_key(secret)
    row = ApiKey.select(ApiKey, User).join(User).where(ApiKey.key_hash == digest).first()
    if row is None or not hmac.compare_digest(row.key_hash, digest):
        raise Unauthorized("unknown or revoked API key")
    if row.expires_at is not None and row.expires_at <= utcnow():
        raise Unauthorized(f"the token {row.name!r} expired at {iso(row.expires_at)}", code="token_expired",
                           details={"expiredAt": iso(row.expires_at)})
    return principal_for(active_user(row.user), token=row)


def active_user(user: User) -> User:
    if user.disabled:
        raise Unauthorized(f"the account {user.email} is disabled", code="account_disabled")
    return user


# --- the checks routes make --------------------------------------------------------------------------

def require_role(principal: Principal, role: str) -> None:
    if ROLE_RANK[principal.role] < ROLE_RANK[role]:
        raise Forbidden(f"this needs the {role} role; {principal.label} is a {principal.role}",
                        details={"required": role, "role": principal.role})


def require_app(principal: Principal, app: App, role: str = "reader") -> None:
    have = principal.role_on(app.id)
    if have is None:
        raise Forbidden(f"{principal.label} is limited to other apps")
    if ROLE_RANK[have] < ROLE_RANK[role]:
        raise Forbidden(f"this needs the {role} role on {app.slug}; {principal.label} is a {have} there",
                        details={"required": role, "role": have})


def require_unscoped(principal: Principal) -> None:
    if principal.scoped:
        raise Forbidden(f"{principal.label} is limited to some apps and cannot do this")


# --- API keys of the service account (otabox keys) ---------------------------------------------------

def service_account() -> User:
    user, _ = User.get_or_create(email=SERVICE_ACCOUNT, defaults={"role": "admin", "service": True})
    return user


def check_token_name(name) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise BadRequest("a key needs a name of 1 to 100 characters", details={"field": "friendlyName"})
    return name.strip()


def create_key(name: str, role: str, app: App | None = None) -> tuple[ApiKey, str]:
    """A new API key of the service account and the key itself, which is shown once and never stored."""
    name = check_token_name(name)
    if role not in ROLES:
        raise BadRequest(f"role must be one of {', '.join(ROLES)}", details={"role": role})
    owner = service_account()
    if ApiKey.select().where((ApiKey.user == owner) & (ApiKey.name == name)).exists():
        raise Conflict(f"a key named {name!r} exists already")
    key, digest = new_secret(KEY_PREFIX)
    row = ApiKey.create(user=owner, name=name, role=role, key_hash=digest, scoped=app is not None)
    if app is not None:
        TokenApp.create(token=row, app=app)
    return row, key
