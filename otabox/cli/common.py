"""What every admin command shares: the data directory option, opening the box, one-line errors."""
from __future__ import annotations

import functools
import sys

import click

from ..config import Config


APP_OPTION = click.option("--app", "app_ref", required=True, help="App slug or id.")
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print as JSON.")


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def confirm_or_refuse(consequence: str, yes: bool) -> None:
    """A destructive step with a consequence worth a second thought: asked on a terminal, done with
    --yes, and otherwise (a script that did not say --yes) refused in one line, with nothing changed."""
    if yes:
        return
    if not stdin_is_terminal():
        raise click.ClickException(f"{consequence}; pass --yes to go ahead")
    click.confirm(f"{consequence}. Go ahead?", abort=True, err=True)


def show_once(secret: str, what: str, advice: str) -> None:
    """Print a secret shown this once on stdout (so `KEY=$(otabox keys create ...)` captures it alone)
    under a line on stderr saying what it is. When stdout is a pipe or a file, that line stays alone on
    the terminal, so it says where the secret went instead of pointing at a line below it."""
    if stdout_is_terminal():
        click.echo(f"{what} ({advice}):", err=True)
    else:
        click.echo(f"{what} was written to standard output ({advice}).", err=True)
    click.echo(secret)


def print_table(columns: list[tuple[str, str]], rows: list[dict]) -> None:
    """`rows` under the headers of `columns` (header, key), each column as wide as its widest cell, so
    a long name never runs into the next column; a missing value is an empty cell."""
    table = [[header for header, _ in columns]] + [["" if row.get(key) is None else str(row.get(key))
                                                    for _, key in columns] for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    for line in table:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())


def data_dir_option(func):
    return click.option("--data-dir", type=click.Path(file_okay=False, readable=False), default=None,
                        help="Data directory (default ./data of the current folder, env OTABOX_DATA_DIR).")(func)


def is_data_dir(path) -> bool:
    """Whether `path` holds an otabox box already (anything in it counts: otabox made it)."""
    from ..box import data_dir_access

    with data_dir_access(path):
        return path.is_dir() and any(path.iterdir())


def open_box(data_dir, *, schema: str = "current", files_only: bool = False):
    """The box in `data_dir`. A missing or empty directory is refused: an admin command there would
    silently make a second, empty box that no running server knows (unless the box lives on a database
    server and in a bucket, which the URLs name explicitly); only `serve` and `restore` start a box. A data dir
    whose box was moved to PostgreSQL is refused without OTABOX_DATABASE_URL: its SQLite file is a
    copy no server reads (`files_only` commands use only the bundle files, which stay behind)."""
    from ..box import Box
    from ..ops.dbmove import moved_away, unmoved_box

    config = Config.from_env(data_dir=data_dir)
    for refusal in (None if files_only else moved_away(config), unmoved_box(config)):
        if refusal is not None:
            raise click.ClickException(refusal)
    # With the database and the bundle files on servers, a machine's data dir holds only staging files.
    on_servers = config.database_url and config.storage_url
    if not on_servers and not is_data_dir(config.data_dir):
        raise click.ClickException(
            f"no otabox data directory at {config.data_dir}; pass --data-dir (or set OTABOX_DATA_DIR) to the "
            "directory `otabox serve` uses")
    return Box(config, schema)


def admin_command(func=None, *, schema: str = "current", files_only: bool = False):
    """Open the data directory for the command (passed as `box`) and close it afterwards."""
    def decorate(command):
        @data_dir_option
        @functools.wraps(command)
        def wrapper(data_dir, **kwargs):
            box = open_box(data_dir, schema=schema, files_only=files_only)
            try:
                with box.db.connection_context():
                    result = command(box, **kwargs)
                box.publish_changes()
                return result
            finally:
                box.close()
        return wrapper
    return decorate(func) if func is not None else decorate
