"""Maintenance: garbage collection of files nothing refers to, the janitor that expires uploads and
prunes old telemetry, and doctor."""
from __future__ import annotations

import time

from ..core import flag_contexts, health
from ..core.bundles import expire_uploads, referenced_blobs, upload_file_prefix
from ..store.models import Upload
from .leased import LeasedLoop

STAGING_GRACE_SECONDS = 24 * 3600
BLOB_GRACE_SECONDS = 3600
"""A blob is written before the row that names it, so a young unreferenced blob may be an upload in flight."""
JANITOR_INTERVAL_SECONDS = 600


def collect_garbage(box) -> dict:
    """Expired uploads, staged files older than a day that no live upload owns, unreferenced blobs."""
    uploads = expire_uploads(box)
    live = tuple(upload_file_prefix(u.id) for u in Upload.select(Upload.id))
    cutoff = time.time() - STAGING_GRACE_SECONDS
    staged = 0
    for path in box.staging.files():
        if not path.name.startswith(live) and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            staged += 1
    referenced = referenced_blobs()
    blobs = 0
    young = time.time() - BLOB_GRACE_SECONDS
    for sha in list(box.store.all_keys()):
        if sha not in referenced and box.store.modified_at(sha) < young:
            box.store.delete(sha)
            blobs += 1
    return {"expiredUploads": uploads, "stagedFiles": staged, "blobs": blobs}


def janitor(box, interval: float = JANITOR_INTERVAL_SECONDS) -> LeasedLoop:
    """Tidies the box while the server runs (`tidy`), in one process of the box (a lease: several
    processes on one database would otherwise race to expire the same uploads)."""
    return LeasedLoop(box.db, "janitor", interval, lambda: tidy(box))


def tidy(box) -> dict:
    """One janitor round: abandoned two-step uploads expire, and health and flag telemetry older
    than OTABOX_HEALTH_RETENTION_DAYS goes (in short transactions)."""
    days = box.config.health_retention_days
    return {"expiredUploads": expire_uploads(box), "healthRows": health.prune(days),
            "flagTelemetryRows": flag_contexts.prune(days)}


def diagnose(box, deep: bool = False) -> list[dict]:
    """Findings about a data directory, each `{level: ok|info|warn|fail, check, message, fix}`."""
    import hashlib
    import shutil
    import stat

    from ..store import migrations
    from ..store.db import integrity_problems, is_sqlite
    from ..store.models import Bundle, BundleFile, Upload, utcnow

    findings = []

    def add(level, check, message, fix=""):
        findings.append({"level": level, "check": check, "message": message, "fix": fix})

    version, latest = migrations.current_version(box.db), migrations.latest_version()
    if version != latest:
        add("fail", "schema", f"the database has schema version {version}; this otabox needs {latest}",
            "otabox migrate (or start otabox serve, which upgrades it)")
        return findings
    add("ok", "schema", f"schema version {version} (current)")
    data_dir = box.config.data_dir
    if stat.S_IMODE(data_dir.stat().st_mode) & 0o077:
        add("warn", "permissions", f"{data_dir} is readable by other users", f"chmod 700 {data_dir}")
    loose = [p for p in (data_dir / "secrets").rglob("*") if p.is_file() and stat.S_IMODE(p.stat().st_mode) & 0o077]
    for path in loose:
        add("fail", "permissions", f"secret file {path} is readable by other users", f"chmod 600 {path}")
    if not loose:
        add("ok", "permissions", "secret files are private (0600)")
    problems = integrity_problems(box.db)
    if not is_sqlite(box.db):
        add("info", "database", "PostgreSQL keeps its own integrity; check it with its tools", "pg_amcheck --all")
    elif problems:
        add("fail", "database", "the database fails its integrity check: " + "; ".join(problems[:5]),
            "stop the server and restore the latest backup (otabox restore)")
    else:
        add("ok", "database", "the database passes its integrity check")
    missing = [b for b in Bundle.select() if not box.store.exists(b.sha256)]
    for bundle in missing:
        add("fail", "bundles", f"bundle {bundle.id} ({bundle.version}) has no file in storage",
            "restore the data directory from a backup, or release another bundle and delete this one")
    if deep:
        for bundle in Bundle.select():
            if bundle in missing:
                continue
            digest = hashlib.sha256()
            with box.store.open(bundle.sha256) as handle:
                while chunk := handle.read(1024 * 1024):
                    digest.update(chunk)
            if digest.hexdigest() != bundle.sha256:
                add("fail", "bundles", f"bundle {bundle.id} ({bundle.version}) is corrupt on disk",
                    "restore the data directory from a backup")
    if not missing:
        add("ok", "bundles", f"all {Bundle.select().count()} bundle files are present")
    lost_files = BundleFile.select().count() - sum(1 for f in BundleFile.select(BundleFile.sha256)
                                                   if box.store.exists(f.sha256))
    if lost_files:
        add("warn", "bundles", f"{lost_files} files of bundles are missing (partial updates will fail)",
            "restore from a backup; full-zip updates still work")
    referenced = referenced_blobs()
    orphans = sum(1 for sha in box.store.all_keys() if sha not in referenced)
    expired = Upload.select().where(Upload.expires_at < utcnow()).count()
    if orphans or expired:
        add("info", "garbage", f"{orphans} unreferenced files, {expired} expired uploads", "otabox gc")
    free = shutil.disk_usage(data_dir).free
    if free < 1024 ** 3:
        add("warn", "disk", f"only {free // (1024 * 1024)} MB free on the data directory's disk",
            "free space or move the data directory; uploads fail with 507 when the disk is full")
    return findings
