"""Apps and their channels (api/apps.py)."""
from __future__ import annotations

from ...api import apps as api_apps
from ...core import apps
from ..shapes import (
    APP_ID, array, AUTH, BOOLEAN, CHANNEL, DELETED, INTEGER, json_errors, KEYED, nullable, obj, operation, path,
    PERMISSION, ref, reply, STRING, TIMESTAMP)


def schemas() -> dict:
    channel = obj({
        "id": INTEGER, "name": STRING, "deploymentKey": STRING, "blockUpgrades": {"enum": list(apps.BLOCK_UPGRADES)},
        "allowDeviceSelfAssign": BOOLEAN, "allowEmulator": BOOLEAN, "allowDev": BOOLEAN, "ios": BOOLEAN,
        "android": BOOLEAN, "disableAutoUpdateUnderNative": BOOLEAN, "public": BOOLEAN,
        "branch": nullable(STRING), "rolloutBranch": nullable(STRING),
        "rolloutChannel": nullable(STRING), "rolloutPercentage": {"type": "integer", "minimum": 0, "maximum": 100},
        "minRuntimeVersion": nullable(STRING), "currentRelease": nullable(ref("Release")),
        "unscopedRelease": nullable(ref("Release")),
        "scopedRollbacks": array(obj({"releaseId": INTEGER, "label": STRING, "platform": nullable(STRING),
                                      "runtimeVersion": nullable(STRING), "bundleVersion": STRING})),
        "createdAt": TIMESTAMP})
    app = obj({"id": INTEGER, "slug": STRING, "name": STRING, "platform": nullable({"enum": list(apps.APP_PLATFORMS)}),
               "clientKey": STRING,
               "defaultChannel": nullable(STRING),
               "publicFlagDefinitions": {"type": "boolean", "description": "GET /v1/ota/flag-definitions/{slug} "
                                                                           "answers without the client key"},
               "createdAt": TIMESTAMP})
    branch = obj({"id": INTEGER, "name": STRING, "channels": array(STRING), "releaseCount": INTEGER,
                  "createdAt": TIMESTAMP})
    override = obj({"id": INTEGER, "userId": STRING, "branchName": STRING, "note": STRING, "createdBy": STRING,
                    "createdAt": TIMESTAMP})
    return {"App": app, "Channel": channel, "Branch": branch, "UserOverride": override}


def paths() -> dict:
    api = "/api/v1"
    app = f"{api}/apps/{{app_id}}"
    channel = f"{app}/channels/{{name}}"
    tag = "management"
    release_change = reply(ref("ReleaseChange"), 201)
    serves = array(obj({"channel": STRING, "platform": nullable({"enum": ["ios", "android"]}),
                        "release": nullable(INTEGER), "label": nullable(STRING),
                        "version": STRING, "share": {"type": "number"}}))
    planned_entry = obj({"channel": STRING, "kind": {"enum": ["rollback", "builtin"]}, "label": STRING,
                         "platform": nullable({"enum": ["ios", "android"]}), "bundleId": nullable(INTEGER),
                         "bundleVersion": STRING, "rollout": INTEGER, "mandatory": BOOLEAN,
                         "rolledBackFrom": nullable(ref("Release"))})
    return {
        f"{api}/apps": {
            "get": operation("List the apps the key can see", tag,
                             {**reply(obj({"apps": array({"allOf": [ref("App"), obj({
                                 "devicesLast30Days": INTEGER, "productionRelease": nullable(ref("Release")),
                                 "deployments": array(STRING), "collaborators": array(obj({
                                     "email": STRING, "permission": PERMISSION}))})]})})),
                              **json_errors(*KEYED)}),
            "post": operation("Create an app: with a slug, the app with channels production and staging; with "
                              "name and platform and no slug (the CodePush multi-tenant server), {app: {name, "
                              "platform, deployments}} with deployments Production and Staging", tag,
                              {**reply({"anyOf": [ref("App"), obj({"app": obj({
                                  "name": STRING, "platform": {"enum": list(apps.APP_PLATFORMS)},
                                  "deployments": array(STRING)})})]}, 201), **json_errors(400, *KEYED, 409, 422)}),
        },
        app: {
            "get": operation("An app with its channels", tag, {
                **reply({"allOf": [ref("App"), obj({"channels": array(ref("Channel"))})]}), **json_errors(*AUTH)},
                [APP_ID]),
            "patch": operation("Rename an app or set its default channel; the app, and under `app` as the CodePush "
                               "multi-tenant server answers (name, platform, deployments)", tag, {
                **reply({"allOf": [ref("App"), obj({"app": obj({
                    "name": STRING, "platform": nullable({"enum": list(apps.APP_PLATFORMS)}),
                    "deployments": array(STRING)})})]}), **json_errors(400, *AUTH)}, [APP_ID]),
            "delete": operation("Delete an app with its channels, releases and bundles", tag, {
                **reply(DELETED), **json_errors(*AUTH)}, [APP_ID]),
        },
        f"{app}/rotate-client-key": {
            "post": operation("Give the app a new client key (builds with the old one stop getting updates)", tag,
                              {**reply(ref("App")), **json_errors(*AUTH)}, [APP_ID]),
        },
        f"{app}/channels": {
            "get": operation("The app's channels", tag, {
                **reply(obj({"channels": array(ref("Channel")), "total": INTEGER})), **json_errors(400, *AUTH)},
                [APP_ID]),
            "post": operation("Create a channel, or change the settings of the one of that name", tag, {
                **reply(ref("Channel")), **reply(ref("Channel"), 201), **json_errors(400, *AUTH, 409, 422)}, [APP_ID]),
        },
        channel: {
            "get": operation("A channel", tag, {**reply(ref("Channel")), **json_errors(*AUTH)}, [APP_ID, CHANNEL]),
            "patch": operation("Change a channel's settings", tag, {
                **reply(ref("Channel")), **json_errors(400, *AUTH)}, [APP_ID, CHANNEL]),
            "delete": operation("Delete a channel with its release history", tag, {
                **reply(obj({"deleted": BOOLEAN, "name": STRING, "wasDefault": BOOLEAN, "warning": STRING},
                            ["deleted", "name", "wasDefault"])), **json_errors(*AUTH)}, [APP_ID, CHANNEL]),
        },
        f"{app}/branches": {
            "get": operation("The app's branches (update streams; a channel serves one)", tag, {
                **reply(obj({"branches": array(ref("Branch"))})), **json_errors(*AUTH)}, [APP_ID]),
            "post": operation("Create an empty branch", tag, {**reply(ref("Branch"), 201),
                                                              **json_errors(400, *AUTH, 409, 422)}, [APP_ID]),
        },
        f"{app}/user-overrides": {
            "get": operation("Users pinned to a branch", tag, {
                **reply(obj({"overrides": array(ref("UserOverride"))})), **json_errors(*AUTH)}, [APP_ID]),
            "post": operation("Pin a user's devices to a branch (one override per user)", tag, {
                **reply(ref("UserOverride"), 201), **json_errors(400, *AUTH)}, [APP_ID]),
        },
        f"{app}/user-overrides/{{override_id}}": {
            "delete": operation("Unpin a user", tag, {**reply(DELETED),
                                                     **json_errors(*AUTH)},
                                [APP_ID, path("override_id", schema=INTEGER)]),
        },
        f"{channel}/rotate-key": {
            "post": operation("Give the channel a new deployment key", tag, {
                **reply(ref("Channel")), **json_errors(*AUTH)}, [APP_ID, CHANNEL]),
        },
        f"{channel}/stats": {
            "get": operation("Adoption and daily active devices of a channel over the last days", tag, {
                **reply(obj({"channel": STRING, "days": {"enum": [int(days) for days in api_apps.STATS_DAYS]},
                             "adoption": array(obj({"version": STRING, "devices": INTEGER})),
                             "activeByDay": array(obj({"day": STRING, "version": STRING, "devices": INTEGER}))})),
                **json_errors(400, *AUTH)}, [APP_ID, CHANNEL]),
        },
        f"{channel}/rollback": {
            "post": operation("Roll the channel back (to the previous bundle, a release, or the builtin one)", tag, {
                **reply(obj({"release": ref("Release"), "releases": array(ref("Release")),
                             "previousRelease": nullable(ref("Release")), "serves": serves}), 201),
                **reply(obj({"dryRun": BOOLEAN, "release": planned_entry, "releases": array(planned_entry),
                             "serves": serves}),
                        description="dryRun: what the channel would serve"),
                **json_errors(400, *AUTH, 409)}, [APP_ID, CHANNEL]),
        },
        f"{channel}/promote": {
            "post": operation("Release the channel's current bundle to another channel", tag, {
                **release_change, **json_errors(400, *AUTH, 409)}, [APP_ID, CHANNEL]),
        },
    }
