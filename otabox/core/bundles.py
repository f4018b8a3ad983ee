"""Bundles: field validation, ingestion (file first, row after), listing, deletion, two-step uploads."""
from __future__ import annotations

import dataclasses
import datetime as dt
import os
import secrets
from typing import Callable

from ..errors import BadRequest, Conflict, Gone, Invalid, NotFound, TooLarge
from ..security.zipcheck import ZipEntry, ZipLimits, check_zip
from ..store.blobs import StagedFile, is_sha256
from ..store.generation import bump_generation
from ..store.models import App, Bundle, BundleFile, Release, Upload, database, iso, row_id, utcnow
from . import audit, outbox, semver

PLATFORMS = ("ios", "android", "all")
FORMATS = ("zip", "expo")


@dataclasses.dataclass
class BundleFields:
    version: str
    platform: str = "all"
    format: str = "zip"
    min_native_build: int | None = None
    target_versions: str | None = None
    notes: str = ""
    runtime_version: str | None = None
    session_key: str | None = None
    encrypted_checksum: str | None = None
    key_id: str | None = None

    @property
    def encrypted(self) -> bool:
        return bool(self.session_key)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def _text(data: dict, name: str, limit: int = 2000) -> str | None:
    value = data.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise BadRequest(f"{name} must be a string of at most {limit} characters", details={"field": name})
    return value


def parse_fields(data: dict) -> BundleFields:
    """Validate bundle fields from a multipart form or a JSON body (both spellings of numbers)."""
    version = _text(data, "version", 100)
    if not version:
        raise BadRequest("version is required", details={"field": "version"})
    try:
        semver.parse_version(version)
    except ValueError:
        raise BadRequest("version must be a semantic version such as 1.2.3", details={"field": "version"}) from None
    platform = _text(data, "platform", 20) or "all"
    if platform not in PLATFORMS:
        raise BadRequest("platform must be ios, android or all", details={"field": "platform"})
    fmt = _text(data, "format", 20) or "zip"
    if fmt not in FORMATS:
        raise BadRequest("format must be zip or expo", details={"field": "format"})
    build = data.get("minNativeBuild")
    if build in (None, ""):
        build = None
    elif isinstance(build, bool) or not (isinstance(build, int) or (isinstance(build, str) and build.isdecimal())) \
            or not 0 <= int(build) < 2**63:
        raise BadRequest("minNativeBuild must be a non-negative integer", details={"field": "minNativeBuild"})
    else:
        build = int(build)
    targets = _text(data, "targetVersions", 200)
    if targets is not None and not semver.is_valid_range(targets):
        raise BadRequest("targetVersions must be a semver range such as ^1.2.0", details={"field": "targetVersions"})
    fields = BundleFields(
        version=version, platform=platform, format=fmt, min_native_build=build, target_versions=targets,
        notes=_text(data, "notes", 10000) or "", runtime_version=_text(data, "runtimeVersion", 100),
        session_key=_text(data, "sessionKey", 2000), encrypted_checksum=_text(data, "encryptedChecksum", 2000),
        key_id=_text(data, "keyId", 200))
    if fields.format == "expo" and not fields.runtime_version:
        raise BadRequest("runtimeVersion is required for Expo bundles", details={"field": "runtimeVersion"})
    if fields.encrypted and fields.format != "zip":
        raise BadRequest("only zip bundles can be encrypted", details={"field": "sessionKey"})
    if fields.encrypted and not fields.encrypted_checksum:
        raise BadRequest("an encrypted bundle needs encryptedChecksum", details={"field": "encryptedChecksum"})
    return fields


def bundle_json(bundle: Bundle) -> dict:
    return {
        "id": bundle.id, "version": bundle.version, "platform": bundle.platform, "format": bundle.format,
        "sha256": bundle.sha256, "size": bundle.size, "signature": bundle.signature,
        "minNativeBuild": bundle.min_native_build, "targetVersions": bundle.target_versions,
        "notes": bundle.notes, "packageHash": bundle.package_hash, "runtimeVersion": bundle.runtime_version,
        "encrypted": bool(bundle.session_key), "keyId": bundle.key_id, "createdAt": iso(bundle.created_at),
    }


def _ensure_new(app: App, fields: BundleFields) -> None:
    if Bundle.select().where((Bundle.app == app) & (Bundle.platform == fields.platform)
                             & (Bundle.version == fields.version)).exists():
        raise Conflict(f"version {fields.version} ({fields.platform}) exists already for this app",
                       code="duplicate_version", details={"version": fields.version, "platform": fields.platform})


Describer = Callable[[BundleFields, StagedFile, list[ZipEntry]], dict]
"""What a bundle format adds at ingestion (the bundle's `extra`; a `packageHash` in it goes to its own
column). The client protocols provide them: the CodePush package hash for zips, the asset table of
Expo exports; the composition root (box.py) hands them to the Ingestor."""


class Ingestor:
    """Turns a staged upload into a bundle: validate, store the zip and each file, then write rows.

    The order makes a crash harmless: blobs are durable before the row that names them is written,
    and a blob without a row is only garbage for `otabox gc`."""

    def __init__(self, box, describers: dict[str, Describer]):
        self.box = box
        self.describers = describers

    def limits(self) -> ZipLimits:
        return ZipLimits(self.box.config.max_zip_entries, self.box.config.max_uncompressed_bytes)

    def _store_member(self, member, limit: int) -> tuple[str, int]:
        try:
            staged = self.box.staging.receive(member, limit)
        except TooLarge:
            raise Invalid("the zip expands beyond the allowed size", code="zip_bomb") from None
        self.box.store.put(staged)
        return staged.sha256, staged.size

    def ingest(self, app: App, fields: BundleFields, staged: StagedFile, actor: str) -> Bundle:
        try:
            _ensure_new(app, fields)
            entries = [] if fields.encrypted else check_zip(staged.path, self.limits(), self._store_member)
            extra = {} if fields.encrypted else self.describers[fields.format](fields, staged, entries)
            self.box.store.put(staged)
        except BaseException:
            staged.discard()
            raise
        signature = self.box.secrets.bundle_signer.sign_digest(staged.sha256)
        with database.atomic():
            _ensure_new(app, fields)
            bundle = Bundle.create(
                app=app, version=fields.version, platform=fields.platform, format=fields.format,
                sha256=staged.sha256, size=staged.size, signature=signature,
                min_native_build=fields.min_native_build, target_versions=fields.target_versions,
                notes=fields.notes, runtime_version=fields.runtime_version, session_key=fields.session_key,
                encrypted_checksum=fields.encrypted_checksum, key_id=fields.key_id,
                package_hash=extra.pop("packageHash", None), extra=extra)
            if entries:
                BundleFile.insert_many([{"bundle": bundle.id, "path": e.path, "sha256": e.sha256, "size": e.size}
                                        for e in entries]).execute()
            audit.record(actor, "bundle.created", "bundle", bundle.id,
                         {"app": app.slug, "version": fields.version, "platform": fields.platform,
                          "sha256": staged.sha256})
            outbox.emit("bundle.created", app, {"bundle": bundle_json(bundle)})
            bump_generation()
        return bundle


def find_bundle(app: App, bundle_id) -> Bundle:
    number = row_id(bundle_id)
    bundle = Bundle.get_or_none((Bundle.id == number) & (Bundle.app == app)) if number is not None else None
    if bundle is None:
        raise NotFound(f"no bundle {bundle_id!r} in app {app.slug!r}")
    return bundle


def list_bundles(app: App, limit: int, offset: int) -> tuple[list[Bundle], int]:
    query = Bundle.select().where(Bundle.app == app)
    return list(query.order_by(Bundle.id.desc()).limit(limit).offset(offset)), query.count()


def referenced_blobs() -> set[str]:
    refs = {b.sha256 for b in Bundle.select(Bundle.sha256)}
    refs |= {f.sha256 for f in BundleFile.select(BundleFile.sha256)}
    for bundle in Bundle.select(Bundle.extra).where(Bundle.extra.is_null(False)):
        refs |= set((bundle.extra or {}).get("blobs", ()))
    return refs


def blobs_of(bundles) -> set[str]:
    """Every blob the given bundles use: the bundle itself, its files, and format-specific extras."""
    blobs = set()
    for bundle in bundles:
        blobs |= {bundle.sha256} | {f.sha256 for f in bundle.files} | set((bundle.extra or {}).get("blobs", ()))
    return blobs


def remove_unreferenced_blobs(store, candidates: set[str]) -> int:
    """Delete the given blobs unless some bundle still uses them (blobs are shared between bundles)."""
    unused = candidates - referenced_blobs()
    for sha in unused:
        store.delete(sha)
    return len(unused)


def delete_bundle(app: App, bundle: Bundle, actor: str, store) -> None:
    with database.atomic():
        if Release.select().where(Release.bundle == bundle).exists():
            raise Conflict("the bundle is in a channel's release history and cannot be deleted",
                           code="bundle_in_use", details={"id": bundle.id})
        blobs = blobs_of([bundle])
        bundle.delete_instance(recursive=True)
        audit.record(actor, "bundle.deleted", "bundle", bundle.id, {"app": app.slug, "version": bundle.version})
        bump_generation()
    remove_unreferenced_blobs(store, blobs)


def amend_extra(bundle_id: int, change: Callable[[dict], dict]) -> dict | None:
    """Replace a bundle's `extra` by `change(extra)` (protocols record what they derive from a bundle,
    such as CodePush diffs); None when the bundle is gone."""
    with database.atomic():
        row = Bundle.get_or_none(Bundle.id == bundle_id)
        if row is None:
            return None
        extra = change(dict(row.extra or {}))
        Bundle.update(extra=extra).where(Bundle.id == bundle_id).execute()
        bump_generation()
    return extra


def resign_all(signer, actor: str) -> None:
    """Sign every bundle again with `signer` (after the signing key was rotated)."""
    with database.atomic():
        for bundle in Bundle.select(Bundle.id, Bundle.sha256):
            Bundle.update(signature=signer.sign_digest(bundle.sha256)).where(Bundle.id == bundle.id).execute()
        audit.record(actor, "signing_key.rotated", "signing_key", signer.key_id, {})
        bump_generation()


def initiate_upload(app: App, data: dict, ttl: int, max_bytes: int, actor: str) -> Upload:
    fields = parse_fields(data)
    size, sha256 = data.get("size"), data.get("sha256")
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise BadRequest("size must be a positive integer (bytes)", details={"field": "size"})
    if size > max_bytes:
        raise TooLarge(f"the bundle is larger than the limit of {max_bytes // (1024 * 1024)} MB",
                       details={"limitBytes": max_bytes})
    if not isinstance(sha256, str) or not is_sha256(sha256.lower()):
        raise BadRequest("sha256 must be 64 hex characters", details={"field": "sha256"})
    _ensure_new(app, fields)
    upload = Upload.create(id=secrets.token_hex(16), app=app, fields=fields.as_dict(), size=size,
                           sha256=sha256.lower(), expires_at=utcnow() + dt.timedelta(seconds=ttl))
    audit.record(actor, "upload.initiated", "upload", upload.id, {"app": app.slug, "version": fields.version})
    return upload


def live_upload(upload_id: str, app: App | None = None) -> Upload:
    upload = Upload.get_or_none(Upload.id == upload_id) if isinstance(upload_id, str) else None
    if upload is None or (app is not None and upload.app_id != app.id):
        raise NotFound("no such upload")
    if upload.expires_at < utcnow():
        raise Gone("the upload has expired; initiate it again", code="upload_expired")
    return upload


def upload_file_prefix(upload_id: str) -> str:
    return f"upload-{upload_id}."


def _received_files(box, upload: Upload) -> list:
    prefix = upload_file_prefix(upload.id)
    return [path for path in box.staging.files() if path.name.startswith(prefix)]


def receive_upload(box, upload: Upload, stream) -> None:
    """Store the PUT body of a two-step upload in the staging area.

    The body lands under a fresh name and is then renamed to `upload-<id>.<its sha256>`: the name
    vouches for the content, so concurrent or repeated PUTs cannot mix bytes and hashes."""
    staged = box.staging.receive(stream, upload.size)
    if staged.size != upload.size:
        staged.discard()
        raise Invalid("the uploaded size differs from the initiated size", code="size_mismatch",
                      details={"expected": upload.size, "received": staged.size})
    os.replace(staged.path, box.staging.new_path(upload_file_prefix(upload.id) + staged.sha256))
    Upload.update(received_sha256=staged.sha256).where(Upload.id == upload.id).execute()


def finalize_upload(box, app: App, upload_id, actor: str) -> Bundle:
    upload = live_upload(upload_id, app)
    expected = box.staging.new_path(upload_file_prefix(upload.id) + upload.sha256)
    try:
        if not expected.exists():
            if _received_files(box, upload):
                raise Invalid("the uploaded file does not match the initiated sha256", code="checksum_mismatch",
                              details={"expectedSha256": upload.sha256, "receivedSha256": upload.received_sha256})
            raise Invalid("nothing was uploaded for this upload id", code="upload_missing")
        staged = StagedFile(expected, upload.sha256, expected.stat().st_size)
        return box.ingestor.ingest(app, BundleFields(**upload.fields), staged, actor)
    finally:
        for leftover in _received_files(box, upload):
            leftover.unlink(missing_ok=True)
        Upload.delete().where(Upload.id == upload.id).execute()


def expire_uploads(box) -> int:
    """Remove uploads whose time ran out, with their staged files."""
    expired = list(Upload.select().where(Upload.expires_at < utcnow()))
    for upload in expired:
        for leftover in _received_files(box, upload):
            leftover.unlink(missing_ok=True)
        upload.delete_instance()
    return len(expired)
