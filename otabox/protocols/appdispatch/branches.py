"""AppDispatch's branches and user overrides at `/v1/ota/branches` and `/v1/ota/user-overrides`
(with `X-Project`, as every management route of management.py), over core/branches.py.

A branch is an update stream: channels serve one (management.py's `branchName`), publishing to a
channel publishes to its branch. A user override pins one user's devices to a branch on every check
that says who the user is (the native check's `userId`, Expo's `expo-extra-params` `userId`). The
document shows no answers for these routes; they answer in the shape of its channels routes
(`{"branches": [...]}`, `{"branch": {...}}`, `{"deleted": true, ...}`)."""
from __future__ import annotations

from flask import Blueprint, jsonify

from ...core import branches
from ...web import accepts, actor, body
from .management import project

bp = Blueprint("appdispatch_branches", __name__)


def branch_json(branch) -> dict:
    found = branches.branch_json(branch)
    return {"id": found["id"], "name": found["name"], "channels": found["channels"],
            "updateCount": found["releaseCount"], "createdAt": found["createdAt"]}


@bp.get("/v1/ota/branches")
@accepts()
def list_branches():
    app = project()
    return jsonify({"branches": [branch_json(b) for b in branches.list_branches(app)]})


@bp.post("/v1/ota/branches")
@accepts(body=branches.NEW_BRANCH)
def create_branch():
    app = project("admin")
    return jsonify({"branch": branch_json(branches.create_branch(app, body(), actor()))}), 201


@bp.delete("/v1/ota/branches/<path:name>")
@accepts()
def delete_branch(name):
    branch = branches.find_branch(project("admin"), name)
    branches.delete_branch(branch, actor())
    return jsonify({"deleted": True, "name": branch.name})


@bp.get("/v1/ota/user-overrides")
@accepts()
def list_user_overrides():
    app = project()
    return jsonify({"overrides": [branches.user_override_json(o) for o in branches.list_user_overrides(app)]})


@bp.post("/v1/ota/user-overrides")
@accepts(body=branches.NEW_USER_OVERRIDE)
def create_user_override():
    app = project("admin")
    override = branches.set_user_override(app, body(), actor())
    return jsonify({"override": branches.user_override_json(override)}), 201


@bp.delete("/v1/ota/user-overrides/<override_id>")
@accepts()
def delete_user_override(override_id):
    override = branches.find_user_override(project("admin"), override_id)
    branches.delete_user_override(override, actor())
    return jsonify({"deleted": True, "id": override.id})
