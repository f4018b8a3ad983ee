"""Management API: an app's collaborators and the transfer of its ownership.

Anyone who reaches the app may list its collaborators; changing them needs the admin role on the
app (an Owner, an admin user, an admin key); a collaborator may always remove themselves."""
from __future__ import annotations

from flask import Blueprint, jsonify

from ..core import collaborators, users
from ..web import accepts, actor, api_key, app_for, body

bp = Blueprint("api_collaborators", __name__)


def _listing(app):
    return jsonify({"collaborators": [collaborators.collaborator_json(c) for c in collaborators.collaborators(app)]})


@bp.get("/apps/<app_id>/collaborators")
@accepts()
def list_collaborators(app_id):
    return _listing(app_for(app_id))


@bp.post("/apps/<app_id>/collaborators")
@accepts(body=collaborators.COLLABORATOR)
def set_collaborator(app_id):
    app = app_for(app_id, "admin")
    data = body()
    row, added = collaborators.set_collaborator(app, users.find_user(data["email"]), data["permission"],
                                                actor())
    return jsonify(collaborators.collaborator_json(row)), 201 if added else 200


@bp.delete("/apps/<app_id>/collaborators/<email>")
@accepts()
def remove_collaborator(app_id, email):
    caller = api_key("reader")
    leaving = caller.via != "key" and email.strip().lower() == caller.user.email
    app = app_for(app_id, "reader" if leaving else "admin")
    user = users.find_user(email)
    collaborators.remove_collaborator(app, user, actor())
    return jsonify({"deleted": True, "email": user.email})


@bp.post("/apps/<app_id>/transfer")
@accepts(body=collaborators.TRANSFER)
def transfer(app_id):
    app = app_for(app_id, "admin")
    collaborators.transfer(app, users.find_user(body()["email"]), actor())
    return _listing(app)
