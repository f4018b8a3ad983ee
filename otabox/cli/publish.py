"""The publishing commands CI pipelines run against a remote otabox: publish, releases, bundles, rollout,
rollback, promote, devices."""
from __future__ import annotations

import functools
import json
import sys
import urllib.parse
from pathlib import Path

import click

from .client import ClientError, OtaboxClient, file_sha256, native_executables, zip_folder
from .common import print_table
from .gitinfo import git_fields


def remote_command(func):
    """Add --server/--key (env OTABOX_URL/OTABOX_KEY) and print client errors as one line."""
    @click.option("--server", envvar="OTABOX_URL", help="Base URL of the otabox server (env OTABOX_URL).")
    @click.option("--key", envvar="OTABOX_KEY", help="API key (env OTABOX_KEY).")
    @functools.wraps(func)
    def wrapper(server, key, **kwargs):
        try:
            return func(OtaboxClient(server, key, on_retry=lambda message: click.echo(message, err=True)), **kwargs)
        except ClientError as exc:
            raise click.ClickException(str(exc)) from None
    return wrapper


def show(data, as_json: bool, columns: list[tuple[str, str]], rows=None) -> None:
    """Print `rows` (default: [data]) as a table of `columns` (header, key), or `data` as JSON."""
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    print_table(columns, rows if rows is not None else [data])


class UploadProgress:
    """A progress bar on a terminal; in CI logs (no terminal) one line per tenth of the upload."""

    def __init__(self, size: int):
        self.size, self.sent, self.reported = size, 0, -1
        self.stream = sys.stderr
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


# NUMBER: the whole-number version the release's channel gave its bundle (what Koolbase's SDK holds).
RELEASE_COLUMNS = [("ID", "id"), ("CHANNEL", "channel"), ("LABEL", "label"), ("KIND", "kind"),
                   ("VERSION", "bundleVersion"), ("NUMBER", "channelVersion"), ("ROLLOUT", "rollout"), ("MANDATORY", "mandatory"),
                   ("DISABLED", "disabled"), ("AT", "promotedAt")]


APP_OPTION = click.option("--app", required=True, help="App slug or id.")
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print the server's reply as JSON.")
ROLLOUT_HELP = "Percentage of devices offered the release."
MANDATORY_HELP = "Devices must install it (capacitor-updater and CodePush show no choice)."


def check_channel(client: OtaboxClient, app: str, channel: str) -> None:
    """Fail before anything is uploaded when the app or the channel does not exist."""
    names = [c["name"] for c in client.get(f"/api/v1/apps/{app}/channels")["channels"]]
    if channel not in names:
        raise ClientError(f"app {app} has no channel {channel!r} (it has {', '.join(names) or 'none'}); "
                          "nothing was uploaded")


def uploaded_bundle(client: OtaboxClient, app: str, version: str, platform: str | None) -> dict | None:
    """The bundle of `version` already on the server (for `platform`, or the only one), else None."""
    found = client.get(f"/api/v1/apps/{app}/bundles?limit=500&version={urllib.parse.quote(version)}")["bundles"]
    if platform is not None:
        found = [b for b in found if b["platform"] == platform]
    if len(found) > 1:
        raise ClientError(f"version {version} has one bundle per platform ({', '.join(b['platform'] for b in found)}); "
                          "choose one with --platform")
    return found[0] if found else None


def release_bundle(client: OtaboxClient, app: str, bundle: dict, channel: str, rollout: int, mandatory: bool,
                   notes: str | None = None, policy_id: int | None = None) -> dict:
    """Release an uploaded bundle; under a rollout policy it starts at the policy's first stage."""
    body = {"bundleId": bundle["id"], "channel": channel, "mandatory": mandatory}
    body.update({"policyId": policy_id} if policy_id else {"rollout": rollout})
    if notes is not None:
        body["notes"] = notes
    return client.post(f"/api/v1/apps/{app}/releases", body)


POLICY_OPTION = click.option("--policy", default=None, help="Release under this rollout policy (its name): the "
                                                            "release starts at the policy's first stage and the "
                                                            "server moves it on (instead of --rollout).")


def policy_id_of(client, app: str, name: str | None) -> int | None:
    """The id of the app's rollout policy called `name`, looked up before anything is uploaded."""
    if name is None:
        return None
    found = [p for p in client.get(f"/api/v1/apps/{app}/rollout-policies")["policies"] if p["name"] == name]
    if not found:
        raise ClientError(f"no rollout policy named {name!r} in app {app}")
    return found[0]["id"]


@click.command()
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@APP_OPTION
@click.option("--version", "version", required=True, help="Semantic version of the bundle, e.g. 1.2.3.")
@click.option("--channel", default="production", show_default=True, help="Channel to release it to.")
@click.option("--rollout", type=click.IntRange(0, 100), default=100, show_default=True, help=ROLLOUT_HELP)
@click.option("--mandatory", is_flag=True, help=MANDATORY_HELP)
@click.option("--platform", type=click.Choice(["ios", "android", "all"]), default="all", show_default=True,
              help="Platform the bundle is for.")
@click.option("--notes", default="", help="Release notes shown to devices that show them.")
@click.option("--min-native-build", type=int, default=None,
              help="Lowest native build number (versionCode / CFBundleVersion) the bundle runs on.")
@click.option("--target-versions", default=None, help="Semver range of native versions, e.g. ^1.2.0")
@click.option("--expo", is_flag=True, help="SOURCE is an `npx expo export` dist folder.")
@click.option("--runtime-version", default=None, help="Expo runtime version (with --expo).")
@click.option("--encrypt-key", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Encrypt end to end for capacitor-updater with this private key (.capgo_key_v2); "
                   "the server only ever sees ciphertext.")
@click.option("--min-update-version", default=None,
              help="Devices running a bundle below this version are not moved to this one by a channel in "
                   "version_number mode (Capgo's --min-update-version).")
@click.option("--message", default=None, help="A build message kept with the bundle (shown in the dashboard).")
@click.option("--allow-binaries", is_flag=True,
              help="Publish a folder even when it holds a native executable (ELF, Mach-O, PE) above 4 MB.")
@POLICY_OPTION
@JSON_OPTION
@remote_command
def publish(client, source, app, version, channel, rollout, mandatory, platform, notes, min_native_build,
            target_versions, expo, runtime_version, encrypt_key, min_update_version, message, allow_binaries, policy,
            as_json):
    """Upload SOURCE (a build folder or a .zip) and release it to a channel.

    The app and channel are checked before anything is uploaded. A folder is zipped deterministically
    (the same files give the same bytes, whatever their times), so publishing a version that is on the
    server already with the same files releases that bundle again; with other bytes it fails, and so
    does a bundle for all platforms beside a platform's own. When SOURCE is inside a git working
    tree, the bundle records its commit and branch. A folder holding a native executable above 4 MB
    (a server binary built into the same folder, say) is refused unless --allow-binaries."""
    if source.is_dir() and not allow_binaries:
        refuse_native_executables(source)
    if expo and not runtime_version:
        raise click.UsageError("--expo needs --runtime-version")
    if expo and encrypt_key:
        raise click.UsageError("Expo exports cannot be encrypted (Expo has code signing instead)")
    check_channel(client, app, channel)
    policy_id = policy_id_of(client, app, policy)
    existing = uploaded_bundle(client, app, version, platform)
    if existing and encrypt_key:
        raise ClientError(f"version {version} ({platform}) is on the server already, and an encrypted upload differs "
                          f"every time; release it with `otabox release --app {app} --version {version}` "
                          "or publish a new version")
    archive = zip_folder(source) if source.is_dir() else source
    try:
        if existing:
            bundle = _same_bundle(existing, archive)
        else:
            fields = {"version": version, "platform": platform, "notes": notes, "minNativeBuild": min_native_build,
                      "targetVersions": target_versions, "minUpdateVersion": min_update_version,
                      "message": message, **git_fields(source)}
            if expo:
                fields.update(format="expo", runtimeVersion=runtime_version)
            bundle = _upload(client, app, archive, {k: v for k, v in fields.items() if v not in (None, "")},
                             encrypt_key)
    finally:
        if archive != source:
            archive.unlink(missing_ok=True)
    result = release_bundle(client, app, bundle, channel, rollout, mandatory, policy_id=policy_id)
    show({"bundle": bundle, **result}, as_json, RELEASE_COLUMNS, [result["release"]])


def refuse_native_executables(folder: Path) -> None:
    found = native_executables(folder)
    if found:
        path, size, kind = found[0]
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise ClientError(f"{path} is a {size / 1024 / 1024:.0f} MB native executable ({kind}){more}, not part of a "
                          "web or JS bundle; move it out of the folder, or pass --allow-binaries to publish it anyway")


def _same_bundle(existing: dict, archive: Path) -> dict:
    """The bundle on the server when it has exactly these bytes; a clear error when it does not."""
    digest = file_sha256(archive)
    if digest != existing["sha256"]:
        raise ClientError(f"version {existing['version']} ({existing['platform']}) is on the server already with "
                          f"other contents (sha256 {existing['sha256'][:12]}…, this build {digest[:12]}…); "
                          "publish the change as a new version")
    click.echo(f"Version {existing['version']} ({existing['platform']}) is on the server already with these bytes; "
               "releasing that bundle.", err=True)
    return existing


def _upload(client, app, archive, fields: dict, encrypt_key) -> dict:
    upload = archive
    if encrypt_key:
        upload, encryption = _encrypt(archive, encrypt_key)
        fields.update(encryption)
    try:
        with UploadProgress(upload.stat().st_size) as progress:
            return client.upload_bundle(app, upload, fields, progress.update)
    finally:
        if upload != archive:
            upload.unlink(missing_ok=True)


@click.command()
@APP_OPTION
@click.option("--version", "version", default=None, help="Version of the uploaded bundle to release.")
@click.option("--bundle-id", type=int, default=None, help="Id of the uploaded bundle to release (instead of --version).")
@click.option("--platform", type=click.Choice(["ios", "android", "all"]), default=None,
              help="Which platform's bundle of that version, when there is more than one.")
@click.option("--channel", default="production", show_default=True, help="Channel to release it to.")
@click.option("--rollout", type=click.IntRange(0, 100), default=100, show_default=True, help=ROLLOUT_HELP)
@click.option("--mandatory", is_flag=True, help=MANDATORY_HELP)
@click.option("--notes", default=None, help="Release notes (default: the bundle's own).")
@POLICY_OPTION
@JSON_OPTION
@remote_command
def release(client, app, version, bundle_id, platform, channel, rollout, mandatory, notes, policy, as_json):
    """Release a bundle that is already uploaded (by --version or --bundle-id) to a channel."""
    if (version is None) == (bundle_id is None):
        raise click.UsageError("name the bundle with --version or --bundle-id (one of them)")
    check_channel(client, app, channel)
    policy_id = policy_id_of(client, app, policy)
    if bundle_id is not None:
        bundle = client.get(f"/api/v1/apps/{app}/bundles/{bundle_id}")
    else:
        bundle = uploaded_bundle(client, app, version, platform)
        if bundle is None:
            raise ClientError(f"app {app} has no bundle {version}" + (f" ({platform})" if platform else "") +
                              "; upload it with `otabox publish`")
    result = release_bundle(client, app, bundle, channel, rollout, mandatory, notes, policy_id)
    show(result, as_json, RELEASE_COLUMNS, [result["release"]])


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


LIMIT_HELP = "How many to show, newest first."


@releases.command("list")
@APP_OPTION
@click.option("--channel", default=None, help="Only this channel's releases.")
@click.option("--limit", type=int, default=20, show_default=True, help=LIMIT_HELP)
@JSON_OPTION
@remote_command
def releases_list(client, app, channel, limit, as_json):
    """List the app's releases (every channel, or one), with the branch each belongs to and the
    channels each is served by now: labels count a branch's releases, so after a channel is pointed at
    another branch two rows may both read `staging v2`; BRANCH and SERVED BY tell them apart."""
    query = f"?limit={limit}" + (f"&channel={urllib.parse.quote(channel)}" if channel else "")
    data = client.get(f"/api/v1/apps/{app}/releases{query}")
    if as_json:
        show(data, as_json, [])
        return
    serving: dict[int, list[str]] = {}
    for listed in client.get(f"/api/v1/apps/{app}/channels?limit=500")["channels"]:
        if listed["currentRelease"] is not None:
            serving.setdefault(listed["currentRelease"]["id"], []).append(listed["name"])
    named = [{**r, "servedBy": ", ".join(serving.get(r["id"], ())) or "-"} for r in data["releases"]]
    show(data, as_json, [*RELEASE_COLUMNS[:2], ("BRANCH", "branch"), *RELEASE_COLUMNS[2:],
                         ("SERVED BY", "servedBy")], named)


@click.group()
def bundles():
    """Uploaded bundles."""


def numbers_text(bundle: dict) -> str:
    """`production 2 (active), staging 1`: the bundle's whole-number version on each channel that
    numbered it (Koolbase's numbering), and the channels that serve it now."""
    return ", ".join(f"{entry['channel']} {entry['version']}" + (" (active)" if entry["active"] else "")
                     for entry in bundle["channelVersions"]) or "-"


@bundles.command("list")
@APP_OPTION
@click.option("--limit", type=int, default=20, show_default=True, help=LIMIT_HELP)
@JSON_OPTION
@remote_command
def bundles_list(client, app, limit, as_json):
    """List the app's bundles, newest first, with their numbers per channel and where they are active."""
    data = client.get(f"/api/v1/apps/{app}/bundles?limit={limit}")
    show(data, as_json, [("ID", "id"), ("VERSION", "version"), ("PLATFORM", "platform"), ("SIZE", "size"),
                         ("CHANNEL NUMBERS", "numbers"), ("UPLOADED", "createdAt")],
         [{**bundle, "numbers": numbers_text(bundle)} for bundle in data["bundles"]])


@click.command()
@click.argument("release_id", type=int)
@click.argument("percent", type=click.IntRange(0, 100))
@APP_OPTION
@JSON_OPTION
@remote_command
def rollout(client, release_id, percent, app, as_json):
    """Set release RELEASE_ID's rollout to PERCENT of devices."""
    show(client.patch(f"/api/v1/apps/{app}/releases/{release_id}", {"rollout": percent}), as_json, RELEASE_COLUMNS)


def share_text(share: float) -> str:
    return f"{share:g}%"


def _shares_text(channel: str, serves: list[dict]) -> str:
    parts = []
    for entry in serves:
        where = f" through {entry['channel']}" if entry["channel"] != channel else ""
        if entry["release"] is None:
            parts.append(f"the bundle built into the app to {share_text(entry['share'])} of devices{where}")
        elif entry["version"] == "builtin":
            parts.append(f"the bundle built into the app ({entry['label']}) to {share_text(entry['share'])} of "
                         f"devices{where}: they drop their downloaded update")
        else:
            parts.append(f"{entry['version']} ({entry['label']}) to {share_text(entry['share'])} of devices{where}")
    return "; ".join(parts)


def serving_line(channel: str, serves: list[dict], now: bool = True) -> str:
    """What a channel serves (or would serve), per share of devices and, when platforms differ, per
    platform, in words."""
    verb = "now serves" if now else "would serve"
    platforms = list(dict.fromkeys(entry.get("platform") for entry in serves))
    if platforms == [None]:
        return f"{channel} {verb} " + _shares_text(channel, serves)
    return f"{channel} {verb} " + "; ".join(
        f"on {platform}: " + _shares_text(channel, [e for e in serves if e.get("platform") == platform])
        for platform in platforms)


@click.command()
@APP_OPTION
@click.option("--channel", required=True, help="Channel to roll back.")
@click.option("--platform", type=click.Choice(["ios", "android"]), default=None,
              help="Roll back only this platform's devices (default: every platform, each to what it was "
                   "served before).")
@click.option("--to-release", type=int, default=None, help="Roll back to this release id.")
@click.option("--to-builtin", is_flag=True, help="Tell devices to run the bundle inside the binary.")
@click.option("--dry-run", is_flag=True, help="Only say what the channel would serve; change nothing.")
@JSON_OPTION
@remote_command
def rollback(client, app, channel, platform, to_release, to_builtin, dry_run, as_json):
    """Re-point a channel to its previous release (or another one, or the builtin bundle) as it was
    served then (its rollout too), and say what it serves afterwards per share of devices. Releases
    of one version for each platform roll back together, each platform to what it had before."""
    body = {"toBuiltin": True} if to_builtin else ({"toReleaseId": to_release} if to_release else {})
    if platform:
        body["platform"] = platform
    if dry_run:
        body["dryRun"] = True
    data = client.post(f"/api/v1/apps/{app}/channels/{urllib.parse.quote(channel)}/rollback", body)
    if as_json or not dry_run:
        show(data, as_json, RELEASE_COLUMNS, data["releases"])
    if not as_json:
        click.echo(serving_line(channel, data["serves"], now=not dry_run) + "."
                   + (" Dry run: nothing was changed." if dry_run else ""))


@click.command()
@APP_OPTION
@click.option("--from", "source", required=True, help="Channel whose current bundle is promoted.")
@click.option("--to", "target", required=True, help="Channel it is released to.")
@click.option("--rollout", type=click.IntRange(0, 100), default=None, help=ROLLOUT_HELP + "  [default: 100]")
@click.option("--mandatory", is_flag=True, help=MANDATORY_HELP)
@JSON_OPTION
@remote_command
def promote(client, app, source, target, rollout, mandatory, as_json):
    """Release the source channel's current bundle to the target channel."""
    body = {"to": target, "mandatory": mandatory, **({"rollout": rollout} if rollout is not None else {})}
    data = client.post(f"/api/v1/apps/{app}/channels/{urllib.parse.quote(source)}/promote", body)
    show(data, as_json, RELEASE_COLUMNS, [data["release"]])


@click.group()
def devices():
    """Devices that checked for updates."""


@devices.command("list")
@APP_OPTION
@click.option("--channel", default=None, help="Only devices on this channel.")
@click.option("--limit", type=int, default=50, show_default=True, help=LIMIT_HELP)
@JSON_OPTION
@remote_command
def devices_list(client, app, channel, limit, as_json):
    """List the devices that checked for updates, most recently seen first."""
    query = f"?limit={limit}" + (f"&channel={urllib.parse.quote(channel)}" if channel else "")
    data = client.get(f"/api/v1/apps/{app}/devices{query}")
    show(data, as_json, [("DEVICE", "deviceId"), ("PLATFORM", "platform"), ("VERSION", "bundleVersion"),
                         ("CHANNEL", "channel"), ("NATIVE", "native"), ("LAST SEEN", "lastSeen")],
         [{**device, "native": native_text(device)} for device in data["devices"]])


def native_text(device: dict) -> str:
    """What is known of the binary a device runs: `1.2.0 (100)`, `1.2.0`, or `build 100` when it sent
    only its build number (`nativeBuild`, the native check's usual field)."""
    version, build = device.get("nativeVersion") or "", device.get("nativeBuild")
    build = "" if build is None else str(build)
    if version and build:
        return f"{version} ({build})"
    return version or (build and f"build {build}")


COMMANDS = (publish, release, releases, bundles, rollout, rollback, promote, devices)
