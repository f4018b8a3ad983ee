"""AppDispatch's management API at `/v1/ota/*`, mapped onto otabox's apps, bundles, releases and channels.

Every request carries `Authorization: Bearer <key>` (an otabox API key or access token, as on
/api/v1) and `X-Project: <slug>` (the app). In otabox's words: a *build* is an Expo bundle (its
`assets` files are the files of an `npx expo export` dist), an *update* is a release, publishing a
build releases it to a channel (`rolloutPercentage` → rollout, `isCritical` → mandatory,
`releaseMessage` → notes). Branches and channels are otabox's own (core/branches.py): a channel
serves its `branchName` and sends `rolloutPercentage` % of its devices to `rolloutBranchName`;
publishing to a channel publishes to its branch; a user override pins a user's devices to a branch.
The document shows no error shape, so errors are otabox's `{"error": {code, message, details}}`.
Writes go through the core operations otabox's own API uses; this module only translates."""
from __future__ import annotations

import json
import posixpath
import tempfile
import zipfile

from flask import Blueprint, jsonify, request

from ...core import apps, audit, branches, bundles, outbox, releases, webhooks
from ...errors import BadRequest, Invalid, NotFound
from ...fields import Boolean, Choice, Json, Schema, Text, Whole
from ...security import auth
from ...store.models import App, Bundle, Channel, Release, Webhook, iso
from ...web import accepts, actor, body, box, inputs, paging, principal, query
from ..expo.updates import rollback_to_update

bp = Blueprint("appdispatch_management", __name__)

PROJECT_HEADER = "X-Project"


def project(role: str = "reader") -> App:
    """The app `X-Project` names (by slug or id), which the caller must reach with `role`; then the
    request's input is checked (so 401, 403 and the X-Project errors come before a 400)."""
    caller = principal()
    auth.require_role(caller, role)
    slug = request.headers.get(PROJECT_HEADER, "").strip()
    if not slug:
        raise BadRequest(f"the {PROJECT_HEADER} header is required: send your project slug in it",
                         code="project_required", details={"header": PROJECT_HEADER})
    try:
        app = apps.find_app(slug)
    except NotFound:
        raise NotFound(f"no project {slug[:200]!r} (the {PROJECT_HEADER} header names an unknown project)",
                       code="project_not_found", details={"header": PROJECT_HEADER}) from None
    auth.require_app(caller, app, role)
    inputs()
    return app


# --- names: AppDispatch's fields → otabox's -----------------------------------------------------

RELEASE_FIELDS = releases.RELEASE_CHANGES.fields
PUBLISH_NAMES = {"rolloutPercentage": "rollout", "isCritical": "mandatory", "releaseMessage": "notes",
                 "groupId": "groupId", "linkedFlags": "linkedFlags", "channel": "channel", "buildId": "bundleId"}
PUBLISH = Schema({
    "channel": Text(200, min_length=1, required=True, description="Target channel name"),
    "rolloutPercentage": RELEASE_FIELDS["rollout"].but(description="Initial rollout percentage (default 100)"),
    "isCritical": RELEASE_FIELDS["mandatory"].but(description="Mark the update as critical (mandatory)"),
    "releaseMessage": RELEASE_FIELDS["notes"].but(description="Release notes"),
    "groupId": releases.GROUP_ID,
    "linkedFlags": releases.NEW_RELEASE.fields["linkedFlags"]})
"""`POST /v1/ota/builds/{id}/publish`."""
NEW_UPDATE = PUBLISH.extend({"buildId": releases.NEW_RELEASE.fields["bundleId"].but(description="The build to "
                                                                                                "publish")})
"""`POST /v1/ota/updates` (not in the document): the same as publishing the build."""
UPDATE_CHANGES = Schema({"rolloutPercentage": RELEASE_FIELDS["rollout"], "isCritical": RELEASE_FIELDS["mandatory"],
                         "releaseMessage": RELEASE_FIELDS["notes"],
                         "isEnabled": Boolean(description="false stops serving the update")})
REPUBLISH = Schema({"channels": releases.REPUBLISH.fields["channels"].but(
                        required=False, description="Default: the update's own channel"),
                    "releaseMessage": releases.REPUBLISH.fields["releaseMessage"],
                    "groupId": releases.GROUP_ID})
ROLLBACK = Schema({"runtimeVersion": Text(200, min_length=1, required=True),
                   "platform": Choice(("ios", "android"), required=True),
                   "channel": Text(200, min_length=1, required=True),
                   "rollbackToUpdateId": releases.NEW_RELEASE.fields["bundleId"].but(
                       required=False, nullable=True, description="Default: the embedded update")})
BUILD_FORM = Schema({"runtimeVersion": Text(100, min_length=1, required=True),
                     "platform": Choice(("ios", "android"), required=True),
                     "message": Text(10000), "expoConfig": Json(), "gitCommitHash": Text(100),
                     "gitBranch": Text(255)})
"""`POST /v1/ota/builds` (multipart, with the export's files as `assets`)."""
CHANNEL_NAMES = {"branchName": "branch", "rolloutBranchName": "rolloutBranch", "rolloutPercentage": "rolloutPercentage",
                 "minRuntimeVersion": "minRuntimeVersion"}
CHANNEL_SETTINGS = Schema({
    "branchName": apps.CHANNEL_SETTINGS.fields["branch"].but(description="The branch the channel serves "
                                                                         "(default: the one of its name)"),
    "rolloutBranchName": apps.CHANNEL_SETTINGS.fields["rolloutBranch"],
    "rolloutPercentage": apps.CHANNEL_SETTINGS.fields["rolloutPercentage"],
    "minRuntimeVersion": apps.CHANNEL_SETTINGS.fields["minRuntimeVersion"]})
NEW_CHANNEL = CHANNEL_SETTINGS.extend({"name": apps.NEW_CHANNEL.fields["name"]})
AUDIT_ENTITIES = {"update": "release", "build": "bundle"}
"""AppDispatch's names of otabox's entities in the audit log (an update is a release, a build a bundle);
the document's filter examples (`action=build.published`, `entity_type=update`) use them, so the log
answers in them too, and otabox's own names are accepted as filters as well."""
SHOWN_ENTITIES = {otabox_name: name for name, otabox_name in AUDIT_ENTITIES.items()}
AUDIT_QUERY = Schema({"limit": Whole(1, 200, default=200), "before": Whole(0, 10**12, description="Entries with a "
                                                                                                 "smaller id"),
                      "action": Text(200, description="An action, e.g. build.published"),
                      "entity_type": Choice((*AUDIT_ENTITIES, *audit.ENTITY_TYPES)), "entity_id": Text(200)})
LIST_BUILDS = paging(50)
LIST_UPDATES = paging(50).extend({"channel": Text(200), "groupId": Text(100)})
WEBHOOK_FIELDS = webhooks.WEBHOOK.only("url", "events", "isActive", "secret")
NEW_WEBHOOK = webhooks.NEW_WEBHOOK.only("url", "events", "isActive", "secret")


def renamed(data: dict, names: dict) -> dict:
    return {names[name]: value for name, value in data.items() if name in names}


# --- shapes ---------------------------------------------------------------------------------------

def build_json(bundle: Bundle) -> dict:
    return {"id": bundle.id, "runtimeVersion": bundle.runtime_version, "platform": bundle.platform,
            "message": bundle.message, "gitCommitHash": bundle.git_commit_hash, "gitBranch": bundle.git_branch,
            "expoConfig": (bundle.extra or {}).get("expoConfig"), "size": bundle.size, "sha256": bundle.sha256,
            "version": bundle.version, "createdAt": iso(bundle.created_at)}


def update_json(release: Release) -> dict:
    bundle = release.bundle
    return {"id": release.id, "buildId": release.bundle_id, "channel": release.channel.name,
            "branchName": release.branch.name if release.branch else None,
            "platform": release.platform or (bundle.platform if bundle else None),
            "runtimeVersion": release.runtime_version or (bundle.runtime_version if bundle else None),
            "rolloutPercentage": release.rollout, "isCritical": release.mandatory, "releaseMessage": release.notes,
            "groupId": release.group_id, "isEnabled": not release.disabled,
            "isRollback": release.kind in ("rollback", "builtin"), "isEmbedded": bundle is None,
            "createdBy": release.actor, "createdAt": iso(release.created_at)}


def channel_json(channel: Channel) -> dict:
    split = channel.rollout_branch
    return {"id": channel.id, "name": channel.name, "branchName": channel.branch.name if channel.branch else None,
            "rolloutBranchName": split.name if split else None, "rolloutPercentage": channel.rollout_percentage,
            "minRuntimeVersion": channel.min_runtime_version, "createdAt": iso(channel.created_at)}


def shown_action(action: str) -> str:
    """An otabox action in AppDispatch's words: the webhook event name standing for it
    (`outbox.APPDISPATCH_EVENTS`, the first that does: release.created is build.published), else
    the action with its entity renamed (release.updated is update.updated)."""
    for name, sources in outbox.APPDISPATCH_EVENTS.items():
        if action in sources:
            return name
    family, dot, verb = action.partition(".")
    return f"{SHOWN_ENTITIES.get(family, family)}{dot}{verb}"


def filtered_actions(name: str) -> tuple[str, ...]:
    """The otabox actions an `action` filter stands for: an AppDispatch event name those its webhooks
    get, `update.*`/`build.*` the release's/bundle's, an otabox action itself; anything else is a 400
    (an empty list would read as "nothing happened")."""
    if name in outbox.APPDISPATCH_EVENTS:
        return outbox.APPDISPATCH_EVENTS[name]
    family, _, verb = name.partition(".")
    family = AUDIT_ENTITIES.get(family, family)
    if not verb or family not in audit.ACTION_FAMILIES:
        families = sorted({*AUDIT_ENTITIES, *audit.ACTION_FAMILIES})
        raise BadRequest(f"unknown action {name!r}: give one of {', '.join(outbox.APPDISPATCH_EVENTS)}, or "
                         f"<entity>.<verb> (e.g. update.rolled_back) with <entity> one of {', '.join(families)}",
                         details={"field": "action", "accepted": [*outbox.APPDISPATCH_EVENTS, *families]})
    return (f"{family}.{verb}",)


def audit_json(entry: dict) -> dict:
    entity_type = entry["entityType"]
    return {"id": entry["id"], "action": shown_action(entry["action"]),
            "entity_type": SHOWN_ENTITIES.get(entity_type, entity_type),
            "entity_id": entry["entityId"], "actor": entry["actor"], "details": entry["details"],
            "createdAt": entry["at"]}


# --- builds ---------------------------------------------------------------------------------------

LAUNCH_SUFFIXES = (".hbc", ".js", ".bundle")


def _export_zip(files, platform: str):
    """The `assets` files as the zipped export dist otabox's Expo reader takes (each file's name is
    its path in the dist). Without a metadata.json the dist's one JavaScript/Hermes bundle is the
    launch asset and every other file an asset, which is what `npx expo export` would have written."""
    names = _paths_in_export(files)
    if len(set(names)) != len(names) or not all(names):
        raise BadRequest("each assets file needs a distinct file name (its path in the export)",
                         details={"field": "assets"})
    archive = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as out:
        for upload, name in zip(files, names):
            with out.open(name, "w") as member:
                while chunk := upload.stream.read(64 * 1024):
                    member.write(chunk)
        if "metadata.json" not in names:
            launch = [n for n in names if n.endswith(LAUNCH_SUFFIXES)]
            if len(launch) != 1:
                raise BadRequest("send the export's metadata.json among the assets, or exactly one JavaScript "
                                 f"bundle ({', '.join(LAUNCH_SUFFIXES)})", details={"field": "assets"})
            assets = [{"path": n, "ext": posixpath.splitext(n)[1].lstrip(".")} for n in names if n != launch[0]]
            out.writestr("metadata.json", json.dumps({"version": 0, "bundler": "metro", "fileMetadata": {
                platform: {"bundle": launch[0], "assets": assets}}}))
    archive.seek(0)
    return archive


def _paths_in_export(files) -> list[str]:
    """Each `assets` part's path in the export. curl's `-F assets=@dist/_expo/static/js/ios/index-1a2b.hbc`
    sends only the base name (`index-1a2b.hbc`); the export names its files by content hash
    (`assets/<md5>`, `index-<hash>.hbc`), so a base name that exactly one path in metadata.json ends
    with is that path. Paths metadata.json names that no part matches are a 422 naming them, with
    curl's way of sending the path."""
    names = [f.filename or "" for f in files]
    if "metadata.json" not in names:
        return names
    upload = files[names.index("metadata.json")]
    try:
        platforms = json.loads(upload.stream.read()).get("fileMetadata") or {}
        named = [path for entry in platforms.values()
                 for path in [entry.get("bundle"), *(a.get("path") for a in entry.get("assets") or [])]
                 if isinstance(path, str)]
    except (ValueError, AttributeError):
        return names  # the Expo reader says what is wrong with it
    finally:
        upload.stream.seek(0)
    by_base: dict[str, list[str]] = {}
    for path in dict.fromkeys(named):
        by_base.setdefault(posixpath.basename(path), []).append(path)
    given = set(names)
    paths = [name if name in named or name == "metadata.json" or len(by_base.get(name, ())) != 1
             or by_base[name][0] in given else by_base[name][0] for name in names]
    missing = [path for path in dict.fromkeys(named) if path not in paths]
    if missing:
        raise Invalid(f"not a usable Expo export: metadata.json names files no assets part is: {', '.join(missing)}. "
                      f"Send each file with its path in the export, e.g. -F 'assets=@{missing[0]};filename="
                      f"{missing[0]}' from the export's folder (curl sends only the base name otherwise)",
                      code="invalid_expo_export", details={"field": "assets", "missing": missing})
    return paths


def _build_version(app: App, runtime_version: str) -> str:
    """AppDispatch builds have no version; otabox's bundles do: the runtime version when it is a
    semantic version (else 0.0.0) with `+appdispatch.<n>`, n the app's next free build number (its
    AppDispatch builds counted, not the bundles uploaded otherwise)."""
    base = runtime_version if bundles.VERSION["check"](runtime_version) and "+" not in runtime_version else "0.0.0"
    taken = {b.version for b in Bundle.select(Bundle.version).where(
        (Bundle.app == app) & Bundle.version.contains("+appdispatch."))}
    number = len(taken) + 1
    while f"{base}+appdispatch.{number}" in taken:
        number += 1
    return f"{base}+appdispatch.{number}"


@bp.get("/v1/ota/builds")
@accepts(query=LIST_BUILDS)
def list_builds():
    app = project()
    rows, total = bundles.list_bundles(app, query()["limit"], query()["offset"])
    return jsonify({"builds": [build_json(b) for b in rows], "total": total})


@bp.post("/v1/ota/builds")
@accepts(form=BUILD_FORM, files=("assets",))
def upload_build():
    app = project("publisher")
    if request.mimetype != "multipart/form-data":
        raise BadRequest("send multipart/form-data with the export's files as assets", code="expected_multipart")
    files = request.files.getlist("assets")
    if not files:
        raise BadRequest("assets is required: the files of the export", details={"field": "assets"})
    form = body()
    fields = bundles.parse_fields({
        "version": _build_version(app, form["runtimeVersion"]), "platform": form["platform"], "format": "expo",
        "runtimeVersion": form["runtimeVersion"], "message": form.get("message"),
        "expoConfig": form.get("expoConfig"), "gitCommitHash": form.get("gitCommitHash"),
        "gitBranch": form.get("gitBranch")})
    b = box()
    with _export_zip(files, form["platform"]) as archive, b.ingestor.slot():
        staged = b.staging.receive(archive, b.config.max_bundle_bytes)
        bundle = b.ingestor.ingest(app, fields, staged, actor())
    return jsonify({"build": build_json(bundle)}), 201


@bp.delete("/v1/ota/builds/<build_id>")
@accepts()
def delete_build(build_id):
    app = project("admin")
    bundle = bundles.find_bundle(app, build_id)
    bundles.delete_bundles(app, [bundle], actor(), box().store)
    return jsonify({"deleted": True, "id": bundle.id})


def _publish(app: App, data: dict):
    release, _ = releases.create_release(app, renamed(data, PUBLISH_NAMES), actor(), bundles.find_bundle,
                                         apps.find_channel)
    return jsonify({"update": update_json(release), "groupId": release.group_id}), 201


@bp.post("/v1/ota/builds/<build_id>/publish")
@accepts(body=PUBLISH)
def publish_build(build_id):
    app = project("publisher")
    return _publish(app, {**body(), "buildId": bundles.find_bundle(app, build_id).id})


# --- updates --------------------------------------------------------------------------------------

@bp.get("/v1/ota/updates")
@accepts(query=LIST_UPDATES)
def list_updates():
    app = project()
    args = query()
    channel = apps.find_channel(app, args["channel"]) if "channel" in args else None
    rows, total = releases.list_releases(app, channel, args["limit"], args["offset"], group_id=args.get("groupId"))
    return jsonify({"updates": [update_json(r) for r in rows], "total": total})


@bp.post("/v1/ota/updates")
@accepts(body=NEW_UPDATE)
def create_update():
    return _publish(project("publisher"), body())


@bp.patch("/v1/ota/updates/<update_id>")
@accepts(body=UPDATE_CHANGES)
def patch_update(update_id):
    app = project("publisher")
    release = releases.find_release(app, update_id)
    data = renamed(body(), PUBLISH_NAMES)
    if "isEnabled" in body():
        data["disabled"] = not body()["isEnabled"]
    return jsonify({"update": update_json(releases.update_release(release, data, actor()))})


@bp.delete("/v1/ota/updates/<update_id>")
@accepts()
def delete_update(update_id):
    release = releases.find_release(project("publisher"), update_id)
    releases.delete_release(release, actor())
    return jsonify({"deleted": True, "id": release.id})


@bp.post("/v1/ota/updates/<update_id>/republish")
@accepts(body=REPUBLISH)
def republish_update(update_id):
    app = project("publisher")
    release = releases.find_release(app, update_id)
    data = {"channels": [release.channel.name], **body()}
    created, group = releases.republish(app, release, data, actor(), apps.find_channel)
    return jsonify({"updates": [update_json(r) for r in created], "groupId": group}), 201


@bp.get("/v1/ota/updates/<update_id>/history")
@accepts()
def update_history(update_id):
    release = releases.find_release(project(), update_id)
    return jsonify({"updateId": release.id, "history": releases.release_history(release)})


@bp.post("/v1/ota/rollback")
@accepts(body=ROLLBACK)
def rollback():
    """Devices of that platform and runtime version on the channel go back to the embedded update,
    or to `rollbackToUpdateId` (an update id, or the Expo update UUID devices report)."""
    app = project("publisher")
    data = body()
    created = rollback_to_update(app, apps.find_channel(app, data["channel"]), data["runtimeVersion"],
                                 data["platform"], data.get("rollbackToUpdateId"))
    return jsonify({"update": update_json(created)}), 201


# --- channels -------------------------------------------------------------------------------------

@bp.get("/v1/ota/channels")
@accepts()
def list_channels():
    app = project()
    return jsonify({"channels": [channel_json(c) for c in app.channels.order_by(Channel.id)]})


@bp.post("/v1/ota/channels")
@accepts(body=NEW_CHANNEL)
def create_channel():
    app = project("admin")
    data = body()
    channel = apps.create_channel(app, data["name"], actor(), renamed(data, CHANNEL_NAMES))
    return jsonify({"channel": channel_json(channel)}), 201


@bp.patch("/v1/ota/channels/<name>")
@accepts(body=CHANNEL_SETTINGS)
def update_channel(name):
    channel = apps.find_channel(project("admin"), name)
    channel = apps.update_channel(channel, renamed(body(), CHANNEL_NAMES), actor())
    return jsonify({"channel": channel_json(channel)})


@bp.delete("/v1/ota/channels/<name>")
@accepts()
def delete_channel(name):
    channel = apps.find_channel(project("admin"), name)
    was_default = apps.delete_channel(channel, actor())
    return jsonify({"deleted": True, "name": channel.name, "wasDefault": was_default,
                    **({"warning": apps.default_channel_gone(channel.name)} if was_default else {})})


# --- audit log and webhooks -----------------------------------------------------------------------

@bp.get("/v1/ota/audit-log")
@accepts(query=AUDIT_QUERY)
def audit_log():
    """The project's entries, newest first, in AppDispatch's names; `before` pages back (entries with a
    smaller id)."""
    app = project("admin")
    args = query()
    actions = filtered_actions(args["action"]) if args.get("action") else None
    entity_type = AUDIT_ENTITIES.get(args.get("entity_type"), args.get("entity_type"))
    entries = audit.query(args["limit"], args.get("before") or None, actions, entity_type,
                          args.get("entity_id"), app_id=app.id)
    return jsonify({"entries": [audit_json(e) for e in entries]})


def _webhook(app: App, webhook_id) -> Webhook:
    webhook = webhooks.find_webhook(webhook_id)
    if webhook.app_id != app.id:
        raise NotFound(f"no webhook {webhook_id!r}")
    return webhook


@bp.get("/v1/ota/webhooks")
@accepts()
def list_webhooks():
    app = project("admin")
    return jsonify({"webhooks": [webhooks.webhook_json(w) for w in webhooks.list_webhooks(app.id)]})


@bp.post("/v1/ota/webhooks")
@accepts(body=NEW_WEBHOOK)
def create_webhook():
    app = project("admin")
    b = box()
    webhook, secret = webhooks.create_webhook({**body(), "appId": app.id}, actor(), b.sealer,
                                              b.config.webhook_allow_private)
    return jsonify({"webhook": {**webhooks.webhook_json(webhook), "secret": secret}}), 201


@bp.patch("/v1/ota/webhooks/<webhook_id>")
@accepts(body=WEBHOOK_FIELDS)
def update_webhook(webhook_id):
    app = project("admin")
    b = box()
    webhook = webhooks.update_webhook(_webhook(app, webhook_id), body(), actor(), b.sealer,
                                      b.config.webhook_allow_private)
    return jsonify({"webhook": webhooks.webhook_json(webhook)})


@bp.delete("/v1/ota/webhooks/<webhook_id>")
@accepts()
def delete_webhook(webhook_id):
    webhook = _webhook(project("admin"), webhook_id)
    webhooks.delete_webhook(webhook, actor())
    return jsonify({"deleted": True, "id": webhook.id})


@bp.get("/v1/ota/webhooks/<webhook_id>/deliveries")
@accepts(query=Schema({"limit": Whole(1, 500, default=50)}))
def webhook_deliveries(webhook_id):
    webhook = _webhook(project("admin"), webhook_id)
    return jsonify({"deliveries": webhooks.recent_deliveries(webhook, query()["limit"])})
