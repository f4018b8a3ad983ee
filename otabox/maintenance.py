"""Maintenance: garbage collection of files nothing refers to, and the janitor that expires uploads."""
from __future__ import annotations

import logging
import threading
import time

from .bundles import expire_uploads, referenced_blobs
from .models import Upload

STAGING_GRACE_SECONDS = 24 * 3600
BLOB_GRACE_SECONDS = 3600
"""A blob is written before the row that names it, so a young unreferenced blob may be an upload in flight."""
JANITOR_INTERVAL_SECONDS = 600


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
    young = time.time() - BLOB_GRACE_SECONDS
    for sha in list(box.store.all_keys()):
        if sha not in referenced and box.store.modified_at(sha) < young:
            box.store.delete(sha)
            blobs += 1
    return {"expiredUploads": uploads, "stagedFiles": staged, "blobs": blobs}


class Janitor:
    """Removes abandoned two-step uploads while the server runs."""

    def __init__(self, box, interval: float = JANITOR_INTERVAL_SECONDS):
        self.box, self.interval = box, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="otabox-janitor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                with self.box.db.connection_context():
                    expire_uploads(self.box)
            except Exception:  # retried at the next interval; never kill the thread
                logging.getLogger("otabox").exception("expiring uploads failed")
