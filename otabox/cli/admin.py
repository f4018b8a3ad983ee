"""Admin commands on a data directory: apps, the audit log, the server's secrets and its secret key."""
from __future__ import annotations

import json

import click

from ..config import Config
from .channels import show_channels
from .common import JSON_OPTION, admin_command, data_dir_option, print_table


@click.group()
def apps():
    """Apps (the REST API does the same)."""


@apps.command("create")
@click.argument("slug")
@click.option("--name", default=None, help="Display name (default: the slug).")
@JSON_OPTION
@admin_command
def apps_create(box, slug, name, as_json):
    """Create the app SLUG (a reverse-DNS id such as com.example.app) with channels production and staging,
    and show what apps connect with (as `otabox apps show`)."""
    from ..core.apps import app_json, create_app

    app = create_app(slug, name, "cli")
    if as_json:
        click.echo(json.dumps(app_json(app), indent=2))
        return
    click.echo(f"Created app {app.slug}.\n")
    show_app(app)


@apps.command("list")
@admin_command
def apps_list(box):
    """List apps with their id, slug and client key."""
    from ..core.apps import app_json
    from ..store.models import App

    print_table([("ID", "id"), ("SLUG", "slug"), ("CLIENT KEY", "clientKey")],
                [app_json(app) for app in App.select().order_by(App.id)])


@apps.command("show")
@click.argument("app_ref", metavar="APP")
@JSON_OPTION
@admin_command
def apps_show(box, app_ref, as_json):
    """Everything a team connects an app with: its client key, default channel, each channel's
    CodePush deployment key and release, and its collaborators."""
    from ..core.apps import find_app

    show_app(find_app(app_ref), as_json)


def show_app(app, as_json: bool = False) -> None:
    """What `apps show` prints: the client key, default channel, channels and collaborators."""
    from ..core.apps import app_json, channel_json
    from ..core.collaborators import collaborator_json, collaborators
    from ..store.models import Channel

    info = {**app_json(app),
            "channels": [channel_json(c) for c in Channel.select().where(Channel.app == app).order_by(Channel.id)],
            "collaborators": [collaborator_json(c) for c in collaborators(app)]}
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    click.echo(f"{info['slug']} ({info['name']}), id {info['id']}, created {info['createdAt']}")
    click.echo(f"client key:       {info['clientKey']}")
    click.echo(f"default channel:  {info['defaultChannel'] or '(none: devices must name one)'}")
    click.echo("")
    show_channels(info["channels"], False)
    click.echo("")
    people = ", ".join(f"{c['email']} ({c['permission']})" for c in info["collaborators"])
    click.echo(f"collaborators:    {people or '(none; admins reach every app)'}")


@click.command()
@click.option("--limit", type=int, default=100, show_default=True, help="How many entries.")
@click.option("--action", default=None, help="Only this action, e.g. release.created")
@click.option("--entity-type", default=None, help="Only this kind of entity, e.g. release")
@click.option("--json", "as_json", is_flag=True, help="Print the entries as JSON.")
@admin_command
def audit(box, limit, action, entity_type, as_json):
    """The audit log: who changed what, newest first."""
    from ..core import audit as audit_log

    entries = audit_log.query(limit, None, action, entity_type)
    if as_json:
        click.echo(json.dumps(entries, indent=2))
        return
    print_table([("ID", "id"), ("AT", "at"), ("ACTOR", "actor"), ("ACTION", "action"), ("ENTITY", "entity"),
                 ("DETAILS", "details")],
                [{**e, "entity": f"{e['entityType']}:{e['entityId']}", "details": json.dumps(e["details"], sort_keys=True)}
                 for e in entries])


@click.group("signing-key")
def signing_key():
    """The Ed25519 key that signs bundles."""


@signing_key.command("show")
@admin_command
def signing_key_show(box):
    """Print the public key apps verify bundle signatures with."""
    click.echo(box.secrets.bundle_signer.public_pem, nl=False)


@signing_key.command("rotate")
@admin_command
def signing_key_rotate(box):
    """New bundle-signing key, used at once: every bundle is re-signed and every check reply from now on
    is signed with it. Clients that trust only the old key refuse them until they have the new one;
    the old public key stays published (GET /api/v1/signing-key, `keys`) for 30 days, for what it
    signed before."""
    from ..core.bundles import resign_all

    box.secrets.rotate_bundle_key()
    signer = box.secrets.bundle_signer
    resign_all(signer, "cli")
    click.echo(f"New signing key {signer.key_id}; bundles re-signed.")
    click.echo(ROTATION_WARNING, err=True)


ROTATION_WARNING = (
    "Warning: check replies and bundles are signed with the new key from now on. A client that pinned the old "
    "key (an app that ships it, `otabox_verify.py --key old.pem`) refuses every update until it has the new "
    "one: ship it (`otabox signing-key show` prints it) or have clients fetch the key set, "
    "GET /api/v1/signing-key (its `keys`: the new key first, then the old one, kept 30 days for what it "
    "signed before).")


@click.group("secrets")
def secrets_group():
    """The server's own secrets."""


@secrets_group.command("rotate-url-key")
@admin_command
def rotate_url_key(box):
    """New key for signed URLs; URLs signed with the previous key stay valid until they expire."""
    from ..core.change import changing

    with changing("cli", "url_key.rotated", "secret", "url-signing", signal=None):
        box.secrets.rotate_url_key()
    click.echo("New URL-signing key; the previous one is accepted until the URLs it signed expire.")


@click.group("secret-key")
def secret_key_group():
    """OTABOX_SECRET_KEY, which seals the server's secrets in the database."""


@secret_key_group.command("generate")
def secret_key_generate():
    """Print a new key: 32 random bytes as 64 hex characters."""
    from ..store.secrets import generate_secret_key

    click.echo(generate_secret_key())


@secret_key_group.command("rotate")
@click.option("--to", "new_key", required=True, help="The new key (from `otabox secret-key generate`).")
@data_dir_option
def secret_key_rotate(data_dir, new_key):
    """Seal every secret in the database again under the key --to, in one transaction, opening them
    with the current OTABOX_SECRET_KEY (which may be one a start now refuses as weak). Stop every
    otabox process on the database first, then start them all with the new key."""
    from ..core.change import changing
    from ..store.db import open_database
    from ..store.secrets import check_secret_key, reseal_all

    config = Config.from_env(data_dir=data_dir)
    if not config.secret_key:
        raise click.ClickException("OTABOX_SECRET_KEY is not set: this box keeps its secrets as files in the data "
                                   "directory, and there is nothing to rotate")
    check_secret_key(new_key, "the key given to --to")
    if not config.database_url and not config.sqlite_file.is_file():
        raise click.ClickException(f"no otabox database in {config.data_dir}; pass --data-dir (or set "
                                   "OTABOX_DATA_DIR) to the directory `otabox serve` uses")
    db, _ = open_database(config.db_url, "upgrade", config.secret_key)
    try:
        with db.connection_context(), changing("cli", "secret_key.rotated", "secret", "secret-key",
                                               signal=None) as change:
            count = change.details["secrets"] = reseal_all(config.secret_key, new_key)
    finally:
        db.close()
    click.echo(f"Sealed {count} secrets with the new key; start every otabox process with OTABOX_SECRET_KEY set "
               "to it.")


COMMANDS = (apps, audit, signing_key, secrets_group, secret_key_group)
