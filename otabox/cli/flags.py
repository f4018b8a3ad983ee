"""`otabox flags`: list, create and switch a remote otabox's feature flags (over HTTP, like publish)."""
from __future__ import annotations

import json

import click

from ..core.flag_eval import FLAG_TYPES
from .client import ClientError
from .publish import remote_command, show

FLAG_COLUMNS = [("ID", "id"), ("KEY", "key"), ("TYPE", "flagType"), ("ENABLED", "enabled"),
                ("DEFAULT", "default"), ("RULES", "ruleCount"), ("ON IN", "activeIn")]


def _row(flag: dict) -> dict:
    """A flag as one line of the table."""
    return {**flag, "default": json.dumps(flag["defaultValue"]), "ruleCount": len(flag["rules"]),
            "activeIn": ",".join(c["channelName"] for c in flag["channels"] if c["active"]) or "-"}


def _value(flag_type: str, text: str, option: str):
    """A value from the command line: a string flag's text as is, any other value as JSON."""
    if flag_type == "string":
        return text
    try:
        return json.loads(text)
    except ValueError:
        raise click.ClickException(f"{option}: {text!r} is not JSON (e.g. true, 3, {{\"a\": 1}})") from None


def _find(client, app: str, key: str) -> dict:
    found = [f for f in client.get(f"/api/v1/apps/{app}/flags")["flags"] if f["key"] == key]
    if not found:
        raise ClientError(f"no flag {key!r} in app {app!r} (otabox flags list --app {app})")
    return found[0]


@click.group()
def flags():
    """Feature flags that apps evaluate with OpenFeature's OFREP providers."""


@flags.command("list")
@click.option("--app", required=True, help="App slug or id.")
@click.option("--json", "as_json", is_flag=True, help="Print the flags as JSON (with variations and rules).")
@remote_command
def flags_list(client, app, as_json):
    """The app's flags: type, switch, default value, rules and the channels where they are on."""
    data = client.get(f"/api/v1/apps/{app}/flags")
    show(data, as_json, FLAG_COLUMNS, [_row(f) for f in data["flags"]])


@flags.command("create")
@click.argument("flag_key", metavar="KEY")
@click.option("--app", required=True, help="App slug or id.")
@click.option("--type", "flag_type", type=click.Choice(FLAG_TYPES), default="boolean",
              show_default=True, help="What the flag's values are.")
@click.option("--default", "default", default=None,
              help="The default value (JSON, or plain text for a string flag); a boolean flag defaults to false.")
@click.option("--variation", "variations", multiple=True, metavar="NAME=VALUE",
              help="A named value the flag can serve (repeatable); default: on/off for a boolean flag.")
@click.option("--name", default=None, help="Display name (default: the key).")
@click.option("--description", default="", help="What the flag is for.")
@click.option("--disabled", is_flag=True, help="Create it switched off (it serves its default, reason DISABLED).")
@click.option("--json", "as_json", is_flag=True, help="Print the created flag as JSON.")
@remote_command
def flags_create(client, flag_key, app, flag_type, default, variations, name, description, disabled, as_json):
    """Create the flag KEY (letters, digits, '.', '_', '-')."""
    body = {"key": flag_key, "flagType": flag_type, "description": description, "enabled": not disabled}
    if name:
        body["name"] = name
    if default is not None:
        body["defaultValue"] = _value(flag_type, default, "--default")
    if variations:
        pairs = [v.partition("=") for v in variations]
        if any(not sep or not label for label, sep, _ in pairs):
            raise click.ClickException("--variation: give each variation as NAME=VALUE")
        body["variations"] = [{"name": label, "value": _value(flag_type, text, "--variation")}
                              for label, _, text in pairs]
    created = client.post(f"/api/v1/apps/{app}/flags", body)
    show(created, as_json, FLAG_COLUMNS, [_row(created)])


@flags.command("toggle")
@click.argument("flag_key", metavar="KEY")
@click.option("--app", required=True, help="App slug or id.")
@click.option("--on/--off", "enabled", required=True, help="Switch the flag on or off.")
@click.option("--channel", default=None,
              help="Only in this channel (without it: the flag's own switch, for every channel).")
@click.option("--json", "as_json", is_flag=True, help="Print the flag as JSON.")
@remote_command
def flags_toggle(client, flag_key, app, enabled, channel, as_json):
    """Switch the flag KEY on or off, everywhere or in one channel; devices see it at their next evaluation."""
    flag = _find(client, app, flag_key)
    path = f"/api/v1/apps/{app}/flags/{flag['id']}" + (f"/env/{channel}" if channel else "")
    changed = client.patch(path, {"enabled": enabled})
    show(changed, as_json, FLAG_COLUMNS, [_row(changed)])


COMMANDS = (flags,)
