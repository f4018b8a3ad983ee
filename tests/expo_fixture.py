"""Writes a realistic `npx expo export` dist (and its zip) for tests.

Layout mirrors what Expo CLI emits: metadata.json (version 0, bundler "metro"), one bundle per
platform under _expo/static/js/<platform>/, extension-less assets named by their md5 under assets/,
and the public app config in expoConfig.json.
"""
from __future__ import annotations

import hashlib
import json
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path


def _png_1x1() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)
    pixels = zlib.compress(b"\x00\x20\x60\xc0\xff")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def _ttf_stub() -> bytes:
    """An sfnt header with no tables: enough to look like a TrueType font by its magic bytes."""
    return struct.pack(">IHHHH", 0x00010000, 0, 0, 0, 0) + b"otabox fixture font"


DEFAULT_BUNDLE_TEXT = 'var __BUNDLE_START_TIME__=Date.now();console.log("otabox fixture");'
DEFAULT_ASSETS: tuple[tuple[str, bytes], ...] = (("png", _png_1x1()), ("ttf", _ttf_stub()))
DEFAULT_EXPO_CONFIG = {
    "name": "otabox-fixture",
    "slug": "otabox-fixture",
    "version": "1.0.0",
    "runtimeVersion": "1.0.0",
    "sdkVersion": "53.0.0",
    "platforms": ["ios", "android"],
    "updates": {"url": "http://localhost/expo/com.example.app/manifest"},
}


@dataclass(frozen=True)
class ExportFixture:
    dist_dir: Path
    zip_path: Path
    metadata: dict
    expo_config: dict
    bundles: dict[str, tuple[str, bytes]]  # platform -> (path in dist, bytes)
    assets: dict[str, tuple[str, bytes]]  # path in dist -> (ext without dot, bytes)
    zip_root: str  # "" or "<folder>/"

    def file_bytes(self, path_in_dist: str) -> bytes:
        return (self.dist_dir / path_in_dist).read_bytes()


def make_export(
    dir_or_zip_path: str | Path,
    *,
    platforms: tuple[str, ...] = ("ios", "android"),
    bundle_text: str = DEFAULT_BUNDLE_TEXT,
    assets: tuple[tuple[str, bytes], ...] = DEFAULT_ASSETS,
    expo_config: dict | None = DEFAULT_EXPO_CONFIG,
    zip_folder: str | None = None,
) -> ExportFixture:
    """Write a dist and zip it.

    A path ending in .zip is the zip to write (the dist goes beside it in `<stem>-dist/`);
    any other path is the dist directory (the zip goes to `<dir>.zip`). `zip_folder` nests the
    dist inside one top-level folder of the zip, as zipping the `dist` folder itself does.
    """
    target = Path(dir_or_zip_path)
    if target.suffix == ".zip":
        zip_path, dist_dir = target, target.with_name(target.stem + "-dist")
    else:
        dist_dir, zip_path = target, target.with_name(target.name + ".zip")
    dist_dir.mkdir(parents=True, exist_ok=True)

    asset_entries = []
    written_assets = {}
    for ext, data in assets:
        path = f"assets/{hashlib.md5(data).hexdigest()}"
        written_assets[path] = (ext, data)
        asset_entries.append({"path": path, "ext": ext})

    bundles = {}
    file_metadata = {}
    for platform in platforms:
        data = f"{bundle_text}\n//# platform={platform}\n".encode()
        path = f"_expo/static/js/{platform}/index-{hashlib.md5(data).hexdigest()}.hbc"
        bundles[platform] = (path, data)
        file_metadata[platform] = {"bundle": path, "assets": asset_entries}

    metadata = {"version": 0, "bundler": "metro", "fileMetadata": file_metadata}
    files = {path: data for path, data in bundles.values()}
    files.update({path: data for path, (_, data) in written_assets.items()})
    files["metadata.json"] = json.dumps(metadata).encode()
    if expo_config is not None:
        files["expoConfig.json"] = json.dumps(expo_config).encode()
    for path, data in files.items():
        (dist_dir / path).parent.mkdir(parents=True, exist_ok=True)
        (dist_dir / path).write_bytes(data)

    zip_root = f"{zip_folder.strip('/')}/" if zip_folder else ""
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(files):
            archive.write(dist_dir / path, zip_root + path)

    return ExportFixture(
        dist_dir=dist_dir,
        zip_path=zip_path,
        metadata=metadata,
        expo_config=dict(expo_config or {}),
        bundles=bundles,
        assets=written_assets,
        zip_root=zip_root,
    )
