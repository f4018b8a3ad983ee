// Channel cards: the branch each channel serves and its split, what it serves, its rollout and mandatory
// flag, adoption, rollback and promote; then the users pinned to a branch.
import { appPath, patch, post } from "../api.js";
import { badge, field, formatDate, h, newId } from "../dom.js";
import { attempt, guard, notify, openDialog } from "../ui.js";

function describeRelease(release) {
  if (!release) return h("p", { class: "muted" }, "No release yet: devices keep the bundle in their binary.");
  const what = release.kind === "builtin"
    ? h("strong", {}, "Builtin (rolled back to the binary's bundle)")
    : h("strong", {}, `${release.bundleVersion}`);
  return [h("p", { class: "current" }, what, " ", h("span", { class: "muted" },
    `${release.label} · ${release.kind} · ${formatDate(release.promotedAt)}${release.actor ? ` by ${release.actor}` : ""}`)),
  activeNumber(release)];
}

/** The channel's whole-number version of the bundle it serves: what Koolbase calls the active bundle
 * and what its Flutter SDK holds. */
function activeNumber(release) {
  if (release.channelVersion == null) return null;
  return h("p", { class: "muted small", title: "The whole-number version devices using Koolbase's SDK hold" },
    `Active bundle: channel version ${release.channelVersion}`);
}

function rolloutForm(ctx, channel, release) {
  const label = `Rollout percent (${channel.name})`;
  const range = h("input", { type: "range", min: 0, max: 100, step: 1, value: release.rollout, "aria-label": `${label} slider` });
  const number = h("input", { type: "number", min: 0, max: 100, step: 1, value: release.rollout, class: "narrow" });
  const mandatory = h("input", { type: "checkbox", checked: release.mandatory });
  range.addEventListener("input", () => { number.value = range.value; });
  number.addEventListener("input", () => { range.value = number.value; });
  const apply = guard(h("button", { type: "submit", class: "secondary" }, "Apply"));
  for (const control of [range, number, mandatory]) guard(control);
  const mandatoryId = newId();
  mandatory.id = mandatoryId;
  const form = h("form", { class: "rollout-form", "aria-label": `Rollout of ${channel.name}` },
    range,
    h("div", { class: "rollout-row" }, field(label, number).wrap,
      h("label", { class: "check", for: mandatoryId }, mandatory, " Mandatory"), apply));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {};
    if (Number(number.value) !== release.rollout) body.rollout = Number(number.value);
    if (mandatory.checked !== release.mandatory) body.mandatory = mandatory.checked;
    if (!Object.keys(body).length) {
      notify(`${channel.name}: nothing changed.`);
      return;
    }
    const changed = await attempt(() => patch(appPath(ctx.slug, `/releases/${release.id}`), body), apply);
    if (changed) {
      await ctx.refresh();
      notify(`${channel.name}: ${changed.label} now reaches ${changed.rollout}% of devices${changed.mandatory ? " (mandatory)" : ""}.`);
    }
  });
  return form;
}

function adoptionList(adoption) {
  const total = adoption.reduce((sum, row) => sum + row.devices, 0);
  if (!total) return h("p", { class: "muted small" }, "No devices have checked in yet.");
  return h("ul", { class: "adoption", "aria-label": "Adoption by bundle version" }, adoption.map((row) => h("li", {},
    h("span", { class: "version" }, row.version),
    h("meter", { min: 0, max: total, value: row.devices, "aria-label": `${row.version} share` }),
    h("span", { class: "count" }, `${row.devices} (${Math.round((100 * row.devices) / total)}%)`))));
}

/** What a channel serves per share of devices, in the words `otabox rollback` prints. */
function servedText(channel, serves, verb) {
  const parts = serves.map((entry) => {
    const where = entry.channel !== channel ? ` through ${entry.channel}` : "";
    if (entry.release === null) return `the bundle built into the app to ${entry.share}% of devices${where}`;
    if (entry.version === "builtin") {
      return `the bundle built into the app (${entry.label}) to ${entry.share}% of devices${where}: they drop their downloaded update`;
    }
    return `${entry.version} (${entry.label}) to ${entry.share}% of devices${where}`;
  });
  return `${channel} ${verb} ${parts.join("; ")}.`;
}

function rollbackDialog(ctx, channel) {
  const name = `rollback-${channel.id}`;
  const previous = h("input", { type: "radio", name, value: "previous", checked: true, id: newId() });
  const builtin = h("input", { type: "radio", name, value: "builtin", id: newId() });
  const path = appPath(ctx.slug, `/channels/${encodeURIComponent(channel.name)}/rollback`);
  const choice = () => (builtin.checked ? { toBuiltin: true } : {});
  const outcome = h("p", { class: "outcome", "aria-live": "polite" });
  let asked = 0;
  const preview = async () => {
    const question = ++asked;
    outcome.textContent = "Checking what the channel would serve…";
    let text;
    try {
      text = servedText(channel.name, (await post(path, { ...choice(), dryRun: true })).serves, "will serve");
    } catch (err) {
      text = err.message;
    }
    if (question === asked) outcome.textContent = text;
  };
  previous.addEventListener("change", preview);
  builtin.addEventListener("change", preview);
  openDialog({
    title: `Roll back ${channel.name}?`,
    submitLabel: "Roll back",
    tone: "danger",
    build: () => [
      h("p", {}, "Devices on this channel will be moved at their next check. The current release is disabled and stays in the history."),
      h("fieldset", {}, h("legend", {}, "Roll back to"),
        h("label", { class: "check", for: previous.id }, previous, " The previous release"),
        h("label", { class: "check", for: builtin.id }, builtin, " Builtin: the bundle shipped in the app binary")),
      outcome,
    ],
    submit: async () => {
      const result = await post(path, choice());
      await ctx.refresh();
      notify(servedText(channel.name, result.serves, "now serves"));
    },
  });
  preview();
}

function promoteDialog(ctx, channel) {
  const targets = ctx.channels.filter((other) => other.name !== channel.name);
  const target = h("select", { name: "to" }, targets.map((other) =>
    h("option", { value: other.name, selected: other.name === "production" }, other.name)));
  const rollout = h("input", { type: "number", min: 0, max: 100, value: 100, class: "narrow" });
  const mandatory = h("input", { type: "checkbox", id: newId() });
  openDialog({
    title: `Promote ${channel.currentRelease.bundleVersion} from ${channel.name}`,
    submitLabel: "Promote",
    build: () => [
      field("Target channel", target).wrap,
      field("Rollout %", rollout).wrap,
      h("label", { class: "check", for: mandatory.id }, mandatory, " Mandatory"),
    ],
    submit: async () => {
      const result = await post(appPath(ctx.slug, `/channels/${encodeURIComponent(channel.name)}/promote`),
        { to: target.value, rollout: Number(rollout.value), mandatory: mandatory.checked });
      await ctx.refresh();
      notify(`${result.release.bundleVersion} promoted to ${result.release.channel} at ${result.release.rollout}%.`);
    },
  });
}

const BLOCK_UPGRADES = ["none", "major", "minor", "patch", "version_number"];

/** Which branch a channel serves and its split to another branch: the split never offers the branch
 * served (the server refuses it), so choosing that branch to serve clears a split to it. */
function branchControls(ctx, channel) {
  const { branches } = ctx;
  const served = h("select", {}, branches.map((branch) =>
    h("option", { value: branch.name, selected: branch.name === channel.branch }, branch.name)));
  const split = h("select", {}, h("option", { value: "" }, "none"), branches.map((branch) =>
    h("option", { value: branch.name, selected: branch.name === channel.rolloutBranch }, branch.name)));
  const share = h("input", { type: "number", min: 0, max: 100, value: channel.rolloutPercentage, class: "narrow" });
  const keepSplitOffServed = () => {
    for (const option of split.options) option.disabled = option.value === served.value;
    if (split.value === served.value) split.value = "";
  };
  served.addEventListener("change", keepSplitOffServed);
  keepSplitOffServed();
  return {
    fields: [
      field("Serves branch", served, "The branch whose releases this channel's devices get.").wrap,
      field("Split devices to branch", split).wrap,
      field("Split share %", share, "That share of this channel's devices gets the other branch's release.").wrap,
    ],
    wanted: () => ({ branch: served.value, rolloutBranch: split.value || null, rolloutPercentage: Number(share.value) }),
  };
}

/** The channel's policies: default channel, upgrade blocking, the under-native guard, the branch it
 * serves and a split to another branch, and the minimum Expo runtime. Only what changed is sent. */
function settingsDialog(ctx, channel) {
  const isDefault = h("input", { type: "checkbox", checked: channel.public, id: newId() });
  const block = h("select", {}, BLOCK_UPGRADES.map((value) =>
    h("option", { value, selected: value === channel.blockUpgrades }, value)));
  const underNative = h("input", { type: "checkbox", checked: channel.disableAutoUpdateUnderNative, id: newId() });
  const branching = branchControls(ctx, channel);
  const minRuntime = h("input", { value: channel.minRuntimeVersion || "", placeholder: "none", autocomplete: "off" });
  openDialog({
    title: `Settings of ${channel.name}`,
    submitLabel: "Save settings",
    build: () => [
      h("label", { class: "check", for: isDefault.id }, isDefault, " Default channel (devices that name none get it)"),
      field("Block automatic upgrades", block, "version_number: a bundle's min update version decides.").wrap,
      h("label", { class: "check", for: underNative.id }, underNative, " Never offer a bundle below the native version"),
      ...branching.fields,
      field("Min runtime version (Expo)", minRuntime).wrap,
    ],
    submit: async () => {
      const wanted = {
        public: isDefault.checked, blockUpgrades: block.value, disableAutoUpdateUnderNative: underNative.checked,
        ...branching.wanted(), minRuntimeVersion: minRuntime.value.trim() || null,
      };
      const body = Object.fromEntries(Object.entries(wanted).filter(([name, value]) => value !== channel[name]));
      if (!Object.keys(body).length) {
        notify(`${channel.name}: nothing changed.`);
        return;
      }
      await patch(appPath(ctx.slug, `/channels/${encodeURIComponent(channel.name)}`), body);
      await ctx.refresh();
      notify(`${channel.name}: settings saved.`);
    },
  });
}

function channelCard(ctx, channel) {
  const release = channel.currentRelease;
  const stats = ctx.stats[channel.name] || { adoption: [] };
  const rollback = guard(h("button", { type: "button", class: "secondary" }, "Roll back…"));
  rollback.addEventListener("click", () => rollbackDialog(ctx, channel));
  const canPromote = release && release.bundleId && ctx.channels.length > 1;
  const promote = canPromote ? guard(h("button", { type: "button", class: "secondary" }, "Promote…")) : null;
  if (promote) promote.addEventListener("click", () => promoteDialog(ctx, channel));
  const settings = guard(h("button", { type: "button", class: "secondary", "aria-label": `Settings of ${channel.name}` }, "Settings…"), "admin");
  settings.addEventListener("click", () => settingsDialog(ctx, channel));
  const headingId = newId("ch");
  return h("section", { class: "card channel", "aria-labelledby": headingId },
    h("div", { class: "channel-head" },
      h("h3", { id: headingId }, channel.name),
      h("div", { class: "badges" },
        channel.public ? badge("default", "ok") : null,
        channel.rolloutBranch && channel.rolloutPercentage ? badge(`${channel.rolloutPercentage}% → branch ${channel.rolloutBranch}`, "warn") : null,
        release && release.kind !== "builtin" ? badge(`${release.rollout}%`, release.rollout < 100 ? "warn" : "ok") : null,
        release && release.mandatory ? badge("mandatory", "danger") : null)),
    h("p", { class: "muted small branch" }, `Serves branch ${channel.branch}`, channel.rolloutBranch && channel.rolloutPercentage
      ? `; ${channel.rolloutPercentage}% of its devices get branch ${channel.rolloutBranch}` : ""),
    describeRelease(release),
    (channel.scopedRollbacks || []).length ? h("p", { class: "muted small" }, "Rolled back only for " + channel.scopedRollbacks
      .map((r) => `${r.platform || "every platform"}${r.runtimeVersion ? ` runtime ${r.runtimeVersion}` : ""}: ${r.bundleVersion} (${r.label})`)
      .join("; ")) : null,
    release && release.kind !== "builtin" ? rolloutForm(ctx, channel, release) : null,
    h("h4", {}, "Adoption"),
    adoptionList(stats.adoption),
    h("div", { class: "actions" }, rollback, promote, settings));
}

/** Users pinned to a branch: their devices get it on any channel (on checks that say who the user is). */
function userOverrides(ctx) {
  const overrides = ctx.userOverrides || [];
  if (!overrides.length) return null;
  return h("section", { class: "card user-overrides", "aria-label": "User overrides" },
    h("h3", {}, "User overrides"),
    h("ul", {}, overrides.map((o) => h("li", {}, h("strong", {}, o.userId), ` → branch ${o.branchName}`,
      o.note ? h("span", { class: "muted" }, ` · ${o.note}`) : null))));
}

export function channelCards(ctx) {
  return h("div", {}, h("div", { class: "channel-grid" }, ctx.channels.map((channel) => channelCard(ctx, channel))),
    userOverrides(ctx));
}
