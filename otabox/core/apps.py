"""Apps and channels: creation, settings, deletion, and their JSON shapes."""
from __future__ import annotations

import re
import secrets

from ..errors import BadRequest, Conflict, Invalid, NotFound
from ..fields import Any, Boolean, Choice, Percentage, Schema, Text
from ..store.models import App, Branch, Bundle, Channel, Collaborator, Release, User, Webhook, database, iso, row_id
from . import channel_numbers, flags
from .branches import branch_of_name, find_branch
from .change import changing
from .releases import (create_release, current_release, release_json, scoped_rollback_json, served_bundle_id,
                       serving_releases)
from .serving import matching_names

SLUG = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)+$")
CHANNEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
DEFAULT_CHANNELS = ("production", "staging")
CODEPUSH_DEPLOYMENTS = ("Production", "Staging")
"""The deployments code-push-server gives a new app (the CodePush multi-tenant server's apps get them)."""
APP_PLATFORMS = ("ios", "android", "windows")
"""What an app may be for (code-push-server's operating systems); an app without one is for any."""
BLOCK_UPGRADES = ("none", "major", "minor", "patch", "version_number")
BOOLEAN_SETTINGS = {"allowDeviceSelfAssign": "allow_device_self_assign", "allowEmulator": "allow_emulator",
                    "allowDev": "allow_dev", "ios": "ios_enabled", "android": "android_enabled",
                    "disableAutoUpdateUnderNative": "disable_auto_update_under_native"}

NEW_APP = Schema({"slug": Any(description="A reverse-DNS identifier such as com.example.app (required unless "
                                          "name and platform are given, as the CodePush multi-tenant server's "
                                          "apps are made: then a slug is derived from the name)"),
                  "name": Text(200, nullable=True),
                  "platform": Choice(APP_PLATFORMS, nullable=True, description="What the app is for (null: any)")})
APP_SETTINGS = Schema({"name": Text(200, min_length=1), "defaultChannel": Text(200, nullable=True),
                       "publicFlagDefinitions": Boolean(description="GET /v1/ota/flag-definitions/{slug} answers "
                                                                    "without the client key (README: what it "
                                                                    "reveals); default true for new apps, false "
                                                                    "for apps made before schema step 16")})
CHANNEL_SETTINGS = Schema(
    {"blockUpgrades": Choice(BLOCK_UPGRADES, nullable=True), **{api: Boolean() for api in BOOLEAN_SETTINGS},
     "branch": Text(64, min_length=1, description="The branch whose releases the channel serves (default: the "
                                                  "branch of the channel's own name)"),
     "rolloutBranch": Text(64, nullable=True, description="Another branch of the app that gets "
                                                          "rolloutPercentage of the devices"),
     "rolloutChannel": Text(200, nullable=True, description="Another channel of the app whose branch gets "
                                                            "rolloutPercentage of the devices"),
     "rolloutPercentage": Percentage(), "minRuntimeVersion": Text(100, min_length=1, nullable=True),
     "public": Boolean(description="Make it the app's default channel")},
    aliases={"disableAutoUpdate": "blockUpgrades"},
    hints={"version": "a channel serves what is released to it: POST /api/v1/apps/{app}/releases with a bundleId "
                      "and this channel",
           "allow_device_self_set": "otabox calls it allowDeviceSelfAssign",
           "allow_emulator": "otabox calls it allowEmulator", "allow_dev": "otabox calls it allowDev"})
"""A channel's settings; `disableAutoUpdate` is Capgo's name for blockUpgrades."""
NEW_CHANNEL = CHANNEL_SETTINGS.extend({"name": Any(required=True, description="1-64 letters, digits, '.', '_' "
                                                                              "or '-'")})


def new_deployment_key() -> str:
    return secrets.token_urlsafe(30)


def find_app(reference: str, among=None) -> App:
    """The app `reference` names: its id, its slug, or its display name when no other app shares it
    (a shared name is a 409 naming the slugs to use instead). `among`: a query of the apps a caller
    reaches, where names are looked up (so a 409 names no app the caller cannot see)."""
    number = row_id(reference)
    app = App.get_or_none(App.id == number) if number is not None else None
    app = app or App.get_or_none(App.slug == reference)
    if app is None and isinstance(reference, str):
        named = list((among if among is not None else App.select()).where(App.name == reference).order_by(App.id))
        if len(named) > 1:
            slugs = [a.slug for a in named]
            raise Conflict(f"{len(named)} apps are named {reference!r}; name one by its slug: {', '.join(slugs)}",
                           code="ambiguous_app_name", details={"name": reference, "slugs": slugs})
        app = named[0] if named else None
    if app is None:
        raise NotFound(f"no app {reference!r}")
    return app


def app_json(app: App) -> dict:
    return {"id": app.id, "slug": app.slug, "name": app.name, "platform": app.platform,
            "clientKey": app.client_key, "defaultChannel": app.default_channel,
            "publicFlagDefinitions": app.public_flag_definitions, "createdAt": iso(app.created_at)}


def deployment_names(app: App) -> list[str]:
    """The app's channels by name, in the order they were made (CodePush calls them deployments)."""
    return [c.name for c in Channel.select(Channel.name).where(Channel.app == app).order_by(Channel.id)]


def codepush_app_json(app: App) -> dict:
    """An app as the CodePush multi-tenant server answers its creation: name, platform, deployments."""
    return {"name": app.name, "platform": app.platform, "deployments": deployment_names(app)}


def new_client_key() -> str:
    return "otabox_ck_" + secrets.token_urlsafe(18)


def rotate_client_key(app: App, actor: str) -> App:
    """A new client key: apps built with the old one stop getting updates, so ship builds first."""
    with changing(actor, "app.client_key_rotated", "app", app.id, {"slug": app.slug}, app=app):
        app.client_key = new_client_key()
        app.save()
    return app


def slug_for_name(name: str) -> str:
    """The slug of an app made by name alone (code-push's CLI, the CodePush multi-tenant server):
    the name itself when it is reverse-DNS, else `codepush.<name>` with other characters as '-'."""
    return name if SLUG.match(name) else "codepush." + re.sub(r"[^A-Za-z0-9_-]", "-", name)


def create_named_app(name, platform, actor: str, owner: User | None = None) -> App:
    """A new app made as code-push-server makes one: by a name no other app has (the name is how it
    is found), with the deployments "Production" and "Staging" and a slug derived from the name."""
    name = NEW_APP.fields["name"].but(nullable=False)(name, "name")
    if not name.strip():
        raise BadRequest("name must not be empty", details={"field": "name"})
    if App.select().where(App.name == name).exists():
        raise Conflict(f"an app named {name!r} exists already",
                       details={"parameter": "name", "reason": "Name already exists"})
    return create_app(slug_for_name(name), name, actor, owner, platform=platform, channels=CODEPUSH_DEPLOYMENTS)


def create_app(slug, name, actor: str, owner: User | None = None, platform: str | None = None,
               channels: tuple[str, ...] = DEFAULT_CHANNELS) -> App:
    """A new app with `channels` (the first is its default channel); `owner` (a person, not the
    service account) becomes its Owner."""
    name = NEW_APP.fields["name"](name, "name")
    platform = NEW_APP.fields["platform"](platform, "platform")
    if not isinstance(slug, str) or len(slug) > 200 or not SLUG.match(slug):
        raise Invalid("slug must be a reverse-DNS identifier such as com.example.app",
                      code="invalid_slug", details={"field": "slug"})
    with changing(actor, "app.created", "app", details={"slug": slug}) as change:
        if App.select().where(App.slug == slug).exists():
            raise Conflict(f"an app with slug {slug!r} exists already", details={"slug": slug})
        app = App.create(slug=slug, name=name or slug, platform=platform, client_key=new_client_key(),
                         default_channel=channels[0])
        for channel in channels:
            Channel.create(app=app, name=channel, deployment_key=new_deployment_key(),
                           branch=branch_of_name(app.id, channel))
        if owner is not None and not owner.service:
            Collaborator.create(app=app, user=owner, permission="Owner")
        change.entity_id = change.app_id = app.id
        change.emit("app.created", app, {"app": {"id": app.id, "slug": app.slug, "name": app.name,
                                                 "createdAt": iso(app.created_at)}})
    return app


def delete_app(app: App, actor: str, store) -> None:
    """Delete an app with its channels, releases and bundles; blob files no other app uses go too."""
    from .bundles import blobs_of, remove_unreferenced_blobs

    with changing(actor, "app.deleted", "app", app.id, {"slug": app.slug}, app=app):
        digests = blobs_of(Bundle.select().where(Bundle.app == app))
        Release.delete().where(Release.app == app).execute()
        # Its webhooks go too: a recursive delete would only clear their app, making them hear every app.
        Webhook.delete().where(Webhook.app == app).execute()
        app.delete_instance(recursive=True)
    remove_unreferenced_blobs(store, digests)


def find_channel(app: App, name: str) -> Channel:
    """The app's channel of that name, or the one whose name differs only in case (two such are a 409)."""
    if not isinstance(name, str) or len(name) > 200:
        raise BadRequest("a channel is named by a string of at most 200 characters", details={"field": "channel"})
    channel = Channel.get_or_none((Channel.app == app) & (Channel.name == name))
    if channel is None:
        found = matching_names(name, [c.name for c in Channel.select(Channel.name).where(Channel.app == app)])
        if len(found) > 1:
            raise Conflict(f"channels {', '.join(found)} differ from {name!r} only in case; name one exactly",
                           code="ambiguous_channel_name", details={"channel": name, "matches": found})
        channel = Channel.get_or_none((Channel.app == app) & (Channel.name == found[0])) if found else None
    if channel is None:
        raise NotFound(f"no channel {name!r} in app {app.slug!r}")
    return channel


def serving_release(app: App, channel_name: str) -> Release | None:
    """What the app's channel of that name serves now (None when it has no release or no such channel)."""
    try:
        return current_release(find_channel(app, channel_name))
    except (NotFound, Conflict):
        return None


def _serving_channel_name(branch: Branch | None) -> str | None:
    """The channel that serves `branch`: the one of its name, else the first made (None: none does)."""
    if branch is None:
        return None
    names = [c.name for c in Channel.select(Channel.name).where(Channel.branch == branch).order_by(Channel.id)]
    return branch.name if branch.name in names else next(iter(names), None)


def channel_json(channel: Channel) -> dict:
    """A channel with its settings and current release. `public`: it is the app's default channel;
    `rolloutChannel`: a channel serving the branch the split sends devices to. `currentRelease` is the
    newest enabled release, as every version answered it, even a rollback scoped to one platform or
    runtime; `unscopedRelease` is what devices of every other platform and runtime get, and the scoped
    rollbacks above it are listed in `scopedRollbacks` (views show those two)."""
    current, unscoped, scoped = serving_releases(channel)
    split = channel.rollout_branch
    return {
        "id": channel.id, "name": channel.name, "deploymentKey": channel.deployment_key,
        "blockUpgrades": channel.block_upgrades,
        **{api: getattr(channel, column) for api, column in BOOLEAN_SETTINGS.items()},
        "public": channel.app.default_channel == channel.name,
        "branch": channel.branch.name if channel.branch else None, "rolloutBranch": split.name if split else None,
        "rolloutChannel": _serving_channel_name(split), "rolloutPercentage": channel.rollout_percentage,
        "minRuntimeVersion": channel.min_runtime_version,
        "currentRelease": release_json(current) if current else None,
        "unscopedRelease": release_json(unscoped) if unscoped else None,
        "scopedRollbacks": [scoped_rollback_json(r) for r in scoped],
        "createdAt": iso(channel.created_at),
    }


def create_channel(app: App, name, actor: str, settings: dict | None = None) -> Channel:
    if not isinstance(name, str) or not CHANNEL_NAME.match(name):
        raise Invalid("channel name must be 1-64 letters, digits, '.', '_' or '-'", code="invalid_channel",
                      details={"field": "name"})
    with changing(actor, "channel.created", "channel", details={"app": app.slug, "name": name}, app=app) as change:
        if Channel.select().where((Channel.app == app) & (Channel.name == name)).exists():
            raise Conflict(f"channel {name!r} exists already")
        settings = CHANNEL_SETTINGS.validate(settings or {})
        # the branch of the channel's own name is made when missing (as `eas channel:create` does); another must exist
        branch = branch_of_name(app.id, name) if settings.get("branch", name) == name else \
            find_branch(app, settings["branch"])
        channel = Channel.create(app=app, name=name, deployment_key=new_deployment_key(), branch=branch)
        change.entity_id = channel.id
        change.details.update(_apply_settings(channel, settings) if settings else {})
    return channel


def upsert_channel(app: App, name, actor: str, settings: dict) -> tuple[Channel, bool]:
    """Create the channel, or change the settings of the one of that name (Capgo's POST /channel);
    returns it and whether it is new."""
    existing = Channel.get_or_none((Channel.app == app) & (Channel.name == name)) if isinstance(name, str) else None
    if existing is None:
        return create_channel(app, name, actor, settings), True
    return update_channel(existing, settings, actor), False


def configure_channel(app: App, name, actor: str, settings: dict, bundle: Bundle | None = None
                      ) -> tuple[Channel, bool]:
    """Capgo's POST /channel: upsert_channel and, with a bundle (Capgo's `version`), release it to the
    channel unless the channel serves it already, in one transaction. The channel is found as every
    channel is (exact name, then ignoring case): `"channel": "Production"` changes production rather
    than making a second channel that only case tells apart."""
    with database.atomic():
        try:
            name = find_channel(app, name).name
        except NotFound:
            pass  # a new channel
        channel, created = upsert_channel(app, name, actor, settings)
        if bundle is not None and served_bundle_id(channel) != bundle.id:
            create_release(app, {"bundleId": bundle.id, "channel": channel.name}, actor,
                           lambda _app, _id: bundle, lambda _app, _name: channel)
    return channel, created


def list_channels(app: App, limit: int, offset: int) -> tuple[list[Channel], int]:
    query = Channel.select().where(Channel.app == app)
    return list(query.order_by(Channel.id).limit(limit).offset(offset)), query.count()


def _split_branch(channel: Channel, settings: dict) -> Branch | None:
    """The branch a split sends devices to: `rolloutBranch`, or the branch of `rolloutChannel`; it
    must be another branch than the channel's own (or null: no split)."""
    field = "rolloutBranch" if "rolloutBranch" in settings else "rolloutChannel"
    name = settings[field]
    if name is None:
        return None
    if field == "rolloutChannel":
        other = Channel.get_or_none((Channel.app == channel.app_id) & (Channel.name == name))
        branch = other.branch if other is not None and name != channel.name else None
    else:
        branch = Branch.get_or_none((Branch.app == channel.app_id) & (Branch.name == name))
    if branch is None or branch.id == channel.branch_id:
        kind = "channel" if field == "rolloutChannel" else "branch"
        raise BadRequest(f"{field} must name another {kind} of the app (or be null)"
                         + ("" if branch is None else f": {name!r} is the {kind} this channel serves"),
                         details={"field": field})
    return branch


def _apply_settings(channel: Channel, settings: dict) -> dict:
    """Validate (CHANNEL_SETTINGS) and set a channel's settings; returns what changed. `public: true`
    makes the channel the app's default channel."""
    settings = CHANNEL_SETTINGS.validate(settings)
    changed = {}
    if settings.get("blockUpgrades") is not None:
        channel.block_upgrades = changed["blockUpgrades"] = settings["blockUpgrades"]
    for api, column in BOOLEAN_SETTINGS.items():
        if api in settings:
            setattr(channel, column, settings[api])
            changed[api] = settings[api]
    if "branch" in settings:
        channel.branch = find_branch(channel.app_id, settings["branch"])
        changed["branch"] = settings["branch"]
        _number_branch_bundles(channel)
    if "rolloutBranch" in settings or "rolloutChannel" in settings:
        split = channel.rollout_branch = _split_branch(channel, settings)
        changed["rolloutBranch"] = split.name if split else None
    elif channel.rollout_branch_id is not None and channel.rollout_branch_id == channel.branch_id:
        channel.rollout_branch, changed["rolloutBranch"] = None, None
    if "rolloutPercentage" in settings:
        channel.rollout_percentage = changed["rolloutPercentage"] = settings["rolloutPercentage"]
    if "minRuntimeVersion" in settings:
        channel.min_runtime_version = changed["minRuntimeVersion"] = settings["minRuntimeVersion"]
    if "public" in settings:
        changed["public"] = _set_public(channel, settings["public"])
    channel.save()
    return changed


def _number_branch_bundles(channel: Channel) -> None:
    """Give the bundles of the channel's branch a number on the channel (in the order they were
    released), as releasing them to it would have: Koolbase's devices name bundles by these numbers."""
    for row in (Release.select(Release.bundle, Release.mandatory)
                .where((Release.branch == channel.branch_id) & Release.bundle.is_null(False)).order_by(Release.id)):
        channel_numbers.ensure_number(channel.id, row.bundle_id, row.mandatory)


def _set_public(channel: Channel, public: bool) -> bool:
    """Capgo's `public` flag: the public channel is the one devices get when they name none."""
    app = App.get_by_id(channel.app_id)
    if public:
        App.update(default_channel=channel.name).where(App.id == app.id).execute()
    elif app.default_channel == channel.name:
        App.update(default_channel=None).where(App.id == app.id).execute()
    return public


def update_channel(channel: Channel, settings: dict, actor: str) -> Channel:
    with changing(actor, "channel.updated", "channel", channel.id, app=channel.app_id) as change:
        change.details = _apply_settings(channel, settings)
        _channel_updated(change, channel, change.details)
    return Channel.get_by_id(channel.id)


def update_app(app: App, data: dict, actor: str) -> App:
    """PATCH an app (APP_SETTINGS): its display name and its default channel (null: devices that
    name no channel get none)."""
    data = APP_SETTINGS.validate(data)
    if "name" in data:
        app = rename_app(app, data["name"], actor)
    if "defaultChannel" in data:
        name = data["defaultChannel"]
        if name is not None:
            find_channel(app, name)
        if name != app.default_channel:
            with changing(actor, "app.default_channel_set", "app", app.id, {"from": app.default_channel, "to": name},
                          app=app):
                App.update(default_channel=name).where(App.id == app.id).execute()
    if "publicFlagDefinitions" in data and data["publicFlagDefinitions"] != app.public_flag_definitions:
        public = data["publicFlagDefinitions"]
        with changing(actor, "app.flag_definitions_public" if public else "app.flag_definitions_private", "app",
                      app.id, {"publicFlagDefinitions": public}, app=app):
            App.update(public_flag_definitions=public).where(App.id == app.id).execute()
    if not {"name", "defaultChannel", "publicFlagDefinitions"} & set(data):
        raise BadRequest("nothing to change: send name, defaultChannel or publicFlagDefinitions")
    return App.get_by_id(app.id)


def _channel_updated(change, channel: Channel, changes: dict) -> None:
    change.emit("channel.updated", channel.app, {"channel": {"id": channel.id, "name": channel.name},
                                                 "changes": changes})


def rotate_deployment_key(channel: Channel, actor: str) -> Channel:
    with changing(actor, "channel.key_rotated", "channel", channel.id, {"name": channel.name}, app=channel.app_id):
        channel.deployment_key = new_deployment_key()
        channel.save()
    return channel


def rename_app(app: App, name: str, actor: str) -> App:
    """A new display name (the slug, which clients use, stays)."""
    name = APP_SETTINGS.fields["name"](name, "name")
    if name != app.name:
        with changing(actor, "app.renamed", "app", app.id, {"from": app.name, "to": name}, app=app):
            App.update(name=name).where(App.id == app.id).execute()
    return App.get_by_id(app.id)


def rename_channel(channel: Channel, name: str, actor: str) -> Channel:
    if not isinstance(name, str) or not CHANNEL_NAME.match(name):
        raise Invalid("channel name must be 1-64 letters, digits, '.', '_' or '-'", code="invalid_channel",
                      details={"field": "name"})
    if name != channel.name:
        with changing(actor, "channel.renamed", "channel", channel.id, {"from": channel.name, "to": name},
                      app=channel.app_id) as change:
            if Channel.select().where((Channel.app == channel.app_id) & (Channel.name == name)).exists():
                raise Conflict(f"channel {name!r} exists already")
            Channel.update(name=name).where(Channel.id == channel.id).execute()
            flags.channel_renamed(channel.app_id, channel.name, name)
            _rename_own_branch(channel, name)
            App.update(default_channel=name).where((App.id == channel.app_id)
                                                   & (App.default_channel == channel.name)).execute()
            _channel_updated(change, Channel.get_by_id(channel.id), {"name": name})
    return Channel.get_by_id(channel.id)


def _own_branch(channel: Channel) -> Branch | None:
    """The channel's branch when it is the channel's own: of its name, served by no other channel."""
    branch = channel.branch
    if branch is None or branch.name != channel.name or Channel.select().where(
            (Channel.branch == branch) & (Channel.id != channel.id)).exists():
        return None
    return branch


def _rename_own_branch(channel: Channel, name: str) -> None:
    """A renamed channel's own branch takes the new name, so a channel made later under the old
    name starts empty, as it did when releases belonged to channels."""
    branch = _own_branch(channel)
    if branch is not None and not Branch.select().where((Branch.app == channel.app_id) & (Branch.name == name)).exists():
        Branch.update(name=name).where(Branch.id == branch.id).execute()


def set_deployment_key(channel: Channel, key: str, actor: str) -> Channel:
    """Give a channel a deployment key of the team's choice (a migrating CodePush app keeps its
    existing key, so its phones need no new build)."""
    with changing(actor, "channel.key_set", "channel", channel.id, {"name": channel.name}, app=channel.app_id):
        if Channel.select().where((Channel.deployment_key == key) & (Channel.id != channel.id)).exists():
            raise Conflict("that deployment key is in use already", code="deployment_key_in_use")
        Channel.update(deployment_key=key).where(Channel.id == channel.id).execute()
    return Channel.get_by_id(channel.id)


def delete_channel(channel: Channel, actor: str) -> bool:
    """Delete a channel. Its own branch (of its name, served by no other channel) goes with its
    history, and channels splitting devices to that branch stop doing so; releases made through the
    channel into a branch another channel serves stay there (they are then that channel's), others go.
    An app whose default channel it was has none until another one is made public: True then, so
    callers can say so (devices naming no channel get no updates until then)."""
    with changing(actor, "channel.deleted", "channel", channel.id, {"name": channel.name}, app=channel.app_id):
        own = _own_branch(channel)
        if own is not None:
            Channel.update(rollout_branch=None, rollout_percentage=0).where(Channel.rollout_branch == own).execute()
            Release.delete().where(Release.branch == own).execute()
        for heir in Channel.select().where((Channel.app == channel.app_id) & (Channel.id != channel.id)
                                           & Channel.branch.is_null(False)):
            Release.update(channel=heir).where((Release.channel == channel)
                                               & (Release.branch == heir.branch_id)).execute()
        Release.delete().where(Release.channel == channel).execute()
        if own is not None:
            own.delete_instance(recursive=True)
        flags.channel_deleted(channel.app_id, channel.name)
        was_default = App.update(default_channel=None).where((App.id == channel.app_id)
                                                             & (App.default_channel == channel.name)).execute() > 0
        channel.delete_instance(recursive=True)
    return was_default


def default_channel_gone(name: str) -> str:
    """What deleting the default channel `name` leaves, and the way out."""
    return (f"{name!r} was the app's default channel: the app has none now, so devices that name no channel get "
            "no updates until another channel is made the default (otabox channels update NAME --default, or "
            "PATCH its channel with {\"public\": true})")
