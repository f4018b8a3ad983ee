"""`otabox expo …`: Expo code signing."""
from __future__ import annotations

from pathlib import Path

import click

from .common import admin_command


@click.group()
def expo():
    """Expo Updates: code signing keys per app."""


@expo.group()
def codesigning():
    """The key and certificate that sign an app's Expo manifests."""


@codesigning.command("import")
@click.option("--app", "app_slug", required=True, help="App slug or id.")
@click.option("--key", "key_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="PEM private key (e.g. keys/private-key.pem from `npx expo-updates codesigning:generate`).")
@click.option("--certificate", "certificate_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="PEM code signing certificate embedded in the app.")
@click.option("--keyid", default="main", show_default=True,
              help="The keyid the app is configured with (`updates.codeSigningMetadata.keyid`).")
@admin_command
def import_keys(box, app_slug, key_path, certificate_path, keyid):
    """Store an app's code signing key and certificate (0600 files); manifests are then signed
    whenever the client asks for a signature."""
    from ..core.apps import find_app
    from ..protocols.expo.updates import save_codesigning

    app = find_app(app_slug)
    try:
        save_codesigning(box.secret_store, app.id, Path(key_path).read_bytes(), Path(certificate_path).read_bytes(),
                         keyid)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"code signing key for {app.slug} stored with the server's secrets (keyid {keyid})")


COMMANDS = (expo,)
