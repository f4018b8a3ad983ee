"""Commands that run or look after a box: serve, migrate, doctor, backup, restore, gc."""
from __future__ import annotations

import json

import click

from ..config import Config
from .common import JSON_OPTION, admin_command, data_dir_option, open_box


@click.command()
@click.option("--host", default=None, help="Interface to listen on (default 127.0.0.1, env OTABOX_HOST).")
@click.option("--port", type=int, default=None, help="Port (default 8080, env OTABOX_PORT).")
@click.option("--threads", type=int, default=None, help="Worker threads (default 8, env OTABOX_THREADS).")
@click.option("--workers", type=int, default=None,
              help="Waitress processes sharing the port (default 1, env OTABOX_WORKERS).")
@data_dir_option
def serve(host, port, threads, workers, data_dir):
    """Run the server (waitress; one process unless --workers). Creates the data directory on first
    start and upgrades an older database (after a backup copy beside it)."""
    from ..server import serve as run

    config = Config.from_env(host=host, port=port, threads=threads, workers=workers, data_dir=data_dir)
    run(config, config.workers)


@click.command()
@click.option("--dry-run", is_flag=True, help="Only show the pending steps.")
@admin_command(schema="inspect")
def migrate(box, dry_run):
    """Upgrade the database schema to this otabox (serve does it at start too)."""
    from ..store import migrations
    from ..store.db import upgrade_schema

    version = migrations.current_version(box.db)
    steps = migrations.pending_steps(box.db)
    click.echo(f"Schema version {version}; this otabox has {migrations.latest_version()}.")
    for step in steps:
        click.echo(f"  pending {step.version}: {step.description}")
    if not steps:
        click.echo("Nothing to do.")
        return
    if dry_run:
        return
    done = upgrade_schema(box.db, box.config.secret_key)
    click.echo(f"Upgraded to schema version {done.to_version}" +
               (f"; the previous database is at {done.backup}." if done.backup else "."))


@click.command()
@click.option("--deep", is_flag=True, help="Also re-hash every bundle file.")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@admin_command(schema="inspect")
def doctor(box, deep, as_json):
    """Check the data directory (schema, permissions, integrity, missing files) and say what to do;
    exit 1 on a failure."""
    from ..ops.maintenance import diagnose

    findings = diagnose(box, deep)
    if as_json:
        click.echo(json.dumps(findings, indent=2))
    else:
        for f in findings:
            click.echo(f"{f['level'].upper():5} {f['check']:12} {f['message']}" + (f"  → {f['fix']}" if f["fix"] else ""))
    if any(f["level"] == "fail" for f in findings):
        raise SystemExit(1)


def files(count: int) -> str:
    return f"{count} bundle file{'' if count == 1 else 's'}"


def stored_files(count: int) -> str:
    """Stored files, each once: what a backup copies, not the bundles `otabox doctor` counts."""
    return (f"{count} stored file{'' if count == 1 else 's'} (bundle zips, the files inside them, patches and "
            "compressed copies)")


@click.command()
@click.argument("dest", type=click.Path(file_okay=False))
@JSON_OPTION
@admin_command
def backup(box, dest, as_json):
    """Copy the database (online), bundle files and secrets to DEST while the server runs."""
    from ..ops.backup import backup as run

    report = run(box, dest)
    if as_json:
        click.echo(json.dumps(report))
        return
    click.echo(f"Backed up the database ({report['database']}), {stored_files(report['blobs'])} and the secrets to {dest}.")
    if report["missing"]:
        click.echo(f"Warning: {files(len(report['missing']))} the database names are missing from the data "
                   f"directory and were not copied: {', '.join(report['missing'][:5])}"
                   + (" ..." if len(report["missing"]) > 5 else "") + " (`otabox doctor` says what to do).", err=True)


@click.command()
@click.argument("source", type=click.Path(exists=True, file_okay=False))
@click.option("--data-dir", type=click.Path(file_okay=False, readable=False), default=None,
              help="The empty data directory to restore into (default ./data, env OTABOX_DATA_DIR).")
@JSON_OPTION
def restore(source, data_dir, as_json):
    """Restore a backup made by `otabox backup` into an empty data directory."""
    from ..ops.backup import restore as run

    report = run(source, Config.from_env(data_dir=data_dir).data_dir)
    if as_json:
        click.echo(json.dumps(report))
        return
    click.echo(f"Restored the database, {stored_files(report['blobs'])} and the secrets into {report['dataDir']}; "
               f"start the server with `otabox serve --data-dir {report['dataDir']}`.")


@click.command()
@JSON_OPTION
@admin_command
def gc(box, as_json):
    """Remove expired uploads, staged leftovers and blobs no bundle uses."""
    from ..ops.maintenance import collect_garbage

    report = collect_garbage(box)
    if as_json:
        click.echo(json.dumps(report))
        return
    uploads, staged = report["expiredUploads"], report["stagedFiles"]
    click.echo(f"Removed {uploads} expired upload{'' if uploads == 1 else 's'}, {staged} staged "
               f"file{'' if staged == 1 else 's'} and {files(report['blobs'])} no bundle uses.")


@click.command("migrate-storage")
@click.option("--to", "target", required=True, metavar="s3://BUCKET/PREFIX",
              help="The bucket (and key prefix) to copy the bundle files to; OTABOX_S3_ENDPOINT_URL and the AWS "
                   "variables say how to reach it.")
@admin_command(files_only=True)
def migrate_storage(box, target):
    """Copy every bundle file from the data directory's blobs/ to an S3-compatible bucket, verifying
    each SHA-256 there; then start otabox with OTABOX_STORAGE_URL set to the same URL. Files the bucket
    has already are checked and kept, so an interrupted copy can be run again."""
    from ..ops.blobcopy import copy_blobs
    from ..store.blobs import FileSystemBlobStore, Staging
    from ..store.s3 import S3BlobStore, S3Timeouts

    try:
        dest = S3BlobStore(target, box.config.s3_endpoint_url, box.config.cdn_base_url,
                           timeouts=S3Timeouts.of(box.config))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    dest.require_bucket()
    source = FileSystemBlobStore(box.config.data_dir / "blobs")
    step = {"next": 0}

    def progress(done: int, total: int, report) -> None:
        if done * 10 >= step["next"] * total or done == total:
            step["next"] = done * 10 // max(total, 1) + 1
            click.echo(f"{done}/{total} files checked: {report.copied} copied ({report.bytes / 1e6:.1f} MB), "
                       f"{report.present} already there", err=True)

    # Its own staging folder: a server starting meanwhile clears the top of tmp/ of what no server is writing.
    staging = Staging(box.config.data_dir / "tmp" / "migrate-storage")
    for leftover in staging.files():  # of an earlier copy that was cut off
        leftover.unlink()
    report = copy_blobs(source, dest, staging, progress)
    if report.corrupt:
        raise click.ClickException(f"{len(report.corrupt)} files do not match their SHA-256 and were not copied "
                                   f"(run otabox doctor --deep): {', '.join(report.corrupt[:5])}")
    click.echo(f"All {report.copied + report.present} files are in {target}; start otabox with "
               f"OTABOX_STORAGE_URL={target}.")


@click.command("migrate-database")
@click.option("--to", "target", required=True, metavar="postgresql://USER:PASSWORD@HOST:5432/DATABASE",
              help="The new, empty PostgreSQL database to move the box into.")
@data_dir_option
def migrate_database(target, data_dir):
    """Move the box from its SQLite file into a new PostgreSQL database: apps (with their client
    keys), API keys, users, bundles, releases, devices, statistics and the signing keys, sealed with
    OTABOX_SECRET_KEY. Stop `otabox serve` first and leave OTABOX_DATABASE_URL unset. Nothing is
    committed unless everything was copied, so a failed move can be run again."""
    from ..ops.dbmove import check_move, move_database

    check_move(Config.from_env(data_dir=data_dir), target)

    def progress(table: str, copied: int, total: int) -> None:
        if copied == total and total:
            click.echo(f"{table}: {total} row{'' if total == 1 else 's'}", err=True)
        elif copied % 20_000 == 0 and copied:
            click.echo(f"{table}: {copied}/{total} rows", err=True)

    box = open_box(data_dir)
    try:
        with box.db.connection_context():
            report = move_database(box, target, progress)
    finally:
        box.close()
    for column, count in sorted(report["adjusted"].items()):
        click.echo(f"{column}: {count} value{'' if count == 1 else 's'} shortened to the column's length or with NUL "
                   "characters replaced (PostgreSQL cannot hold them as SQLite kept them)", err=True)
    click.echo(f"Moved {report['rows']} rows ({report['tables']} tables, {report['secrets']} secrets) to "
               f"{report['database']}. Start otabox with OTABOX_DATABASE_URL set to that URL and the same "
               "OTABOX_SECRET_KEY; the bundle files stay in this data directory (`otabox migrate-storage` "
               "moves them to a bucket that every process reaches).")


COMMANDS = (serve, migrate, doctor, backup, restore, gc, migrate_storage, migrate_database)
