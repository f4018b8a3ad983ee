"""The `otabox` command: serve, and the admin commands that work on the data directory directly."""
from __future__ import annotations

import functools
import json

import click

from .config import Config
from .errors import OtaboxError


def data_dir_option(func):
    return click.option("--data-dir", type=click.Path(file_okay=False), default=None,
                        help="Data directory (default ./data, env OTABOX_DATA_DIR).")(func)


def open_box(data_dir):
    from .box import Box

    return Box(Config.from_env(data_dir=data_dir))


def admin_command(func):
    """Open the data directory for the command, and turn otabox errors into one line and exit 1."""
    @data_dir_option
    @functools.wraps(func)
    def wrapper(data_dir, **kwargs):
        box = open_box(data_dir)
        try:
            with box.db.connection_context():
                result = func(box, **kwargs)
            box.publish_changes()
            return result
        except OtaboxError as exc:
            raise click.ClickException(exc.message) from None
        finally:
            box.close()
    return wrapper


@click.group()
@click.version_option(package_name="otabox")
def main():
    """otabox: a self-hosted over-the-air update server for mobile apps."""


@main.command()
@click.option("--host", default=None, help="Interface to listen on (default 127.0.0.1, env OTABOX_HOST).")
@click.option("--port", type=int, default=None, help="Port (default 8080, env OTABOX_PORT).")
@click.option("--threads", type=int, default=None, help="Worker threads (default 8, env OTABOX_THREADS).")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Waitress processes sharing the port (default 1, env OTABOX_WORKERS).")
@data_dir_option
def serve(host, port, threads, workers, data_dir):
    """Run the server (waitress; one process unless --workers)."""
    from .server import serve as run

    config = Config.from_env(host=host, port=port, threads=threads, data_dir=data_dir)
    run(config, workers or config.workers)


@main.group()
def keys():
    """API keys: create (shown once), list, revoke."""


@keys.command("create")
@click.option("--name", required=True)
@click.option("--role", type=click.Choice(["admin", "publisher", "reader"]), default="admin", show_default=True)
@click.option("--app", "app_slug", default=None, help="Limit the key to one app (slug or id).")
@admin_command
def keys_create(box, name, role, app_slug):
    """Create a key and print it once; only its hash is stored."""
    from . import audit, auth
    from .apps import find_app

    app = find_app(app_slug) if app_slug else None
    row, key = auth.create_key(name, role, app)
    audit.record("cli", "key.created", "key", row.id, {"name": name, "role": role, "app": app_slug})
    click.echo(f"Created {role} key {name!r}" + (f" for {app.slug}" if app else "") + ". Store it now; it is not shown again:",
               err=True)
    click.echo(key)


@keys.command("list")
@click.option("--json", "as_json", is_flag=True)
@admin_command
def keys_list(box, as_json):
    """List keys (never the keys themselves)."""
    from .models import ApiKey, iso

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
    """Revoke a key by name."""
    from . import audit, auth

    auth.revoke_key(name)
    audit.record("cli", "key.revoked", "key", name, {"name": name})
    click.echo(f"Revoked key {name!r}.")


@main.group("signing-key")
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
    """New bundle-signing key; every bundle is re-signed, and the old public key stays published
    (GET /api/v1/signing-key, `keys`) for 30 days so apps can move over."""
    from . import audit
    from .models import Bundle, database
    from .generation import bump_generation

    box.secrets.rotate_bundle_key()
    signer = box.secrets.bundle_signer
    with database.atomic():
        for bundle in Bundle.select(Bundle.id, Bundle.sha256):
            Bundle.update(signature=signer.sign_digest(bundle.sha256)).where(Bundle.id == bundle.id).execute()
        audit.record("cli", "signing_key.rotated", "signing_key", signer.key_id, {})
        bump_generation()
    click.echo(f"New signing key {signer.key_id}; bundles re-signed.")


@main.group("secrets")
def secrets_group():
    """The server's own secrets."""


@secrets_group.command("rotate-url-key")
@admin_command
def rotate_url_key(box):
    """New key for signed URLs; URLs signed with the previous key stay valid until they expire."""
    from . import audit

    box.secrets.rotate_url_key()
    audit.record("cli", "url_key.rotated", "secret", "url-signing", {})
    click.echo("New URL-signing key; the previous one is accepted until the URLs it signed expire.")


@main.group()
def apps():
    """Apps (the REST API does the same)."""


@apps.command("create")
@click.argument("slug")
@click.option("--name", default=None)
@admin_command
def apps_create(box, slug, name):
    from .apps import app_json, create_app

    click.echo(json.dumps(app_json(create_app(slug, name, "cli")), indent=2))


@apps.command("list")
@admin_command
def apps_list(box):
    from .apps import app_json
    from .models import App

    for app in App.select().order_by(App.id):
        info = app_json(app)
        click.echo(f"{info['id']:>4}  {info['slug']:32} {info['clientKey']}")


@main.command()
@click.option("--limit", type=int, default=100, show_default=True)
@click.option("--action", default=None, help="Only this action, e.g. release.created")
@click.option("--entity-type", default=None)
@click.option("--json", "as_json", is_flag=True)
@admin_command
def audit(box, limit, action, entity_type, as_json):
    """The audit log: who changed what, newest first."""
    from . import audit as audit_log

    entries = audit_log.query(limit, None, action, entity_type)
    if as_json:
        click.echo(json.dumps(entries, indent=2))
        return
    for e in entries:
        click.echo(f"{e['id']:>6}  {e['at']}  {e['actor']:16} {e['action']:26} {e['entityType']}:{e['entityId']}  "
                   f"{json.dumps(e['details'], sort_keys=True)}")


@main.command()
@click.option("--deep", is_flag=True, help="Also re-hash every bundle file.")
@click.option("--json", "as_json", is_flag=True)
@admin_command
def doctor(box, deep, as_json):
    """Check the data directory (permissions, integrity, missing files) and say what to do."""
    from .maintenance import diagnose

    findings = diagnose(box, deep)
    if as_json:
        click.echo(json.dumps(findings, indent=2))
    else:
        for f in findings:
            click.echo(f"{f['level'].upper():5} {f['check']:12} {f['message']}" + (f"  → {f['fix']}" if f["fix"] else ""))
    if any(f["level"] == "fail" for f in findings):
        raise SystemExit(1)


@main.command()
@click.argument("dest", type=click.Path(file_okay=False))
@admin_command
def backup(box, dest):
    """Copy the database (online), bundle files and secrets to DEST while the server runs."""
    from .backup import backup as run

    click.echo(json.dumps(run(box, dest)))


@main.command()
@click.argument("source", type=click.Path(exists=True, file_okay=False))
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="The empty data directory to restore into (default ./data, env OTABOX_DATA_DIR).")
def restore(source, data_dir):
    """Restore a backup made by `otabox backup` into an empty data directory."""
    from .backup import restore as run

    try:
        click.echo(json.dumps(run(source, Config.from_env(data_dir=data_dir).data_dir)))
    except OtaboxError as exc:
        raise click.ClickException(exc.message) from None


@main.command()
@admin_command
def gc(box):
    """Remove expired uploads, staged leftovers and blobs no bundle uses."""
    from .maintenance import collect_garbage

    report = collect_garbage(box)
    click.echo(json.dumps(report))


def _register_protocol_commands() -> None:
    from .cli_capgo import encryption_key, encrypt
    from .cli_expo import expo
    from .cli_publish import COMMANDS

    for command in (expo, encryption_key, encrypt, *COMMANDS):
        main.add_command(command)


_register_protocol_commands()
