"""The publishing commands CI pipelines run against a remote otabox: publish, releases, rollout,
rollback, promote, devices."""
from __future__ import annotations

import functools
import json
from pathlib import Path

import click

from .client import ClientError, OtaboxClient, zip_folder


def remote_command(func):
    """Add --server/--key (env OTABOX_URL/OTABOX_KEY) and print client errors as one line."""
    @click.option("--server", envvar="OTABOX_URL", help="Base URL of the otabox server (env OTABOX_URL).")
    @click.option("--key", envvar="OTABOX_KEY", help="API key (env OTABOX_KEY).")
    @functools.wraps(func)
    def wrapper(server, key, **kwargs):
        try:
            return func(OtaboxClient(server, key), **kwargs)
        except ClientError as exc:
            raise click.ClickException(str(exc)) from None
    return wrapper


def show(data, as_json: bool, columns: list[tuple[str, str]], rows=None) -> None:
    """Print `rows` (default: [data]) as a table of `columns` (header, key), or `data` as JSON."""
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    rows = rows if rows is not None else [data]
    table = [[header for header, _ in columns]] + [["" if r.get(k) is None else str(r.get(k)) for _, k in columns]
                                                   for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(columns))]
    for row in table:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


class UploadProgress:
    """A progress bar on a terminal; in CI logs (no terminal) one line per tenth of the upload."""

    def __init__(self, size: int):
        self.size, self.sent, self.reported = size, 0, -1
        self.stream = click.get_text_stream("stderr")
        self.label = f"Uploading {size / 1e6:.1f} MB"
        self.bar = click.progressbar(length=size, label=self.label, file=self.stream, show_eta=True) \
            if self.stream.isatty() else None

    def __enter__(self):
        if self.bar:
            self.bar.__enter__()
        return self

    def update(self, amount: int) -> None:
        self.sent += amount
        if self.bar:
            self.bar.update(amount)
            return
        tenth = self.sent * 10 // max(self.size, 1)
        if tenth != self.reported:
            self.reported = tenth
            click.echo(f"{self.label}: {tenth * 10}%", file=self.stream)

    def __exit__(self, *exc):
        if self.bar:
            self.bar.__exit__(*exc)


RELEASE_COLUMNS = [("ID", "id"), ("CHANNEL", "channel"), ("LABEL", "label"), ("KIND", "kind"),
                   ("VERSION", "bundleVersion"), ("ROLLOUT", "rollout"), ("MANDATORY", "mandatory"),
                   ("DISABLED", "disabled"), ("AT", "promotedAt")]


@click.command()
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--app", required=True, help="App slug or id.")
@click.option("--version", "version", required=True, help="Semantic version of the bundle.")
@click.option("--channel", default="production", show_default=True)
@click.option("--rollout", type=click.IntRange(0, 100), default=100, show_default=True)
@click.option("--mandatory", is_flag=True)
@click.option("--platform", type=click.Choice(["ios", "android", "all"]), default="all", show_default=True)
@click.option("--notes", default="")
@click.option("--min-native-build", type=int, default=None)
@click.option("--target-versions", default=None, help="Semver range of native versions, e.g. ^1.2.0")
@click.option("--expo", is_flag=True, help="SOURCE is an `npx expo export` dist folder.")
@click.option("--runtime-version", default=None, help="Expo runtime version (with --expo).")
@click.option("--encrypt-key", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Encrypt end to end for capacitor-updater with this private key (.capgo_key_v2); "
                   "the server only ever sees ciphertext.")
@click.option("--policy", default=None, help="Release under this rollout policy (its name): the release starts "
                                             "at the policy's first stage and the server moves it on.")
@click.option("--json", "as_json", is_flag=True)
@remote_command
def publish(client, source, app, version, channel, rollout, mandatory, platform, notes, min_native_build,
            target_versions, expo, runtime_version, encrypt_key, policy, as_json):
    """Upload SOURCE (a build folder or a .zip) and release it to a channel."""
    if expo and not runtime_version:
        raise click.UsageError("--expo needs --runtime-version")
    if expo and encrypt_key:
        raise click.UsageError("Expo exports cannot be encrypted (Expo has code signing instead)")
    policy_id = _policy_id(client, app, policy) if policy else None
    archive = zip_folder(source) if source.is_dir() else source
    plain = archive
    try:
        fields = {"version": version, "platform": platform, "notes": notes}
        if encrypt_key:
            archive, encryption = _encrypt(plain, encrypt_key)
            fields.update(encryption)
        if min_native_build is not None:
            fields["minNativeBuild"] = min_native_build
        if target_versions:
            fields["targetVersions"] = target_versions
        if expo:
            fields.update(format="expo", runtimeVersion=runtime_version)
        with UploadProgress(archive.stat().st_size) as progress:
            bundle = client.upload_bundle(app, archive, fields, progress.update)
    finally:
        for temporary in {archive, plain} - {source}:
            temporary.unlink(missing_ok=True)
    release = {"bundleId": bundle["id"], "channel": channel, "mandatory": mandatory}
    release.update({"policyId": policy_id} if policy_id else {"rollout": rollout})
    result = client.post(f"/api/v1/apps/{app}/releases", release)
    show({"bundle": bundle, **result}, as_json, RELEASE_COLUMNS, [result["release"]])


def _policy_id(client, app: str, name: str) -> int:
    """The id of the app's rollout policy called `name` (looked up before anything is uploaded)."""
    found = [p for p in client.get(f"/api/v1/apps/{app}/rollout-policies")["policies"] if p["name"] == name]
    if not found:
        raise ClientError(f"no rollout policy named {name!r} in app {app}")
    return found[0]["id"]


def _encrypt(archive: Path, key_path: Path) -> tuple[Path, dict]:
    """Encrypt a zip as `npx @capgo/cli bundle encrypt` does; returns the ciphertext file and the
    fields the server stores (session key, encrypted checksum, key id)."""
    import tempfile

    from ..security import encryption

    private_pem = key_path.read_bytes()
    handle = tempfile.NamedTemporaryFile(suffix=".zip", prefix="otabox-encrypted-", delete=False)
    with handle:
        result = encryption.encrypt_bundle(archive, private_pem, handle)
    return Path(handle.name), {"sessionKey": result.session_key, "encryptedChecksum": result.checksum,
                               "keyId": encryption.key_id(encryption.public_key_pem(private_pem))}


@click.group()
def releases():
    """Release history."""


@releases.command("list")
@click.option("--app", required=True)
@click.option("--channel", default=None)
@click.option("--limit", type=int, default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@remote_command
def releases_list(client, app, channel, limit, as_json):
    query = f"?limit={limit}" + (f"&channel={channel}" if channel else "")
    data = client.get(f"/api/v1/apps/{app}/releases{query}")
    show(data, as_json, RELEASE_COLUMNS, data["releases"])


@click.command()
@click.argument("release_id", type=int)
@click.argument("percent", type=click.IntRange(0, 100))
@click.option("--app", required=True)
@click.option("--json", "as_json", is_flag=True)
@remote_command
def rollout(client, release_id, percent, app, as_json):
    """Set a release's rollout percentage."""
    show(client.patch(f"/api/v1/apps/{app}/releases/{release_id}", {"rollout": percent}), as_json, RELEASE_COLUMNS)


@click.command()
@click.option("--app", required=True)
@click.option("--channel", required=True)
@click.option("--to-release", type=int, default=None, help="Roll back to this release id.")
@click.option("--to-builtin", is_flag=True, help="Tell devices to run the bundle inside the binary.")
@click.option("--json", "as_json", is_flag=True)
@remote_command
def rollback(client, app, channel, to_release, to_builtin, as_json):
    """Re-point a channel to its previous release (or another one, or the builtin bundle)."""
    body = {"toBuiltin": True} if to_builtin else ({"toReleaseId": to_release} if to_release else {})
    data = client.post(f"/api/v1/apps/{app}/channels/{channel}/rollback", body)
    show(data, as_json, RELEASE_COLUMNS, [data["release"]])


@click.command()
@click.option("--app", required=True)
@click.option("--from", "source", required=True)
@click.option("--to", "target", required=True)
@click.option("--rollout", type=click.IntRange(0, 100), default=None)
@click.option("--mandatory", is_flag=True)
@click.option("--json", "as_json", is_flag=True)
@remote_command
def promote(client, app, source, target, rollout, mandatory, as_json):
    """Release the source channel's current bundle to the target channel."""
    body = {"to": target, "mandatory": mandatory, **({"rollout": rollout} if rollout is not None else {})}
    data = client.post(f"/api/v1/apps/{app}/channels/{source}/promote", body)
    show(data, as_json, RELEASE_COLUMNS, [data["release"]])


@click.group()
def devices():
    """Devices that checked for updates."""


@devices.command("list")
@click.option("--app", required=True)
@click.option("--channel", default=None)
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@remote_command
def devices_list(client, app, channel, limit, as_json):
    query = f"?limit={limit}" + (f"&channel={channel}" if channel else "")
    data = client.get(f"/api/v1/apps/{app}/devices{query}")
    show(data, as_json, [("DEVICE", "deviceId"), ("PLATFORM", "platform"), ("VERSION", "bundleVersion"),
                         ("CHANNEL", "channel"), ("NATIVE", "nativeVersion"), ("LAST SEEN", "lastSeen")],
         data["devices"])


COMMANDS = (publish, releases, rollout, rollback, promote, devices)
