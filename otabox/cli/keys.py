"""`otabox keys …`: API keys (tokens of the service account), made and revoked on the server's own
machine; `keys list` and `keys revoke --user` also reach the access tokens people made over HTTP."""
from __future__ import annotations

import json

import click

from .common import admin_command, print_table, show_once


@click.group()
def keys():
    """API keys and access tokens: create (shown once), list, revoke."""


@keys.command("create")
@click.option("--name", required=True, help="A name to recognise the key by (unique).")
@click.option("--role", type=click.Choice(["admin", "publisher", "reader"]), default="admin", show_default=True,
              help="admin: everything; publisher: upload, release, roll back; reader: read only.")
@click.option("--app", "app_slug", default=None, help="Limit the key to one app (slug or id).")
@admin_command
def keys_create(box, name, role, app_slug):
    """Create a key and print it once; only its hash is stored."""
    from ..core.apps import find_app
    from ..core.change import changing
    from ..security import auth

    app = find_app(app_slug) if app_slug else None
    with changing("cli", "key.created", "key", details={"name": name, "role": role, "app": app_slug},
                  signal=None) as change:
        row, key = auth.create_key(name, role, app)
        change.entity_id = row.id
    click.echo(f"Created {role} key {name!r}" + (f" for {app.slug}" if app else "") + ".", err=True)
    show_once(key, "The key", "store it now; it is not shown again")


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the keys as JSON.")
@admin_command
def keys_list(box, as_json):
    """List API keys and every user's access tokens (never the secrets themselves), each with its real
    reach: the role and apps its owner's rights leave it, not only what it asked for."""
    from ..core.tokens import token_json
    from ..security import auth
    from ..store.models import ApiKey, App, User

    slugs = {app.id: app.slug for app in App.select(App.id, App.slug)}
    rows = []
    for token in ApiKey.select(ApiKey, User).join(User).order_by(ApiKey.id):
        described = token_json(token)
        reach = auth.principal_for(token.user, token)
        app_roles = None if reach.app_roles is None else {slugs[app_id]: role for app_id, role in
                                                          sorted(reach.app_roles.items(), key=lambda i: slugs[i[0]])}
        apps = None if app_roles is None else list(app_roles)
        rows.append({"name": token.name, "owner": None if token.user.service else token.user.email,
                     "role": reach.role, "app": apps[0] if apps and len(apps) == 1 else None, "apps": apps,
                     "appRoles": app_roles, "created": described["createdAt"], "lastUsed": described["lastUsedAt"],
                     "expires": described["expiresAt"]})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    print_table([("NAME", "name"), ("OWNER", "owner"), ("ROLE", "role"), ("APPS", "apps"), ("CREATED", "created"),
                 ("EXPIRES", "expires"), ("LAST USED", "lastUsed")],
                [{**r, "owner": r["owner"] or "(api key)", "apps": _reach_text(r), "expires": r["expires"] or "never",
                  "lastUsed": r["lastUsed"] or "never"} for r in rows])


def _reach_text(row: dict) -> str:
    """`*` (every app), or the apps with the role on each where it is less than the key's."""
    if row["appRoles"] is None:
        return "*"
    return ",".join(slug if role == row["role"] else f"{slug} ({role})"
                    for slug, role in row["appRoles"].items()) or "(none)"


@keys.command("revoke")
@click.argument("name")
@click.option("--user", "email", default=None, help="Revoke this user's access token NAME instead of an API key.")
@admin_command
def keys_revoke(box, name, email):
    """Revoke the key called NAME (or the access token NAME of --user) and every token minted from it."""
    from ..core import tokens, users
    from ..errors import NotFound
    from ..security import auth
    from ..store.models import ApiKey

    owner = users.find_user(email) if email else auth.service_account()
    token = ApiKey.get_or_none((ApiKey.user == owner) & (ApiKey.name == name))
    if token is None:
        raise NotFound(f"no key named {name!r}" + (f" of {owner.email}" if email else "") + _owners_hint(name, owner))
    also = tokens.revoke_token(token, "cli")
    click.echo(f"Revoked key {name!r}" + (f" and the tokens minted from it: {', '.join(also)}." if also else "."))


def _owners_hint(name: str, not_owner) -> str:
    """Where a token called `name` does exist: `keys revoke` without --user looks among API keys only."""
    from ..store.models import ApiKey, User

    commands = [f"`otabox keys revoke {name}" + ("`" if user.service else f" --user {user.email}`") for user in
                User.select().join(ApiKey).where((ApiKey.name == name) & (User.id != not_owner.id)).order_by(User.id)]
    return f"; revoke the token of that name with {' or '.join(commands)}" if commands else ""


COMMANDS = (keys,)
