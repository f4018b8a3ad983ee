// Drives the real CodePush client SDK (code-push's AcquisitionManager with
// react-native-code-push's fetch adapter) and the native clients' folder hash,
// so pytest can check otabox against what a phone actually does.
//
// Usage (one JSON value on stdout; on error a message on stderr and exit 1):
//   query <serverUrl> <deploymentKey> <appVersion> <clientUniqueId> [<currentPackageJSON>]
//   report-deploy <serverUrl> <deploymentKey> <appVersion> <clientUniqueId> <packageJSON|null> <status|null>
//                 [previousLabelOrAppVersion] [previousDeploymentKey]
//   report-download <serverUrl> <deploymentKey> <appVersion> <clientUniqueId> <packageJSON>
//   hash-code <string>...        (or `hash-code -` with a JSON array of strings on stdin,
//                                  for text argv cannot carry: NUL, lone surrogates)
//   folder-hash <dir>

import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const require = createRequire(import.meta.url);
const { AcquisitionManager } = require("code-push/script/acquisition-sdk.js");
const fetchAdapter = require("react-native-code-push/request-fetch-adapter.js");

function acquisitionManager([serverUrl, deploymentKey, appVersion, clientUniqueId]) {
  return new AcquisitionManager(fetchAdapter, { serverUrl, deploymentKey, appVersion, clientUniqueId });
}

function parseJsonArgument(text) {
  return text === undefined ? null : JSON.parse(text);
}

// The SDK reports through node-style callbacks; these turn them into promises.
function query(args) {
  const manager = acquisitionManager(args);
  // A device still on its binary asks with only its app version (iOS adds the binary's hash).
  const currentPackage = parseJsonArgument(args[4]) ?? { appVersion: args[2] };
  return new Promise((resolve, reject) => {
    manager.queryUpdateWithCurrentPackage(currentPackage, (error, remotePackage) =>
      error ? reject(error) : resolve(remotePackage ?? null));
  });
}

function reportDeploy(args) {
  const manager = acquisitionManager(args);
  const deployedPackage = parseJsonArgument(args[4]);
  const status = args[5] === "null" ? null : args[5];
  const [previousLabelOrAppVersion, previousDeploymentKey] = [args[6], args[7]];
  return new Promise((resolve, reject) => {
    manager.reportStatusDeploy(deployedPackage, status, previousLabelOrAppVersion, previousDeploymentKey,
      (error) => (error ? reject(error) : resolve({ ok: true })));
  });
}

function reportDownload(args) {
  const manager = acquisitionManager(args);
  return new Promise((resolve, reject) => {
    manager.reportStatusDownload(parseJsonArgument(args[4]),
      (error) => (error ? reject(error) : resolve({ ok: true })));
  });
}

// code-push-server's rollout hash: JS numbers, so `<<` wraps to int32 but `-` and `+` do not.
function hashCode(text) {
  let hash = 0;
  for (let i = 0; i < text.length; i++) {
    hash = (hash << 5) - hash + text.charCodeAt(i);
  }
  return hash;
}

// Printed by hand so values beyond 2^53 would still come out as exact integers.
function hashCodesJson(strings) {
  return "[" + strings.map((text) => BigInt(hashCode(text)).toString()).join(",") + "]";
}

// The native clients' verifyFolderHash: walk the unzipped update, skipping ignored paths
// (a skipped folder hides everything below it), hash files, sort, JSON.stringify, hash.
function isHashIgnored(relativePath) {
  const ignoredName = (name) => relativePath === name || relativePath.endsWith("/" + name);
  return relativePath.startsWith("__MACOSX/") || ignoredName(".DS_Store") || ignoredName(".codepushrelease");
}

function collectManifest(folder, prefix, manifest) {
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    const relativePath = prefix === "" ? entry.name : prefix + "/" + entry.name;
    if (isHashIgnored(relativePath)) continue;
    const fullPath = join(folder, entry.name);
    if (entry.isDirectory()) {
      collectManifest(fullPath, relativePath, manifest);
    } else {
      const digest = createHash("sha256").update(readFileSync(fullPath)).digest("hex");
      manifest.push(relativePath + ":" + digest);
    }
  }
  return manifest;
}

function folderHash(folder) {
  const manifest = collectManifest(folder, "", []).sort();
  return createHash("sha256").update(JSON.stringify(manifest), "utf8").digest("hex");
}

const commands = {
  "query": async (args) => JSON.stringify(await query(args)),
  "report-deploy": async (args) => JSON.stringify(await reportDeploy(args)),
  "report-download": async (args) => JSON.stringify(await reportDownload(args)),
  "hash-code": async (args) => hashCodesJson(args[0] === "-" ? JSON.parse(readFileSync(0, "utf8")) : args),
  "folder-hash": async ([folder]) => JSON.stringify(folderHash(folder)),
};

const [commandName, ...commandArgs] = process.argv.slice(2);
const command = commands[commandName];
if (!command) {
  process.stderr.write(`unknown command ${JSON.stringify(commandName)}; expected one of ${Object.keys(commands).join(", ")}\n`);
  process.exit(2);
}
try {
  process.stdout.write((await command(commandArgs)) + "\n");
} catch (error) {
  const cause = error?.cause ? ` (${error.cause.message ?? error.cause})` : "";
  process.stderr.write(`${error?.name ?? "Error"}: ${error?.message ?? error}${cause}\n`);
  process.exit(1);
}
