"""Bundles: field validation, ingestion (file first, row after), listing, deletion, two-step uploads."""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import os
import re
import secrets
import threading
from typing import Callable

from ..errors import BadRequest, Busy, Conflict, Gone, Invalid, NotFound, TooLarge
from ..fields import Choice, Json, Schema, Text, Whole
from ..security.zipcheck import ZipEntry, ZipLimits, check_zip
from ..store.blobs import StagedFile
from ..store.models import (App, Bundle, BundleFile, Channel, ChannelVersion, Device, EmbeddedBundle, Release, Upload,
                            iso, row_id, utcnow)
from . import semver
from .change import changing
from .serving import FILE_MISSING

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
    min_update_version: str | None = None
    message: str = ""
    git_commit_hash: str | None = None
    git_branch: str | None = None
    expo_config: dict | None = None

    @property
    def encrypted(self) -> bool:
        return bool(self.session_key)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def _is_version(text: str) -> bool:
    try:
        semver.parse_version(text)
    except ValueError:
        return False
    return True


VERSION = {"check": _is_version, "expected": "a semantic version such as 1.2.3"}
BUNDLE_FIELDS = Schema({
    "version": Text(100, min_length=1, required=True, **VERSION),
    "platform": Choice(PLATFORMS, nullable=True, description="Default: all"),
    "format": Choice(FORMATS, nullable=True, description="Default: zip"),
    "minNativeBuild": Whole(0, 2**63 - 1, nullable=True),
    "targetVersions": Text(200, nullable=True, check=semver.is_valid_range, expected="a semver range such as ^1.2.0"),
    "notes": Text(10000, nullable=True), "runtimeVersion": Text(100, nullable=True),
    "sessionKey": Text(2000, nullable=True), "encryptedChecksum": Text(2000, nullable=True),
    "keyId": Text(200, nullable=True), "minUpdateVersion": Text(100, nullable=True, **VERSION),
    "message": Text(10000, nullable=True), "gitCommitHash": Text(100, nullable=True),
    "gitBranch": Text(255, nullable=True), "expoConfig": Json(nullable=True, description="Expo bundles: the app "
                                                                                          "config")})
"""A bundle's fields, from a multipart form or (the two-step upload) a JSON body."""
UPLOAD = BUNDLE_FIELDS.extend({"size": Whole(1, description="Bytes", required=True),
                               "sha256": Text(64, pattern="[0-9a-fA-F]{64}", expected="64 hex characters",
                                              required=True)},
                              ignored=("nativePackages",))
"""The two-step upload's initiate body. `nativePackages`: the native plugins @otakit/cli finds in the
project, which OtaKit's server checks bundles against; otabox does not (ignored)."""


def parse_fields(data: dict) -> BundleFields:
    """Validate bundle fields (BUNDLE_FIELDS) and what they imply for each other; empty means absent."""
    data = {k: v for k, v in BUNDLE_FIELDS.validate(data).items() if v not in (None, "")}
    fields = BundleFields(**{re.sub("([A-Z])", r"_\1", name).lower(): value for name, value in data.items()})
    if fields.expo_config is not None and fields.format != "expo":
        raise BadRequest("expoConfig goes with Expo bundles (format=expo)", details={"field": "expoConfig"})
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
        "encrypted": bool(bundle.session_key), "keyId": bundle.key_id, "minUpdateVersion": bundle.min_update_version,
        "message": bundle.message, "gitCommitHash": bundle.git_commit_hash, "gitBranch": bundle.git_branch,
        "expoConfig": (bundle.extra or {}).get("expoConfig") if bundle.format == "expo" else None,
        "createdAt": iso(bundle.created_at),
    }


def _ensure_new(app: App, fields: BundleFields) -> None:
    """A version has one bundle per platform: iOS and Android side by side, or one for all. A bundle
    for `all` beside a platform's own (a forgotten --platform, typically) would make two bundles
    compete for the same devices, so it is refused like the same platform twice."""
    platforms = {bundle.platform for bundle in Bundle.select(Bundle.platform).where(
        (Bundle.app == app) & (Bundle.version == fields.version))}
    details = {"version": fields.version, "platform": fields.platform}
    if fields.platform in platforms:
        raise Conflict(f"version {fields.version} ({fields.platform}) exists already for this app",
                       code="duplicate_version", details=details)
    overlapped = sorted(platforms) if fields.platform == "all" else sorted(platforms & {"all"})
    if overlapped:
        existing = "all platforms" if overlapped == ["all"] else " and ".join(overlapped)
        raise Conflict(f"version {fields.version} has a bundle for {existing} already, which a bundle for "
                       f"{'all platforms' if fields.platform == 'all' else fields.platform} would overlap; name the "
                       "other platform (--platform) or publish a new version",
                       code="overlapping_platform", details={**details, "existingPlatforms": overlapped})


Describer = Callable[[BundleFields, StagedFile, list[ZipEntry]], dict]
"""What a bundle format adds at ingestion (the bundle's `extra`; a `packageHash` in it goes to its own
column). The client protocols provide them: the CodePush package hash for zips, the asset table of
Expo exports; the composition root (box.py) hands them to the Ingestor."""


ZIP_FLOOR_BYTES = 16 * 1024 * 1024
"""Any zip may expand to this much, whatever its compression ratio (the ratio limit is for big ones)."""


class Ingestor:
    """Turns a staged upload into a bundle: validate, store the zip and each file, then write rows.

    Every member is staged (tmp/) while the zip is validated and moved into the blob store only once
    the whole upload is accepted, so a refused upload leaves nothing behind; blobs are durable before
    the row that names them is written, so a crash leaves only garbage for `otabox gc`. Reading is
    bounded by the uncompressed limit and by OTABOX_MAX_ZIP_RATIO times the zip's size, and at most
    OTABOX_MAX_CONCURRENT_INGESTIONS run at once (others get 503 with Retry-After), so uploads cannot
    hold every worker thread."""

    def __init__(self, box, describers: dict[str, Describer]):
        self.box = box
        self.describers = describers
        self._slots = threading.BoundedSemaphore(max(1, box.config.max_concurrent_ingestions))
        self._held = threading.local()

    def limits(self, zip_size: int) -> ZipLimits:
        config = self.box.config
        budget = min(config.max_uncompressed_bytes, max(ZIP_FLOOR_BYTES, config.max_zip_ratio * zip_size))
        return ZipLimits(config.max_zip_entries, budget)

    @contextlib.contextmanager
    def slot(self):
        """One of the few concurrent ingestions (re-entrant within a thread), or Busy (503)."""
        depth = getattr(self._held, "depth", 0)
        if depth == 0 and not self._slots.acquire(blocking=False):
            raise Busy("the server is validating other uploads; retry shortly", code="uploads_busy")
        self._held.depth = depth + 1
        try:
            yield
        finally:
            self._held.depth = depth
            if depth == 0:
                self._slots.release()

    def ingest(self, app: App, fields: BundleFields, staged: StagedFile, actor: str,
               also: Callable[[Bundle], None] | None = None) -> Bundle:
        """`also(bundle)` runs in the transaction that writes the bundle's rows: what it writes (a
        channel number) lands with the bundle or, when it raises, neither does."""
        members: list[StagedFile] = []

        def stage_member(member, limit: int) -> tuple[str, int]:
            try:
                received = self.box.staging.receive(member, limit)
            except TooLarge:
                raise Invalid("the zip expands beyond the allowed size", code="zip_bomb") from None
            members.append(received)
            return received.sha256, received.size

        try:
            with self.slot():
                _ensure_new(app, fields)
                entries = [] if fields.encrypted else check_zip(staged.path, self.limits(staged.size), stage_member)
                extra = {} if fields.encrypted else self.describers[fields.format](fields, staged, entries)
                if fields.expo_config is not None:
                    extra["expoConfig"] = fields.expo_config
                for member in members:
                    self.box.store.put(member)
                self.box.store.put(staged)
        except BaseException:
            staged.discard()
            for member in members:
                member.discard()
            raise
        signature = self.box.secrets.bundle_signer.sign_digest(staged.sha256)
        with changing(actor, "bundle.created", "bundle", details={
                "app": app.slug, "version": fields.version, "platform": fields.platform,
                "sha256": staged.sha256}, app=app) as change:
            _ensure_new(app, fields)
            bundle = Bundle.create(
                app=app, version=fields.version, platform=fields.platform, format=fields.format,
                sha256=staged.sha256, size=staged.size, signature=signature,
                min_native_build=fields.min_native_build, target_versions=fields.target_versions,
                notes=fields.notes, runtime_version=fields.runtime_version, session_key=fields.session_key,
                encrypted_checksum=fields.encrypted_checksum, key_id=fields.key_id,
                package_hash=extra.pop("packageHash", None), extra=extra,
                min_update_version=fields.min_update_version, message=fields.message,
                git_commit_hash=fields.git_commit_hash, git_branch=fields.git_branch)
            if entries:
                BundleFile.insert_many([{"bundle": bundle.id, "path": e.path, "sha256": e.sha256, "size": e.size}
                                        for e in entries]).execute()
            if also is not None:
                also(bundle)
            change.entity_id = bundle.id
            change.emit("bundle.created", app, {"bundle": bundle_json(bundle)})
        return bundle


def find_bundle(app: App, bundle_id) -> Bundle:
    if isinstance(bundle_id, bool) or not isinstance(bundle_id, (int, str)):
        raise BadRequest("a bundle is named by its id, a whole number", details={"field": "bundleId"})
    number = row_id(bundle_id)
    bundle = Bundle.get_or_none((Bundle.id == number) & (Bundle.app == app)) if number is not None else None
    if bundle is None:
        raise NotFound(f"no bundle {str(bundle_id)[:40]!r} in app {app.slug!r}")
    return bundle


def list_bundles(app: App, limit: int, offset: int, version: str | None = None) -> tuple[list[Bundle], int]:
    """The app's bundles, newest first; only those of one version when `version` is given."""
    query = Bundle.select().where(Bundle.app == app)
    if version is not None:
        query = query.where(Bundle.version == version)
    return list(query.order_by(Bundle.id.desc()).limit(limit).offset(offset)), query.count()


def referenced_blobs() -> set[str]:
    refs = {b.sha256 for b in Bundle.select(Bundle.sha256)}
    refs |= {f.sha256 for f in BundleFile.select(BundleFile.sha256)}
    refs |= {e.sha256 for e in EmbeddedBundle.select(EmbeddedBundle.sha256)}
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


def find_bundles(app: App, ref, platform: str | None = None) -> list[Bundle]:
    """The bundles `ref` names: an id, or a version (every platform's bundle of that version unless
    `platform` picks one)."""
    if row_id(ref) is not None:
        return [find_bundle(app, ref)]
    query = Bundle.select().where((Bundle.app == app) & (Bundle.version == ref))
    if platform:
        query = query.where(Bundle.platform == platform)
    found = list(query.order_by(Bundle.id))
    if not found:
        raise NotFound(f"no bundle {ref!r} in app {app.slug!r}")
    return found


def _in_use(bundle_ids) -> set[int]:
    """Bundles some release (of any channel, deleted ones too), a device pin or a channel number (an
    upload waiting to be activated) refers to."""
    return ({r.bundle_id for r in Release.select(Release.bundle).where(Release.bundle.in_(bundle_ids))}
            | {d.override_bundle_id for d in Device.select(Device.override_bundle)
               .where(Device.override_bundle.in_(bundle_ids))}
            | {v.bundle_id for v in ChannelVersion.select(ChannelVersion.bundle)
               .where(ChannelVersion.bundle.in_(bundle_ids))})


def delete_bundles(app: App, doomed: list[Bundle], actor: str, store) -> list[int]:
    """Delete bundles no release history names (all or none); blob files no other bundle shares go too."""
    with changing(actor, None):  # one change signal for them all, an audit entry each
        blobs = delete_bundle_rows(app, doomed, actor)
    remove_unreferenced_blobs(store, blobs)
    return [b.id for b in doomed]


def delete_bundle_rows(app: App, doomed: list[Bundle], actor: str) -> set[str]:
    """In the caller's transaction: delete bundles no release history names (all or none); returns
    their blobs, for `remove_unreferenced_blobs` once the transaction is committed."""
    holding = list(Release.select(Release.id, Release.label, Release.bundle, Channel.name).join(Channel)
                   .where(Release.bundle.in_([b.id for b in doomed])).order_by(Release.id))
    if holding:
        raise in_use_conflict(next(b for b in doomed if b.id == holding[0].bundle_id), holding)
    blobs = blobs_of(doomed)
    for bundle in doomed:
        with changing(actor, "bundle.deleted", "bundle", bundle.id, {"app": app.slug, "version": bundle.version},
                      signal=None, app=app):
            bundle.delete_instance(recursive=True)
    return blobs


def in_use_conflict(bundle: Bundle, holding: list[Release]) -> Conflict:
    """The 409 of deleting a bundle a release history names: which releases of which channels hold it
    (devices may run it, so it stays while a history names it), and the way out."""
    held = [r for r in holding if r.bundle_id == bundle.id]
    channels = list(dict.fromkeys(r.channel.name for r in held))
    where = "; ".join(f"{name} ({', '.join(f'{r.label} (release {r.id})' for r in held if r.channel.name == name)})"
                      for name in channels)
    return Conflict(f"bundle {bundle.version!r} (id {bundle.id}) is in the release history of {where}: devices "
                    "may run it, so it stays while a history names it (a deleted release too). To delete it, "
                    "clear those channels' history (code-push's `deployment clear`: DELETE "
                    "/apps/<app>/deployments/<channel>/history) or delete the channels; release a newer bundle to "
                    "stop serving it", code="bundle_in_use",
                    details={"id": bundle.id, "version": bundle.version, "channels": channels,
                             "releases": [{"id": r.id, "label": r.label, "channel": r.channel.name} for r in held]})


def delete_unused_bundles(app: App, actor: str, store) -> list[int]:
    """Delete every bundle of the app that no release history, device pin or channel number uses."""
    candidates = list(Bundle.select().where(Bundle.app == app))
    used = _in_use([b.id for b in candidates])
    return delete_bundles(app, [b for b in candidates if b.id not in used], actor, store)


def amend_extra(bundle_id: int, change: Callable[[dict], dict]) -> dict | None:
    """Replace a bundle's `extra` by `change(extra)` (protocols record what they derive from a bundle,
    such as CodePush diffs); None when the bundle is gone."""
    with changing(None, None) as amended:
        row = Bundle.get_or_none(Bundle.id == bundle_id)
        if row is None:
            amended.skip()
            return None
        extra = change(dict(row.extra or {}))
        Bundle.update(extra=extra).where(Bundle.id == bundle_id).execute()
    return extra


def record_file_missing(sha256: str, missing: bool, actor: str) -> list[int]:
    """Record that the file with this digest is missing from storage (or is there again): the bundles
    it is the file of stop (or start again) being offered. Returns the ids of the bundles changed."""
    changed = []
    with changing(actor, None) as change:  # one change signal for them all, an audit entry each
        rows = Bundle.select(Bundle.id, Bundle.app, Bundle.extra, App.slug).join(App).where(Bundle.sha256 == sha256)
        for row in rows:
            extra = dict(row.extra or {})
            if bool(extra.get(FILE_MISSING)) == missing:
                continue
            if missing:
                extra[FILE_MISSING] = True
            else:
                extra.pop(FILE_MISSING, None)
            with changing(actor, "bundle.file_missing" if missing else "bundle.file_found", "bundle", row.id,
                          {"app": row.app.slug, "sha256": sha256}, signal=None, app=row.app_id):
                Bundle.update(extra=extra).where(Bundle.id == row.id).execute()
            changed.append(row.id)
        if not changed:
            change.skip()
    return changed


def resign_all(signer, actor: str) -> None:
    """Sign every bundle again with `signer` (after the signing key was rotated)."""
    with changing(actor, "signing_key.rotated", "signing_key", signer.key_id):
        for bundle in Bundle.select(Bundle.id, Bundle.sha256):
            Bundle.update(signature=signer.sign_digest(bundle.sha256)).where(Bundle.id == bundle.id).execute()


def initiate_upload(app: App, data: dict, ttl: int, max_bytes: int, actor: str) -> Upload:
    data = UPLOAD.validate(data)
    size, sha256 = data.pop("size"), data.pop("sha256")
    fields = parse_fields(data)
    if size > max_bytes:
        raise TooLarge(f"the bundle is larger than the limit of {max_bytes // (1024 * 1024)} MB",
                       details={"limitBytes": max_bytes})
    _ensure_new(app, fields)
    with changing(actor, "upload.initiated", "upload", details={"app": app.slug, "version": fields.version},
                  signal=None, app=app) as change:
        upload = Upload.create(id=secrets.token_hex(16), app=app, fields=fields.as_dict(), size=size,
                               sha256=sha256.lower(), expires_at=utcnow() + dt.timedelta(seconds=ttl))
        change.entity_id = upload.id
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


def upload_object(upload_id: str) -> str:
    """Where a blob store that takes uploads itself (S3: a presigned PUT) keeps an upload's bytes."""
    return f"uploads/{upload_id}"


def _received_files(box, upload: Upload) -> list:
    prefix = upload_file_prefix(upload.id)
    return [path for path in box.staging.files() if path.name.startswith(prefix)]


RECEIVING = "receiving"
"""`Upload.received_sha256` while a PUT is being stored: the upload URL takes one body only."""


def receive_upload(box, upload: Upload, stream) -> None:
    """Store the PUT body of a two-step upload in the staging area, once: a second PUT gets 409.

    The body lands under a fresh name and is then renamed to `upload-<id>.<its sha256>`: the name
    vouches for the content. A body refused here (wrong size) frees the URL for another try."""
    claimed = (Upload.update(received_sha256=RECEIVING)
               .where((Upload.id == upload.id) & Upload.received_sha256.is_null()).execute())
    if not claimed:
        raise Conflict("this upload URL has received its file already; initiate a new upload",
                       code="upload_already_received")
    try:
        staged = box.staging.receive(stream, upload.size)
        if staged.size != upload.size:
            staged.discard()
            raise Invalid("the uploaded size differs from the initiated size", code="size_mismatch",
                          details={"expected": upload.size, "received": staged.size})
        os.replace(staged.path, box.staging.new_path(upload_file_prefix(upload.id) + staged.sha256))
    except BaseException:
        Upload.update(received_sha256=None).where(Upload.id == upload.id).execute()
        raise
    Upload.update(received_sha256=staged.sha256).where(Upload.id == upload.id).execute()


def finalize_upload(box, app: App, upload_id, actor: str) -> Bundle:
    """Ingest a received upload. When the server is busy ingesting others, Busy (503) leaves the
    upload as it is, so the client can finalize again after Retry-After; so does a finalize that comes
    before anything was uploaded (422 upload_missing): the client may still PUT the file, then finalize."""
    upload = live_upload(upload_id, app)
    expected = box.staging.new_path(upload_file_prefix(upload.id) + upload.sha256)
    with box.ingestor.slot():
        received = True
        try:
            if expected.exists():
                staged = StagedFile(expected, upload.sha256, expected.stat().st_size)
            else:
                staged = _received_by_the_store(box, upload)
            return box.ingestor.ingest(app, BundleFields(**upload.fields), staged, actor)
        except Invalid as exc:
            received = exc.code != "upload_missing"
            raise
        finally:
            if received:
                for leftover in _received_files(box, upload):
                    leftover.unlink(missing_ok=True)
                Upload.delete().where(Upload.id == upload.id).execute()


def _received_by_the_store(box, upload: Upload) -> StagedFile:
    """The bytes a client PUT straight to the blob store (S3), checked against the initiated size and
    SHA-256 as otabox's own upload URL checks them."""
    staged = None if _received_files(box, upload) else box.store.take_upload(upload_object(upload.id), box.staging,
                                                                             upload.size)
    if staged is not None and (staged.size, staged.sha256) == (upload.size, upload.sha256):
        return staged
    received = staged.sha256 if staged is not None else upload.received_sha256
    if staged is not None:
        staged.discard()
    if received is None:
        raise Invalid("nothing was uploaded for this upload id", code="upload_missing")
    raise Invalid("the uploaded file does not match the initiated sha256", code="checksum_mismatch",
                  details={"expectedSha256": upload.sha256, "receivedSha256": received})


def expire_uploads(box) -> int:
    """Remove uploads whose time ran out, with their staged files (or the objects a blob store took)."""
    expired = list(Upload.select().where(Upload.expires_at < utcnow()))
    for upload in expired:
        for leftover in _received_files(box, upload):
            leftover.unlink(missing_ok=True)
        box.store.discard_upload(upload_object(upload.id))
        upload.delete_instance()
    return len(expired)
