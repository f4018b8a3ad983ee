"""Maintenance: garbage collection of files nothing refers to, the janitor that expires uploads and
prunes old telemetry, and doctor."""
from __future__ import annotations

import time

from ..core import devices, flag_contexts, health, releases, telemetry
from ..core.bundles import expire_uploads, record_file_missing, referenced_blobs, upload_file_prefix
from ..core.serving import FILE_MISSING
from ..store.models import Bundle, BundleFile, Channel, Release, Upload, utcnow
from .leased import LeasedLoop

STAGING_GRACE_SECONDS = 24 * 3600
BLOB_GRACE_SECONDS = 3600
"""A blob is written before the row that names it, so a young unreferenced blob may be an upload in flight."""
JANITOR_INTERVAL_SECONDS = 600
JANITOR_LEASE_SECONDS = 30
"""How long the janitor's lease outlives a holder that died: as short as the other loops' (renewed every
10 s while held), so abandoned uploads wait for another process no longer than one interval more."""


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


def clear_abandoned_staging(box) -> int:
    """At the start of the first server on a data dir: remove the staged files that servers before it
    left (an upload cut off by a stop, a validation it never finished), keeping those of live two-step
    uploads. Only servers stage here, so with none running every other file is abandoned; `gc` would
    otherwise keep them a day."""
    live = tuple(upload_file_prefix(u.id) for u in Upload.select(Upload.id))
    abandoned = [path for path in box.staging.files() if not path.name.startswith(live)]
    for path in abandoned:
        path.unlink(missing_ok=True)
    return len(abandoned)


def janitor(box, interval: float = JANITOR_INTERVAL_SECONDS) -> LeasedLoop:
    """Tidies the box while the server runs (`tidy`), in one process of the box (a lease: several
    processes on one database would otherwise race to expire the same uploads)."""
    return LeasedLoop(box.db, "janitor", interval, lambda: tidy(box), ttl=JANITOR_LEASE_SECONDS)


def tidy(box) -> dict:
    """One janitor round: abandoned two-step uploads expire, health and flag telemetry, devices' kept
    events, daily-active rows and status events older than OTABOX_HEALTH_RETENTION_DAYS go, and devices
    not seen for OTABOX_DEVICE_RETENTION_DAYS (in short transactions), and so do CodePush's Active
    counters at zero or past their bound per deployment."""
    days = box.config.health_retention_days
    return {"expiredUploads": expire_uploads(box), "healthRows": health.prune(days),
            "flagTelemetryRows": flag_contexts.prune(days), "eventRows": telemetry.prune(days),
            **devices.prune(box.config.device_retention_days, days), "activeCounters": releases.prune_active()}


def _counted(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _naming_releases(bundle) -> str:
    """The releases that name a bundle, for doctor: `releases 12 (production), 15 (staging)`."""
    rows = (Release.select(Release.id, Channel.name).join(Channel).where(Release.bundle == bundle)
            .order_by(Release.id).tuples())
    named = [f"{release_id} ({channel})" for release_id, channel in rows]
    return f"release{'s' if len(named) != 1 else ''} {', '.join(named)}" if named else "no release names it"


def diagnose(box, deep: bool = False) -> list[dict]:
    """Findings about a data directory, each `{level: ok|info|warn|fail, check, message, fix}`."""
    import hashlib
    import shutil
    import stat

    from ..store import migrations
    from ..store.db import integrity_problems, is_sqlite
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
    gone = {b.sha256 for b in missing}
    for sha256 in gone:
        record_file_missing(sha256, True, "doctor")
    found = [b for b in Bundle.select() if (b.extra or {}).get(FILE_MISSING) and b.sha256 not in gone]
    for bundle in found:
        record_file_missing(bundle.sha256, False, "doctor")
        add("info", "bundles", f"bundle {bundle.id} ({bundle.version}) has its file again: its releases are offered "
            "again")
    for bundle in missing:
        add("fail", "bundles", f"bundle {bundle.id} ({bundle.version}) of {bundle.app.slug} has no file in storage: "
            f"{_naming_releases(bundle)}; it is no longer offered (devices get what those channels served before), "
            "and devices that were offered it can download it neither in full nor in parts",
            "put the file back from a backup (or the bucket's versioning), or release another bundle to those "
            "channels and delete this one")
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
    lost = [f for f in BundleFile.select(BundleFile.bundle, BundleFile.sha256) if not box.store.exists(f.sha256)]
    if not missing:
        # Counted as `otabox backup` cannot: bundles and their files, not stored files (a backup's
        # count also has patches, compressed copies and files that several bundles share once).
        inside = "" if lost else f" and the {_counted(BundleFile.select().count(), 'file')} inside them"
        add("ok", "bundles", f"the zips of {_counted(Bundle.select().count(), 'bundle')}{inside} are present")
    whole = sorted({f.bundle_id for f in lost} - {b.id for b in missing})
    if whole:  # the zips of bundles whose zip is missing are told above
        add("warn", "bundles", f"{sum(f.bundle_id in whole for f in lost)} files of bundle(s) "
            f"{', '.join(map(str, whole))} are missing: partial (per-file) updates of them fail, the full zips "
            "are there", "put the files back from a backup; meanwhile devices that download full zips still update")
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
