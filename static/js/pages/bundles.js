// Bundles: drag-and-drop upload with a progress bar, the list, and releasing a bundle to a channel.
import { appPath, post } from "../api.js";
import { badge, field, formatBytes, formatDate, h, newId, table } from "../dom.js";
import { uploadBundle } from "../upload.js";
import { guard, notify, openDialog } from "../ui.js";

function uploadFields(form) {
  const fields = { version: form.version.value.trim(), platform: form.platform.value };
  if (form.minNativeBuild.value !== "") fields.minNativeBuild = Number(form.minNativeBuild.value);
  if (form.targetVersions.value.trim()) fields.targetVersions = form.targetVersions.value.trim();
  if (form.notes.value.trim()) fields.notes = form.notes.value.trim();
  if (form.message.value.trim()) fields.message = form.message.value.trim();
  if (form.minUpdateVersion.value.trim()) fields.minUpdateVersion = form.minUpdateVersion.value.trim();
  return fields;
}

/** The build a bundle came from: its message, branch and short commit, as the upload recorded them. */
function buildCell(bundle) {
  const source = [bundle.gitBranch, bundle.gitCommitHash && bundle.gitCommitHash.slice(0, 7)].filter(Boolean).join(" @ ");
  if (!bundle.message && !source) return h("span", { class: "muted" }, "—");
  return h("span", { title: bundle.gitCommitHash || "" }, bundle.message || "",
    source ? h("span", { class: "muted small" }, bundle.message ? ` (${source})` : source) : null);
}

export function uploadCard(ctx) {
  let chosen = null;
  const input = h("input", { type: "file", accept: ".zip,application/zip", class: "visually-hidden", id: newId("file"), name: "file" });
  const fileName = h("span", { class: "file-name" }, "No file chosen");
  const drop = h("label", { class: "dropzone", for: input.id },
    h("strong", {}, "Drop a bundle .zip here"), h("span", { class: "muted" }, "or press to choose a file"), fileName);
  const choose = (file) => {
    chosen = file || null;
    fileName.textContent = chosen ? `${chosen.name} — ${formatBytes(chosen.size)}` : "No file chosen";
    drop.classList.toggle("has-file", Boolean(chosen));
  };
  input.addEventListener("change", () => choose(input.files[0]));
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("dragging");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("dragging"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("dragging");
    if (!input.disabled && event.dataTransfer.files.length) choose(event.dataTransfer.files[0]);
  });

  const progress = h("progress", { max: 1, value: 0, "aria-label": "Upload progress", hidden: true });
  const status = h("p", { class: "upload-status", role: "status" });
  const submit = guard(h("button", { type: "submit", class: "primary" }, "Upload bundle"));
  guard(input);
  const form = h("form", { class: "upload-form", "aria-label": "Upload a bundle" },
    input, drop,
    h("div", { class: "form-grid" },
      field("Version", h("input", { name: "version", required: true, placeholder: "1.2.3", autocomplete: "off" }), "Semantic version of this bundle.").wrap,
      field("Platform", h("select", { name: "platform" }, ["all", "ios", "android"].map((p) => h("option", { value: p }, p)))).wrap,
      field("Min native build", h("input", { name: "minNativeBuild", type: "number", min: 0, placeholder: "optional" })).wrap,
      field("Target native versions", h("input", { name: "targetVersions", placeholder: "e.g. ^1.2.0 (optional)", autocomplete: "off" })).wrap,
      field("Min update version", h("input", { name: "minUpdateVersion", placeholder: "optional", autocomplete: "off" }),
        "Devices below it stay put on a channel in version_number mode.").wrap,
      field("Build message", h("input", { name: "message", placeholder: "optional", autocomplete: "off" })).wrap),
    field("Notes", h("textarea", { name: "notes", rows: 2, placeholder: "What changed (optional)" })).wrap,
    h("div", { class: "actions" }, progress, status, submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!chosen) {
      notify("Choose or drop a .zip file first.", "error");
      return;
    }
    if (!form.version.value.trim()) {
      notify("Enter the bundle's version, such as 1.2.3.", "error");
      form.version.focus();
      return;
    }
    submit.disabled = true;
    progress.hidden = false;
    const onStep = (text, fraction) => {
      if (fraction === null) progress.removeAttribute("value");
      else progress.value = fraction;
      status.textContent = fraction === null ? `${text}…` : `${text} ${Math.round(fraction * 100)}%`;
    };
    try {
      const bundle = await uploadBundle(ctx.slug, chosen, uploadFields(form), onStep);
      progress.value = 1;
      status.textContent = `Uploaded ${bundle.version} (${formatBytes(bundle.size)}).`;
      form.reset();
      choose(null);
      await ctx.refresh();
      notify(`Bundle ${bundle.version} uploaded. Release it to a channel from the list below.`);
    } catch (err) {
      progress.hidden = true;
      status.textContent = "Upload failed.";
      notify(err.message, "error");
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

function releaseDialog(ctx, bundle) {
  const channel = h("select", { name: "channel" }, ctx.channels.map((c) => h("option", { value: c.name }, c.name)));
  const rollout = h("input", { type: "number", min: 0, max: 100, value: 100, name: "rollout", class: "narrow" });
  const mandatory = h("input", { type: "checkbox", name: "mandatory", id: newId() });
  const notes = h("textarea", { name: "notes", rows: 2 }, bundle.notes || "");
  openDialog({
    title: `Release ${bundle.version}`,
    submitLabel: "Release",
    build: () => [
      h("p", { class: "muted" }, `${bundle.platform} · ${formatBytes(bundle.size)} · sha256 ${bundle.sha256.slice(0, 12)}…`),
      field("Channel", channel).wrap,
      field("Rollout %", rollout, "Share of devices that get it now; widen it later.").wrap,
      h("label", { class: "check", for: mandatory.id }, mandatory, " Mandatory (install at once)"),
      field("Release notes", notes).wrap,
    ],
    submit: async () => {
      const result = await post(appPath(ctx.slug, "/releases"), {
        bundleId: bundle.id, channel: channel.value, rollout: Number(rollout.value), mandatory: mandatory.checked,
        notes: notes.value,
      });
      await ctx.refresh();
      notify(`${bundle.version} released to ${result.release.channel} at ${result.release.rollout}%.`);
    },
  });
}

/** The bundle's version, and under it the whole number each channel gave it (Koolbase's numbering)
 * with the channels that serve it now. */
function versionCell(bundle) {
  const numbers = bundle.channelVersions.map((entry, index) => [
    index ? ", " : null,
    `${entry.channel} ${entry.version}`,
    entry.active ? [" ", badge("active", "ok")] : null,
  ]);
  return h("span", {}, h("strong", { class: "long-version" }, bundle.version),
    numbers.length ? [h("br"), h("span", { class: "muted small channel-versions" }, numbers)] : null);
}

export function bundleTable(ctx) {
  const rows = ctx.bundles.map((bundle) => {
    const release = guard(h("button", { type: "button", class: "secondary small", "aria-label": `Release ${bundle.version} (${bundle.platform})` }, "Release…"));
    release.addEventListener("click", () => releaseDialog(ctx, bundle));
    return [
      versionCell(bundle), bundle.platform, formatBytes(bundle.size),
      h("code", { title: bundle.sha256 }, `${bundle.sha256.slice(0, 12)}…`),
      bundle.targetVersions || (bundle.minNativeBuild != null ? `build ≥ ${bundle.minNativeBuild}` : "any"),
      buildCell(bundle), formatDate(bundle.createdAt), release,
    ];
  });
  return table("Bundles", ["Version", "Platform", "Size", "SHA-256", "Targets", "Build", "Uploaded", ""], rows,
    "No bundles yet. Upload one above.");
}
