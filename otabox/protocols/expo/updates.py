"""The Expo Updates protocol v1 (adapter over the domain decision in otabox.core.decide).

Publishing: `describe_export` turns an uploaded `npx expo export` zip into the bundle's `extra` (the
per-platform asset table). Serving: `GET /expo/<app>/manifest` maps the expo-updates headers to a
`DeviceQuery`, asks `decide` over the app's releases of the requested runtime version, and answers
with a (possibly signed) manifest or directive as multipart/mixed.

An update id names a (release, bundle) pair, so re-releasing or rolling back to an older bundle is a
new update whose `createdAt` (the release's time) is later than anything the device ran before; the
client refuses updates that are not newer than the one it runs.

A critical (mandatory) update carries `"isCritical": true` in the manifest's `metadata`, where the
AppDispatch SDK looks (`manifest.metadata.isCritical === true` makes it reload at once). The device
id for rollouts is `expo-device-id` (what that SDK sends) or else `EAS-Client-ID`. A channel's
`minRuntimeVersion` gives older runtimes no update at all. `POST /api/v1/apps/:app/rollback` rolls
the devices of one platform and runtime version back, as AppDispatch's rollback does.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
import zipfile
from pathlib import Path

from flask import Blueprint, Response, jsonify, request

from ...core import decide as domain
from ...core import releases, semver
from ...core.apps import find_channel
from ...core.serving import AppView, BundleView, ChannelView, FilteredOverrides, ReleaseView, read_through_outage
from ...errors import BadRequest, Conflict, Invalid, NotFound, OtaboxError, TooLarge
from ...store.blobs import StagedFile
from ...store.models import Release
from ...web import actor, app_for, box, json_body, limit_client, signed_download_url
from . import encoding
from . import export as ef
from .urls import launch_asset_url

bp = Blueprint("expo", __name__)

PROTOCOL_VERSIONS = (0, 1)
MAX_HEADER_VALUE = 200
MAX_LIST_HEADER = 2000
"""expo-recent-failed-update-ids lists a few update ids (quoted UUIDs); expo-expect-signature a few keys."""
KEY_FILE, CERTIFICATE_FILE, KEYID_FILE = "private-key.pem", "certificate.pem", "keyid"
KEYID_PATTERN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,100}")
"""Printable ASCII without quote or backslash: safe both in an sf-string and on the client side."""


# --- publishing ------------------------------------------------------------------------------


def describe_upload(box, fields, staged: StagedFile, entries) -> dict:
    """The Ingestor's describer for `format=expo`: the export's asset table, narrowed to the
    upload's declared platform."""
    extra = describe_export(box, staged, entries)
    if fields.platform != "all":
        if fields.platform not in extra["platforms"]:
            raise Invalid(f"the export has no {fields.platform} bundle", code="invalid_expo_export",
                          details={"platforms": extra["platforms"]})
        extra["platforms"] = [fields.platform]
    return encoding.precompress_launch_assets(box, staged.path, extra)


def describe_export(box, staged: StagedFile, entries) -> dict:
    """Validate an uploaded Expo export and return the bundle's `extra`.

    Shape: {"platforms": [..], "files": {platform: {"launchAsset": asset, "assets": [asset..]}},
    "expoConfig": {..}, "metadata": metadata.json without its fileMetadata (which `files` replaces),
    "blobs": [sha256..]} with asset = {path, hash, key, contentType, fileExtension, sha256, size}.
    Every referenced file is in the blob store under its sha256 when this returns."""
    try:
        export = ef.read_export(staged.path)
    except ef.ExpoExportError as exc:
        details = exc.details if isinstance(exc.details, dict) else {"reason": exc.details}
        raise Invalid(f"not a usable Expo export: {exc.message}", code="invalid_expo_export",
                      details=details) from None
    _store_missing_files(box, staged.path, export, {e.path: e.sha256 for e in entries})
    return {
        "platforms": sorted(export.platforms),
        "files": {platform: {"launchAsset": _asset_record(files.launch_asset),
                             "assets": [_asset_record(asset) for asset in files.assets]}
                  for platform, files in sorted(export.platforms.items())},
        "expoConfig": export.expo_config,
        "metadata": {k: v for k, v in export.metadata.items() if k != "fileMetadata"},
        "blobs": sorted({f.sha256_hex for f in export.all_files()}),
    }


def _asset_record(expo_file: ef.ExpoFile) -> dict:
    return {"path": expo_file.path_in_zip, "hash": expo_file.sha256_b64url, "key": expo_file.key,
            "contentType": expo_file.content_type, "fileExtension": expo_file.ext,
            "sha256": expo_file.sha256_hex, "size": expo_file.size}


def _store_missing_files(box, zip_path: Path, export: ef.ExpoExport, stored: dict[str, str]) -> None:
    """The ingestor stores every zip member once the upload is accepted; store whatever it does not."""
    missing = [f for f in export.all_files() if stored.get(f.path_in_zip) != f.sha256_hex]
    if not missing:
        return
    with zipfile.ZipFile(zip_path) as archive:
        for expo_file in missing:
            with archive.open(expo_file.path_in_zip) as member:
                try:
                    blob = box.staging.receive(member, expo_file.size)
                except TooLarge:
                    raise Invalid("a zip member is larger than declared", code="invalid_expo_export",
                                  details={"path": expo_file.path_in_zip}) from None
            if blob.sha256 != expo_file.sha256_hex:
                blob.discard()
                raise Invalid("a zip member changed while it was read", code="invalid_expo_export",
                              details={"path": expo_file.path_in_zip})
            box.store.put(blob)


# --- code signing keys -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CodeSigning:
    private_key_pem: bytes
    keyid: str


def codesigning_name(app_id: int, part: str) -> str:
    """The name of an app's code signing secret in the server's secret store."""
    return f"expo/{app_id}/{part}"


def save_codesigning(store, app_id: int, key_pem: bytes, certificate_pem: bytes, keyid: str) -> None:
    """Check the pair as expo-updates would and keep it in the secret store (0600 files, or sealed
    rows when secrets are shared through the database).

    Raises ValueError with a readable reason when the key, certificate or keyid is unusable."""
    if not KEYID_PATTERN.fullmatch(keyid):
        raise ValueError("keyid must be 1 to 100 printable ASCII characters without quotes or backslashes")
    ef.load_certificate_and_key(certificate_pem, key_pem)
    store.put(codesigning_name(app_id, CERTIFICATE_FILE), certificate_pem)
    store.put(codesigning_name(app_id, KEY_FILE), key_pem)
    store.put(codesigning_name(app_id, KEYID_FILE), keyid.encode("ascii"))


def load_codesigning(store, app_id: int) -> CodeSigning | None:
    key, keyid = store.get(codesigning_name(app_id, KEY_FILE)), store.get(codesigning_name(app_id, KEYID_FILE))
    return CodeSigning(key, keyid.decode("ascii").strip()) if key and keyid else None


# --- the manifest request --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ManifestRequest:
    protocol: int
    platform: str
    runtime_version: str
    channel: str | None
    device_id: str | None
    current_update_id: str | None
    embedded_update_id: str | None
    failed_update_ids: tuple[str, ...]
    expected_signature: dict | None
    user_id: str | None = None
    """The user of `expo-extra-params` (what `Updates.setExtraParamAsync("user-id", ...)` sends; structured-field
    keys are lowercase, so `userid`, `user-id` or `user_id`): the user a user override pins to a branch.
    Never `eas-client-id`, which names an install, not a user."""


def _header(name: str, limit: int = MAX_HEADER_VALUE) -> str | None:
    value = request.headers.get(name, "").strip()
    if len(value) > limit:
        raise BadRequest(f"the {name} header is too long", code="invalid_header", details={"header": name})
    return value or None


def read_manifest_request() -> ManifestRequest:
    raw_protocol = _header("expo-protocol-version") or "0"
    if not raw_protocol.isdecimal() or int(raw_protocol) not in PROTOCOL_VERSIONS:
        raise BadRequest("expo-protocol-version must be 0 or 1", code="unsupported_protocol_version",
                         details={"header": "expo-protocol-version"})
    platform = _header("expo-platform")
    if platform not in ef.PLATFORMS:
        raise BadRequest("the expo-platform header must be ios or android", code="invalid_platform",
                         details={"header": "expo-platform"})
    runtime_version = _header("expo-runtime-version")
    if not runtime_version:
        raise BadRequest("the expo-runtime-version header is required", code="missing_runtime_version",
                         details={"header": "expo-runtime-version"})
    expectation = _header("expo-expect-signature", MAX_LIST_HEADER)
    expected = None
    if expectation is not None:
        try:
            expected = ef.parse_expect_signature(expectation)
        except ef.StructuredFieldError as exc:
            raise BadRequest("expo-expect-signature is not a structured-fields dictionary",
                             code="invalid_header", details={"header": "expo-expect-signature",
                                                             "reason": str(exc)}) from None
        if expected["alg"] != ef.DEFAULT_SIGNATURE_ALG:
            raise BadRequest(f"unsupported signature algorithm {expected['alg']!r}; otabox signs with "
                             f"{ef.DEFAULT_SIGNATURE_ALG}", code="unsupported_signature_algorithm")
    return ManifestRequest(
        protocol=int(raw_protocol), platform=platform, runtime_version=runtime_version,
        channel=_header("expo-channel-name"), device_id=_header("expo-device-id") or _header("eas-client-id"),
        current_update_id=_normalized_id(_header("expo-current-update-id")),
        embedded_update_id=_normalized_id(_header("expo-embedded-update-id")),
        failed_update_ids=tuple(filter(None, map(_normalized_id, ef.parse_sf_string_list(
            _header("expo-recent-failed-update-ids", MAX_LIST_HEADER))))),
        expected_signature=expected, user_id=_extra_param(USER_ID_PARAMS))


USER_ID_PARAMS = ("userid", "user-id", "user_id")


def _extra_param(names: tuple[str, ...]) -> str | None:
    """The first of `names` in the `expo-extra-params` dictionary, as a string; None when absent or
    malformed (a device protocol tolerates what it does not understand)."""
    try:
        members = ef.parse_sf_dictionary(_header("expo-extra-params", MAX_LIST_HEADER) or "")
    except ef.StructuredFieldError:
        return None
    value = next((members[name] for name in names if name in members), None)
    return value if isinstance(value, str) and 0 < len(value) <= 200 else None


def _normalized_id(update_id: str | None) -> str | None:
    return update_id.lower() if update_id else None


def _signing_key(app: AppView, expected: dict | None) -> CodeSigning | None:
    """The key to sign with when the client expects a signature; never serve it unsigned."""
    if expected is None:
        return None
    # the key may be kept in the database: while it is away, the one this view last read signs
    signing = read_through_outage(app, "codesigning", lambda: load_codesigning(box().secret_store, app.id))
    if signing is None:
        raise Conflict(f"the client expects a code signature but app {app.slug!r} has no code signing key; "
                       f"run `otabox expo codesigning import --app {app.slug} ...`",
                       code="codesigning_not_configured")
    if expected["keyid"] != signing.keyid:
        raise Conflict(f"the client expects keyid {expected['keyid']!r} but the app's key is "
                       f"{signing.keyid!r}", code="codesigning_keyid_mismatch",
                       details={"expected": expected["keyid"], "configured": signing.keyid})
    return signing


# --- updates: ids and the runtime-version view -----------------------------------------------


@dataclasses.dataclass(frozen=True)
class Update:
    """One servable Expo update: a bundle as delivered by one release (or by a device override)."""

    id: str
    bundle: BundleView
    release: ReleaseView | None
    created_at: dt.datetime


def update_for(release: ReleaseView | None, bundle: BundleView) -> Update:
    if release is None:
        return Update(ef.uuid_from_bytes(f"otabox-expo-bundle:{bundle.id}".encode()), bundle, None,
                      bundle.created_at)
    return Update(ef.uuid_from_bytes(f"otabox-expo-update:{release.id}:{bundle.id}".encode()), bundle, release,
                  release.created_at)


def _is_expo(bundle: BundleView | None) -> bool:
    return bundle is not None and bundle.format == "expo"


class _PerViewCache:
    """Values derived from an app's immutable AppView; a new view (after any change) replaces them."""

    def __init__(self, limit: int = 1024):
        self._entries: dict[tuple, tuple[AppView, object]] = {}
        self._limit = limit

    def get(self, view: AppView, key, build):
        cache_key = (view.id, key)
        entry = self._entries.get(cache_key)
        if entry is not None and entry[0] is view:
            return entry[1]
        value = build()
        if len(self._entries) >= self._limit:
            self._entries.clear()
        self._entries[cache_key] = (view, value)
        return value


_cache = _PerViewCache()


def known_updates(view: AppView) -> dict[str, Update]:
    """Every update id this app has ever served, in any channel (to read the device's headers)."""
    def build() -> dict[str, Update]:
        updates = {}
        for bundle in view.bundles.values():
            if _is_expo(bundle):
                update = update_for(None, bundle)
                updates[update.id] = update
        for channel in view.channels.values():
            for release in channel.history:
                if _is_expo(release.bundle):
                    update = update_for(release, release.bundle)
                    updates[update.id] = update
        return updates
    return _cache.get(view, "updates", build)


def runtime_view(view: AppView, runtime_version: str) -> AppView:
    """The app as a device of this runtime version sees it: only Expo releases built for that runtime
    (and rollbacks to the embedded bundle made for any runtime or for this one), nothing at all on a
    channel whose `minRuntimeVersion` is above it.

    Filtering histories, rather than decide's answer, lets a device fall back to the newest release
    of its own runtime when the channel's latest one targets another."""
    def fits_bundle(bundle: BundleView) -> bool:
        return _is_expo(bundle) and bundle.runtime_version == runtime_version

    def fits(release: ReleaseView) -> bool:
        if release.bundle is None:
            return release.runtime_version in (None, runtime_version)
        return fits_bundle(release.bundle)

    def narrowed(channel: ChannelView) -> ChannelView:
        history = () if below_minimum(runtime_version, channel.min_runtime_version) \
            else tuple(r for r in channel.history if fits(r))
        split = narrowed(channel.split) if channel.split is not None else None
        return dataclasses.replace(channel, history=history, split=split)

    def build() -> AppView:
        channels = {name: narrowed(channel) for name, channel in view.channels.items()}
        branches = {name: dataclasses.replace(branch, history=tuple(r for r in branch.history if fits(r)))
                    for name, branch in view.branches.items()}
        return dataclasses.replace(view, channels=channels, branches=branches,
                                   overrides=FilteredOverrides(view.overrides, fits_bundle))
    return _cache.get(view, ("runtime", runtime_version), build)


def below_minimum(runtime_version: str, minimum: str | None) -> bool:
    """Whether a runtime version is below a channel's minRuntimeVersion (both compared as semver;
    runtime versions that are not, such as fingerprints, are never below)."""
    if not minimum:
        return False
    try:
        return semver.coerce_app_version(runtime_version) < semver.coerce_app_version(minimum)
    except ValueError:
        return False


# --- the endpoint ----------------------------------------------------------------------------


@bp.get("/expo/<app_id>/manifest")
def manifest(app_id):
    asked = read_manifest_request()
    limit_client("expo", asked.device_id)
    view = box().serving.app_by_slug(app_id)
    if view is None:
        raise NotFound(f"no app {app_id[:200]!r}")
    json_type = _negotiated_json()
    signing = _signing_key(view, asked.expected_signature)
    updates = known_updates(view)
    current = updates.get(asked.current_update_id) if asked.current_update_id else None
    query = domain.DeviceQuery(
        device_id=asked.device_id, platform=asked.platform, channel=asked.channel, user_id=asked.user_id,
        runtime_version=asked.runtime_version, current_version=current.bundle.version if current else None,
        skip_bundle_ids=frozenset(updates[i].bundle.id for i in asked.failed_update_ids if i in updates),
        formats=frozenset({"expo"}))
    decision = domain.decide(runtime_view(view, asked.runtime_version), query)
    box().tracker.seen(view.id, asked.device_id, decision.served_release_id, address=request.remote_addr,
                       platform=asked.platform, native_version=asked.runtime_version, native_build=None,
                       bundle_version=query.current_version,
                       channel=decision.channel.name if decision.channel else asked.channel)
    if json_type is not None:
        return _json_reply(view, asked, decision, signing, json_type)
    return _reply(view, asked, decision, signing)


MULTIPART_TYPES = ("multipart/mixed", "multipart/*", "*/*")
JSON_TYPES = ("application/expo+json", "application/json")


def _negotiated_json() -> str | None:
    """The manifest's form by the request's `accept` (the spec's proactive negotiation): None for
    multipart/mixed (no accept, or multipart accepted at least as much as JSON: the only form that
    carries directives), else the JSON media type preferred; neither is a 406."""
    accept = request.headers.get("accept", "").lower()
    if not accept.strip():
        return None
    weights: dict[str, float] = {}
    for item in accept.split(","):
        media, *params = (piece.strip() for piece in item.split(";"))
        q = next((p[2:] for p in params if p.startswith("q=")), "1")
        try:
            weights[media] = max(weights.get(media, 0.0), float(q))
        except ValueError:
            weights[media] = max(weights.get(media, 0.0), 1.0)  # tolerant: a bad q counts as accepted
    multipart = max(weights.get(kind, 0.0) for kind in MULTIPART_TYPES)
    json_q = {kind: max(weights.get(kind, 0.0), weights.get("application/*", 0.0)) for kind in JSON_TYPES}
    best = max(JSON_TYPES, key=lambda kind: json_q[kind])
    if multipart > 0 and multipart >= json_q[best]:
        return None
    if json_q[best] > 0:
        return best
    raise OtaboxError("otabox answers Expo manifest requests as multipart/mixed, application/expo+json or "
                      "application/json", status=406, code="not_acceptable", details={"accept": accept[:200]})


def _json_reply(view: AppView, asked: ManifestRequest, decision: domain.Decision, signing: CodeSigning | None,
                content_type: str) -> Response:
    """The manifest as the whole body (`accept: application/expo+json` or `application/json`), its
    signature in the `expo-signature` header. That form carries no directive, so when the answer
    is not an update (nothing released, a rollback to the embedded update) it is a 406, as the spec
    says, naming the form that carries it. A device already on the update gets its manifest again
    (the most recent update, which it keeps)."""
    servable = decision.bundle is not None and asked.platform in decision.bundle.extra.get("files", {})
    if decision.outcome not in ("update", "up_to_date") or not servable:
        raise OtaboxError("no update to serve, and the answer (a directive: no update, or roll back to the "
                          "embedded update) needs accept: multipart/mixed", status=406,
                          code="directive_unsupported", details={"accept": request.headers.get("accept", "")[:200]})
    [part, _] = _manifest_response_parts(view, asked, update_for(decision.release, decision.bundle), decision,
                                         signing)
    response = _response(asked, 200, part.json_bytes, content_type)
    for header, value in part.headers.items():
        response.headers[header] = value
    return response


def _reply(view: AppView, asked: ManifestRequest, decision: domain.Decision, signing: CodeSigning | None) -> Response:
    servable = decision.bundle is not None and asked.platform in decision.bundle.extra.get("files", {})
    if decision.outcome in ("update", "up_to_date") and servable:
        update = update_for(decision.release, decision.bundle)
        if decision.outcome == "up_to_date" and asked.protocol >= 1:
            return _directive(asked, ef.directive_no_update(), signing)
        return _manifest_response(view, asked, update, decision, signing)
    if decision.outcome == "builtin" and asked.current_update_id not in (None, asked.embedded_update_id):
        if asked.protocol == 0:
            raise OtaboxError("the channel was rolled back to the embedded update, which protocol 0 cannot "
                              "express; update expo-updates", status=406, code="directive_unsupported")
        return _directive(asked, ef.directive_rollback(decision.release.created_at), signing)
    if asked.protocol == 0:  # no update: protocol 0 has no directive for it
        return _response(asked, 204, b"", None)
    return _directive(asked, ef.directive_no_update(), signing)


def _manifest_response(view: AppView, asked, update: Update, decision: domain.Decision, signing) -> Response:
    return _multipart(asked, _manifest_response_parts(view, asked, update, decision, signing))


def _manifest_response_parts(view: AppView, asked, update: Update, decision: domain.Decision, signing
                             ) -> list[ef.Part]:
    """The manifest part and the extensions part of an update's answer."""
    files = platform_files(update.bundle, asked.platform)
    ttl = box().config.expo_asset_url_ttl

    def asset_url(asset: ef.ExpoFile) -> str:
        """The launch asset from the route that can answer with a patch; other assets from /dl/."""
        if asset is files.launch_asset:
            return launch_asset_url(view.id, view.slug, asset.sha256_hex, ttl)
        return signed_download_url(asset.sha256_hex, asset.content_type, ttl=ttl)[0]

    body = ef.build_manifest(
        update_id=update.id, created_at=update.created_at, runtime_version=update.bundle.runtime_version,
        platform_files=files, asset_url=asset_url,
        metadata={"channel": decision.channel.name, "version": update.bundle.version,
                  **({"isCritical": True} if decision.mandatory else {})},
        expo_client=update.bundle.extra.get("expoConfig", {}))
    return [_part("manifest", body, signing), ef.signed_json_part("extensions", {"assetRequestHeaders": {}})]


def platform_files(bundle: BundleView, platform: str) -> ef.PlatformFiles:
    """The export's files for one platform, back from the records `describe_export` stored."""
    files = bundle.extra["files"][platform]
    return ef.PlatformFiles(launch_asset=_expo_file(files["launchAsset"]),
                            assets=[_expo_file(asset) for asset in files["assets"]])


def _expo_file(record: dict) -> ef.ExpoFile:
    return ef.ExpoFile(path_in_zip=record["path"], ext=record["fileExtension"], content_type=record["contentType"],
                       sha256_b64url=record["hash"], md5_hex=record["key"], sha256_hex=record["sha256"],
                       size=record["size"])


def _directive(asked, directive: dict, signing) -> Response:
    return _multipart(asked, [_part("directive", directive, signing)])


def _part(name: str, payload: dict, signing: CodeSigning | None) -> ef.Part:
    if signing is None:
        return ef.signed_json_part(name, payload)
    return ef.signed_json_part(name, payload, private_key_pem=signing.private_key_pem, keyid=signing.keyid)


def _multipart(asked, parts: list[ef.Part]) -> Response:
    content_type, body = ef.encode_multipart(parts)
    return _response(asked, 200, body, content_type)


def _response(asked: ManifestRequest, status: int, body: bytes, content_type: str | None) -> Response:
    response = Response(body, status=status)
    if content_type:
        response.headers["Content-Type"] = content_type
    else:
        response.headers.pop("Content-Type", None)
    response.headers["expo-protocol-version"] = str(asked.protocol)
    response.headers["expo-sfv-version"] = "0"
    return encoding.encode_reply(response)


# --- management: AppDispatch's rollback for Expo apps ------------------------------------------


def _text_field(data: dict, name: str, limit: int = 200, choices: tuple | None = None) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not 0 < len(value) <= limit or (choices and value not in choices):
        expected = " or ".join(choices) if choices else f"a string of 1 to {limit} characters"
        raise BadRequest(f"{name} must be {expected}", details={"field": name})
    return value


def _release_of_update(app, update_ref) -> Release:
    """The release an update id names: an Expo update id (UUID) this app served, or a release id."""
    view = box().serving.app(str(app.id))
    update = known_updates(view).get(update_ref.lower()) if isinstance(update_ref, str) and view else None
    if update is not None and update.release is not None:
        update_ref = update.release.id
    return releases.find_release(app, update_ref)


@bp.post("/api/v1/apps/<app_id>/rollback")
def rollback(app_id):
    """`{runtimeVersion, platform, channel, rollbackToUpdateId?}`: AppDispatch's rollback at otabox's path."""
    app = app_for(app_id, "publisher")
    data = json_body()
    runtime_version = _text_field(data, "runtimeVersion")
    platform = _text_field(data, "platform", choices=ef.PLATFORMS)
    channel = find_channel(app, _text_field({"channel": data.get("channel", data.get("channelName"))}, "channel"))
    created = rollback_to_update(app, channel, runtime_version, platform, data.get("rollbackToUpdateId"))
    return jsonify({"release": releases.release_json(created)}), 201


def rollback_to_update(app, channel, runtime_version: str, platform: str, update_ref) -> Release:
    """Devices of `platform` and `runtime_version` on the channel go back to the embedded update, or
    (`update_ref`: a release id or an Expo update id this app served) to that update."""
    target = None
    if update_ref is not None:
        target = _release_of_update(app, update_ref)
        bundle = target.bundle
        if bundle is None or bundle.format != "expo" or bundle.runtime_version != runtime_version \
                or platform not in (bundle.extra or {}).get("platforms", ()):
            raise Conflict(f"update {update_ref!r} is not an Expo update of runtime version "
                           f"{runtime_version!r} for {platform}", code="rollback_target_mismatch")
    return releases.rollback_scoped(channel, actor(), platform, None if target else runtime_version, target)
