"""The `otabox` command: serving, the admin commands that work on a data directory, and the
publishing commands that talk to a server over HTTP. One module per command group."""
from __future__ import annotations

import click

from ..errors import OtaboxError
from . import admin, capgo, channels, collaborators, expo, flags, keys, publish, rollouts, server, users


class OtaboxCommands(click.Group):
    """Every otabox error reaches the terminal as one line and exit code 1, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except OtaboxError as exc:
            raise click.ClickException(exc.message) from None


@click.group(cls=OtaboxCommands)
@click.version_option(package_name="otabox")
def main():
    """otabox: a self-hosted over-the-air update server for mobile apps."""


for module in (server, keys, users, admin, channels, collaborators, publish, expo, capgo, flags, rollouts):
    for command in module.COMMANDS:
        main.add_command(command)
