"""Per release, what its launch assets cost to send: downloads and bytes in full and as patches, and
what the patched ones would have cost in full. Counted in memory on the download path and written
in batches (a download never waits for the database)."""
from __future__ import annotations

from ..store.models import Release, ReleaseTransfer, database
from .batching import BatchWriter

FIELDS = ("full_downloads", "full_bytes", "patched_downloads", "patched_bytes", "patched_full_bytes")


class TransferRecorder(BatchWriter):
    thread_name = "otabox-transfers"

    def __init__(self, interval: float):
        super().__init__(interval)
        self._counts: dict[int, list[int]] = {}

    def count_full(self, release_id: int, sent: int) -> None:
        self._add(release_id, (1, sent, 0, 0, 0))

    def count_patched(self, release_id: int, sent: int, full: int) -> None:
        """A patch of `sent` bytes where the full asset would have been `full` bytes."""
        self._add(release_id, (0, 0, 1, sent, full))

    def _add(self, release_id: int, amounts: tuple) -> None:
        with self._lock:
            counts = self._counts.setdefault(release_id, [0] * len(FIELDS))
            for index, amount in enumerate(amounts):
                counts[index] += amount

    def _take(self):
        batch, self._counts = self._counts, {}
        return batch or None

    def _restore(self, batch) -> None:
        for release_id, counts in batch.items():
            self._add(release_id, tuple(counts))

    def _store(self, batch) -> int:
        with database.atomic():
            alive = {r for (r,) in Release.select(Release.id).where(Release.id.in_(list(batch))).tuples()}
            for release_id in sorted(alive):
                values = dict(zip(FIELDS, batch[release_id]))
                update = {getattr(ReleaseTransfer, name): getattr(ReleaseTransfer, name) + value
                          for name, value in values.items()}
                (ReleaseTransfer.insert(release=release_id, **values)
                 .on_conflict(conflict_target=[ReleaseTransfer.release], update=update).execute())
        return len(alive)


def transfer_json(release: Release) -> dict:
    """`{fullDownloads, fullBytes, patchedDownloads, patchedBytes, savedBytes}` of a release so far."""
    row = ReleaseTransfer.get_or_none(ReleaseTransfer.release == release.id)
    values = {name: getattr(row, name) if row else 0 for name in FIELDS}
    return {"releaseId": release.id, "fullDownloads": values["full_downloads"], "fullBytes": values["full_bytes"],
            "patchedDownloads": values["patched_downloads"], "patchedBytes": values["patched_bytes"],
            "savedBytes": values["patched_full_bytes"] - values["patched_bytes"]}
