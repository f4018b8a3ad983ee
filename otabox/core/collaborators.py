"""Who may work on an app: members with a permission per app (Owner, Collaborator, Reader).

Admins reach every app without being listed. Several Owners may share an app; transferring it
makes one user the only Owner (the others become Collaborators), as code-push-server does."""
from __future__ import annotations

from ..errors import BadRequest, Conflict, NotFound
from ..fields import Choice, Schema, Text
from ..security.auth import PERMISSIONS
from ..store.models import App, Collaborator, User, iso
from .change import changing

EMAIL = Text(320, min_length=1, required=True, description="A user's email address")
COLLABORATOR = Schema({"email": EMAIL, "permission": Choice(PERMISSIONS, required=True)})
TRANSFER = Schema({"email": EMAIL.but(description="The new Owner's email address")})


def collaborators(app: App) -> list[Collaborator]:
    return list(Collaborator.select(Collaborator, User).join(User).where(Collaborator.app == app)
                .order_by(User.email))


def collaborator_json(collaborator: Collaborator) -> dict:
    return {"email": collaborator.user.email, "permission": collaborator.permission,
            "createdAt": iso(collaborator.created_at)}


def find_collaborator(app: App, user: User) -> Collaborator:
    row = Collaborator.get_or_none((Collaborator.app == app) & (Collaborator.user == user))
    if row is None:
        raise NotFound(f"{user.email} is not a collaborator of {app.slug}", code="no_such_collaborator")
    return row


def set_collaborator(app: App, user: User, permission, actor: str) -> tuple[Collaborator, bool]:
    """Add `user` to the app with `permission`, or change their permission; True when added."""
    if permission not in PERMISSIONS:
        raise BadRequest(f"permission must be one of {', '.join(PERMISSIONS)}", details={"field": "permission"})
    if user.service:
        raise BadRequest("the service account cannot collaborate on apps", details={"field": "email"})
    with changing(actor, "collaborator.changed", "app", app.id,
                  {"app": app.slug, "email": user.email, "permission": permission}, signal=None, app=app) as change:
        row = Collaborator.get_or_none((Collaborator.app == app) & (Collaborator.user == user))
        if row is not None and row.permission == permission:
            change.skip()
            return row, False
        added = row is None
        if added:
            row = Collaborator.create(app=app, user=user, permission=permission)
            change.action = "collaborator.added"
        else:
            Collaborator.update(permission=permission).where(Collaborator.id == row.id).execute()
    return Collaborator.get_by_id(row.id), added


def add_collaborator(app: App, user: User, permission: str, actor: str) -> Collaborator:
    """Add a new collaborator; 409 when they are one already (code-push's `collaborator add`)."""
    if Collaborator.select().where((Collaborator.app == app) & (Collaborator.user == user)).exists():
        raise Conflict("The given account is already a collaborator for this app.")
    return set_collaborator(app, user, permission, actor)[0]


def remove_collaborator(app: App, user: User, actor: str) -> None:
    with changing(actor, "collaborator.removed", "app", app.id, {"app": app.slug, "email": user.email},
                  signal=None, app=app) as change:
        row = find_collaborator(app, user)
        row.delete_instance()
        change.details["permission"] = row.permission


def transfer(app: App, user: User, actor: str) -> Collaborator:
    """Make `user` the app's only Owner; every other Owner becomes a Collaborator."""
    if user.service:
        raise BadRequest("the service account cannot own apps", details={"field": "email"})
    with changing(actor, "app.transferred", "app", app.id, {"app": app.slug, "to": user.email}, signal=None, app=app):
        current = Collaborator.get_or_none((Collaborator.app == app) & (Collaborator.user == user))
        owners = Collaborator.select().where((Collaborator.app == app) & (Collaborator.permission == "Owner"))
        sole_owner = not owners.where(Collaborator.user != user).exists()
        if current is not None and current.permission == "Owner" and sole_owner:
            raise Conflict(f"{user.email} owns {app.slug} already")
        (Collaborator.update(permission="Collaborator")
         .where((Collaborator.app == app) & (Collaborator.permission == "Owner")).execute())
        if current is None:
            Collaborator.create(app=app, user=user, permission="Owner")
        else:
            Collaborator.update(permission="Owner").where(Collaborator.id == current.id).execute()
    return find_collaborator(app, user)
