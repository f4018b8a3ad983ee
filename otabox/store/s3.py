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
import dataclasses
import datetime as dt
import logging
from pathlib import Path
from typing import BinaryIO, Iterator
from urllib.parse import quote, urlsplit

from ..errors import InsufficientStorage, NotFound, StorageUnavailable
from .blobs import BlobStore, StagedFile, blob_name, is_sha256

log = logging.getLogger("otabox.storage")

PART_BYTES = 8 * 1024 * 1024
UPLOAD_CONCURRENCY = 2
"""Multipart uploads hold at most PART_BYTES x UPLOAD_CONCURRENCY in memory."""


QUOTA_ERRORS = ("QuotaExceeded", "XMinioStorageFull", "XMinioAdminBucketQuotaExceeded")
"""Error codes with which S3-compatible stores say they are full (507, not a retryable 503)."""


@dataclasses.dataclass(frozen=True)
class S3Timeouts:
    """How long one S3 call may take: `max_attempts` tries (boto3's standard retry mode, with its
    back-off), each connecting within `connect` seconds and waiting at most `read` seconds for data.
    A black-holed bucket thus holds a request (and an upload slot) for about
    max_attempts x (connect + read) seconds, not boto3's default of minutes."""

    connect: float = 5.0
    read: float = 20.0
    max_attempts: int = 3

    @classmethod
    def of(cls, config) -> "S3Timeouts":
        """OTABOX_S3_CONNECT_TIMEOUT, OTABOX_S3_READ_TIMEOUT and OTABOX_S3_MAX_ATTEMPTS."""
        return cls(config.s3_connect_timeout, config.s3_read_timeout, config.s3_max_attempts)


class BucketMissing(InsufficientStorage):
    code = "bucket_missing"


class CredentialsMissing(InsufficientStorage):
    """A configuration problem, not a passing failure: retrying will not help until someone sets them."""

    code = "storage_credentials_missing"


CREDENTIAL_ERRORS = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidClientTokenId", "ExpiredToken")
"""What an object store answers to credentials it does not accept."""
SETUP_ERRORS = ("ProfileNotFound", "ConfigNotFound", "ConfigParseError", "InvalidConfigError", "CredentialRetrievalError",
                "UnknownCredentialError", "TokenRetrievalError", "SSOTokenLoadError", "UnauthorizedSSOTokenError",
                "InvalidRegionError", "NoRegionError")
"""botocore's errors about the AWS settings rather than the object store: retrying will not help, so
they are told in one line (at start, and by any call that meets one later, e.g. an expired SSO token)."""


def parse_storage_url(url: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` -> ("bucket", "some/prefix")."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"not an s3://bucket/prefix URL: {url!r}")
    return parts.netloc, parts.path.strip("/")


class S3BlobStore(BlobStore):
    def __init__(self, url: str, endpoint_url: str | None = None, cdn_base_url: str | None = None, client=None,
                 timeouts: S3Timeouts = S3Timeouts()):
        self.bucket, self.prefix = parse_storage_url(url)
        self.endpoint_url = endpoint_url or None
        self.cdn_base_url = (cdn_base_url or "").rstrip("/") or None
        try:
            import boto3
            from botocore import exceptions as boto_errors
        except ImportError:
            raise ValueError("s3:// storage needs boto3: pip install 'otabox[s3]'") from None
        self._errors = (boto_errors.BotoCoreError, boto_errors.ClientError, boto3.exceptions.S3UploadFailedError)
        self._client_error = boto_errors.ClientError
        self._no_credentials = (boto_errors.NoCredentialsError, boto_errors.PartialCredentialsError)
        self._setup_errors = tuple(getattr(boto_errors, name) for name in SETUP_ERRORS)
        if client is None:
            from botocore.config import Config as BotoConfig

            try:  # a session of its own: the AWS_* variables as they are now, not as boto3's default session saw them
                client = boto3.session.Session().client("s3", endpoint_url=endpoint_url or None, config=BotoConfig(
                    signature_version="s3v4", connect_timeout=timeouts.connect, read_timeout=timeouts.read,
                    retries={"mode": "standard", "total_max_attempts": timeouts.max_attempts}))
            except boto_errors.BotoCoreError as exc:  # nothing was sent yet: the AWS settings are wrong
                raise self.setup_problem(exc) from None
        self.client = client
        from boto3.s3.transfer import TransferConfig

        self._transfer = TransferConfig(multipart_threshold=PART_BYTES, multipart_chunksize=PART_BYTES,
                                        max_concurrency=UPLOAD_CONCURRENCY, use_threads=True)

    def key(self, name: str) -> str:
        if is_sha256(name):
            name = blob_name(name)
        return f"{self.prefix}/{name}" if self.prefix else name

    def _error_code(self, exc) -> str | None:
        return exc.response.get("Error", {}).get("Code") if isinstance(exc, self._client_error) else None

    def bucket_missing(self) -> BucketMissing:
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        create = f"aws s3 mb s3://{self.bucket}" + (f" --endpoint-url {self.endpoint_url}" if self.endpoint_url else "")
        return BucketMissing(f"the bucket {self.bucket!r}{where} does not exist; create it first (e.g. `{create}`) "
                             "or correct the s3:// URL")

    def setup_problem(self, exc) -> CredentialsMissing:
        """One line for AWS settings boto3 cannot use (a profile that does not exist, a config file it
        cannot parse, a credential process that fails), naming the variables to check."""
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return CredentialsMissing(f"the AWS settings for the object store{where} (bucket {self.bucket!r}) cannot be "
                                  f"used: {' '.join(str(exc).split()).rstrip(':')}; check AWS_PROFILE, AWS_CONFIG_FILE and "
                                  "AWS_SHARED_CREDENTIALS_FILE (or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")

    def credentials_problem(self, exc) -> CredentialsMissing | None:
        """A one-line error naming the settings to fix when `exc` is about credentials, else None."""
        if isinstance(exc, self._setup_errors):
            return self.setup_problem(exc)
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        settings = "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or an instance role)" + (
            "" if self.endpoint_url else "; for a provider other than AWS also OTABOX_S3_ENDPOINT_URL")
        if isinstance(exc, self._no_credentials):
            return CredentialsMissing(f"no credentials for the object store{where} (bucket {self.bucket!r}): set "
                                      f"{settings}")
        code = self._error_code(exc)
        if code in CREDENTIAL_ERRORS:
            return CredentialsMissing(f"the object store{where} refused the credentials ({code}): check {settings}")
        return None

    def require_bucket(self) -> None:
        """Fail in one sentence, before anything is stored, when the bucket does not exist. A bucket that
        does not answer now is only logged: the box starts, checks are answered, and what needs the
        bucket answers 503 with Retry-After until it is back (an S3 blip must not stop a restart)."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except self._errors as exc:
            if self._error_code(exc) in ("404", "NoSuchBucket", "NotFound"):
                raise self.bucket_missing() from None
            if (problem := self.credentials_problem(exc)) is not None:
                raise problem from None
            log.warning("object store %s: cannot check the bucket %s now: %s", self.endpoint_url or "AWS S3",
                        self.bucket, exc)

    def _missing(self, exc) -> bool:
        return self._error_code(exc) in ("404", "NoSuchKey", "NotFound")

    def _failure(self, exc, what: str, name: str | None) -> Exception:
        """The error a failed call answers: 507 when the bucket is full, else a retryable 503 that names
        the kind of failure only (the endpoint and key, which the caller has no business knowing, are
        logged)."""
        cause = exc.__context__ if isinstance(exc.__context__, self._client_error) else exc  # upload_file wraps it
        code = self._error_code(cause)
        log.warning("object store %s, bucket %s: failed to %s%s: %s", self.endpoint_url or "AWS S3", self.bucket, what,
                    f" {self.key(name)}" if name else "", exc)
        if code in QUOTA_ERRORS:
            return InsufficientStorage("the object store is full; free space or raise the bucket's quota")
        return StorageUnavailable(f"the object store failed to {what} ({code or exc.__class__.__name__}); "
                                  "nothing was changed, retry shortly")

    @contextlib.contextmanager
    def _talking(self, what: str, name: str | None = None):
        try:
            yield
        except self._errors as exc:
            if self._error_code(exc) == "NoSuchBucket":
                raise self.bucket_missing() from None
            if (problem := self.credentials_problem(exc)) is not None:
                raise problem from None
            if self._missing(exc):
                raise NotFound("the file is missing from storage", code="file_missing") from None
            raise self._failure(exc, what, name) from None

    def put(self, staged: StagedFile) -> None:
        """Upload a staged file under its digest (skipped when the bucket has it), then drop it."""
        try:
            if self.exists(staged.sha256):
                with self._talking("refresh a file", staged.sha256):  # young again, as on the filesystem: gc spares it
                    key = self.key(staged.sha256)
                    self.client.copy_object(Bucket=self.bucket, Key=key, CopySource={"Bucket": self.bucket, "Key": key},
                                            MetadataDirective="REPLACE", ContentType="application/octet-stream")
            else:
                with self._talking("store a file", staged.sha256):
                    self.client.upload_file(str(staged.path), self.bucket, self.key(staged.sha256),
                                            ExtraArgs={"ContentType": "application/octet-stream"},
                                            Config=self._transfer)
        finally:
            staged.discard()

    def open(self, sha256: str) -> BinaryIO:
        if not is_sha256(sha256):
            raise NotFound("no such file")
        with self._talking("read a file", sha256):
            return self.client.get_object(Bucket=self.bucket, Key=self.key(sha256))["Body"]

    def delete(self, sha256: str) -> None:
        if is_sha256(sha256):
            with self._talking("delete a file", sha256):
                self.client.delete_object(Bucket=self.bucket, Key=self.key(sha256))

    def _head(self, name: str) -> dict | None:
        try:
            return self.client.head_object(Bucket=self.bucket, Key=self.key(name))
        except self._errors as exc:
            if self._missing(exc):
                return None
            raise self._failure(exc, "look up a file", name) from None

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
        with self._talking("sign a download URL", sha256):
            return self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in)

    def upload_url(self, name: str, size: int, expires_in: int) -> str:
        """A presigned PUT for a two-step upload, straight to the bucket (finalize reads it back)."""
        with self._talking("sign an upload URL", name):
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
            raise self._failure(exc, "read an upload", name) from None
        with contextlib.closing(body):
            staged = staging.receive(body, limit)
        self.discard_upload(name)
        return staged

    def discard_upload(self, name: str) -> None:
        with self._talking("delete an upload", name):
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
