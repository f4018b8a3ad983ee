"""`otabox users …`: the people who sign in to the dashboard and the API, managed on the server's
own machine (like `otabox keys`)."""
from __future__ import annotations

import json
import sys

import click

from .common import admin_command, print_table, show_once

PASSWORD_STDIN_HELP = "Read the password from the first line of stdin instead of generating one."


def _password(from_stdin: bool) -> tuple[str, bool]:
    """The password to set and whether it was generated (and so must be printed)."""
    from ..security.passwords import check_strength, generate_password

    if not from_stdin:
        return generate_password(), True
    return check_strength(sys.stdin.readline().rstrip("\r\n")), False


def _show_generated(email: str, password: str) -> None:
    show_once(password, f"The password of {email}", "shown once; they can use it to sign in now")


@click.group()
def users():
    """People: create (admin or member), list, disable, enable, reset-password."""


@users.command("create")
@click.option("--email", required=True, help="The e-mail address the person signs in with.")
@click.option("--role", type=click.Choice(["admin", "member"]), required=True,
              help="admin: every app and every setting; member: only the apps they are a collaborator of.")
@click.option("--password-stdin", is_flag=True, help=PASSWORD_STDIN_HELP)
@admin_command
def users_create(box, email, role, password_stdin):
    """Create a user; prints a generated password unless --password-stdin gives one."""
    from ..core.users import create_user

    password, generated = _password(password_stdin)
    user = create_user(email, role, password, "cli")
    click.echo(f"Created {user.role} {user.email}.", err=True)
    if generated:
        _show_generated(user.email, password)


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the users as JSON.")
@admin_command
def users_list(box, as_json):
    """List users with their role, state, last sign-in and the apps they collaborate on."""
    from ..core.users import people, user_json

    rows = [{**user_json(u), "apps": {c.app.slug: c.permission for c in u.collaborations}} for u in people()]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    print_table([("EMAIL", "email"), ("ROLE", "role"), ("STATE", "state"), ("LAST SIGN-IN", "lastLoginAt"),
                 ("APPS", "apps")],
                [{**r, "state": "disabled" if r["disabled"] else "active", "lastLoginAt": r["lastLoginAt"] or "never",
                  "apps": ", ".join(f"{slug} ({permission})" for slug, permission in r["apps"].items()) or "-"}
                 for r in rows])


def _switch(name: str, disabled: bool, help_text: str) -> None:
    """`users disable` and `users enable`: one command each, the same work."""
    @users.command(name, help=help_text)
    @click.argument("email")
    @admin_command
    def switch(box, email):
        from ..core.users import find_user, set_disabled

        user = set_disabled(find_user(email), disabled, "cli")
        click.echo(f"{name.capitalize()}d {user.email}.")


_switch("disable", True, "Disable EMAIL: their sessions end and their access tokens are revoked (enabling them "
                         "again brings none back).")
_switch("enable", False, "Enable EMAIL again (they sign in and make new access tokens).")


@users.command("reset-password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help=PASSWORD_STDIN_HELP)
@admin_command
def users_reset_password(box, email, password_stdin):
    """Give EMAIL a new password (printed unless --password-stdin gives one); their sessions end."""
    from ..core.users import find_user, reset_password

    user = find_user(email)
    password, generated = _password(password_stdin)
    reset_password(user, password, "cli")
    click.echo(f"New password set for {user.email}; their sessions ended.", err=True)
    if generated:
        _show_generated(user.email, password)


COMMANDS = (users,)
