"""`otabox expo …`: Expo code signing."""
from __future__ import annotations

from pathlib import Path

import click


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
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Data directory (default ./data, env OTABOX_DATA_DIR).")
def import_keys(app_slug, key_path, certificate_path, keyid, data_dir):
    """Store an app's code signing key and certificate (0600 files); manifests are then signed
    whenever the client asks for a signature."""
    from .apps import find_app
    from .cli import open_box
    from .errors import OtaboxError
    from .protocols.expo import save_codesigning

    box = open_box(data_dir)
    try:
        with box.db.connection_context():
            app = find_app(app_slug)
        folder = save_codesigning(box.config.data_dir, app.id, Path(key_path).read_bytes(),
                                  Path(certificate_path).read_bytes(), keyid)
    except (OtaboxError, ValueError) as exc:
        raise click.ClickException(getattr(exc, "message", None) or str(exc)) from None
    finally:
        box.close()
    click.echo(f"code signing key for {app.slug} stored in {folder} (keyid {keyid})")
