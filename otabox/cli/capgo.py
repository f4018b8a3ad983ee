"""Capgo-compatible bundle encryption commands: `otabox encryption-key create`, `otabox encrypt`.

Both write what `npx @capgo/cli key create` / `bundle encrypt` write, so a team can mix the tools:
`.capgo_key_v2` (PKCS#1 private key, kept by the team) and `.capgo_key_v2.pub` (goes into
`plugins.CapacitorUpdater.publicKey`); `<zip>_encrypted.zip` beside the zip, with the
`ivSessionKey` and encrypted `checksum` to upload as `sessionKey` and `encryptedChecksum`.
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from ..security import encryption
from ..store.files import secure_write
from .client import file_sha256

PRIVATE_KEY_FILE = ".capgo_key_v2"
PUBLIC_KEY_FILE = ".capgo_key_v2.pub"


@click.group("encryption-key")
def encryption_key():
    """RSA keys for Capgo-compatible end-to-end bundle encryption."""


@encryption_key.command("create")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=".", show_default=True,
              help="Directory for .capgo_key_v2 and .capgo_key_v2.pub.")
@click.option("--force", is_flag=True, help="Replace existing key files.")
def create_key(out_dir, force):
    """Create an RSA-2048 key pair like `npx @capgo/cli key create`."""
    directory = Path(out_dir)
    private_path, public_path = directory / PRIVATE_KEY_FILE, directory / PUBLIC_KEY_FILE
    if not force and (private_path.exists() or public_path.exists()):
        raise click.ClickException(f"{private_path} or {public_path} exists already; pass --force to replace them")
    directory.mkdir(parents=True, exist_ok=True)
    private_pem, public_pem = encryption.generate_key_pair()
    secure_write(private_path, private_pem)
    public_path.write_bytes(public_pem)
    click.echo(f"Private key saved in {private_path} (keep it secret; it encrypts your bundles).", err=True)
    click.echo(f"Public key saved in {public_path}; key id {encryption.key_id(public_pem)}.", err=True)
    click.echo("Put this public key in capacitor.config plugins.CapacitorUpdater.publicKey:", err=True)
    click.echo(public_pem.decode(), nl=False)


@click.command()
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False))
@click.argument("checksum", required=False)
@click.option("--key", "key_path", type=click.Path(dir_okay=False), default=PRIVATE_KEY_FILE, show_default=True,
              help="The private key (PEM).")
@click.option("--json", "as_json", is_flag=True, help="Print {checksum, filename, ivSessionKey} as JSON.")
def encrypt(bundle, checksum, key_path, as_json):
    """Encrypt BUNDLE.zip like `npx @capgo/cli bundle encrypt` into BUNDLE.zip_encrypted.zip.

    CHECKSUM (optional, the one `bundle zip --json` printed) must be the zip's SHA-256."""
    source = Path(bundle).resolve()
    if checksum is not None and checksum.lower() != file_sha256(source):
        raise click.ClickException("CHECKSUM is not the SHA-256 of the zip (use the one `bundle zip --json` printed)")
    try:
        private_pem = Path(key_path).read_bytes()
    except OSError as exc:
        raise click.ClickException(f"cannot read the private key {key_path}: {exc.strerror}") from None
    target = source.with_name(source.name + "_encrypted.zip")
    try:
        result = encryption.encrypt_bundle(source, private_pem, target)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps({"checksum": result.checksum, "filename": str(target),
                               "ivSessionKey": result.session_key}, indent=2))
        return
    click.echo(f"Encoded Checksum: {result.checksum}")
    click.echo(f"ivSessionKey: {result.session_key}")
    click.echo(f"Encrypted zip saved at {target}")
    click.echo("Upload it with the fields sessionKey=<ivSessionKey> and encryptedChecksum=<checksum>.", err=True)



COMMANDS = (encryption_key, encrypt)
