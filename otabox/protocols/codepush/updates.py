"""The CodePush client protocol (what react-native-code-push calls), an adapter over `otabox.core.decide`.

A deployment key names a channel. The decision is the core's, with three CodePush specifics:
- partial rollouts use CodePush's own selector (`in_codepush_rollout` on the release label), so a
  team migrating a live rollout keeps the same phones in it;
- the device names its current bundle by package hash;
- a device that sends no package hash (Android on its binary) runs nothing of the history, so any
  mandatory release it would skip makes the update mandatory: code-push-server scans the whole
  history then (its test "available mandatory update for deployment key and app version but no
  package hash").
Replies come in both of code-push-server's styles: `/updateCheck` (camelCase `updateInfo`) and
`/v0.1/public/codepush/update_check` (snake_case `update_info`, the one current SDKs use)."""
from __future__ import annotations

import re

from flask import Blueprint, Response, request

from ...core import decide as domain
from ...core import releases, semver
from ...core.devices import EVENT_ROW_OVERHEAD, store_events
from ...core.serving import AppView, BundleView, ChannelView, ReleaseView
from ...errors import BadRequest, NotFound, OtaboxError
from ...security.ratelimit import limit_key
from ...store.models import App
from ...web import box, event_admission, limit_client, signed_download_url
from ..wire import Protocol, Reply, WireRequest, json_reply
from .package import in_codepush_rollout
from .diffs import diff_for

bp = Blueprint("codepush", __name__)

DEPLOYMENT_KEY = re.compile(r"^[A-Za-z0-9_-]{10,100}$")
DEPLOY_STATUSES = {"DeploymentSucceeded": "installed", "DeploymentFailed": "failed"}
SNAKE_CASE = {"downloadURL": "download_url", "description": "description", "isAvailable": "is_available",
              "isMandatory": "is_mandatory", "appVersion": "app_version", "packageHash": "package_hash",
              "label": "label", "packageSize": "package_size", "updateAppVersion": "update_app_version",
              "shouldRunBinaryVersion": "should_run_binary_version", "target_binary_range": "target_binary_range"}
V01 = "/v0.1/public/codepush"


def render_error(exc: OtaboxError) -> Reply:
    """code-push-server answers errors with a plain-text message, which the SDK shows as is."""
    return Reply(exc.status, "text/plain; charset=utf-8", exc.message.encode(), exc.headers)


PROTOCOL = Protocol(render_error)


@bp.errorhandler(OtaboxError)
def plain_error(exc: OtaboxError):
    return render_error(exc).flask_response()


MAX_FIELD = 200


def _field(source, camel: str, snake: str) -> str | None:
    """A text field in either spelling; at most 200 characters (a client id, label, hash or version)."""
    value = source.get(camel) or source.get(snake)
    if not isinstance(value, str) or not value:
        return None
    if len(value) > MAX_FIELD:
        raise BadRequest(f"{camel} must be at most {MAX_FIELD} characters.")
    return value


def deployment(b, key: str | None) -> tuple[AppView, ChannelView]:
    if not key or not DEPLOYMENT_KEY.match(key):
        raise BadRequest("An update check must include a valid deployment key.")
    found = b.serving.by_deployment_key(key)
    if found is None:
        raise NotFound("Deployment key not found.")
    return found


def codepush_selector(device_id: str | None, release: ReleaseView) -> bool:
    """CodePush's rollout membership: hashCode(clientUniqueId + "-" + label) % 100 < rollout (a
    rollback's label is its target's, so the phones inside the target's rollout stay inside)."""
    if release.rollout >= 100:
        return True
    if not device_id or release.rollout <= 0:
        return False
    return in_codepush_rollout(device_id, release.rollout_tag, release.rollout)


def above_range(version: semver.Version, target: semver.Range) -> bool:
    """node-semver's `gtr`: the version is above every version the range allows."""
    if target.satisfied_by(version):
        return False
    floor = semver.Comparator(">=", semver.parse_version("0.0.0"))
    for comparators in target.sets:
        high = low = None
        for comparator in comparators:
            comparator = comparator if comparator.version is not None else floor
            high, low = high or comparator, low or comparator
            if comparator.version.compare(high.version) > 0:
                high = comparator
            elif comparator.version.compare(low.version) < 0:
                low = comparator
        if high.operator in (">", ">="):
            return False
        if low.operator in ("", ">") and version.compare(low.version) <= 0:
            return False
        if low.operator == ">=" and version.compare(low.version) < 0:
            return False
    return True


def _binary_hint(channel: ChannelView, app_version: semver.Version) -> dict:
    """What code-push-server says when it offers nothing: the newest enabled release's app version
    when the binary is above it, or `updateAppVersion` when the binary is below it."""
    latest = channel.current
    if latest is None or latest.bundle is None or not latest.target_versions:
        return {}
    target_range = latest.target_range
    if above_range(app_version, target_range):
        return {"appVersion": latest.target_versions}
    if not target_range.satisfied_by(app_version):
        return {"updateAppVersion": True, "appVersion": latest.target_versions}
    return {}


def _label_of(channel: ChannelView, release: ReleaseView | None, bundle: BundleView) -> str:
    if release is not None:
        return release.label
    return next((r.label for r in channel.history if r.bundle is not None and r.bundle.id == bundle.id), "")


def _bundle_with_hash(view: AppView, channel: ChannelView, package_hash: str | None) -> BundleView | None:
    if not package_hash:
        return None
    for release in channel.history:
        if release.bundle is not None and release.bundle.package_hash == package_hash:
            return release.bundle
    return next((b for b in view.bundles.values() if b.package_hash == package_hash), None)


def update_info(decision: domain.Decision, channel: ChannelView, args: dict, app_version: semver.Version,
                b, origin: str) -> dict:
    """The camelCase `updateInfo` code-push-server would send for this decision."""
    info = {"downloadURL": "", "description": "", "isAvailable": False, "isMandatory": False, "appVersion": "",
            "packageHash": "", "label": "", "packageSize": 0, "updateAppVersion": False,
            "shouldRunBinaryVersion": decision.outcome in ("none", "builtin")}
    if decision.outcome in ("none", "up_to_date"):
        info.update(_binary_hint(channel, app_version))
    if decision.update and decision.bundle.package_hash:  # encrypted or Expo bundles are not for CodePush
        bundle, release = decision.bundle, decision.release
        diff = diff_for(b, channel, release, args["package_hash"]) if release else None
        url, _ = signed_download_url(diff["sha256"] if diff else bundle.sha256, b=b, base=origin)
        info.update(downloadURL=url, packageSize=diff["size"] if diff else bundle.size, isAvailable=True,
                    description=release.notes if release else bundle.notes, isMandatory=decision.mandatory,
                    label=_label_of(channel, release, bundle), packageHash=bundle.package_hash,
                    appVersion=args["app_version"])
    info["target_binary_range"] = info["appVersion"]
    return info


def answer_update_check(b, wire: WireRequest) -> Reply:
    """The whole update check, in either style, for its Flask routes and fastpath.FastPath (raises
    OtaboxError)."""
    query = wire.query
    args = {"deployment_key": _field(query, "deploymentKey", "deployment_key"),
            "app_version": _field(query, "appVersion", "app_version"),
            "package_hash": _field(query, "packageHash", "package_hash"),
            "label": _field(query, "label", "label"),
            "client_unique_id": _field(query, "clientUniqueId", "client_unique_id"),
            "is_companion": _field(query, "isCompanion", "is_companion") == "true"}
    view, channel = deployment(b, args["deployment_key"])
    try:
        app_version = semver.coerce_app_version(args["app_version"] or "")
    except ValueError:
        raise BadRequest("An update check must include a binary version that conforms to the semver standard "
                         "(e.g. '1.0.0').") from None
    device_id = args["client_unique_id"]
    b.client_limiter.take(limit_key("codepush", device_id, wire.client_address))
    device = domain.DeviceQuery(device_id=device_id, native_version=args["app_version"], channel=channel.name,
                                current_package_hash=args["package_hash"], any_native_version=args["is_companion"],
                                versions_follow_native=False)
    decision = domain.decide(view, device, selector=codepush_selector)
    current = _bundle_with_hash(view, channel, args["package_hash"])
    b.tracker.seen(view.id, device_id, decision.served_release_id, address=wire.client_address,
                   platform=None, native_version=args["app_version"], native_build=None,
                   bundle_version=current.version if current else None,
                   channel=decision.channel.name if decision.channel else channel.name)
    info = update_info(decision, decision.channel or channel, args, app_version, b, wire.origin)
    if wire.path.startswith(V01):  # code-push-server's newer route answers in snake_case
        return json_reply({"update_info": {SNAKE_CASE[k]: v for k, v in info.items()}})
    return json_reply({"updateInfo": info})


CHECK_PATHS = ("/updateCheck", f"{V01}/update_check")
PLAIN_TEXT_PATHS = ("/updateCheck", "/reportStatus/", f"{V01}/")
"""The client routes, which answer errors in plain text."""


@bp.get("/updateCheck")
def update_check_camel():
    return PROTOCOL.flask(answer_update_check)


@bp.get(f"{V01}/update_check")
def update_check_snake():
    return PROTOCOL.flask(answer_update_check)


def _report_body() -> dict:
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        raise BadRequest("A status report must be a JSON object.")
    return body


def _release_by_label(channel: ChannelView, label: str) -> ReleaseView | None:
    return next((r for r in channel.history if r.label == label), None)


def _store(view: AppView, device_id: str, release: ReleaseView | None, kind: str, action: str) -> None:
    """Count a client event on the release it names (an unknown label is stored but counts nowhere)."""
    bundle_id = release.bundle.id if release and release.bundle else None
    resolved = (release.id if release else None, bundle_id)
    store_events(App.get_by_id(view.id), [(device_id, bundle_id, kind, action, "")], lambda *_: resolved,
                 event_admission(), box().health)


def _report_deploy():
    body = _report_body()
    key = _field(body, "deploymentKey", "deployment_key")
    app_version = _field(body, "appVersion", "app_version")
    if not key or not app_version:
        raise BadRequest("A deploy status report must contain a valid appVersion and deploymentKey.")
    label, status = _field(body, "label", "label"), _field(body, "status", "status")
    if label and not status:
        raise BadRequest("A deploy status report for a labelled package must contain a valid status.")
    if label and status not in DEPLOY_STATUSES:
        raise BadRequest(f"Invalid status: {status}")
    view, channel = deployment(box(), key)
    device_id = _field(body, "clientUniqueId", "client_unique_id") or ""
    limit_client("codepush-report", device_id)
    release = _release_by_label(channel, label) if label else None
    if label:
        _store(view, device_id, release, DEPLOY_STATUSES[status], status)
    if status != "DeploymentFailed" or not label:
        _count_active(body, channel, label or app_version, device_id)
    installed = status == "DeploymentSucceeded" and release is not None and release.bundle is not None
    if device_id and (installed or not label):
        # The device now runs the installed bundle, or (no label) the binary's own one.
        box().tracker.seen(view.id, device_id, None, address=request.remote_addr, platform=None,
                           native_version=app_version, native_build=None,
                           bundle_version=release.bundle.version if installed else None, channel=channel.name)
    return Response("OK", mimetype="text/plain")


def _count_active(body: dict, channel: ChannelView, now: str, device_id: str) -> None:
    """code-push-server's recordUpdate: the label (or app version) the device now runs gains an active
    device and the one it reports having left (`previousLabelOrAppVersion`, in
    `previousDeploymentKey`'s deployment, this one by default) loses one. An update check alone counts
    nothing."""
    previous = _field(body, "previousLabelOrAppVersion", "previous_label_or_app_version")
    previous_key = _field(body, "previousDeploymentKey", "previous_deployment_key")
    rows = (now, previous) if previous else (now,)
    if not event_admission()(device_id, sum(len(key) + EVENT_ROW_OVERHEAD for key in rows)):
        return
    away = None
    if previous:
        found = box().serving.by_deployment_key(previous_key) if previous_key else (None, channel)
        away = (found[1].id, previous) if found else None
    releases.move_active((channel.id, now), away)


def _report_download():
    body = _report_body()
    key = _field(body, "deploymentKey", "deployment_key")
    label = _field(body, "label", "label")
    if not key or not label:
        raise BadRequest("A download status report must contain a valid deploymentKey and package label.")
    view, channel = deployment(box(), key)
    device_id = _field(body, "clientUniqueId", "client_unique_id") or ""
    limit_client("codepush-report", device_id)
    _store(view, device_id, _release_by_label(channel, label), "downloaded", "downloaded")
    return Response("OK", mimetype="text/plain")


bp.add_url_rule("/reportStatus/deploy", "report_deploy_camel", _report_deploy, methods=["POST"])
bp.add_url_rule(f"{V01}/report_status/deploy", "report_deploy_snake", _report_deploy, methods=["POST"])
bp.add_url_rule("/reportStatus/download", "report_download_camel", _report_download, methods=["POST"])
bp.add_url_rule(f"{V01}/report_status/download", "report_download_snake", _report_download, methods=["POST"])
