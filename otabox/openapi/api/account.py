"""Signing in, sessions and access tokens (api/account.py)."""
from __future__ import annotations

from ...core import users
from ..shapes import (
    array, AUTH, BOOLEAN, header, INTEGER, json_errors, KEYED, nullable, obj, operation, path, PUBLIC, ref, reply,
    ROLE, STRING, TIMESTAMP)


def schemas() -> dict:
    return {
        "User": obj({"email": STRING, "role": {"enum": list(users.USER_ROLES)}, "disabled": BOOLEAN,
                     "serviceAccount": BOOLEAN, "createdAt": TIMESTAMP, "lastLoginAt": nullable(TIMESTAMP)}),
        "AccessToken": obj({
            "friendlyName": STRING, "role": ROLE, "appIds": nullable(array(INTEGER)),
            "appSlugs": nullable(array(STRING)), "createdBy": STRING, "createdAt": TIMESTAMP,
            "lastUsedAt": nullable(TIMESTAMP), "expires": nullable(TIMESTAMP), "expiresAt": nullable(TIMESTAMP)}),
    }


def paths() -> dict:
    api = "/api/v1"
    tag = "people"
    session = obj({"user": ref("User"), "csrfToken": nullable(STRING)})
    csrf = header("X-CSRF-Token", description="Required with the session cookie (from POST /api/v1/session)")
    return {
        f"{api}/session": {
            "post": operation("Sign in with email and password: a session cookie and the CSRF token", tag, {
                **reply(session, description="Signed in; the reply sets the otabox_session cookie"),
                **json_errors(400, 401, 413, 415, 429)}, security=PUBLIC),
            "get": operation("Who is signed in, with the CSRF token again for a session cookie", tag, {
                **reply(session), **json_errors(*KEYED)}),
            "delete": operation("Sign out: the session ends and its cookie is cleared", tag, {
                **reply(obj({"signedOut": BOOLEAN})), **json_errors(*AUTH)}, [csrf]),
        },
        f"{api}/auth/tokens": {
            "get": operation("The caller's access tokens (never their secrets)", tag, {
                **reply(obj({"tokens": array({"allOf": [ref("AccessToken"), obj({"current": BOOLEAN})]})})),
                **json_errors(*KEYED)}),
            "post": operation("Create an access token (shown once), with no more rights than the caller", tag, {
                **reply({"allOf": [ref("AccessToken"), obj({"accessToken": STRING})]}, 201),
                **json_errors(400, *KEYED, 409)}, [csrf]),
        },
        f"{api}/auth/tokens/{{token_name}}": {
            "delete": operation("Revoke an access token the caller manages and every token minted from it", tag, {
                **reply(obj({"deleted": BOOLEAN, "friendlyName": STRING, "alsoRevoked": array(STRING)})),
                **json_errors(*AUTH)},
                [path("token_name", "The token's friendlyName"), csrf]),
        },
    }
