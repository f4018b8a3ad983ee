"""Branches (update streams inside an app) and user overrides (a user pinned to a branch).

Releases belong to a branch; a channel serves the branch it points at and may send a share of its
devices to a second branch (`rollout_branch`, `rollout_percentage`). A channel made without naming
a branch gets the branch of its own name, so an app that never names branches behaves as when
releases belonged to channels: "a channel's history" is the history of its branch
(`channel_releases`). A user override sends the devices of one user (an id a client sends as
`userId` or as an evaluation context's targeting key; never Expo's per-install `eas-client-id`) to a
branch whatever their channel says."""
from __future__ import annotations

import re

from ..errors import Conflict, Invalid, NotFound
from ..fields import Schema, Text
from ..store.models import App, Branch, Channel, Release, UserOverride, iso, row_id
from .change import changing

BRANCH_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$")
"""Channel names, and '/' as in git branch names (AppDispatch names branches after git branches)."""
NEW_BRANCH = Schema({"name": Text(64, min_length=1, required=True,
                                  description="1-64 letters, digits, '.', '_', '/' or '-'")})
NEW_USER_OVERRIDE = Schema({
    "userId": Text(200, min_length=1, required=True, description="The user's id, as their devices send it"),
    "branchName": Text(64, min_length=1, required=True, description="The branch that user's devices get"),
    "note": Text(1000, description="Why (shown beside the override)")})


def channel_releases(channel: Channel):
    """The condition on Release that selects a channel's history: the releases of its branch."""
    return Release.branch == channel.branch_id


def find_branch(app: App | int, name) -> Branch:
    app_id = app.id if isinstance(app, App) else app
    branch = Branch.get_or_none((Branch.app == app_id) & (Branch.name == name)) if isinstance(name, str) else None
    if branch is None:
        raise NotFound(f"no branch {name!r}", code="branch_not_found", details={"branch": name})
    return branch


def branch_of_name(app_id: int, name: str) -> Branch:
    """The app's branch of that name, made when it has none (inside the caller's change)."""
    branch = Branch.get_or_none((Branch.app == app_id) & (Branch.name == name))
    return branch or Branch.create(app=app_id, name=name)


def _checked_name(name) -> str:
    if not isinstance(name, str) or not BRANCH_NAME.match(name):
        raise Invalid("branch name must be 1-64 letters, digits, '.', '_', '/' or '-'", code="invalid_branch",
                      details={"field": "name"})
    return name


def list_branches(app: App) -> list[Branch]:
    return list(Branch.select().where(Branch.app == app).order_by(Branch.id))


def branch_json(branch: Branch) -> dict:
    """A branch, the channels that serve it and how many releases it holds."""
    channels = [c.name for c in Channel.select(Channel.name).where(Channel.branch == branch).order_by(Channel.id)]
    count = Release.select().where((Release.branch == branch) & (Release.deleted == False)).count()  # noqa: E712
    return {"id": branch.id, "name": branch.name, "channels": channels, "releaseCount": count,
            "createdAt": iso(branch.created_at)}


def create_branch(app: App, data: dict, actor: str) -> Branch:
    name = _checked_name(NEW_BRANCH.validate(data)["name"])
    with changing(actor, "branch.created", "branch", details={"name": name}, app=app, signal=None) as change:
        if Branch.select().where((Branch.app == app) & (Branch.name == name)).exists():
            raise Conflict(f"branch {name!r} exists already", code="branch_exists", details={"branch": name})
        branch = Branch.create(app=app, name=name)
        change.entity_id = branch.id
    return branch


def delete_branch(branch: Branch, actor: str) -> None:
    """Delete a branch with its releases and the user overrides to it. A channel that serves it, or
    splits devices to it, must point elsewhere or end the split first (409 naming both): a split is
    the branch serving part of a channel's devices, and AppDispatch's users (EAS Update's, whose
    branches it copies) expect deleting a branch in use to be refused, not to move those devices
    back without a word."""
    serving = [c.name for c in Channel.select(Channel.name).where(Channel.branch == branch).order_by(Channel.id)]
    splitting = [c.name for c in Channel.select(Channel.name).where(Channel.rollout_branch == branch)
                 .order_by(Channel.id)]
    if serving or splitting:
        reasons = [f"channels {', '.join(serving)} serve branch {branch.name!r}; point them at another branch"
                   ] if serving else []
        reasons += [f"channels {', '.join(splitting)} split devices to branch {branch.name!r}; end the split "
                    "(rolloutBranchName: null)"] if splitting else []
        raise Conflict(" and ".join(reasons) + " first", code="branch_in_use",
                       details={"branch": branch.name, "channels": serving, "splits": splitting})
    with changing(actor, "branch.deleted", "branch", branch.id, {"name": branch.name}, app=branch.app_id):
        Release.delete().where(Release.branch == branch).execute()
        UserOverride.delete().where(UserOverride.branch == branch).execute()
        branch.delete_instance()


def list_user_overrides(app: App) -> list[UserOverride]:
    return list(UserOverride.select(UserOverride, Branch).join(Branch).where(UserOverride.app == app)
                .order_by(UserOverride.id))


def user_override_json(override: UserOverride) -> dict:
    return {"id": override.id, "userId": override.user_id, "branchName": override.branch.name,
            "note": override.note, "createdBy": override.actor, "createdAt": iso(override.created_at)}


def set_user_override(app: App, data: dict, actor: str) -> UserOverride:
    """Pin a user to a branch (a user pinned already is moved: one override per user)."""
    data = NEW_USER_OVERRIDE.validate(data)
    branch = find_branch(app, data["branchName"])
    with changing(actor, "user_override.set", "user_override", details={"userId": data["userId"],
                                                                        "branch": branch.name}, app=app) as change:
        override = UserOverride.get_or_none((UserOverride.app == app) & (UserOverride.user_id == data["userId"]))
        change.details["before"] = override.branch.name if override else None
        if override is None:
            override = UserOverride(app=app, user_id=data["userId"])
        override.branch, override.note, override.actor = branch, data.get("note", ""), str(actor)
        override.save()
        change.entity_id = override.id
    return override


def find_user_override(app: App, override_id) -> UserOverride:
    number = row_id(override_id)
    found = UserOverride.get_or_none((UserOverride.id == number) & (UserOverride.app == app)) \
        if number is not None else None
    if found is None:
        raise NotFound(f"no user override {override_id!r}", code="user_override_not_found")
    return found


def delete_user_override(override: UserOverride, actor: str) -> None:
    with changing(actor, "user_override.deleted", "user_override", override.id,
                  {"userId": override.user_id, "branch": override.branch.name}, app=override.app_id):
        override.delete_instance()
