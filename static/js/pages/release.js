// One release: its health (crash-free rate, error rate, launches, devices, top errors, an hourly chart),
// the rollout execution that follows it, with its controls, and its patches per base with the bytes saved.
import { appPath, get } from "../api.js";
import { badge, clear, formatBytes, formatDate, h, percent, table } from "../dom.js";
import { healthChart } from "../chart.js";
import { card, pageHeader, roleNote } from "../ui.js";
import { executionPanel } from "../rollout.js";

const rate = (value) => (value == null ? "—" : `${value.toFixed(2)}%`);

function tile(label, value, hint) {
  return h("div", { class: "tile" }, h("span", { class: "tile-label" }, label), h("strong", { class: "tile-value" }, value),
    hint ? h("span", { class: "tile-hint muted" }, hint) : null);
}

export function healthTiles(health) {
  return h("div", { class: "tiles", role: "group", "aria-label": "Health figures" },
    tile("Crash-free", rate(health.crashFreeRate), "of launches"),
    tile("Crash rate", rate(health.crashRate), `${health.crashes} crashes`),
    tile("Error rate", rate(health.errorRate), `${health.jsErrors} JS errors`),
    tile("Launches", String(health.launches), `${health.launchedDevices} devices launched`),
    tile("Devices", String(health.devices), "reported health"),
    tile("Update failures", String(health.failures), "failed or rolled back installs"));
}

function topErrors(health) {
  return table("Most frequent errors", ["Message", "Kind", "Count", "Last seen"], health.topErrors.map((error) => [
    h("code", { class: "details" }, error.message), error.kind, String(error.count), formatDate(error.lastSeen)]),
  "No errors reported for this release.");
}

function patchesSection(transfer) {
  const sent = h("p", { class: "muted" }, `Sent so far: ${transfer.fullDownloads} full (${formatBytes(transfer.fullBytes)}), `
    + `${transfer.patchedDownloads} patched (${formatBytes(transfer.patchedBytes)}), ${formatBytes(transfer.savedBytes)} saved.`);
  return [sent, table("Patches per base", ["Base", "Format", "Patch", "Full (compressed)", "Share"], transfer.patches.map((p) => [
    p.base || h("code", {}, p.baseSha256.slice(0, 12)), p.format || "—",
    p.skipped ? badge(`none: ${p.skipped.replace("_", " ")}`, "neutral") : formatBytes(p.size),
    p.skipped ? "—" : formatBytes(p.compressedFullSize), p.skipped ? "—" : percent(p.size, p.compressedFullSize)]),
  "No patches yet: they are made in the background after a release, from the channel's earlier bundles and the store builds' embedded bundles.")];
}

export async function releasePage(view, slug, releaseId) {
  const executionBox = h("div", {});
  const healthBox = h("div", {});
  const patchesBox = h("div", {});
  const load = async () => {
    const [release, health, series, { executions }, transfer] = await Promise.all([
      get(appPath(slug, `/releases/${releaseId}`)),
      get(appPath(slug, `/releases/${releaseId}/health`)),
      get(appPath(slug, `/health/timeseries?release=${releaseId}&days=2`)),
      get(appPath(slug, `/rollout-executions?release=${releaseId}&limit=1`)),
      get(appPath(slug, `/releases/${releaseId}/transfer`)),
    ]);
    clear(patchesBox, patchesSection(transfer));
    clear(healthBox, healthTiles(health), h("h3", {}, "Per hour, last 48 hours"), healthChart(series.points),
      h("h3", {}, "Top errors"), topErrors(health),
      Object.keys(health.custom).length ? [h("h3", {}, "Custom events"), table("Custom events", ["Name", "Count"],
        Object.entries(health.custom).map(([name, count]) => [name, String(count)]))] : null);
    clear(executionBox, executions.length ? executionPanel(slug, executions[0], load)
      : h("p", { class: "muted" }, "This release was not started under a rollout policy."));
    return release;
  };
  const release = await load();
  clear(view,
    pageHeader(`${release.channel} ${release.label}: ${release.bundleVersion}`, slug,
      h("a", { class: "button secondary", href: `#/apps/${encodeURIComponent(slug)}` }, "Back to the app")),
    roleNote(),
    h("p", {}, badge(`${release.rollout}%`, release.rollout < 100 ? "warn" : "ok"), release.disabled ? badge("disabled", "neutral") : null,
      h("span", { class: "muted" }, ` ${release.kind} · ${formatDate(release.promotedAt)}${release.actor ? ` by ${release.actor}` : ""}`)),
    card("Health", healthBox),
    card("Rollout", executionBox),
    card("Downloads and patches", patchesBox));
}
