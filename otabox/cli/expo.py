"""`otabox expo …`: Expo code signing, and the bundles embedded in store binaries."""
from __future__ import annotations

from pathlib import Path

import click

from .common import admin_command


@click.group()
def expo():
    """Expo Updates: code signing keys per app, embedded bundles (patch bases)."""


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


@expo.command("embed")
@click.option("--app", "app_slug", required=True, help="App slug or id.")
@click.option("--platform", required=True, type=click.Choice(["ios", "android"]))
@click.option("--runtime-version", help="The binary's runtime version (Expo).")
@click.option("--update-id", help="The embedded update's id (Expo: app.manifest's `id` in the binary).")
@click.option("--native-version", help="The binary's version, for the native protocol's builtin bundle (a zip).")
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False))
@admin_command
def embed(box, app_slug, platform, runtime_version, update_id, native_version, bundle):
    """Record BUNDLE, the launch bundle inside a store binary, so that devices that never took an
    update get their first one as a patch from it (POST /api/v1/apps/:app/embedded-bundles over HTTP)."""
    from ..core.apps import find_app
    from ..core.embedded import parse_fields, record_embedded

    app = find_app(app_slug)
    given = {"platform": platform, "runtimeVersion": runtime_version, "updateId": update_id,
             "nativeVersion": native_version}
    fields = parse_fields({name: value for name, value in given.items() if value is not None})
    with open(bundle, "rb") as stream:
        staged = box.staging.receive(stream, box.config.max_bundle_bytes)
    try:
        row = record_embedded(app, fields, staged, box.store, "cli")
    finally:
        staged.discard()
    version = f"runtime version {row.runtime_version}" if row.runtime_version else f"native version {row.native_version}"
    click.echo(f"embedded bundle of {app.slug} {platform} {version} recorded ({row.size} bytes, sha256 {row.sha256})")


COMMANDS = (expo,)
