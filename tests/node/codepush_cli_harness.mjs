// The requests code-push-standalone (microsoft/code-push-server's cli/, @ff1d84c) makes for access
// keys, sessions, the account and collaborators, rebuilt from its management-sdk.ts: the CLI is not
// published on npm, so this sends what its AccountManager sends (same paths, including the raw,
// unencoded names it puts in them; same headers; the same JSON.stringify bodies) with the same HTTP
// library (superagent 8), and maps the replies the way it does before the CLI prints them.
//
// Usage: node codepush_cli_harness.mjs <serverUrl> <accessKey> <operation> [args...]
// Prints {"result": ...} or {"error": {"message", "statusCode"}} (what the CLI would show).

import { hostname } from "node:os";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const superagent = require("superagent");

const SDK_VERSION = "0.0.1"; // code-push-server cli/package.json "version", sent as X-CodePush-SDK-Version
const JSON_TYPE = "application/json;charset=UTF-8";

function send(server, accessKey, method, path, body = null, expectBody = true) {
  return new Promise((resolve, reject) => {
    let request = superagent[method](server + path)
      .set("Accept", "application/vnd.code-push.v2+json")
      .set("Authorization", `Bearer ${accessKey}`)
      .set("X-CodePush-SDK-Version", SDK_VERSION);
    if (body) request = request.set("Content-Type", JSON_TYPE).send(body);
    request.end((err, res) => {
      let parsed;
      try {
        parsed = JSON.parse(res && res.text);
      } catch {
        parsed = undefined;
      }
      if (err) {
        const statusCode = err.status || (res && res.status) || 504;
        reject({ message: res && res.text ? res.text : err.message, statusCode });
      } else if (expectBody && !parsed) {
        reject({ message: `Could not parse response: ${res.text}`, statusCode: 500 });
      } else {
        resolve({ headers: res.header, body: parsed });
      }
    });
  });
}

const keyFields = (key) => ({ createdTime: key.createdTime, expires: key.expires, name: key.friendlyName });

const operations = {
  isAuthenticated: (call) =>
    call("get", "/authenticated").then(() => true, (error) => {
      if (error.statusCode === 401) return false;
      throw error;
    }),
  addAccessKey: (call, name, ttl) =>
    call("post", "/accessKeys/", JSON.stringify({ createdBy: hostname(), friendlyName: name,
      ttl: ttl === undefined ? undefined : Number(ttl) }))
      .then((res) => ({ ...keyFields(res.body.accessKey), key: res.body.accessKey.name })),
  getAccessKey: (call, name) => call("get", `/accessKeys/${name}`).then((res) => keyFields(res.body.accessKey)),
  getAccessKeys: (call) =>
    call("get", "/accessKeys").then((res) => res.body.accessKeys.filter((key) => !key.isSession).map(keyFields)),
  getSessions: (call) =>
    call("get", "/accessKeys").then((res) => {
      const byMachine = {};
      for (const key of res.body.accessKeys) {
        if (key.isSession && key.expires > Date.now()) {
          byMachine[key.createdBy] = { loggedInTime: key.createdTime, machineName: key.createdBy };
        }
      }
      return Object.values(byMachine);
    }),
  patchAccessKey: (call, oldName, newName, ttl) =>
    call("patch", `/accessKeys/${oldName}`, JSON.stringify({ friendlyName: newName || undefined,
      ttl: ttl === undefined ? undefined : Number(ttl) }), false)
      .then((res) => keyFields(res.body.accessKey)),
  removeAccessKey: (call, name) => call("del", `/accessKeys/${name}`, null, false).then(() => null),
  removeSession: (call, machine) => call("del", `/sessions/${machine}`, null, false).then(() => null),
  getAccountInfo: (call) => call("get", "/account").then((res) => res.body.account),
  getApps: (call) => call("get", "/apps").then((res) => res.body.apps),
  addApp: (call, name) => call("post", "/apps/", JSON.stringify({ name }), false).then(() => ({ name })),
  removeApp: (call, name) => call("del", `/apps/${name}`, null, false).then(() => null),
  transferApp: (call, app, email) => call("post", `/apps/${app}/transfer/${email}`, null, false).then(() => null),
  getCollaborators: (call, app) => call("get", `/apps/${app}/collaborators`).then((res) => res.body.collaborators),
  addCollaborator: (call, app, email) =>
    call("post", `/apps/${app}/collaborators/${email}`, null, false).then(() => null),
  removeCollaborator: (call, app, email) =>
    call("del", `/apps/${app}/collaborators/${email}`, null, false).then(() => null),
  getDeployments: (call, app) => call("get", `/apps/${app}/deployments/`).then((res) => res.body.deployments),
  getDeploymentHistory: (call, app, deployment) =>
    call("get", `/apps/${app}/deployments/${deployment}/history`).then((res) => res.body.history),
  release: (call, app, deployment, zipPath, appVersion, metadata) =>
    new Promise((resolve, reject) => {
      superagent.post(`${server}/apps/${app}/deployments/${deployment}/release`)
        .set("Accept", "application/vnd.code-push.v2+json")
        .set("Authorization", `Bearer ${accessKey}`)
        .set("X-CodePush-SDK-Version", SDK_VERSION)
        .attach("package", zipPath)
        .field("packageInfo", JSON.stringify({ ...JSON.parse(metadata || "{}"), appVersion }))
        .end((err, res) => (err ? reject({ message: res ? res.text : err.message, statusCode: err.status || 504 })
          : resolve(null)));
    }),
  patchRelease: (call, app, deployment, label, metadata) =>
    call("patch", `/apps/${app}/deployments/${deployment}/release`,
      JSON.stringify({ packageInfo: { ...JSON.parse(metadata), label } }), false).then(() => null),
  promote: (call, app, source, destination, metadata) =>
    call("post", `/apps/${app}/deployments/${source}/promote/${destination}`,
      JSON.stringify({ packageInfo: JSON.parse(metadata || "{}") }), false).then(() => null),
  rollback: (call, app, deployment, label) =>
    call("post", `/apps/${app}/deployments/${deployment}/rollback/${label || ""}`, null, false).then(() => null),
};

const [server, accessKey, operation, ...args] = process.argv.slice(2);
const call = (method, path, body, expectBody) => send(server, accessKey, method, path, body, expectBody);
operations[operation](call, ...args).then(
  (result) => console.log(JSON.stringify({ result: result ?? null })),
  (error) => console.log(JSON.stringify({ error: { message: error.message, statusCode: error.statusCode } })),
);
