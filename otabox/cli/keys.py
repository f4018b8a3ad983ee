"""`otabox keys …`: API keys, made and revoked on the server's own machine."""
from __future__ import annotations

import json

import click

from .common import admin_command


@click.group()
def keys():
    """API keys: create (shown once), list, revoke."""


@keys.command("create")
@click.option("--name", required=True, help="A name to recognise the key by (unique).")
@click.option("--role", type=click.Choice(["admin", "publisher", "reader"]), default="admin", show_default=True,
              help="admin: everything; publisher: upload, release, roll back; reader: read only.")
@click.option("--app", "app_slug", default=None, help="Limit the key to one app (slug or id).")
@admin_command(create=True)
def keys_create(box, name, role, app_slug):
    """Create a key and print it once; only its hash is stored."""
    from ..core import audit
    from ..core.apps import find_app
    from ..security import auth

    app = find_app(app_slug) if app_slug else None
    row, key = auth.create_key(name, role, app)
    audit.record("cli", "key.created", "key", row.id, {"name": name, "role": role, "app": app_slug})
    click.echo(f"Created {role} key {name!r}" + (f" for {app.slug}" if app else "") +
               ". Store it now; it is not shown again:", err=True)
    click.echo(key)


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the keys as JSON.")
@admin_command
def keys_list(box, as_json):
    """List keys (never the keys themselves)."""
    from ..store.models import ApiKey, iso

    rows = [{"name": k.name, "role": k.role, "app": k.app.slug if k.app else None, "created": iso(k.created_at),
             "lastUsed": iso(k.last_used_at)} for k in ApiKey.select().order_by(ApiKey.id)]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'NAME':20} {'ROLE':10} {'APP':24} {'CREATED':25} LAST USED")
    for r in rows:
        click.echo(f"{r['name']:20} {r['role']:10} {r['app'] or '*':24} {r['created']:25} {r['lastUsed'] or 'never'}")


@keys.command("revoke")
@click.argument("name")
@admin_command
def keys_revoke(box, name):
    """Revoke the key called NAME."""
    from ..core import audit
    from ..security import auth

    auth.revoke_key(name)
    audit.record("cli", "key.revoked", "key", name, {"name": name})
    click.echo(f"Revoked key {name!r}.")


COMMANDS = (keys,)
