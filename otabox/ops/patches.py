"""The patch maker: makes binary patches off the request path, once per box.

Every `OTABOX_PATCH_INTERVAL` seconds the process holding the `patch-maker` lease asks each
protocol's planner (handed over by the composition root) which patches its apps' channels want,
and makes the ones not recorded yet, one at a time, on this one thread: at most one pair of files
(each at most `OTABOX_PATCH_MAX_INPUT_MB`) is worked on at once; larger pairs are recorded as
skipped and served in full. bsdiff's working memory (about 17 times the input,
core.patches.MEMORY_FACTOR) is spent in a child process for all but small pairs (`Differ`): the
server keeps only the two files, and the memory goes back to the system with each pair instead of
growing the server's heap. A patch is checked before it is kept (applied to its base, it must give
the target's exact bytes) and kept only when clearly smaller than the compressed full file. Until a
patch exists, devices download the full file."""
from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import multiprocessing
import zipfile
from pathlib import Path
from typing import Callable, Iterable

import bsdiff4
import peewee

from ..core import embedded, patch_archive, patches, xzdiff
from ..core.patches import PatchJob
from ..core.serving import AppView
from ..errors import NotFound
from ..store.models import App
from .leased import LeasedLoop

log = logging.getLogger("otabox")
Planner = Callable[[AppView, int, tuple], Iterable[PatchJob]]
"""`planner(app view, number of bases, its embedded bundles)`: the patches one protocol wants for an app."""
LEASE_SECONDS = 600.0
"""Longer than one large patch takes, so the lease is not lost (and the work repeated) mid-patch."""
IN_PROCESS_BYTES = 1024 * 1024
"""Pairs up to this size are diffed on the patch maker's own thread (about 17 MB of working memory):
a child process would cost more than it saves (an archive's many small files)."""


class Differ:
    """bsdiff within bounded memory: small pairs here, larger ones in one child process, started
    (spawned: a fresh interpreter holding only bsdiff4, not a copy of the server) at the first
    large pair of a round and ended with the round. `codec` is `bsdiff4` (BSDIFF40, Expo launch
    assets) or `core.xzdiff` (BSDIFFXZ, the native archive's files): a module with `diff(old, new)`
    and `file_diff(old_path, new_path, patch_path)`."""

    def __init__(self, staging):
        self.staging = staging
        self._pool = None

    def __enter__(self) -> "Differ":
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def diff(self, old: bytes, new: bytes, codec=bsdiff4) -> bytes:
        if max(len(old), len(new)) <= IN_PROCESS_BYTES:
            return codec.diff(old, new)
        old_path, new_path = self.staging.new_path(), self.staging.new_path()
        try:
            old_path.write_bytes(old)
            new_path.write_bytes(new)
            return self.diff_files(old_path, new_path, codec)
        finally:
            old_path.unlink(missing_ok=True)
            new_path.unlink(missing_ok=True)

    def diff_files(self, old_path: Path, new_path: Path, codec=bsdiff4) -> bytes:
        """The patch between two files (BSDIFF40 unless `codec` says otherwise), the files read by
        whoever diffs them."""
        if max(old_path.stat().st_size, new_path.stat().st_size) <= IN_PROCESS_BYTES:
            return codec.diff(old_path.read_bytes(), new_path.read_bytes())
        if self._pool is None:
            self._pool = multiprocessing.get_context("spawn").Pool(1)
        out = self.staging.new_path()
        try:
            self._pool.apply(codec.file_diff, (str(old_path), str(new_path), str(out)))
            return out.read_bytes()
        finally:
            out.unlink(missing_ok=True)


class PatchMaker:
    def __init__(self, box, planners: list[Planner]):
        self.box, self.planners = box, planners
        self.loop = LeasedLoop(box.db, "patch-maker", box.config.patch_interval, self.run,
                               ttl=max(3 * box.config.patch_interval, LEASE_SECONDS))

    def start(self) -> None:
        if self.box.config.patch_bases > 0:  # 0 = no patches: nothing to make, no app views to read
            self.loop.start()

    def stop(self) -> None:
        self.loop.stop()

    def run(self) -> list[dict]:
        """One round: make every wanted patch not recorded yet; returns what was recorded. A database
        too busy to answer (a server starting, an upgrade) only postpones the work to the next round."""
        outcomes = []
        try:
            with Differ(self.box.staging) as differ:
                for job in self.pending():
                    outcome = self.make(job, differ)
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
                for job in planner(view, self.box.config.patch_bases, embedded.of_view(view)):
                    bundle = view.bundles.get(job.bundle_id)
                    if bundle is not None and patches.recorded(bundle.extra, job.base_sha256, job.target_sha256) is None:
                        wanted.setdefault((job.bundle_id, job.base_sha256, job.target_sha256), job)
        return list(wanted.values())

    def make(self, job: PatchJob, differ: Differ) -> dict:
        """The outcome of one job: a made patch (its blob stored) or the reason there is none."""
        limit = self.box.config.patch_max_input_mb * 1024 * 1024
        if patches.too_large(job, limit):
            return patches.skipped(patches.SKIPPED_TOO_LARGE)
        staged = []
        try:
            old, new = self._stage(job.base_sha256, limit, staged), self._stage(job.target_sha256, limit, staged)
            if job.format == patches.ARCHIVE_FORMAT:
                return self._make_archive(job, old, new, differ, limit)
            return self._make_patch(job, old, new, differ)
        except (NotFound, zipfile.BadZipFile):
            return patches.skipped(patches.SKIPPED_UNREADABLE)
        finally:
            for path in staged:
                path.unlink(missing_ok=True)

    def _make_patch(self, job: PatchJob, old: Path, new: Path, differ: Differ) -> dict:
        patch = differ.diff_files(old, new)
        try:
            rebuilt = patches.apply_patch(old.read_bytes(), patch)
        except ValueError:
            rebuilt = b""
        if hashlib.sha256(rebuilt).hexdigest() != job.target_sha256:  # never keep a patch that does not rebuild
            log.error("the patch %s -> %s does not rebuild its target; not kept", job.base_sha256, job.target_sha256)
            return patches.skipped(patches.SKIPPED_UNREADABLE)
        full = patches.compressed_size(rebuilt)
        return self._kept(patch, full, patches.FORMAT)

    def _make_archive(self, job: PatchJob, old: Path, new: Path, differ: Differ, limit: int) -> dict:
        with zipfile.ZipFile(old) as base, zipfile.ZipFile(new) as target:
            archive = patch_archive.build_archive(base, target, job.base_sha256, job.target_sha256,
                                                  functools.partial(differ.diff, codec=xzdiff), limit)
        return self._kept(archive, job.target_size, patches.ARCHIVE_FORMAT)  # a zip: compressed already

    def _kept(self, patch: bytes, full: int, format: str) -> dict:
        if not patches.worth_serving(len(patch), full):
            return patches.skipped(patches.SKIPPED_NOT_SMALLER)
        staged = self.box.staging.write_bytes(patch)
        self.box.store.put(staged)
        return patches.made(staged.sha256, staged.size, full, format)

    def _stage(self, sha256: str, limit: int, staged: list[Path]) -> Path:
        """A private copy of a stored file (bsdiff reads it in another process; the store may be a bucket),
        its digest checked: a damaged file is never a base or a target."""
        with contextlib.closing(self.box.store.open(sha256)) as stream:
            copy = self.box.staging.receive(stream, limit + 1)
        staged.append(copy.path)
        if copy.sha256 != sha256:
            raise NotFound("the file in storage does not match its digest", code="file_damaged")
        return copy.path
