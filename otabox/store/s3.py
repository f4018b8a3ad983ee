"""Blobs in any S3-compatible object store (AWS S3, Cloudflare R2, MinIO, Ceph...), through boto3.

`OTABOX_STORAGE_URL=s3://bucket/prefix` selects it; credentials and region come from the usual AWS
variables (or an instance role), `OTABOX_S3_ENDPOINT_URL` names a non-AWS endpoint. Keys are
content-addressed as on the filesystem (`<prefix>/<sha[:2]>/<sha256>`), so gc, backups and integrity
checks work the same. Uploads to the bucket are multipart with a bounded part size and concurrency
(memory stays flat whatever the bundle size); downloads are handed out as presigned GET URLs (or as
URLs under `OTABOX_CDN_BASE_URL`), so the bytes never pass through otabox.

boto3 is an optional extra (`pip install 'otabox[s3]'`); the embedded default never imports it."""
from __future__ import annotations

import contextlib
import datetime as dt
from pathlib import Path
from typing import BinaryIO, Iterator
from urllib.parse import quote, urlsplit

from ..errors import InsufficientStorage, NotFound
from .blobs import BlobStore, StagedFile, blob_name, is_sha256

PART_BYTES = 8 * 1024 * 1024
UPLOAD_CONCURRENCY = 2
"""Multipart uploads hold at most PART_BYTES x UPLOAD_CONCURRENCY in memory."""


class S3Unavailable(InsufficientStorage):
    code = "storage_unavailable"


def parse_storage_url(url: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` -> ("bucket", "some/prefix")."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"not an s3://bucket/prefix URL: {url!r}")
    return parts.netloc, parts.path.strip("/")


class S3BlobStore(BlobStore):
    def __init__(self, url: str, endpoint_url: str | None = None, cdn_base_url: str | None = None, client=None):
        self.bucket, self.prefix = parse_storage_url(url)
        self.cdn_base_url = (cdn_base_url or "").rstrip("/") or None
        if client is None:
            try:
                import boto3
                from botocore.config import Config as BotoConfig
            except ImportError:
                raise ValueError("s3:// storage needs boto3: pip install 'otabox[s3]'") from None
            client = boto3.client("s3", endpoint_url=endpoint_url or None,
                                  config=BotoConfig(signature_version="s3v4", retries={"mode": "standard"}))
        self.client = client
        from boto3.s3.transfer import TransferConfig
        from botocore.exceptions import BotoCoreError, ClientError

        self._transfer = TransferConfig(multipart_threshold=PART_BYTES, multipart_chunksize=PART_BYTES,
                                        max_concurrency=UPLOAD_CONCURRENCY, use_threads=True)
        self._errors = (BotoCoreError, ClientError)
        self._client_error = ClientError

    def key(self, name: str) -> str:
        if is_sha256(name):
            name = blob_name(name)
        return f"{self.prefix}/{name}" if self.prefix else name

    def _missing(self, exc) -> bool:
        return isinstance(exc, self._client_error) and exc.response.get("Error", {}).get("Code") in (
            "404", "NoSuchKey", "NotFound")

    @contextlib.contextmanager
    def _talking(self, what: str):
        try:
            yield
        except self._errors as exc:
            if self._missing(exc):
                raise NotFound("the file is missing from storage", code="file_missing") from None
            raise S3Unavailable(f"the object store failed to {what}: {exc}") from exc

    def put(self, staged: StagedFile) -> None:
        """Upload a staged file under its digest (skipped when the bucket has it), then drop it."""
        try:
            if self.exists(staged.sha256):
                with self._talking("refresh a file"):  # young again, as on the filesystem: gc spares it
                    key = self.key(staged.sha256)
                    self.client.copy_object(Bucket=self.bucket, Key=key, CopySource={"Bucket": self.bucket, "Key": key},
                                            MetadataDirective="REPLACE", ContentType="application/octet-stream")
            else:
                with self._talking("store a file"):
                    self.client.upload_file(str(staged.path), self.bucket, self.key(staged.sha256),
                                            ExtraArgs={"ContentType": "application/octet-stream"},
                                            Config=self._transfer)
        finally:
            staged.discard()

    def open(self, sha256: str) -> BinaryIO:
        if not is_sha256(sha256):
            raise NotFound("no such file")
        with self._talking("read a file"):
            return self.client.get_object(Bucket=self.bucket, Key=self.key(sha256))["Body"]

    def delete(self, sha256: str) -> None:
        if is_sha256(sha256):
            with self._talking("delete a file"):
                self.client.delete_object(Bucket=self.bucket, Key=self.key(sha256))

    def _head(self, name: str) -> dict | None:
        try:
            return self.client.head_object(Bucket=self.bucket, Key=self.key(name))
        except self._errors as exc:
            if self._missing(exc):
                return None
            raise S3Unavailable(f"the object store failed to look up a file: {exc}") from exc

    def exists(self, sha256: str) -> bool:
        return is_sha256(sha256) and self._head(sha256) is not None

    def modified_at(self, sha256: str) -> float:
        head = self._head(sha256)
        if head is None:
            raise NotFound("the file is missing from storage", code="file_missing")
        return head["LastModified"].replace(tzinfo=head["LastModified"].tzinfo or dt.timezone.utc).timestamp()

    def url(self, sha256: str, expires_in: int, content_type: str | None = None,
            filename: str | None = None) -> str | None:
        """A CDN URL under OTABOX_CDN_BASE_URL, or a presigned GET that expires like otabox's own."""
        if self.cdn_base_url:
            return f"{self.cdn_base_url}/{quote(self.key(sha256))}"
        params = {"Bucket": self.bucket, "Key": self.key(sha256)}
        if content_type:
            params["ResponseContentType"] = content_type
        if filename:
            params["ResponseContentDisposition"] = f'attachment; filename="{filename}"'
        with self._talking("sign a download URL"):
            return self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in)

    def upload_url(self, name: str, size: int, expires_in: int) -> str:
        """A presigned PUT for a two-step upload, straight to the bucket (finalize reads it back)."""
        with self._talking("sign an upload URL"):
            return self.client.generate_presigned_url(
                "put_object", Params={"Bucket": self.bucket, "Key": self.key(name), "ContentLength": size},
                ExpiresIn=expires_in)

    def take_upload(self, name: str, staging, limit: int) -> StagedFile | None:
        """Move an object PUT through `upload_url` into the staging area (hashing it on the way), or
        None when nothing was uploaded under that name."""
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self.key(name))["Body"]
        except self._errors as exc:
            if self._missing(exc):
                return None
            raise S3Unavailable(f"the object store failed to read an upload: {exc}") from exc
        with contextlib.closing(body):
            staged = staging.receive(body, limit)
        self.discard_upload(name)
        return staged

    def discard_upload(self, name: str) -> None:
        with self._talking("delete an upload"):
            self.client.delete_object(Bucket=self.bucket, Key=self.key(name))

    @contextlib.contextmanager
    def local_copy(self, sha256: str, staging) -> Iterator[Path]:
        body = self.open(sha256)
        with contextlib.closing(body):
            staged = staging.receive(body, 1 << 62)
        try:
            yield staged.path
        finally:
            staged.discard()

    def all_keys(self) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        prefix = f"{self.prefix}/" if self.prefix else ""
        with self._talking("list files"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", ()):
                    name = item["Key"].rsplit("/", 1)[-1]
                    if is_sha256(name):
                        yield name
