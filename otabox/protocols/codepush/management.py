"""The code-push-server management API (what the code-push CLI calls), mapped onto apps and channels.

Authentication is an otabox API key or access token sent as `Authorization: Bearer <key>` (the CLI's
access key); access keys, sessions, collaborators and transfers are in accounts.py.
Apps are found by slug, id or (when unique) display name; deployments are channels, found by name,
case-insensitively when the exact name does not exist (apps made here get code-push-server's
`Production` and `Staging`; otabox's own have `production` and `staging`). Releases go through the core
(`bundles`, `releases`; rollbacks under code-push-server's rollback policy); this module only translates.
A history entry below the latest one shows `rollout: null`, as code-push-server completes a partial
rollout when the next entry is committed.

A release uploaded here becomes a bundle with `targetVersions` = the release's `appVersion` and the
version `<first version in appVersion>+codepush.<deployment>.<n>` (n = the number in the label the
release will get, or the next free one), unique per app and ordered like the app version it targets.
Diff packages against the channel's last releases are built right after a release, promotion or
rollback made here (releases made through /api/v1 get theirs on the first update check needing one)."""
from __future__ import annotations

import re
import zipfile

from flask import Blueprint, Response, json, jsonify, request

from ...core import apps, branches, bundles, collaborators, releases, semver
from ...errors import BadRequest, Conflict, Forbidden, Invalid, NotFound, OtaboxError
from ...fields import Any, Schema, Text
from ...security import auth
from ...store.models import App, Bundle, Channel, Collaborator, Release
from ...web import accepts, actor, api_key, body, box, inputs, signed_download_url
from .updates import DEPLOYMENT_KEY, render_error
from .package import package_hash_from_zip
from .diffs import precompute_diffs, recorded_diffs

bp = Blueprint("codepush_management", __name__)



@bp.errorhandler(OtaboxError)
def plain_error(exc: OtaboxError):
    """code-push-server answers errors with a plain-text message; the CLI prints it."""
    return render_error(exc).flask_response()


def no_content() -> Response:
    return Response(status=204)


NAMED = Schema({"name": Any(description="1 to 200 characters")})
"""An app or deployment, as the CLI adds or renames it."""
NEW_DEPLOYMENT = NAMED.extend({"key": Any(description="The deployment key to keep (10 to 100 letters, digits, "
                                                      "'_' or '-'); default: a new one")})
PACKAGE_INFO = Schema({name: Any() for name in ("appVersion", "description", "isDisabled", "isMandatory", "rollout",
                                                "label")})
"""code-push-server's packageInfo (its values are checked by `_package_info`, in its own words)."""
PACKAGE_CHANGE = Schema({"packageInfo": Any(description="appVersion, description, isDisabled, isMandatory, rollout, "
                                                        "label")})


# --- apps ---------------------------------------------------------------------------------------

def _visible_apps(caller) -> list[App]:
    return list(caller.visible(App.select().order_by(App.id)))


def find_app(name: str, role: str = "reader") -> App:
    """The app the CLI names (slug, id or unique display name: core.apps.find_app) among those the
    caller reaches, which the caller must reach with `role` (see codepush_role)."""
    caller = api_key("reader")
    try:
        app = apps.find_app(name, among=caller.visible(App.select()))
    except NotFound:
        raise NotFound(f'App "{name}" does not exist.') from None
    have = codepush_role(caller, app)
    if auth.ROLE_RANK[have] < auth.ROLE_RANK[role]:
        raise Forbidden(f"this needs the {role} role on {app.name}; {caller.label} is a {have} there",
                        details={"required": role, "role": have})
    inputs()
    return app


def codepush_role(caller, app: App) -> str:
    """What the caller may do on an app here: a person who is a collaborator of the app has the
    rights of that collaboration, as on code-push-server (so an admin who transferred an app away is
    a Collaborator of it afterwards); an otabox admin who is no collaborator of it keeps admin rights,
    as the seed's organisation-wide admins do, and so does an API key of the service account."""
    have = caller.role_on(app.id)
    if have is None:
        raise Forbidden(f"{caller.label} is limited to other apps")
    if not caller.is_key:
        row = Collaborator.get_or_none((Collaborator.app == app) & (Collaborator.user == caller.user))
        if row is not None:
            have = auth.lesser(have, auth.PERMISSION_ROLES[row.permission])
    return have


def _display_name(app: App, visible: list[App]) -> str:
    """The app's name when no other app shares it, else its (unique) slug."""
    return app.name if sum(a.name == app.name for a in visible) == 1 else app.slug


PERMISSION_OF_ROLE = {role: permission for permission, role in auth.PERMISSION_ROLES.items()}


def collaborator_map(app: App) -> dict:
    """code-push's `{email: {isCurrentAccount, permission}}`: the app's collaborators, and the caller
    (an API key under its name) with the permission its role gives it when it is not one of them."""
    caller = api_key("reader")
    people = {c.user.email: {"isCurrentAccount": not caller.is_key and c.user_id == caller.user.id,
                             "permission": c.permission} for c in collaborators.collaborators(app)}
    if caller.name not in people:
        people[caller.name] = {"isCurrentAccount": True, "permission": PERMISSION_OF_ROLE[codepush_role(caller, app)]}
    return dict(sorted(people.items()))


def _app_json(app: App) -> dict:
    return {"name": _display_name(app, _visible_apps(api_key("reader"))), "collaborators": collaborator_map(app),
            "deployments": sorted(c.name for c in app.channels)}


def _valid_name(body: dict, what: str) -> str:
    name = body.get("name")
    if not isinstance(name, str) or not 0 < len(name) <= 200:
        raise BadRequest(f"A {what} needs a name of 1 to 200 characters.")
    return name


@bp.get("/authenticated")
@accepts()
def authenticated():
    api_key("reader")
    return jsonify({"authenticated": True})


@bp.get("/account")
@accepts()
def account():
    """The signed-in person (an API key of the service account answers under its own name)."""
    caller = api_key("reader")
    return jsonify({"account": {"name": caller.name, "email": caller.name, "linkedProviders": []}})


@bp.get("/apps")
@accepts()
def list_apps():
    key = api_key("reader")
    return jsonify({"apps": sorted((_app_json(a) for a in _visible_apps(key)), key=lambda a: a["name"])})


@bp.post("/apps")
@accepts(body=NAMED)
def add_app():
    """Any account may add an app, as on code-push-server, and becomes its Owner; an API key of the
    service account needs the admin role, and a token limited to some apps or to a lesser role cannot."""
    caller = api_key("reader")
    if caller.is_key:
        auth.require_role(caller, "admin")
    if caller.token is not None and (caller.token.scoped or caller.token.role != "admin"):
        raise Forbidden(f"{caller.label} cannot add apps: that needs an access key with the admin role for every app")
    name = _valid_name(body(), "app")
    if any(a.name == name for a in App.select(App.name)):
        raise Conflict(f"An app named '{name}' already exists.")
    app = apps.create_named_app(name, None, actor(), owner=caller.user)
    return jsonify({"app": _app_json(app)}), 201


@bp.get("/apps/<app_name>")
@accepts()
def get_app(app_name):
    return jsonify({"app": _app_json(find_app(app_name))})


@bp.patch("/apps/<app_name>")
@accepts(body=NAMED)
def rename_app(app_name):
    app = find_app(app_name, "admin")
    name = _valid_name(body(), "app")
    if name != app.name and App.select().where((App.name == name) & (App.id != app.id)).exists():
        raise Conflict(f"An app named '{name}' already exists.")
    return jsonify({"app": _app_json(apps.rename_app(app, name, actor()))})


@bp.delete("/apps/<app_name>")
@accepts()
def delete_app(app_name):
    apps.delete_app(find_app(app_name, "admin"), actor(), box().store)
    return no_content()


# --- deployments (channels) ---------------------------------------------------------------------

def _find_channel(app: App, name: str) -> Channel:
    try:
        return apps.find_channel(app, name)
    except NotFound:
        raise NotFound(f'Deployment "{name}" does not exist.') from None


def _history(channel: Channel) -> list[Release]:
    """Newest first, disabled releases included (deleted ones are gone from every history list)."""
    return list(Release.select().where(branches.channel_releases(channel) & (Release.deleted == False))  # noqa: E712
                .order_by(Release.id.desc()))


def _deployment_json(channel: Channel) -> dict:
    history = _history(channel)
    return {"name": channel.name, "key": channel.deployment_key,
            "package": _shown_package(history[0]) if history else None}


def _shown_package(release: Release) -> dict:
    """The package as the route's server shows it: code-push-server's `rollout` null once complete;
    at the multi-tenant server's paths (/api/v1) the number its releases list shows (100), so one
    release reads alike in every reply there."""
    package = package_json(release)
    return {**package, "rollout": release.rollout} if request.blueprint == api_bp.name else package


def package_json(release: Release, superseded: bool = False) -> dict:
    """A release in code-push-server's package shape, with its download URLs (`superseded`: an entry
    below the latest, whose rollout code-push-server shows as complete)."""
    bundle = release.bundle
    package = {**releases.codepush_package(release), "blobUrl": signed_download_url(bundle.sha256)[0] if bundle else ""}
    if superseded:
        package["rollout"] = None
    diffs = recorded_diffs(bundle) if bundle else {}
    if diffs:
        package["diffPackageMap"] = {base: {"url": signed_download_url(d["sha256"])[0], "size": d["size"]}
                                     for base, d in diffs.items()}
    return package


@bp.get("/apps/<app_name>/deployments")
@accepts()
def list_deployments(app_name):
    channels = sorted(find_app(app_name).channels, key=lambda c: c.name)
    return jsonify({"deployments": [_deployment_json(c) for c in channels]})


@bp.post("/apps/<app_name>/deployments")
@accepts(body=NEW_DEPLOYMENT)
def add_deployment(app_name):
    app = find_app(app_name, "admin")
    name, key = _valid_name(body(), "deployment"), body().get("key")
    if key is not None and (not isinstance(key, str) or not DEPLOYMENT_KEY.match(key)):
        raise BadRequest("A deployment key must be 10 to 100 letters, digits, '_' or '-'.")
    if key and Channel.select().where(Channel.deployment_key == key).exists():
        raise Conflict("That deployment key is in use already.")
    if Channel.select().where((Channel.app == app) & (Channel.name == name)).exists():
        raise Conflict(f"A deployment named '{name}' already exists.",
                       details={"parameter": "name", "reason": "Name already exists"})
    channel = apps.create_channel(app, name, actor())
    if key:
        channel = apps.set_deployment_key(channel, key, actor())
    return jsonify({"deployment": {"name": channel.name, "key": channel.deployment_key}}), 201


@bp.get("/apps/<app_name>/deployments/<dep>")
@accepts()
def get_deployment(app_name, dep):
    return jsonify({"deployment": _deployment_json(_find_channel(find_app(app_name), dep))})


@bp.patch("/apps/<app_name>/deployments/<dep>")
@accepts(body=NAMED)
def rename_deployment(app_name, dep):
    app = find_app(app_name, "admin")
    channel = _find_channel(app, dep)
    name = _valid_name(body(), "deployment")
    if name != channel.name:
        if not apps.CHANNEL_NAME.match(name):
            raise BadRequest("A deployment name must be 1-64 letters, digits, '.', '_' or '-'.")
        if Channel.select().where((Channel.app == app) & (Channel.name == name)).exists():
            raise Conflict(f"A deployment named '{name}' already exists.")
    return jsonify({"deployment": _deployment_json(apps.rename_channel(channel, name, actor()))})


@bp.delete("/apps/<app_name>/deployments/<dep>")
@accepts()
def delete_deployment(app_name, dep):
    apps.delete_channel(_find_channel(find_app(app_name, "admin"), dep), actor())
    return no_content()


@bp.get("/apps/<app_name>/deployments/<dep>/history")
@accepts()
def history(app_name, dep):
    channel = _find_channel(find_app(app_name), dep)
    entries = _history(channel)
    return jsonify({"history": [package_json(r, superseded=r is not entries[0]) for r in reversed(entries)]})


@bp.delete("/apps/<app_name>/deployments/<dep>/history")
@accepts()
def clear_history(app_name, dep):
    """`code-push deployment clear`: forget the history (owners only; see releases.clear_history)."""
    releases.clear_history(_find_channel(find_app(app_name, "admin"), dep), actor(), box().store)
    return no_content()


def _metrics(channel: Channel, rows: list[Release]) -> dict[str, dict]:
    """`{label or app version: counts}` as code-push-server keeps them: `downloaded`, `installed` and
    `failed` from the devices' reports per label, and `active` from its up/down counters (a device
    counts where it last reported deploying; an update check alone counts nothing). App versions (the
    binary's own bundle) have `active` only."""
    stats = releases.release_stats([r.id for r in rows])
    result = {release.label: {"active": 0, "downloaded": stats[release.id]["downloads"],
                              "failed": stats[release.id]["failures"], "installed": stats[release.id]["installs"]}
              for release in sorted(rows, key=lambda r: r.id)}
    for key, count in releases.active_counts(channel).items():
        result.setdefault(key, {"active": 0})["active"] += count
    return result


@bp.get("/apps/<app_name>/deployments/<dep>/metrics")
@accepts()
def metrics(app_name, dep):
    app = find_app(app_name)
    channel = _find_channel(app, dep)
    return jsonify({"metrics": _metrics(channel, _history(channel))})


# --- releases -----------------------------------------------------------------------------------

def _package_info(raw, all_optional: bool) -> dict:
    """Validate a packageInfo object (code-push-server's validatePackageInfo)."""
    if not isinstance(raw, dict):
        raise BadRequest("packageInfo must be a JSON object.")
    info = {k: v for k, v in PACKAGE_INFO.validate(raw, where="packageInfo.").items() if v is not None}
    app_version = info.get("appVersion")
    if app_version is None and not all_optional:
        raise BadRequest("packageInfo.appVersion is required.")
    if app_version is not None and (not isinstance(app_version, str) or not semver.is_valid_range(app_version)):
        raise BadRequest("packageInfo.appVersion must be a semver version or range.")
    for flag in ("isMandatory", "isDisabled"):
        if flag in info and not isinstance(info[flag], bool):
            raise BadRequest(f"packageInfo.{flag} must be true or false.")
    for text in ("description", "label"):
        if text in info and not isinstance(info[text], str):
            raise BadRequest(f"packageInfo.{text} must be a string.")
    rollout = info.get("rollout")
    if rollout is not None and (isinstance(rollout, bool) or not isinstance(rollout, int) or not 1 <= rollout <= 100):
        raise BadRequest("Rollout value must be an integer between 1 and 100, inclusive.")
    return info


def _package_info_field() -> dict:
    try:
        raw = json.loads(body().get("packageInfo") or "{}")
    except ValueError:
        raise BadRequest("packageInfo must be a JSON string.") from None
    return _package_info(raw, all_optional=False)


def _unfinished_rollout(release: Release | None) -> bool:
    return release is not None and release.rollout < 100 and not release.disabled


def _same_range(left: str, right: str) -> bool:
    try:
        return str(semver.parse_range(left)) == str(semver.parse_range(right))
    except ValueError:
        return False


def _last_hash_for_app_version(history: list[Release], app_version: str) -> str | None:
    """The package hash a new release for `app_version` would duplicate (code-push-server's
    getLastPackageHashWithSameAppVersion): for a range, the newest release if it has the same range;
    for a version, the newest release whose range it satisfies."""
    if not history:
        return None
    try:
        semver.parse_version(app_version)
    except ValueError:
        newest = history[0]
        same = newest.bundle is not None and _same_range(_app_version(newest), app_version)
        return newest.bundle.package_hash if same else None
    for release in history:
        if release.bundle is not None and semver.satisfies(app_version, _app_version(release)):
            return release.bundle.package_hash
    return None


def _bundle_version(app: App, channel: Channel, app_version: str) -> str:
    found = re.search(r"\d+(?:\.\d+){0,2}", app_version)
    try:
        base = semver.coerce_app_version(found.group() if found else "0.0.0")
    except ValueError:
        base = semver.parse_version("0.0.0")
    tag = re.sub(r"[^0-9A-Za-z-]", "-", channel.name)
    number = Release.select().where(branches.channel_releases(channel)).count() + 1
    while True:
        version = f"{base.major}.{base.minor}.{base.patch}+codepush.{tag}.{number}"
        if not Bundle.select().where((Bundle.app == app) & (Bundle.platform == "all")
                                     & (Bundle.version == version)).exists():
            return version
        number += 1


def _finish(app: App, channel: Channel, release: Release, disabled: bool) -> Release:
    """Apply isDisabled, build the diff packages, and return the release as stored."""
    if disabled and not release.disabled:
        release = releases.update_release(release, {"disabled": True}, actor())
    box().publish_changes()  # so the serving state read below already holds this release
    view = box().serving.app(str(app.id))
    channel_view = view.channels.get(channel.name) if view else None
    release_view = next((r for r in channel_view.history if r.id == release.id), None) if channel_view else None
    if release_view is not None:
        precompute_diffs(box(), channel_view, release_view)
    return Release.get_by_id(release.id)


@bp.post("/apps/<app_name>/deployments/<dep>/release")
@accepts(form=Schema({"packageInfo": Text(100_000, description="JSON text: appVersion, description, isDisabled, "
                                                               "isMandatory, rollout")}), files=("package",))
def release(app_name, dep):
    app = find_app(app_name, "publisher")
    channel = _find_channel(app, dep)
    upload = request.files.get("package")
    if upload is None:
        raise BadRequest("A deployment package must include a file.")
    info = _package_info_field()
    history = _history(channel)
    if history and _unfinished_rollout(history[0]):
        raise Conflict("Please update the previous release to 100% rollout before releasing a new package.")
    b = box()
    staged = b.staging.receive(upload.stream, b.config.max_bundle_bytes)
    try:
        package_hash = package_hash_from_zip(staged.path)
        if package_hash == _last_hash_for_app_version(history, info["appVersion"]):
            raise Conflict("The uploaded package was not released because it is identical to the contents of "
                           "the specified deployment's current release.")
        fields = bundles.parse_fields({"version": _bundle_version(app, channel, info["appVersion"]),
                                       "targetVersions": info["appVersion"], "notes": info.get("description")})
    except zipfile.BadZipFile:
        staged.discard()
        raise Invalid("The package must be a zip archive.", code="not_a_zip") from None
    except BaseException:
        staged.discard()
        raise
    bundle = b.ingestor.ingest(app, fields, staged, actor())
    data = {"channel": channel.name, "bundleId": bundle.id, "rollout": info.get("rollout", 100),
            "mandatory": info.get("isMandatory", False)}
    created, _ = releases.create_release(app, data, actor(), bundles.find_bundle, apps.find_channel)
    created = _finish(app, channel, created, info.get("isDisabled", False))
    return jsonify({"package": _shown_package(created)}), 201


@bp.patch("/apps/<app_name>/deployments/<dep>/release")
@accepts(body=PACKAGE_CHANGE)
def update_release(app_name, dep):
    channel = _find_channel(find_app(app_name, "publisher"), dep)
    changed = _patch_release(channel, _package_info(body().get("packageInfo") or {}, all_optional=True))
    return jsonify({"package": package_json(changed)}) if changed else no_content()


def _patch_release(channel: Channel, info: dict, rollout_may_shrink: bool = False) -> Release | None:
    """Change the labelled (or latest) release as code-push-server does: rollout only grows (unless
    `rollout_may_shrink`: the multi-tenant server's route, where devices already on the release keep
    it and only new devices follow the new share), and appVersion becomes the release's own target range.
    Returns the changed release, or None when nothing changed."""
    history = _history(channel)
    if not history:
        raise NotFound("Deployment has no releases.")
    target = next((r for r in history if r.label == info["label"]), None) if "label" in info else history[0]
    if target is None:
        raise NotFound("Release not found for given label.")
    superseded = target is not history[0]
    changes = {}
    if "isDisabled" in info and info["isDisabled"] != target.disabled:
        changes["disabled"] = info["isDisabled"]
    if "isMandatory" in info and info["isMandatory"] != target.mandatory:
        changes["mandatory"] = info["isMandatory"]
    if info.get("description") and info["description"] != target.notes:
        changes["notes"] = info["description"]
    if "rollout" in info:
        if superseded or (target.rollout >= 100 and not rollout_may_shrink):
            raise Conflict("Cannot update rollout value for a completed rollout release.")
        if target.rollout >= info["rollout"] and not rollout_may_shrink:
            raise Conflict(f'Rollout value must be greater than "{target.rollout}", the existing value.')
        if info["rollout"] != target.rollout:
            changes["rollout"] = info["rollout"]
    if info.get("appVersion") and info["appVersion"] != _app_version(target):
        if target.bundle_id is None:
            raise BadRequest("A rollback to the binary has no appVersion.")
        changes["targetVersions"] = info["appVersion"]
    return releases.update_release(target, changes, actor()) if changes else None


def _release_json(release: Release, counts: dict, superseded: bool) -> dict:
    """A release in the multi-tenant server's history: the package with its `rollout` as a number
    (100 once complete or superseded, where code-push-server's CLI reads null) and its `metrics`."""
    metrics = counts.get(release.label, {"active": 0, "downloaded": 0, "installed": 0, "failed": 0})
    return {**package_json(release), "rollout": 100 if superseded else release.rollout,
            "metrics": {"totalActive": metrics["active"],
                        **{k: metrics[k] for k in ("downloaded", "installed", "failed")}}}


@bp.post("/apps/<app_name>/deployments/<src>/promote/<dest>")
@accepts(body=PACKAGE_CHANGE)
def promote(app_name, src, dest):
    app = find_app(app_name, "publisher")
    source, target = _find_channel(app, src), _find_channel(app, dest)
    info = _package_info(body().get("packageInfo") or {}, all_optional=True)
    source_history = _history(source)
    if "label" in info:
        picked = next((r for r in source_history if r.label == info["label"]), None)
    else:
        picked = source_history[0] if source_history else None
    if picked is None or picked.bundle is None:
        raise NotFound("Cannot promote from a deployment with no enabled releases.")
    target_history = _history(target)
    if target_history and _unfinished_rollout(target_history[0]):
        raise Conflict("Cannot promote to an unfinished rollout release unless it is already disabled.")
    app_version = info.get("appVersion") or _app_version(picked)
    if picked.bundle.package_hash == _last_hash_for_app_version(target_history, _app_version(picked)):
        raise Conflict("The uploaded package was not promoted because it is identical to the contents of the "
                       "targeted deployment's current release.")
    data = {"rollout": info.get("rollout", 100), "mandatory": info.get("isMandatory", picked.mandatory),
            "notes": info.get("description") or picked.notes,
            **({"targetVersions": app_version} if app_version != _app_version(picked) else {})}
    created, _ = releases.promote(app, source, target, data, actor(), release=picked)
    created = _finish(app, target, created, info.get("isDisabled", picked.disabled))
    return jsonify({"package": package_json(created)}), 201


@bp.post("/apps/<app_name>/deployments/<dep>/rollback")
@bp.post("/apps/<app_name>/deployments/<dep>/rollback/<label>")
@accepts()
def rollback(app_name, dep, label=None):
    app = find_app(app_name, "publisher")
    channel = _find_channel(app, dep)
    history = _history(channel)
    if not history:
        raise NotFound("Cannot perform rollback because there are no releases on this deployment.")
    data = {}
    if label:
        if label == history[0].label:
            raise Conflict(f"Cannot perform rollback because the target release ({label}) is already the latest "
                           "release.")
        target = next((r for r in history if r.label == label), None)
        if target is None:
            raise NotFound(f"Cannot perform rollback because the target release ({label}) could not be found in "
                           "the deployment history.")
        data["toReleaseId"] = target.id
    try:
        (created,), _ = releases.rollback(channel, data, actor(), releases.CODEPUSH_ROLLBACK)
    except Conflict as refused:
        if refused.code == "different_app_version":
            raise Conflict("Cannot perform rollback to a different app version. Please perform a new release with "
                           "the desired replacement package.") from None
        raise NotFound("Cannot perform rollback because there are no prior releases to rollback to.") from None
    return jsonify({"package": package_json(_finish(app, channel, created, False))}), 201


def _app_version(release: Release) -> str | None:
    """The binary range a release targets (its own, else its bundle's), as code-push-server's appVersion."""
    return (releases.target_versions(release) or "*") if release.bundle_id else None


# --- the multi-tenant CodePush server's own paths, under /api/v1 ----------------------------------

api_bp = Blueprint("codepush_api", __name__)
"""The same operations at the multi-tenant seed's paths (registered under /api/v1), where errors come
in otabox's JSON shape rather than code-push-server's plain text."""


@api_bp.get("/apps/<app_name>/deployments/<dep>/releases")
@accepts()
def releases_with_metrics(app_name, dep):
    """The history, newest first, each release with its `metrics`."""
    app = find_app(app_name)
    channel = _find_channel(app, dep)
    rows = _history(channel)
    counts = _metrics(channel, rows)
    return jsonify({"releases": [_release_json(r, counts, superseded=r is not rows[0]) for r in rows]})


@api_bp.patch("/apps/<app_name>/deployments/<dep>/releases/<label>")
@accepts(body=PACKAGE_INFO.only("rollout", "isMandatory", "isDisabled", "description", "appVersion"))
def update_labelled_release(app_name, dep, label):
    """`{rollout, isMandatory, isDisabled, description, appVersion}` for the release of that label;
    the rollout may go down as well as up (the seed's own example lowers a complete release to 50)."""
    channel = _find_channel(find_app(app_name, "publisher"), dep)
    changed = _patch_release(channel, _package_info({**body(), "label": label}, all_optional=True),
                             rollout_may_shrink=True)
    return jsonify({"package": _shown_package(changed)}) if changed else no_content()


for _rule, _view, _methods in (
        ("/apps/<app_name>/deployments", list_deployments, ["GET"]),
        ("/apps/<app_name>/deployments", add_deployment, ["POST"]),
        ("/apps/<app_name>/deployments/<dep>", rename_deployment, ["PATCH"]),
        ("/apps/<app_name>/deployments/<dep>", delete_deployment, ["DELETE"]),
        ("/apps/<app_name>/deployments/<dep>/release", release, ["POST"])):
    api_bp.add_url_rule(_rule, _view.__name__, _view, methods=_methods)
