"""Access tokens made over HTTP (the CodePush access keys): named per user, expiring, shown once.

A token never has more rights than whoever creates it. At use, its rights are the least of its
owner's current rights (a member who loses an app loses it for their tokens too), its role and its
apps. A token made with a token has at most that token's role, apps and expiry, and remembers it
was minted from it; one made in a dashboard session may have any role, since the user's own rights
bound it anyway (a member's token made before they join an app can publish there once they may).

Who manages which token (lists, renames, changes the expiry of, revokes it): a dashboard session
and an admin token not limited to apps manage every token of their user; any other token manages
only itself and the tokens minted from it, directly or not. So of the service account's keys, a
reader or app-limited key never reaches another key. Revoking a token revokes everything minted
from it, and no token gives another an expiry later than its own."""
from __future__ import annotations

import datetime as dt
import ipaddress

from ..errors import Conflict, Forbidden, NotFound
from ..fields import Any, Choice, IdOrName, ListOf, Schema, Whole
from ..security import auth
from ..security.auth import Principal
from ..store.models import ApiKey, App, TokenApp, iso, row_id, utcnow
from . import audit
from .change import changing

DEFAULT_TTL_MS = 60 * 24 * 3600 * 1000
"""code-push-server's default: 60 days."""
MAX_TTL_MS = 10 * 365 * 24 * 3600 * 1000
TTL_CHANGE = Whole(0, MAX_TTL_MS, nullable=True, expected=f"a whole number of milliseconds from 0 to {MAX_TTL_MS}",
                   description="Milliseconds from now until it expires (0 ends it now)")
NEW_TOKEN = Schema({
    "friendlyName": Any(required=True, description="Unique among the user's tokens"),
    "ttl": Whole(1, MAX_TTL_MS, nullable=True, expected=f"a whole number of milliseconds from 1 to {MAX_TTL_MS}",
                 description="Milliseconds until it expires (default: 60 days), never after the creator's own"),
    "role": Choice(auth.ROLES, nullable=True, description="At most the creator's role (the default)"),
    "appIds": ListOf(IdOrName(), min_items=1, max_items=1000, nullable=True,
                     expected="a list of app ids or slugs", description="Limit the token to these apps")})


def millis(moment: dt.datetime | None) -> int | None:
    return None if moment is None else int(moment.replace(tzinfo=dt.timezone.utc).timestamp() * 1000)


def token_json(token: ApiKey) -> dict:
    """A token as /api/v1/auth/tokens shows it: `expires` an ISO time as the CodePush multi-tenant
    server shows it (`expiresAt` its older otabox name); code-push-server's CLI gets epoch
    milliseconds at its own routes (protocols/codepush/accounts.py)."""
    apps = [link.app for link in token.app_links.order_by(TokenApp.app)] if token.scoped else None
    return {"friendlyName": token.name, "role": token.role,
            "appIds": [app.id for app in apps] if apps is not None else None,
            "appSlugs": [app.slug for app in apps] if apps is not None else None,
            "createdBy": creator_of(token), "createdAt": iso(token.created_at), "lastUsedAt": iso(token.last_used_at),
            "expires": iso(token.expires_at), "expiresAt": iso(token.expires_at)}


def creator_of(token: ApiKey) -> str:
    """Who made the token. Tokens made at /api/v1 before this was kept recorded the caller's address
    (code-push-server's access keys still do, as that server does): for those, the actor of its
    audit entry, else its user, so no stored row needs rewriting."""
    try:
        ipaddress.ip_address(token.created_by)
    except ValueError:
        return token.created_by
    entries = audit.query(limit=1, action="token.created", entity_type="token", entity_id=str(token.id))
    return entries[0]["actor"] if entries else token.user.email


def _linked_apps(token: ApiKey) -> set[int]:
    return {link.app_id for link in TokenApp.select(TokenApp.app).where(TokenApp.token == token)}


def _cap(caller: Principal) -> str:
    """The most a token made or managed by the caller may hold: the calling token's role, or for a
    session any role (the user's own rights bound the token at use)."""
    return caller.token.role if caller.token is not None else "admin"


def _minted_from(roots: set[int]) -> set[int]:
    """The tokens minted from `roots`, directly or through others (not the roots themselves)."""
    found: set[int] = set()
    frontier = roots
    while frontier:
        frontier = {row.id for row in ApiKey.select(ApiKey.id).where(ApiKey.minted_from.in_(list(frontier)))} - found
        found |= frontier
    return found


def manages_all(caller: Principal) -> bool:
    """Whether the caller manages every token (and dashboard session) of its user: a session, or an
    admin token not limited to apps."""
    return caller.token is None or (caller.token.role == "admin" and not caller.token.scoped)


def _reach(caller: Principal) -> set[int] | None:
    """The ids of the tokens the caller manages; None: every token of its user."""
    if manages_all(caller):
        return None
    return {caller.token.id} | _minted_from({caller.token.id})


def manageable_tokens(caller: Principal) -> list[ApiKey]:
    """The tokens of the caller's user that the caller may see, rename and revoke (see above)."""
    query = ApiKey.select().where(ApiKey.user == caller.user)
    reach = _reach(caller)
    if reach is not None:
        query = query.where(ApiKey.id.in_(list(reach)))
    return list(query.order_by(ApiKey.created_at, ApiKey.id))


def find_token(caller: Principal, name: str) -> ApiKey:
    token = ApiKey.get_or_none((ApiKey.user == caller.user) & (ApiKey.name == name))
    reach = _reach(caller) if token is not None else None
    if token is None or (reach is not None and token.id not in reach):
        raise NotFound(f"no token named {name!r}", code="no_such_token")
    return token


def _expiry(creator: Principal, ttl_ms: int) -> dt.datetime:
    """Now + ttl, but never after the creating token's own expiry."""
    expires = utcnow() + dt.timedelta(milliseconds=ttl_ms)
    own = creator.token.expires_at if creator.token is not None else None
    return min(expires, own) if own is not None else expires


def _apps(creator: Principal, app_ids) -> list[App] | None:
    """The apps a new token is limited to: those asked for (each reachable by the creator); by
    default the apps of the creating token when that one is limited, else none (the owner's rights,
    as they change, bound the token)."""
    app_ids = NEW_TOKEN.fields["appIds"](app_ids, "appIds")
    if app_ids is None:
        limited = creator.token is not None and creator.token.scoped
        return list(creator.visible(App.select()).order_by(App.id)) if limited else None
    apps = []
    for value in app_ids:
        number = row_id(value)
        app = App.get_or_none(App.id == number) if number is not None else None
        app = app or (App.get_or_none(App.slug == value) if isinstance(value, str) else None)
        if app is None or creator.role_on(app.id) is None:
            raise Forbidden(f"{creator.label} cannot give a token access to app {value!r}",
                            details={"field": "appIds", "app": str(value)})
        apps.append(app)
    return apps


def create_token(creator: Principal, name, ttl_ms, role, app_ids, created_by: str, actor: str) -> tuple[ApiKey, str]:
    """A new token of the creator's user; returns the row and the secret, shown once."""
    name = auth.check_token_name(name)
    fields = NEW_TOKEN.fields
    ttl_ms = fields["ttl"](ttl_ms, "ttl")
    ttl_ms = DEFAULT_TTL_MS if ttl_ms is None else ttl_ms
    cap = _cap(creator)
    role = fields["role"](role, "role") or cap
    if auth.ROLE_RANK[role] > auth.ROLE_RANK[cap]:
        raise Forbidden(f"a token cannot have more rights than its creator; {creator.label} is a {cap}",
                        details={"required": role, "role": cap})
    apps = _apps(creator, app_ids)
    secret, digest = auth.new_secret(auth.TOKEN_PREFIX)
    with changing(actor, "token.created", "token", signal=None) as change:
        if ApiKey.select().where((ApiKey.user == creator.user) & (ApiKey.name == name)).exists():
            raise Conflict(f"a token named {name!r} exists already", details={"friendlyName": name})
        token = ApiKey.create(user=creator.user, name=name, role=role, key_hash=digest, scoped=apps is not None,
                              created_by=(created_by or "")[:200], expires_at=_expiry(creator, ttl_ms),
                              minted_from=creator.token)
        for app in apps or ():
            TokenApp.create(token=token, app=app)
        change.entity_id = token.id
        change.details = {"friendlyName": name, "owner": creator.user.email, "role": role,
                          "apps": [a.slug for a in apps] if apps is not None else None,
                          "expiresAt": iso(token.expires_at)}
    return token, secret


def update_token(editor: Principal, token: ApiKey, new_name, ttl_ms, actor: str) -> ApiKey:
    """Rename a token and/or give it a new expiry (now + ttl; 0 ends it now)."""
    changes = {}
    if new_name is not None and new_name != token.name:
        changes["name"] = auth.check_token_name(new_name)
    if ttl_ms is not None:
        changes["expires_at"] = _expiry(editor, TTL_CHANGE(ttl_ms, "ttl"))
    if not changes:
        return token
    with changing(actor, "token.updated", "token", token.id,
                  {"friendlyName": changes.get("name", token.name), "from": token.name,
                   "expiresAt": iso(changes.get("expires_at", token.expires_at))}, signal=None):
        if "name" in changes and ApiKey.select().where(
                (ApiKey.user == token.user) & (ApiKey.name == changes["name"])).exists():
            raise Conflict(f"a token named {changes['name']!r} exists already", details={"friendlyName": new_name})
        ApiKey.update(**changes).where(ApiKey.id == token.id).execute()
    return ApiKey.get_by_id(token.id)


def revoke_token(token: ApiKey, actor: str) -> list[str]:
    """Revoke `token` and every token minted from it; returns the names of those revoked with it."""
    with changing(actor, "token.revoked", "token", token.id,
                  {"friendlyName": token.name, "owner": token.user.email}, signal=None) as change:
        minted = _minted_from({token.id})
        names = [row.name for row in ApiKey.select(ApiKey.name).where(ApiKey.id.in_(list(minted))).order_by(ApiKey.id)]
        ApiKey.delete().where(ApiKey.id.in_([token.id, *minted])).execute()
        change.details["alsoRevoked"] = names
    return names
