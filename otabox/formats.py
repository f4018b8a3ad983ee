"""What each bundle format adds at ingestion: the CodePush package hash for zips, the asset table
for Expo exports. Returns the bundle's `extra` (with `packageHash` popped by the ingestor)."""
from __future__ import annotations

from .protocols.codepush_package import package_hash_from_file_hashes
from .errors import Invalid
from .storage import StagedFile
from .zipcheck import ZipEntry


class BundleFormats:
    def __init__(self, box):
        self.box = box

    def describe(self, fields, staged: StagedFile, entries: list[ZipEntry]) -> dict:
        if fields.encrypted:
            return {}
        if fields.format == "expo":
            from .protocols.expo import describe_export

            extra = describe_export(self.box, staged, entries)
            if fields.platform != "all":
                if fields.platform not in extra["platforms"]:
                    raise Invalid(f"the export has no {fields.platform} bundle", code="invalid_expo_export",
                                  details={"platforms": extra["platforms"]})
                extra["platforms"] = [fields.platform]
            return extra
        extra = {"packageHash": package_hash_from_file_hashes({e.path: e.sha256 for e in entries}),
                 "files": len(entries)}
        return extra
