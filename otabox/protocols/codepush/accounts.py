"""code-push-server's account routes, in its shapes: access keys, sessions, collaborators, transfer.

Access keys are otabox access tokens (secret shown once, only its hash kept); `GET /accessKeys` also
lists the user's dashboard sessions with `isSession: true`, `createdBy` being the address they
signed in from, which `DELETE /sessions/:createdBy` ends (the CLI's `session rm`); keys list exactly
the keys the caller manages (core/tokens.py), and only callers that manage all of them (a session,
an admin key not limited to apps) see and end sessions. Times are
milliseconds since 1970, as the CLI expects; a key that never expires (an API key made with
`otabox keys create`) shows the last millisecond of year 9999, which the CLI prints as a date
instead of treating a missing value as expired."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from ...core import collaborators, tokens, users
from ...errors import BadRequest, NotFound, OtaboxError
from ...fields import Any, Schema, Text
from ...store.models import UserSession
from ...web import accepts, actor, api_key, body, box
from .management import collaborator_map, find_app, no_content, plain_error

bp = Blueprint("codepush_accounts", __name__)
bp.register_error_handler(OtaboxError, plain_error)

HIDDEN = "(hidden)"
"""What code-push-server shows in place of a key's secret in lists."""
NEVER = 253402300799999
NOT_A_USER = "The specified e-mail address doesn't represent a registered user"
ACCESS_KEY = Schema({"friendlyName": Any(description="Unique among the user's keys"),
                     "ttl": Any(description="Milliseconds (a number, or its digits)")},
                    aliases={"description": "friendlyName"})
"""An access key's changes; `description` is what older CLIs sent for `friendlyName`."""
NEW_ACCESS_KEY = ACCESS_KEY.extend({"createdBy": Text(200, nullable=True, description="The machine it was made on")})


def _created() -> Response:
    return Response(status=201)


def _key_json(token) -> dict:
    created = tokens.millis(token.created_at)
    return {"friendlyName": token.name, "description": token.name, "createdBy": token.created_by,
            "createdTime": created, "expires": tokens.millis(token.expires_at) or NEVER, "isSession": False}


def _session_json(session: UserSession) -> dict:
    created = tokens.millis(session.created_at)
    idle_end = tokens.millis(session.last_seen_at) + box().config.session_idle_seconds * 1000
    return {"name": HIDDEN, "friendlyName": f"Login-{created}", "description": f"Login-{created}",
            "createdBy": session.created_by, "createdTime": created,
            "expires": min(tokens.millis(session.expires_at), idle_end), "isSession": True}


def _person(email: str):
    try:
        return users.find_user(email)
    except NotFound:
        raise NotFound(NOT_A_USER) from None


def _ttl(data: dict):
    """code-push-server reads ttl with parseInt, so "3600000" counts too."""
    ttl = data.get("ttl")
    if isinstance(ttl, str) and ttl.strip().isdecimal():
        return int(ttl)
    return ttl


def _friendly_name(data: dict):
    name = data.get("friendlyName")
    return name.strip() if isinstance(name, str) else name


# --- access keys and sessions -------------------------------------------------------------------

@bp.get("/accessKeys")
@accepts()
def list_access_keys():
    caller = api_key("reader")
    keys = [{"name": HIDDEN, **_key_json(t)} for t in tokens.manageable_tokens(caller)]
    if caller.via != "key" and tokens.manages_all(caller):
        keys += [_session_json(s) for s in UserSession.select().where(UserSession.user == caller.user)]
    return jsonify({"accessKeys": sorted(keys, key=lambda k: k["createdTime"])})


@bp.post("/accessKeys")
@accepts(body=NEW_ACCESS_KEY)
def add_access_key():
    caller = api_key("reader")
    data = body()
    if not _friendly_name(data):
        raise BadRequest("An access key needs a friendlyName.")
    token, secret = tokens.create_token(caller, _friendly_name(data), _ttl(data), None, None,
                                        str(data.get("createdBy") or request.remote_addr or ""), actor())
    response = jsonify({"accessKey": {"name": secret, **_key_json(token)}})
    response.headers["Location"] = f"/accessKeys/{token.name}"
    return response, 201


def _access_key(name: str):
    try:
        return tokens.find_token(api_key("reader"), name)
    except NotFound:
        raise NotFound(f'Access key "{name}" does not exist.') from None


@bp.get("/accessKeys/<path:key_name>")
@accepts()
def get_access_key(key_name):
    return jsonify({"accessKey": _key_json(_access_key(key_name))})


@bp.patch("/accessKeys/<path:key_name>")
@accepts(body=ACCESS_KEY)
def patch_access_key(key_name):
    token = _access_key(key_name)
    data = body()
    updated = tokens.update_token(api_key("reader"), token, _friendly_name(data) or None, _ttl(data), actor())
    return jsonify({"accessKey": _key_json(updated)})


@bp.delete("/accessKeys/<path:key_name>")
@accepts()
def remove_access_key(key_name):
    tokens.revoke_token(_access_key(key_name), actor())
    return no_content()


@bp.delete("/sessions/<created_by>")
@accepts()
def remove_sessions(created_by):
    caller = api_key("reader")
    may_end = caller.via != "key" and tokens.manages_all(caller)
    if not may_end or not users.end_sessions(caller.user, created_by, actor()):
        raise NotFound(f'There are no sessions associated with "{created_by}."')
    return no_content()


# --- collaborators and transfer -----------------------------------------------------------------

@bp.get("/apps/<app_name>/collaborators")
@accepts()
def list_collaborators(app_name):
    return jsonify({"collaborators": collaborator_map(find_app(app_name))})


@bp.post("/apps/<app_name>/collaborators/<email>")
@accepts()
def add_collaborator(app_name, email):
    app = find_app(app_name, "admin")
    collaborators.add_collaborator(app, _person(email), "Collaborator", actor())
    return _created()


@bp.delete("/apps/<app_name>/collaborators/<email>")
@accepts()
def remove_collaborator(app_name, email):
    caller = api_key("reader")
    leaving = caller.via != "key" and email.strip().lower() == caller.user.email
    app, person = find_app(app_name, "reader" if leaving else "admin"), _person(email)
    try:
        collaborators.remove_collaborator(app, person, actor())
    except NotFound:
        raise NotFound("The given email is not a collaborator for this app.") from None
    return no_content()


@bp.post("/apps/<app_name>/transfer/<email>")
@accepts()
def transfer_app(app_name, email):
    collaborators.transfer(find_app(app_name, "admin"), _person(email), actor())
    return _created()

