"""The patch maker: makes binary patches off the request path, once per box.

Every `OTABOX_PATCH_INTERVAL` seconds the process holding the `patch-maker` lease asks each
protocol's planner (handed over by the composition root) which patches its apps' channels want,
and makes the ones not recorded yet, one at a time, on this one thread: at most one pair of files
(each at most `OTABOX_PATCH_MAX_INPUT_MB`) and bsdiff's working memory (about 17 times the input,
core.patches.MEMORY_FACTOR) is held at once; larger pairs are recorded as skipped and served in full.
A patch is checked before it is kept (applied to its base, it must give the target's exact bytes)
and kept only when clearly smaller than the compressed full file. Until a patch exists, devices
download the full file."""
from __future__ import annotations

import contextlib
import hashlib
import logging
from typing import Callable, Iterable

import peewee

from ..core import patches
from ..core.patches import PatchJob
from ..core.serving import AppView
from ..errors import NotFound
from ..store.models import App
from .leased import LeasedLoop

log = logging.getLogger("otabox")
Planner = Callable[[AppView, int], Iterable[PatchJob]]
"""`planner(app view, number of bases)`: the patches one protocol wants for an app."""
LEASE_SECONDS = 600.0
"""Longer than one large patch takes, so the lease is not lost (and the work repeated) mid-patch."""


class PatchMaker:
    def __init__(self, box, planners: list[Planner]):
        self.box, self.planners = box, planners
        self.loop = LeasedLoop(box.db, "patch-maker", box.config.patch_interval, self.run,
                               ttl=max(3 * box.config.patch_interval, LEASE_SECONDS))

    def start(self) -> None:
        self.loop.start()

    def stop(self) -> None:
        self.loop.stop()

    def run(self) -> list[dict]:
        """One round: make every wanted patch not recorded yet; returns what was recorded. A database
        too busy to answer (a server starting, an upgrade) only postpones the work to the next round."""
        outcomes = []
        try:
            for job in self.pending():
                outcome = self.make(job)
                if patches.record_patch(job, outcome):
                    outcomes.append(outcome)
                    self.box.publish_changes()
        except peewee.OperationalError as exc:
            log.warning("the patch maker waits for the next round: %s", exc)
        return outcomes

    def pending(self) -> list[PatchJob]:
        wanted: dict[tuple, PatchJob] = {}
        for app_id in App.select(App.id).order_by(App.id).tuples():
            view = self.box.serving.app(str(app_id[0]))
            if view is None:
                continue
            for planner in self.planners:
                for job in planner(view, self.box.config.patch_bases):
                    bundle = view.bundles.get(job.bundle_id)
                    if bundle is not None and patches.recorded(bundle.extra, job.base_sha256, job.target_sha256) is None:
                        wanted.setdefault((job.bundle_id, job.base_sha256, job.target_sha256), job)
        return list(wanted.values())

    def make(self, job: PatchJob) -> dict:
        """The outcome of one job: a made patch (its blob stored) or the reason there is none."""
        if patches.too_large(job, self.box.config.patch_max_input_mb * 1024 * 1024):
            return patches.skipped(patches.SKIPPED_TOO_LARGE)
        try:
            old, new = self._read(job.base_sha256), self._read(job.target_sha256)
        except NotFound:
            return patches.skipped(patches.SKIPPED_UNREADABLE)
        patch = patches.make_patch(old, new)
        if patches.apply_patch(old, patch) != new:  # never keep a patch that does not rebuild the target
            log.error("the patch %s -> %s does not rebuild its target; not kept", job.base_sha256, job.target_sha256)
            return patches.skipped(patches.SKIPPED_UNREADABLE)
        full = patches.compressed_size(new)
        if not patches.worth_serving(len(patch), full):
            return patches.skipped(patches.SKIPPED_NOT_SMALLER)
        staged = self.box.staging.write_bytes(patch)
        self.box.store.put(staged)
        return patches.made(staged.sha256, staged.size, full)

    def _read(self, sha256: str) -> bytes:
        with contextlib.closing(self.box.store.open(sha256)) as stream:
            data = stream.read()
        if hashlib.sha256(data).hexdigest() != sha256:  # a damaged file: never a base or target
            raise NotFound("the file in storage does not match its digest", code="file_damaged")
        return data
