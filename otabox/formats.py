"""What each bundle format adds at ingestion: the CodePush package hash for zips, the asset table
for Expo exports. Returns the bundle's `extra` (with `packageHash` popped by the ingestor)."""
from __future__ import annotations

import hashlib
import json

from .storage import StagedFile
from .zipcheck import ZipEntry

IGNORED_FOR_PACKAGE_HASH = (".codepushrelease",)


def package_hash(entries: list[ZipEntry]) -> str:
    """CodePush's package hash: SHA-256 of the compact JSON list of sorted "path:sha256" entries."""
    items = [f"{e.path}:{e.sha256}" for e in entries
             if not e.path.startswith("__MACOSX/") and not e.path.endswith(".DS_Store")
             and e.path.rsplit("/", 1)[-1] not in IGNORED_FOR_PACKAGE_HASH]
    items.sort(key=lambda s: s.encode("utf-16-be"))
    return hashlib.sha256(json.dumps(items, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()


class BundleFormats:
    def __init__(self, box):
        self.box = box

    def describe(self, fields, staged: StagedFile, entries: list[ZipEntry]) -> dict:
        if fields.encrypted:
            return {}
        if fields.format == "expo":
            from .protocols.expo import describe_export

            return describe_export(self.box, staged, entries)
        extra = {"packageHash": package_hash(entries), "files": len(entries)}
        return extra
