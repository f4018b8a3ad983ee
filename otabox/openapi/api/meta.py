"""The audit log, who is calling, the signing keys (api/meta.py)."""
from __future__ import annotations

from ..shapes import (
    array, BOOLEAN, INTEGER, json_errors, KEYED, nullable, obj, operation, PUBLIC, ref, reply, ROLE, STRING, TIMESTAMP)


def schemas() -> dict:
    return {
        "AuditEntry": obj({"id": INTEGER, "at": TIMESTAMP, "actor": STRING, "token": nullable(STRING),
                           "action": STRING, "entityType": STRING, "entityId": STRING,
                           "details": {"type": "object"}}),
    }


def paths() -> dict:
    api = "/api/v1"
    tag = "management"
    return {
        f"{api}/audit-log": {
            "get": operation("Management changes, newest first", tag, {
                **reply(obj({"entries": array(ref("AuditEntry"))})), **json_errors(400, *KEYED)}),
        },
        f"{api}/me": {
            "get": operation("Who is calling: name, role, and the apps it reaches with its role on each", tag, {
                **reply(obj({"name": STRING, "role": ROLE, "via": {"enum": ["session", "token", "key"]},
                             "scoped": BOOLEAN, "appId": nullable(INTEGER), "appSlug": nullable(STRING),
                             "apps": nullable(array(obj({"id": INTEGER, "slug": STRING, "role": ROLE}))),
                             "user": ref("User"), "token": nullable(ref("AccessToken"))})),
                **json_errors(*KEYED)}),
        },
        f"{api}/signing-key": {
            "get": operation("The public keys that verify bundle signatures (?format=pem: the current one as a PEM "
                             "file)", tag, _signing_key_replies(), security=PUBLIC),
        },
    }


def _signing_key_replies() -> dict:
    """The keys as JSON, or (`?format=pem`) the current public key alone as a PEM file."""
    keys = reply(obj({"algorithm": STRING, "publicKey": STRING, "keyId": STRING,
                      "keys": array(obj({"keyId": STRING, "publicKey": STRING, "current": BOOLEAN,
                                         "retiredAt": TIMESTAMP}, required=["keyId", "publicKey", "current"]))}))
    keys["200"]["content"]["application/x-pem-file"] = {"schema": STRING}
    return keys
