"""`otabox channels …`: an app's channels on the data directory, each with the CodePush deployment key a
React Native build is configured with (like `otabox keys`, on the server's own machine)."""
from __future__ import annotations

import click

from .common import APP_OPTION, JSON_OPTION, admin_command, confirm_or_refuse
from .publish import show

SWITCHES = [  # (API setting, option name, help)
    ("disableAutoUpdateUnderNative", "below-native-blocked", "Never offer a bundle below the device's native version."),
    ("allowDeviceSelfAssign", "self-assign", "Devices may move themselves to this channel (Capgo's channel_self)."),
    ("ios", "ios", "iOS devices get updates here."),
    ("android", "android", "Android devices get updates here."),
    ("allowEmulator", "emulators", "Emulators get updates here."),
    ("allowDev", "dev-builds", "Development builds get updates here."),
]
CHANNEL_COLUMNS = [("CHANNEL", "name"), ("DEFAULT", "default"), ("DEPLOYMENT KEY", "deploymentKey"),
                   ("SERVES", "serves"), ("ACTIVE NUMBER", "activeNumber"), ("BLOCKS", "blockUpgrades"),
                   ("SPLIT", "split")]
"""ACTIVE NUMBER: the channel's whole-number version of the bundle it serves (Koolbase's active bundle)."""


def settings_options(func):
    """The channel settings `create` and `update` take; unset options change nothing."""
    for setting, name, help_text in reversed(SWITCHES):
        func = click.option(f"--{name}/--no-{name}", setting, default=None, help=help_text)(func)
    options = [
        click.option("--block-upgrades", "blockUpgrades", default=None,
                     type=click.Choice(["none", "major", "minor", "patch", "version_number"]),
                     help="Which upgrades devices are not moved across (version_number: below a bundle's "
                          "--min-update-version)."),
        click.option("--split-to", "rolloutChannel", default=None, metavar="CHANNEL",
                     help="Another channel whose release a share of this channel's devices get."),
        click.option("--split-percentage", "rolloutPercentage", type=click.IntRange(0, 100), default=None,
                     help="That share, in percent of devices (always the same ones)."),
        click.option("--min-runtime-version", "minRuntimeVersion", default=None,
                     help="Expo devices of an older runtime get no update."),
        click.option("--default/--not-default", "public", default=None,
                     help="Make it the channel devices that name none get (or stop it being that)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def given(settings: dict) -> dict:
    return {name: value for name, value in settings.items() if value is not None}


def channel_row(info: dict) -> dict:
    """A channel as one line of the table: what it serves, and where it sends a share of its devices."""
    current = info["unscopedRelease"]
    serves = "-" if current is None else (
        f"{current['bundleVersion']} ({current['label']}, {current['rollout']}%)")
    scoped = [f"{r['platform'] or 'every platform'}" + (f" runtime {r['runtimeVersion']}" if r["runtimeVersion"] else "")
              + f" rolled back to {r['bundleVersion']} ({r['label']})" for r in info.get("scopedRollbacks", ())]
    serves = "; ".join([serves, *scoped])
    split = f"{info['rolloutPercentage']}% to {info['rolloutChannel']}" if info["rolloutChannel"] else "-"
    return {**info, "default": "yes" if info["public"] else "", "serves": serves, "split": split,
            "activeNumber": current["channelVersion"] if current else None}


def show_channels(channels: list[dict], as_json: bool) -> None:
    show(channels, as_json, CHANNEL_COLUMNS, [channel_row(c) for c in channels])


@click.group()
def channels():
    """An app's channels and their CodePush deployment keys: list, create, update, delete."""


@channels.command("list")
@APP_OPTION
@JSON_OPTION
@admin_command
def channels_list(box, app_ref, as_json):
    """The app's channels: default, deployment key (CodePushDeploymentKey), what each serves, settings."""
    from ..core.apps import channel_json, find_app
    from ..store.models import Channel

    app = find_app(app_ref)
    show_channels([channel_json(c) for c in Channel.select().where(Channel.app == app).order_by(Channel.id)], as_json)


@channels.command("create")
@click.argument("name")
@APP_OPTION
@settings_options
@JSON_OPTION
@admin_command
def channels_create(box, name, app_ref, as_json, **settings):
    """Create the channel NAME (with a new deployment key) and the settings given."""
    from ..core.apps import channel_json, create_channel, find_app

    show_channels([channel_json(create_channel(find_app(app_ref), name, "cli", given(settings)))], as_json)


@channels.command("update")
@click.argument("name")
@APP_OPTION
@click.option("--rename", default=None, help="A new name for the channel (splits and the default follow it).")
@click.option("--rotate-deployment-key", is_flag=True,
              help="A new deployment key: builds with the old one get no updates, so ship builds with the new one.")
@settings_options
@JSON_OPTION
@admin_command
def channels_update(box, name, app_ref, rename, rotate_deployment_key, as_json, **settings):
    """Change the channel NAME: its settings, its name, its deployment key (all or nothing)."""
    from ..core.apps import channel_json, find_app, find_channel, rename_channel, rotate_deployment_key as rotate
    from ..core.apps import update_channel
    from ..store.models import database

    changes = given(settings)
    if not (changes or rename or rotate_deployment_key):
        raise click.UsageError("nothing to change: give a setting, --rename or --rotate-deployment-key")
    with database.atomic():
        channel = find_channel(find_app(app_ref), name)
        if changes:
            channel = update_channel(channel, changes, "cli")
        if rename:
            channel = rename_channel(channel, rename, "cli")
        if rotate_deployment_key:
            channel = rotate(channel, "cli")
    show_channels([channel_json(channel)], as_json)


@channels.command("delete")
@click.argument("name")
@APP_OPTION
@click.option("--yes", is_flag=True, help="Delete the app's default channel without asking.")
@admin_command
def channels_delete(box, name, app_ref, yes):
    """Delete the channel NAME with its release history (its bundles stay); devices on it get no updates.
    The app's default channel is deleted only after a yes (or with --yes)."""
    from ..core.apps import delete_channel, find_app, find_channel

    app = find_app(app_ref)
    channel = find_channel(app, name)
    if app.default_channel == channel.name:
        confirm_or_refuse(f"{name!r} is the default channel of {app.slug}: deleting it leaves devices that name no "
                          "channel without updates until you make another one the default", yes)
    was_default = delete_channel(channel, "cli")
    click.echo(f"Deleted channel {name!r} of {app.slug}.")
    if was_default:
        click.echo(f"Warning: {name!r} was the default channel of {app.slug}: devices that name no channel get no "
                   f"updates until you make another one the default (otabox channels update NAME --default --app "
                   f"{app.slug}).", err=True)


COMMANDS = (channels,)
