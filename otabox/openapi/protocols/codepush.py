"""CodePush: the SDK's protocol, code-push-server's management API and accounts, and the multi-tenant
server's paths (protocols/codepush/)."""
from __future__ import annotations

from ...core import releases
from ...protocols.codepush.updates import DEPLOY_STATUSES
from ...protocols.codepush.updates import SNAKE_CASE
from ..shapes import (
    array, body, BOOLEAN, INTEGER, JSON, json_errors, KEYED, nullable, obj, operation, path, PERMISSION, PUBLIC,
    query, ref, reply, STATUS_TEXT, STRING, TEXT, text_errors)


def schemas() -> dict:
    info = {"downloadURL": STRING, "description": STRING, "isAvailable": BOOLEAN, "isMandatory": BOOLEAN,
            "appVersion": STRING, "packageHash": STRING, "label": STRING, "packageSize": INTEGER,
            "updateAppVersion": BOOLEAN, "shouldRunBinaryVersion": BOOLEAN, "target_binary_range": STRING}
    package = obj({
        "appVersion": STRING, "blobUrl": STRING, "description": STRING, "isDisabled": BOOLEAN,
        "isMandatory": BOOLEAN, "label": STRING, "packageHash": STRING,
        "releaseMethod": {"enum": list(dict.fromkeys(releases.CODEPUSH_RELEASE_METHODS.values()))}, "releasedBy": STRING,
        "rollout": nullable({"type": "integer", "minimum": 1, "maximum": 99}), "size": INTEGER,
        "uploadTime": INTEGER, "originalLabel": STRING, "originalDeployment": STRING,
        "diffPackageMap": {"type": "object", "additionalProperties": obj({"url": STRING, "size": INTEGER})}},
        required=["appVersion", "blobUrl", "description", "isDisabled", "isMandatory", "label", "packageHash",
                  "releaseMethod", "releasedBy", "rollout", "size", "uploadTime"])
    return {
        "CodePushAccessKey": obj({
            "name": STRING, "friendlyName": STRING, "description": STRING, "createdBy": STRING,
            "createdTime": INTEGER, "expires": INTEGER, "isSession": BOOLEAN}, required=[
            "friendlyName", "description", "createdBy", "createdTime", "expires", "isSession"]),
        "CodePushUpdateInfo": obj(info),
        "CodePushUpdateInfoSnake": obj({SNAKE_CASE[name]: schema for name, schema in info.items()}),
        "CodePushApp": obj({
            "name": STRING, "deployments": array(STRING),
            "collaborators": {"type": "object", "additionalProperties": obj({
                "isCurrentAccount": BOOLEAN, "permission": PERMISSION})}}),
        "CodePushDeployment": obj({"name": STRING, "key": STRING, "package": nullable(ref("CodePushPackage"))}),
        "CodePushPackage": package,
        "CodePushPackageInfo": obj({
            "appVersion": STRING, "description": STRING, "isDisabled": BOOLEAN, "isMandatory": BOOLEAN,
            "label": STRING, "rollout": {"type": "integer", "minimum": 1, "maximum": 100}}, required=[]),
        "CodePushStatusReport": obj({
            "deploymentKey": STRING, "appVersion": STRING, "label": STRING, "clientUniqueId": STRING,
            "status": {"enum": list(DEPLOY_STATUSES)}, "previousLabelOrAppVersion": STRING,
            "previousDeploymentKey": STRING}, required=["deploymentKey"]),
    }


def paths() -> dict:
    return {**_client_paths(), **_management_paths(), **_api_paths(), **_account_paths()}


def _client_paths() -> dict:
    tag = "codepush client"
    v01 = "/v0.1/public/codepush"

    def check(snake: bool) -> dict:
        names = ("deployment_key", "app_version", "package_hash", "label", "client_unique_id", "is_companion") \
            if snake else ("deploymentKey", "appVersion", "packageHash", "label", "clientUniqueId", "isCompanion")
        parameters = [query(names[0], {"type": "string", "pattern": "^[A-Za-z0-9_-]{10,100}$"}, required=True),
                      query(names[1], description="The binary's version", required=True),
                      query(names[2]), query(names[3]), query(names[4], {"type": "string", "maxLength": 200}),
                      query(names[5], {"enum": ["true", "false"]})]
        info = obj({"update_info": ref("CodePushUpdateInfoSnake")}) if snake \
            else obj({"updateInfo": ref("CodePushUpdateInfo")})
        return operation("Ask whether an update is available", tag, {**reply(info), **text_errors(400, 404, 429)},
                         parameters, security=PUBLIC)

    def report(what: str) -> dict:
        return operation(f"Report a {what}", tag, {**reply(STRING, media_type=TEXT),
                                                    **text_errors(400, 404, 429)},
                         request_body=body(ref("CodePushStatusReport")), security=PUBLIC)

    return {
        "/updateCheck": {"get": check(snake=False)},
        f"{v01}/update_check": {"get": check(snake=True)},
        "/reportStatus/deploy": {"post": report("deployment (install) result")},
        f"{v01}/report_status/deploy": {"post": report("deployment (install) result")},
        "/reportStatus/download": {"post": report("download")},
        f"{v01}/report_status/download": {"post": report("download")},
    }


def _management_paths() -> dict:
    tag = "codepush management"
    app = "/apps/{app_name}"
    deployment = f"{app}/deployments/{{dep}}"
    app_name = path("app_name", "The app's slug, id or (when unique) name")
    dep = path("dep", "The deployment (channel) name; case-insensitive when unambiguous")
    errors = (*KEYED, 404)
    app_reply = obj({"app": ref("CodePushApp")})
    deployment_reply = obj({"deployment": ref("CodePushDeployment")})
    package_reply = obj({"package": ref("CodePushPackage")})
    too_large = {"413": {"description": STATUS_TEXT[413],
                         "content": {TEXT: {"schema": STRING}, JSON: {"schema": ref("Error")}}}}
    return {
        "/authenticated": {"get": operation("Check the access key", tag, {
            **reply(obj({"authenticated": {"const": True}})), **text_errors(*KEYED)})},
        "/account": {"get": operation("The account behind the access key", tag, {
            **reply(obj({"account": obj({"name": STRING, "email": STRING, "linkedProviders": array(STRING)})})),
            **text_errors(*KEYED)})},
        "/apps": {
            "get": operation("List apps", tag, {**reply(obj({"apps": array(ref("CodePushApp"))})),
                                                **text_errors(*KEYED)}),
            "post": operation("Add an app", tag, {**reply(app_reply, 201), **text_errors(400, *KEYED, 409, 422)}),
        },
        app: {
            "get": operation("An app", tag, {**reply(app_reply), **text_errors(*errors)}, [app_name]),
            "patch": operation("Rename an app", tag, {**reply(app_reply), **text_errors(400, *errors, 409)},
                               [app_name]),
            "delete": operation("Delete an app", tag, {**reply(status=204), **text_errors(*errors)}, [app_name]),
        },
        f"{app}/deployments": {
            "get": operation("List deployments", tag, {
                **reply(obj({"deployments": array(ref("CodePushDeployment"))})), **text_errors(*errors)}, [app_name]),
            "post": operation("Add a deployment (optionally keeping an existing key)", tag, {
                **reply(obj({"deployment": obj({"name": STRING, "key": STRING})}), 201),
                **text_errors(400, *errors, 409, 422)}, [app_name]),
        },
        deployment: {
            "get": operation("A deployment", tag, {**reply(deployment_reply), **text_errors(*errors)},
                             [app_name, dep]),
            "patch": operation("Rename a deployment", tag, {**reply(deployment_reply),
                                                            **text_errors(400, *errors, 409)},
                               [app_name, dep]),
            "delete": operation("Delete a deployment", tag, {**reply(status=204), **text_errors(*errors)},
                                [app_name, dep]),
        },
        f"{deployment}/history": {
            "get": operation("Release history, oldest first", tag, {
                **reply(obj({"history": array(ref("CodePushPackage"))})), **text_errors(*errors)}, [app_name, dep]),
            "delete": operation("Clear the history (bundles no other history uses go too)", tag, {
                **reply(status=204), **text_errors(*errors)}, [app_name, dep]),
        },
        f"{deployment}/metrics": {"get": operation("Counts per label and app version", tag, {
            **reply(obj({"metrics": {"type": "object", "additionalProperties": obj(
                {"active": INTEGER, "downloaded": INTEGER, "failed": INTEGER, "installed": INTEGER})}})),
            **text_errors(*errors)}, [app_name, dep])},
        f"{deployment}/release": {
            "post": operation("Release a package (a zip of the JS bundle and assets)", tag, {
                **reply(package_reply, 201), **text_errors(400, *errors, 409, 422, 507), **too_large}, [app_name, dep],
                body(obj({"package": {"type": "string", "contentMediaType": "application/zip"},
                          "packageInfo": {"type": "string", "contentMediaType": JSON,
                                          "description": "CodePushPackageInfo as a JSON string"}},
                         required=["package", "packageInfo"]), "multipart/form-data")),
            "patch": operation("Change the latest (or the labelled) release", tag, {
                **reply(package_reply), **reply(status=204), **text_errors(400, *errors, 409)}, [app_name, dep]),
        },
        f"{app}/deployments/{{src}}/promote/{{dest}}": {"post": operation(
            "Promote a release to another deployment", tag, {**reply(package_reply, 201),
                                                             **text_errors(400, *errors, 409)},
            [app_name, path("src"), path("dest")])},
        f"{deployment}/rollback": {"post": operation("Roll back to the previous release", tag, {
            **reply(package_reply, 201), **text_errors(*errors, 409)}, [app_name, dep])},
        f"{deployment}/rollback/{{label}}": {"post": operation("Roll back to the labelled release", tag, {
            **reply(package_reply, 201), **text_errors(*errors, 409)}, [app_name, dep, path("label")])},
    }


def _api_paths() -> dict:
    """The multi-tenant CodePush server's paths under /api/v1: the same operations as above, with
    errors in otabox's JSON shape."""
    tag = "codepush management"
    plain = _management_paths()
    app = "/api/v1/apps/{app_name}"
    deployment = f"{app}/deployments/{{dep}}"

    def as_json(operation_: dict) -> dict:
        responses = {status: response if status.startswith("2") else json_errors(int(status))[status]
                     for status, response in operation_["responses"].items()}
        return {**operation_, "responses": responses}

    metrics = obj({"totalActive": INTEGER, "downloaded": INTEGER, "installed": INTEGER, "failed": INTEGER})
    app_and_dep = plain["/apps/{app_name}/deployments/{dep}/history"]["get"]["parameters"]
    return {
        f"{app}/deployments": {m: as_json(plain["/apps/{app_name}/deployments"][m]) for m in ("get", "post")},
        deployment: {m: as_json(plain["/apps/{app_name}/deployments/{dep}"][m]) for m in ("patch", "delete")},
        f"{deployment}/release": {"post": as_json(plain["/apps/{app_name}/deployments/{dep}/release"]["post"])},
        f"{deployment}/releases": {"get": operation("Releases, newest first, with their metrics (rollout 100 once "
                                                    "complete)", tag, {
            **reply(obj({"releases": array({"allOf": [ref("CodePushPackage"), obj({"metrics": metrics})]})})),
            **json_errors(*KEYED, 404)}, app_and_dep)},
        f"{deployment}/releases/{{label}}": {"patch": operation(
            "Change the labelled release; the rollout may be lowered (devices that have the release keep it)", tag, {
            **reply(obj({"package": ref("CodePushPackage")})), **reply(status=204),
            **json_errors(400, *KEYED, 404, 409)}, [*app_and_dep, path("label")])},
    }


def _account_paths() -> dict:
    tag = "codepush management"
    app_name = path("app_name", "The app's slug, id or (when unique) name")
    key_name = path("key_name", "The access key's friendlyName")
    email = path("email", "A user's e-mail address")
    key_reply = obj({"accessKey": ref("CodePushAccessKey")})
    collaborators = obj({"collaborators": {"type": "object", "additionalProperties": obj({
        "isCurrentAccount": BOOLEAN, "permission": PERMISSION})}})
    errors = (*KEYED, 404)
    return {
        "/accessKeys": {
            "get": operation("The account's access keys and sessions (isSession), secrets hidden", tag, {
                **reply(obj({"accessKeys": array(ref("CodePushAccessKey"))})), **text_errors(*KEYED)}),
            "post": operation("Create an access key (its secret is the reply's name, shown once)", tag, {
                **reply(key_reply, 201), **text_errors(400, *KEYED, 409)}),
        },
        "/accessKeys/{key_name}": {
            "get": operation("An access key", tag, {**reply(key_reply), **text_errors(*errors)}, [key_name]),
            "patch": operation("Rename an access key or give it a new expiry (now + ttl ms)", tag, {
                **reply(key_reply), **text_errors(400, *errors, 409)}, [key_name]),
            "delete": operation("Remove an access key", tag, {**reply(status=204), **text_errors(*errors)},
                                [key_name]),
        },
        "/sessions/{created_by}": {
            "delete": operation("End the account's sessions started from one machine or address", tag, {
                **reply(status=204), **text_errors(*errors)}, [path("created_by")]),
        },
        "/apps/{app_name}/collaborators": {
            "get": operation("The app's collaborators", tag, {**reply(collaborators), **text_errors(*errors)},
                             [app_name]),
        },
        "/apps/{app_name}/collaborators/{email}": {
            "post": operation("Add a collaborator", tag, {**reply(status=201), **text_errors(400, *errors, 409)},
                              [app_name, email]),
            "delete": operation("Remove a collaborator (or leave the app)", tag, {
                **reply(status=204), **text_errors(400, *errors)}, [app_name, email]),
        },
        "/apps/{app_name}/transfer/{email}": {
            "post": operation("Transfer the app to another user", tag, {
                **reply(status=201), **text_errors(400, *errors, 409)}, [app_name, email]),
        },
    }
