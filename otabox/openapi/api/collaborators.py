"""Who works on which app (api/collaborators.py)."""
from __future__ import annotations

from ..shapes import (
    APP_ID, array, AUTH, BOOLEAN, header, json_errors, obj, operation, path, PERMISSION, ref, reply, STRING, TIMESTAMP)


def schemas() -> dict:
    return {
        "Collaborator": obj({"email": STRING, "permission": PERMISSION, "createdAt": TIMESTAMP}),
    }


def paths() -> dict:
    app = "/api/v1/apps/{app_id}"
    tag = "people"
    listing = reply(obj({"collaborators": array(ref("Collaborator"))}))
    csrf = header("X-CSRF-Token", description="Required with the session cookie (from POST /api/v1/session)")
    return {
        f"{app}/collaborators": {
            "get": operation("The app's collaborators and their permissions", tag, {
                **listing, **json_errors(*AUTH)}, [APP_ID]),
            "post": operation("Add a collaborator or change their permission (Owner only)", tag, {
                **reply(ref("Collaborator"), 201), **reply(ref("Collaborator")), **json_errors(400, *AUTH)},
                [APP_ID, csrf]),
        },
        f"{app}/collaborators/{{email}}": {
            "delete": operation("Remove a collaborator (Owner only, or the collaborator themselves)", tag, {
                **reply(obj({"deleted": BOOLEAN, "email": STRING})), **json_errors(400, *AUTH)},
                [APP_ID, path("email", "The collaborator's e-mail address"), csrf]),
        },
        f"{app}/transfer": {
            "post": operation("Make a user the app's only Owner (other Owners become Collaborators)", tag, {
                **listing, **json_errors(400, *AUTH, 409)}, [APP_ID, csrf]),
        },
    }
