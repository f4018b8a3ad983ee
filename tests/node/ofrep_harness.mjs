// Drives the real OpenFeature Node SDK (@openfeature/server-sdk) with its OFREP provider
// (@openfeature/ofrep-provider) against a live otabox, so pytest checks what a Node service sees.
//
// Usage: node ofrep_harness.mjs <baseUrl> <clientKey> < evaluations.json
//   stdin: [{"flag": key, "type": "boolean"|"string"|"number"|"object", "default": value, "context": {...}}]
//   stdout: one JSON array, per evaluation {value, variant, reason, errorCode, flagMetadata}
// The client key travels as `Authorization: Bearer <clientKey>`, as OFREP providers send a token.

import { readFileSync } from "node:fs";
import { OpenFeature } from "@openfeature/server-sdk";
import { OFREPProvider } from "@openfeature/ofrep-provider";

const [baseUrl, clientKey] = process.argv.slice(2);
const evaluations = JSON.parse(readFileSync(0, "utf8"));
const METHODS = { boolean: "getBooleanDetails", string: "getStringDetails", number: "getNumberDetails",
  object: "getObjectDetails" };

await OpenFeature.setProviderAndWait(new OFREPProvider({ baseUrl, headers: [["Authorization", `Bearer ${clientKey}`]] }));
const client = OpenFeature.getClient();
const results = [];
for (const { flag, type, default: fallback, context } of evaluations) {
  const details = await client[METHODS[type]](flag, fallback, context);
  results.push({ value: details.value, variant: details.variant ?? null, reason: details.reason,
    errorCode: details.errorCode ?? null, flagMetadata: details.flagMetadata });
}
await OpenFeature.close();
process.stdout.write(JSON.stringify(results));
