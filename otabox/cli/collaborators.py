"""`otabox collaborators …`: who works on an app and with which permission, on the data directory
(members reach only the apps they collaborate on; admins reach every app unlisted)."""
from __future__ import annotations

import click

from .common import APP_OPTION, JSON_OPTION, admin_command
from .publish import show

COLLABORATOR_COLUMNS = [("EMAIL", "email"), ("PERMISSION", "permission"), ("SINCE", "createdAt")]


@click.group()
def collaborators():
    """People who work on an app: list, add (or change the permission of), remove."""


@collaborators.command("list")
@APP_OPTION
@JSON_OPTION
@admin_command
def collaborators_list(box, app_ref, as_json):
    """The app's collaborators and their permission (admins reach every app without being listed)."""
    from ..core.apps import find_app
    from ..core.collaborators import collaborator_json, collaborators as of_app

    rows = [collaborator_json(c) for c in of_app(find_app(app_ref))]
    show(rows, as_json, COLLABORATOR_COLUMNS, rows)


@collaborators.command("add")
@click.argument("email")
@APP_OPTION
@click.option("--permission", type=click.Choice(["Owner", "Collaborator", "Reader"]), default="Collaborator",
              show_default=True, help="Owner: everything, collaborators too; Collaborator: upload, release, roll "
                                      "back; Reader: read only.")
@admin_command
def collaborators_add(box, email, app_ref, permission):
    """Add the person EMAIL (made with `otabox users create`) to the app, or change their permission."""
    from ..core.apps import find_app
    from ..core.collaborators import set_collaborator
    from ..core.users import find_user

    app = find_app(app_ref)
    row, added = set_collaborator(app, find_user(email), permission, "cli")
    click.echo(f"{row.user.email} is {'now ' if added else ''}{row.permission} of {app.slug}.")


@collaborators.command("remove")
@click.argument("email")
@APP_OPTION
@admin_command
def collaborators_remove(box, email, app_ref):
    """Remove EMAIL from the app: their sessions and tokens no longer reach it."""
    from ..core.apps import find_app
    from ..core.collaborators import remove_collaborator
    from ..core.users import find_user

    app = find_app(app_ref)
    remove_collaborator(app, find_user(email), "cli")
    click.echo(f"Removed {email} from {app.slug}.")


COMMANDS = (collaborators,)
