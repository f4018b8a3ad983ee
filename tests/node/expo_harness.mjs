// Expo Updates protocol v1 conformance harness, built on Expo's own npm libraries.
//
//   node expo_harness.mjs keygen <outdir>
//   node expo_harness.mjs check <manifestUrl> <headersJSON> [certificate.pem]
//
// Both print one JSON object on stdout. `check` acts like the expo-updates client: it requests a
// manifest, parses the multipart reply with @expo/multipart-body-parser, verifies expo-signature
// part headers against the certificate, applies the client's manifest rules, and downloads every
// asset to compare its base64url SHA-256 with the manifest's hash. Problems go into `errors`; the
// exit code is non-zero only when the harness itself cannot run.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import multipartBodyParser from '@expo/multipart-body-parser';
import codeSigning from '@expo/code-signing-certificates';
import { parseDictionary, Token } from 'structured-headers';

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ISO_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const SIGNED_PART_NAMES = new Set(['manifest', 'directive']);
const DIRECTIVE_TYPES = new Set(['noUpdateAvailable', 'rollBackToEmbedded']);
// Headers the client repeats on asset requests (FileDownloader on iOS and Android).
const ASSET_IDENTITY_HEADERS = [
  'expo-platform',
  'expo-protocol-version',
  'expo-api-version',
  'expo-runtime-version',
  'expo-updates-environment',
  'expo-json-error',
  'eas-client-id',
  'expo-channel-name',
];

function keygen(outdir) {
  fs.mkdirSync(outdir, { recursive: true });
  const keyPair = codeSigning.generateKeyPair();
  const validityNotBefore = new Date();
  const validityNotAfter = new Date(validityNotBefore);
  validityNotAfter.setFullYear(validityNotAfter.getFullYear() + 10);
  const certificate = codeSigning.generateSelfSignedCodeSigningCertificate({
    keyPair,
    validityNotBefore,
    validityNotAfter,
    commonName: 'otabox-test',
  });
  const { privateKeyPEM, publicKeyPEM } = codeSigning.convertKeyPairToPEM(keyPair);
  const paths = {
    privateKey: path.resolve(outdir, 'private-key.pem'),
    publicKey: path.resolve(outdir, 'public-key.pem'),
    certificate: path.resolve(outdir, 'certificate.pem'),
  };
  fs.writeFileSync(paths.privateKey, privateKeyPEM, { mode: 0o600 });
  fs.writeFileSync(paths.publicKey, publicKeyPEM);
  fs.writeFileSync(paths.certificate, codeSigning.convertCertificateToCertificatePEM(certificate));
  return paths;
}

function lowerCaseKeys(headers) {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), String(value)]));
}

function dictionaryValue(dictionary, key) {
  const member = dictionary.get(key);
  if (member === undefined || Array.isArray(member[0])) return undefined;
  const value = member[0];
  return value instanceof Token ? value.toString() : value;
}

function expectedKeyId(requestHeaders) {
  const expectation = requestHeaders['expo-expect-signature'];
  if (expectation === undefined) return undefined;
  const keyid = dictionaryValue(parseDictionary(expectation), 'keyid');
  return typeof keyid === 'string' ? keyid : 'root';
}

function checkSignature(part, publicKey, keyIdExpected, errors) {
  const header = part.headers.get('expo-signature');
  const report = { present: header !== undefined, keyid: null, valid: null };
  if (header === undefined) {
    if (publicKey) errors.push(`${part.name} part has no expo-signature header`);
    return report;
  }
  let signature;
  try {
    const dictionary = parseDictionary(header);
    signature = dictionaryValue(dictionary, 'sig');
    report.keyid = dictionaryValue(dictionary, 'keyid') ?? 'root';
    report.alg = dictionaryValue(dictionary, 'alg') ?? 'rsa-v1_5-sha256';
  } catch (error) {
    errors.push(`${part.name} expo-signature is not a structured-fields dictionary: ${error.message}`);
    report.valid = false;
    return report;
  }
  if (typeof signature !== 'string') {
    errors.push(`${part.name} expo-signature has no sig string`);
    report.valid = false;
    return report;
  }
  if (keyIdExpected !== undefined && report.keyid !== keyIdExpected) {
    errors.push(`${part.name} expo-signature keyid ${report.keyid} differs from the expected ${keyIdExpected}`);
  }
  if (publicKey) {
    // The parser hands bodies back as UTF-8 text; re-encoding restores the exact bytes for JSON.
    const signedBytes = Buffer.from(part.body, 'utf8');
    report.valid = crypto.verify('RSA-SHA256', signedBytes, publicKey, Buffer.from(signature, 'base64'));
    if (!report.valid) errors.push(`${part.name} signature does not verify against the certificate`);
  }
  return report;
}

function checkAssetEntry(asset, label, requireExtension, errors) {
  for (const field of ['hash', 'key', 'contentType', 'url']) {
    if (typeof asset?.[field] !== 'string' || asset[field] === '') errors.push(`${label} lacks ${field}`);
  }
  if (requireExtension || asset?.fileExtension !== undefined) {
    if (typeof asset?.fileExtension !== 'string' || !asset.fileExtension.startsWith('.')) {
      errors.push(`${label} fileExtension must be a string starting with "." (got ${JSON.stringify(asset?.fileExtension)})`);
    }
  }
}

function checkManifest(manifest, requestHeaders, errors) {
  if (typeof manifest !== 'object' || manifest === null) {
    errors.push('manifest is not a JSON object');
    return;
  }
  if (typeof manifest.id !== 'string' || !UUID_PATTERN.test(manifest.id)) {
    errors.push(`manifest id is not a UUID: ${JSON.stringify(manifest.id)}`);
  }
  if (typeof manifest.createdAt !== 'string' || !ISO_PATTERN.test(manifest.createdAt) || Number.isNaN(Date.parse(manifest.createdAt))) {
    errors.push(`manifest createdAt is not ISO-8601: ${JSON.stringify(manifest.createdAt)}`);
  }
  if (typeof manifest.runtimeVersion !== 'string') {
    errors.push('manifest runtimeVersion is not a string');
  } else if (requestHeaders['expo-runtime-version'] && manifest.runtimeVersion !== requestHeaders['expo-runtime-version']) {
    errors.push(`manifest runtimeVersion ${manifest.runtimeVersion} differs from the requested ${requestHeaders['expo-runtime-version']}`);
  }
  checkAssetEntry(manifest.launchAsset, 'launchAsset', false, errors);
  if (!Array.isArray(manifest.assets)) {
    errors.push('manifest assets is not an array');
  } else {
    manifest.assets.forEach((asset, index) => checkAssetEntry(asset, `assets[${index}]`, true, errors));
  }
  if (manifest.metadata !== undefined) {
    // Strings, as the spec says; plus AppDispatch's boolean isCritical, which its SDK reads. The
    // clients keep metadata as untyped JSON and compare only manifest-filter keys, as strings.
    const entries = typeof manifest.metadata === 'object' && manifest.metadata !== null ? Object.entries(manifest.metadata) : [['', null]];
    const allowed = ([key, value]) => typeof value === 'string' || (key === 'isCritical' && typeof value === 'boolean');
    if (!entries.every(allowed)) errors.push('manifest metadata must map strings to strings (isCritical: a boolean)');
  }
  if (manifest.extra !== undefined && (typeof manifest.extra !== 'object' || manifest.extra === null)) {
    errors.push('manifest extra is not an object');
  }
}

function checkDirective(directive, errors) {
  if (!DIRECTIVE_TYPES.has(directive?.type)) {
    errors.push(`unknown directive type: ${JSON.stringify(directive?.type)}`);
    return;
  }
  if (directive.type === 'rollBackToEmbedded') {
    const commitTime = directive.parameters?.commitTime;
    if (typeof commitTime !== 'string' || !ISO_PATTERN.test(commitTime) || Number.isNaN(Date.parse(commitTime))) {
      errors.push(`rollBackToEmbedded commitTime is not ISO-8601: ${JSON.stringify(commitTime)}`);
    }
  }
}

async function verifyAssets(manifest, extensions, requestHeaders, baseUrl, errors) {
  const requestHeadersByKey = extensions?.assetRequestHeaders ?? {};
  const identity = Object.fromEntries(
    ASSET_IDENTITY_HEADERS.filter((name) => requestHeaders[name] !== undefined).map((name) => [name, requestHeaders[name]]),
  );
  const entries = [['launchAsset', manifest.launchAsset], ...(manifest.assets ?? []).map((asset, i) => [`assets[${i}]`, asset])];
  const results = [];
  for (const [label, asset] of entries) {
    if (typeof asset?.url !== 'string') continue;
    const headers = { ...identity, 'expo-requested-update-id': manifest.id, ...(requestHeadersByKey[asset.key] ?? {}) };
    const result = { label, key: asset.key, url: asset.url, status: null, hashOk: false };
    try {
      const response = await fetch(new URL(asset.url, baseUrl), { headers });
      result.status = response.status;
      const bytes = Buffer.from(await response.arrayBuffer());
      result.size = bytes.length;
      result.hash = crypto.createHash('sha256').update(bytes).digest('base64url');
      result.hashOk = response.status === 200 && result.hash === asset.hash;
      if (response.status !== 200) errors.push(`${label} download returned HTTP ${response.status}`);
      else if (!result.hashOk) errors.push(`${label} hash mismatch: manifest ${asset.hash}, downloaded ${result.hash}`);
    } catch (error) {
      errors.push(`${label} download failed: ${error.message}`);
    }
    results.push(result);
  }
  return results;
}

async function check(manifestUrl, headersJSON, certificatePath) {
  const requestHeaders = lowerCaseKeys(JSON.parse(headersJSON));
  const publicKey = certificatePath ? new crypto.X509Certificate(fs.readFileSync(certificatePath)).publicKey : null;
  const errors = [];
  const report = { status: null, headers: {}, parts: [], signatureValid: null, assetsVerified: null, noOp: false, errors };

  const response = await fetch(manifestUrl, { headers: requestHeaders });
  report.status = response.status;
  report.headers = Object.fromEntries(response.headers.entries());
  const body = Buffer.from(await response.arrayBuffer());
  const contentType = response.headers.get('content-type') ?? '';

  if (response.status === 204 || (response.status === 200 && body.length === 0)) {
    report.noOp = true;
    if (response.headers.get('expo-protocol-version') !== '1') errors.push('no-op reply lacks expo-protocol-version: 1');
    return report;
  }
  if (response.status !== 200) {
    errors.push(`manifest request returned HTTP ${response.status}`);
    report.body = body.toString('utf8');
    return report;
  }

  let rawParts;
  if (contentType.toLowerCase().startsWith('multipart/mixed')) {
    rawParts = await multipartBodyParser.parseMultipartMixedResponseAsync(contentType, body);
    for (const [name, expected] of [['expo-protocol-version', '1'], ['expo-sfv-version', '0']]) {
      if (response.headers.get(name) !== expected) errors.push(`response header ${name} should be ${expected}`);
    }
  } else if (/^application\/(expo\+)?json/i.test(contentType)) {
    rawParts = [{ name: 'manifest', body: body.toString('utf8'), headers: new Map(Object.entries(report.headers)) }];
  } else {
    errors.push(`unexpected content-type: ${contentType}`);
    return report;
  }

  let keyIdExpected;
  try {
    keyIdExpected = expectedKeyId(requestHeaders);
  } catch (error) {
    errors.push(`request expo-expect-signature is malformed: ${error.message}`);
  }
  const byName = {};
  for (const part of rawParts) {
    let json = null;
    try {
      json = JSON.parse(part.body);
    } catch (error) {
      errors.push(`${part.name} part body is not JSON: ${error.message}`);
    }
    const reported = { name: part.name, headers: Object.fromEntries(part.headers), body: json, rawBody: part.body };
    if (SIGNED_PART_NAMES.has(part.name)) {
      reported.signature = checkSignature(part, publicKey, keyIdExpected, errors);
    }
    report.parts.push(reported);
    byName[part.name] = json;
  }

  if (byName.manifest !== undefined && byName.directive !== undefined) {
    errors.push('response has both a manifest and a directive part');
  }
  const signedParts = report.parts.filter((part) => part.signature);
  if (publicKey && signedParts.length > 0) {
    report.signatureValid = signedParts.every((part) => part.signature.valid === true);
  }
  if (byName.directive !== undefined) {
    report.directive = byName.directive;
    checkDirective(byName.directive, errors);
  }
  if (byName.manifest !== undefined) {
    report.manifest = byName.manifest;
    checkManifest(byName.manifest, requestHeaders, errors);
    if (byName.manifest && typeof byName.manifest === 'object') {
      report.assets = await verifyAssets(byName.manifest, byName.extensions, requestHeaders, manifestUrl, errors);
      report.assetsVerified = report.assets.length > 0 && report.assets.every((asset) => asset.hashOk);
    }
  }
  if (byName.manifest === undefined && byName.directive === undefined) {
    errors.push('response has neither a manifest nor a directive part');
  }
  return report;
}

async function main(argv) {
  const [command, ...args] = argv;
  if (command === 'keygen' && args.length === 1) return keygen(args[0]);
  if (command === 'check' && (args.length === 2 || args.length === 3)) return check(args[0], args[1], args[2]);
  throw new Error('usage: expo_harness.mjs keygen <outdir> | check <manifestUrl> <headersJSON> [certificate.pem]');
}

main(process.argv.slice(2)).then(
  (result) => process.stdout.write(JSON.stringify(result) + '\n'),
  (error) => {
    process.stderr.write(`${error.stack ?? error}\n`);
    process.exit(1);
  },
);
