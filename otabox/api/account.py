"""Management API: signing in and out of the dashboard (a session cookie), and access tokens."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from ..core import tokens, users
from ..errors import NotFound, OtaboxError, TooManyRequests, Unauthorized
from ..security import sessions
from ..security.ratelimit import address_key
from ..web import accepts, actor, api_key, body, box, clear_session_cookie, set_session_cookie

bp = Blueprint("api_account", __name__)


class UnsupportedMediaType(OtaboxError):
    status, code = 415, "unsupported_media_type"


def _session_reply(user, cookie: str | None, status: int = 200):
    return jsonify({"user": users.user_json(user),
                    "csrfToken": sessions.csrf_token(cookie) if cookie else None}), status


@bp.post("/session")
@accepts(body=users.SIGN_IN)
def sign_in():
    """Email and password in, a session cookie and the CSRF token out. Attempts are limited per
    address (every attempt), and failed ones meet growing back-offs per account and per address,
    before the password is even checked."""
    b = box()
    if not request.is_json:
        raise UnsupportedMediaType("send the email and password as application/json")
    b.login_limiter.take(f"login:{address_key(request.remote_addr)}")
    data = body()
    email, password = data["email"], data["password"]
    account, address = email.strip().lower(), address_key(request.remote_addr)
    _wait_after_failures(b.account_sign_in_failures, account, "for this account")
    _wait_after_failures(b.address_sign_in_failures, address, "from this address")
    try:
        user, cookie = users.sign_in(email, password, request.remote_addr or "", b.config.session_lifetime_seconds,
                                     b.config.session_idle_seconds)
    except Unauthorized:
        b.account_sign_in_failures.failed(account)
        b.address_sign_in_failures.failed(address)
        raise
    b.account_sign_in_failures.succeeded(account)
    response, status = _session_reply(user, cookie)
    set_session_cookie(response, cookie, b.config.session_lifetime_seconds)
    return response, status


def _wait_after_failures(backoff, key: str, whose: str) -> None:
    wait = backoff.retry_after(key)
    if wait:
        raise TooManyRequests(wait, f"too many failed sign-ins {whose}; retry in {wait} s", code="sign_in_backoff")


@bp.get("/session")
@accepts()
def current_session():
    """Who is signed in, and (for a session cookie) the CSRF token again, e.g. after a page reload."""
    caller = api_key("reader")
    return _session_reply(caller.user, request.cookies.get(sessions.COOKIE_NAME) if caller.session else None)


@bp.delete("/session")
@accepts()
def sign_out():
    caller = api_key("reader")
    if caller.session is None:
        raise NotFound("this request was not made with a session cookie; there is no session to end",
                       code="no_session")
    users.sign_out(caller.session, actor())
    response = jsonify({"signedOut": True})
    clear_session_cookie(response)
    return response


@bp.get("/auth/tokens")
@accepts()
def list_tokens():
    """The access tokens the caller manages (never their secrets): every token of its user for a
    session or an admin token, else itself and the tokens minted from it."""
    caller = api_key("reader")
    return jsonify({"tokens": [{**tokens.token_json(t), "current": caller.token is not None and t.id == caller.token.id}
                               for t in tokens.manageable_tokens(caller)]})


@bp.post("/auth/tokens")
@accepts(body=tokens.NEW_TOKEN)
def create_token():
    caller = api_key("reader")
    data = body()
    token, secret = tokens.create_token(caller, data["friendlyName"], data.get("ttl"), data.get("role"),
                                        data.get("appIds"), actor(), actor())
    return jsonify({"accessToken": secret, **tokens.token_json(token)}), 201


@bp.delete("/auth/tokens/<path:token_name>")
@accepts()
def revoke_token(token_name):
    """Revoke a token the caller manages, and every token minted from it (listed in `alsoRevoked`)."""
    caller = api_key("reader")
    also = tokens.revoke_token(tokens.find_token(caller, token_name), actor())
    return jsonify({"deleted": True, "friendlyName": token_name, "alsoRevoked": also})
