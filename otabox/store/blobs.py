"""Content-addressed blob storage. Blobs are named by their SHA-256; writes are atomic and durable.

`BlobStore` is the seam for other backends (S3-compatible stores): put a local file, open, delete,
exists, url. `FileSystemBlobStore` is the first implementation."""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import re
import uuid
from pathlib import Path
from typing import BinaryIO, Iterator

from ..errors import InsufficientStorage, NotFound, TooLarge
from .files import fsync_dir

CHUNK = 1024 * 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def is_sha256(text: str) -> bool:
    return bool(_SHA256.match(text or ""))


def blob_name(sha256: str) -> str:
    """Where a blob lives in a store, under its root or prefix: `<sha[:2]>/<sha256>`."""
    return f"{sha256[:2]}/{sha256}"


@dataclasses.dataclass
class StagedFile:
    """A received file in the staging area, hashed while it was written."""

    path: Path
    sha256: str
    size: int

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


class Staging:
    """Where request bodies land before they are validated and committed to the blob store."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def new_path(self, name: str | None = None) -> Path:
        return self.root / (name or uuid.uuid4().hex)

    def receive(self, stream: BinaryIO, limit: int, name: str | None = None) -> StagedFile:
        """Stream `stream` to a staging file, computing its SHA-256; never more than `limit` bytes."""
        path = self.new_path(name)
        digest = hashlib.sha256()
        size = 0
        try:
            with open(path, "wb") as out:
                while True:
                    chunk = stream.read(CHUNK)
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > limit:
                        raise TooLarge(f"the file is larger than the limit of {limit // (1024 * 1024)} MB",
                                       details={"limitBytes": limit})
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            path.unlink(missing_ok=True)
            raise InsufficientStorage("the server could not store the file: " + exc.strerror) from exc
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return StagedFile(path, digest.hexdigest(), size)

    def write_bytes(self, data: bytes) -> StagedFile:
        import io

        return self.receive(io.BytesIO(data), len(data) + 1)

    def files(self) -> Iterator[Path]:
        return (p for p in self.root.iterdir() if p.is_file())


class BlobStore:
    """Interface of a content-addressed store."""

    def put(self, staged: StagedFile) -> None:
        raise NotImplementedError

    def open(self, sha256: str) -> BinaryIO:
        raise NotImplementedError

    def delete(self, sha256: str) -> None:
        raise NotImplementedError

    def exists(self, sha256: str) -> bool:
        raise NotImplementedError

    def local_path(self, sha256: str) -> Path | None:
        """A path the server may stream from, or None for remote stores."""
        return None

    def modified_at(self, sha256: str) -> float:
        """When the blob was written (unix seconds)."""
        raise NotImplementedError

    def url(self, sha256: str, expires_in: int, content_type: str | None = None,
            filename: str | None = None) -> str | None:
        """A direct download URL from the store itself, or None when otabox serves the blob."""
        return None

    def upload_url(self, name: str, size: int, expires_in: int) -> str | None:
        """Where a two-step upload may PUT its bytes directly, or None when otabox receives them."""
        return None

    def take_upload(self, name: str, staging: "Staging", limit: int) -> "StagedFile | None":
        """The bytes PUT to `upload_url(name)`, moved into the staging area (None if none came)."""
        return None

    def discard_upload(self, name: str) -> None:
        """Forget the bytes PUT to `upload_url(name)` (an expired or refused upload)."""

    @contextlib.contextmanager
    def local_copy(self, sha256: str, staging: "Staging") -> Iterator[Path]:
        """A local file with the blob's bytes for as long as the block runs."""
        path = self.local_path(sha256)
        if path is None or not path.exists():
            raise NotFound("the file is missing from storage", code="file_missing")
        yield path

    def all_keys(self) -> Iterator[str]:
        raise NotImplementedError


class FileSystemBlobStore(BlobStore):
    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, sha256: str) -> Path:
        if not is_sha256(sha256):
            raise NotFound("no such file")
        return self.root / blob_name(sha256)

    def put(self, staged: StagedFile) -> None:
        """Move a staged file into place (atomic rename, then directory fsync). Idempotent."""
        target = self._path(staged.sha256)
        if target.exists():
            staged.discard()
            os.utime(target)  # young again: `otabox gc` spares it while the row that names it is written
            return
        target.parent.mkdir(exist_ok=True)
        try:
            os.replace(staged.path, target)
            fsync_dir(target.parent)
        except OSError as exc:
            staged.discard()
            raise InsufficientStorage("the server could not store the file: " + exc.strerror) from exc

    def open(self, sha256: str) -> BinaryIO:
        try:
            return open(self._path(sha256), "rb")
        except FileNotFoundError as exc:
            raise NotFound("the file is missing from storage", code="file_missing") from exc

    def delete(self, sha256: str) -> None:
        self._path(sha256).unlink(missing_ok=True)

    def exists(self, sha256: str) -> bool:
        return is_sha256(sha256) and self._path(sha256).exists()

    def local_path(self, sha256: str) -> Path | None:
        return self._path(sha256)

    def modified_at(self, sha256: str) -> float:
        return self._path(sha256).stat().st_mtime

    def all_keys(self) -> Iterator[str]:
        for shard in self.root.iterdir():
            if shard.is_dir():
                for blob in shard.iterdir():
                    if is_sha256(blob.name):
                        yield blob.name
