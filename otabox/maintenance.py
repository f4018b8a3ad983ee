"""Maintenance: garbage collection of files nothing refers to."""
from __future__ import annotations

import time

from .bundles import expire_uploads, referenced_blobs
from .models import Upload

STAGING_GRACE_SECONDS = 24 * 3600


def collect_garbage(box) -> dict:
    """Expired uploads, staged files older than a day that no live upload owns, unreferenced blobs."""
    uploads = expire_uploads(box)
    live = {f"upload-{u.id}" for u in Upload.select(Upload.id)}
    cutoff = time.time() - STAGING_GRACE_SECONDS
    staged = 0
    for path in box.staging.files():
        if path.name not in live and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            staged += 1
    referenced = referenced_blobs()
    blobs = 0
    for sha in list(box.store.all_keys()):
        if sha not in referenced:
            box.store.delete(sha)
            blobs += 1
    return {"expiredUploads": uploads, "stagedFiles": staged, "blobs": blobs}
