// Release history of one channel (with download/install/failure counts) and its active-devices chart.
import { appPath, get } from "../api.js";
import { badge, clear, field, formatDate, h, percent, table } from "../dom.js";
import { activeDevicesChart } from "../chart.js";

/** Above this share of failed installs a release needs a look (a bad bundle, or one too big to download). */
const HIGH_FAILURE_RATE = 0.05;

function failureRate(stats) {
  const attempts = stats.installs + stats.failures;
  const rate = percent(stats.failures, attempts);
  if (!attempts || stats.failures / attempts <= HIGH_FAILURE_RATE) return rate;
  return h("span", { class: "badge badge-danger", title: "More than 5% of installs failed" }, `${rate} failed`);
}

/** The bundle's version, and the whole number the channel gave it (what Koolbase's SDK holds). */
function versionCell(release) {
  const version = h("span", { class: "long-version" }, release.bundleVersion);
  if (release.channelVersion == null) return version;
  return h("span", {}, version, h("br"), h("span", { class: "muted small" }, `channel version ${release.channelVersion}`));
}

function historyRows(ctx, releases) {
  return releases.map((release) => [
    h("a", { href: `#/apps/${encodeURIComponent(ctx.slug)}/releases/${release.id}`, title: "Health and rollout of this release" },
      h("strong", {}, release.label)),
    release.kind,
    versionCell(release),
    release.kind === "builtin" ? "—" : `${release.rollout}%`,
    h("span", {}, release.mandatory ? badge("mandatory", "danger") : null, release.disabled ? badge("disabled", "neutral") : null),
    String(release.stats.checks),
    String(release.stats.downloads),
    String(release.stats.installs),
    String(release.stats.failures),
    failureRate(release.stats),
    h("span", { title: release.actor || "" }, formatDate(release.promotedAt)),
  ]);
}

export function historySection(ctx) {
  const select = h("select", { name: "channel" }, ctx.channels.map((c) =>
    h("option", { value: c.name, selected: c.name === ctx.historyChannel }, c.name)));
  const body = h("div", { class: "history-body" }, h("p", { class: "muted" }, "Loading…"));
  const load = async () => {
    ctx.historyChannel = select.value;
    const name = encodeURIComponent(select.value);
    const [{ releases, total }, stats] = await Promise.all([
      get(appPath(ctx.slug, `/releases?channel=${name}&limit=50`)),
      get(appPath(ctx.slug, `/channels/${name}/stats`)),
    ]);
    clear(body,
      h("h3", {}, `Active devices per version, last 30 days (${select.value})`),
      activeDevicesChart(stats.activeByDay),
      h("h3", {}, `Releases (${total})`),
      table(`Release history of ${select.value}`,
        ["Release", "Kind", "Version", "Rollout", "Flags", "Checks", "Downloads", "Installs", "Failures", "Failure rate", "When"],
        historyRows(ctx, releases), "No releases on this channel yet."));
  };
  select.addEventListener("change", () => load().catch((err) => clear(body, h("p", { class: "form-error", role: "alert" }, err.message))));
  const section = h("div", {}, h("div", { class: "toolbar" }, field("Channel", select).wrap), body);
  return { section, load };
}
