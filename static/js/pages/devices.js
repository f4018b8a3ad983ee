// Devices of one app: search, filters, and pinning a device to a channel or a bundle.
import { appPath, del, get, put } from "../api.js";
import { badge, clear, field, h, newId, table, timeAgo, formatDate } from "../dom.js";
import { attempt, card, guard, notify, openDialog, pageHeader, roleNote } from "../ui.js";

const PAGE = 50;

function overrideText(device, bundles) {
  const parts = [];
  if (device.override.channel) parts.push(`channel ${device.override.channel}`);
  if (device.override.bundleId != null) {
    const bundle = bundles.find((b) => b.id === device.override.bundleId);
    parts.push(`bundle ${bundle ? bundle.version : `#${device.override.bundleId}`}`);
  }
  return parts.length ? badge(`pinned: ${parts.join(", ")}`, "warn") : h("span", { class: "muted" }, "—");
}

function pinDialog(ctx, device) {
  const channel = h("select", { name: "channel" }, h("option", { value: "" }, "— no channel pin —"),
    ctx.channels.map((c) => h("option", { value: c.name, selected: c.name === device.override.channel }, c.name)));
  const bundle = h("select", { name: "bundleId" }, h("option", { value: "" }, "— no bundle pin —"),
    ctx.bundles.map((b) => h("option", { value: b.id, selected: b.id === device.override.bundleId }, `${b.version} (${b.platform})`)));
  openDialog({
    title: `Pin ${device.deviceId}`,
    submitLabel: "Pin device",
    build: () => [
      h("p", { class: "muted" }, "A pinned device ignores rollouts: a bundle pin wins outright, a channel pin replaces the channel it asks for."),
      field("Channel", channel).wrap,
      field("Bundle", bundle).wrap,
    ],
    submit: async () => {
      const body = {};
      if (channel.value) body.channel = channel.value;
      if (bundle.value) body.bundleId = Number(bundle.value);
      await put(appPath(ctx.slug, `/devices/${encodeURIComponent(device.deviceId)}`), body);
      await ctx.load();
      notify(`${device.deviceId} pinned.`);
    },
  });
}

function deviceRows(ctx, devices) {
  return devices.map((device) => {
    const pin = guard(h("button", { type: "button", class: "secondary small", "aria-label": `Pin ${device.deviceId}` }, "Pin…"));
    pin.addEventListener("click", () => pinDialog(ctx, device));
    const pinned = device.override.channel || device.override.bundleId != null;
    const unpin = pinned ? guard(h("button", { type: "button", class: "ghost small", "aria-label": `Clear pin of ${device.deviceId}` }, "Clear pin")) : null;
    if (unpin) {
      unpin.addEventListener("click", async () => {
        const done = await attempt(() => del(appPath(ctx.slug, `/devices/${encodeURIComponent(device.deviceId)}/override`)), unpin);
        if (done) {
          await ctx.load();
          notify(`Pin of ${device.deviceId} cleared.`);
        }
      });
    }
    return [
      h("code", {}, device.deviceId), device.platform || "—", h("strong", {}, device.bundleVersion),
      [device.nativeVersion || "—", device.nativeBuild ? ` (${device.nativeBuild})` : ""].join(""),
      device.channel || "—", overrideText(device, ctx.bundles),
      h("span", { title: formatDate(device.lastSeen) }, timeAgo(device.lastSeen)),
      h("span", { class: "row-actions" }, pin, unpin),
    ];
  });
}

export async function devicesPage(view, slug) {
  const ctx = { slug, offset: 0 };
  const [app, { bundles }] = await Promise.all([get(appPath(slug)), get(appPath(slug, "/bundles?limit=200"))]);
  Object.assign(ctx, { app, channels: app.channels, bundles });

  const search = h("input", { type: "search", name: "search", placeholder: "Part of a device id", autocomplete: "off" });
  const channel = h("select", { name: "channel" }, h("option", { value: "" }, "All channels"),
    ctx.channels.map((c) => h("option", { value: c.name }, c.name)));
  const version = h("input", { name: "version", placeholder: "e.g. 1.2.3 or builtin", autocomplete: "off" });
  const filters = h("form", { class: "toolbar", role: "search", "aria-label": "Filter devices" },
    field("Search device id", search).wrap, field("Channel", channel).wrap, field("Bundle version", version).wrap,
    h("div", { class: "field field-button" }, h("button", { type: "submit", class: "secondary" }, "Search")));
  const results = h("div", {});
  const pager = h("div", { class: "pager" });

  ctx.load = async () => {
    const query = new URLSearchParams({ limit: PAGE, offset: ctx.offset });
    if (search.value.trim()) query.set("search", search.value.trim());
    if (channel.value) query.set("channel", channel.value);
    if (version.value.trim()) query.set("version", version.value.trim());
    const { devices, total } = await get(appPath(slug, `/devices?${query}`));
    clear(results, table("Devices", ["Device", "Platform", "Bundle", "Native", "Channel", "Pinned", "Last seen", ""],
      deviceRows(ctx, devices), "No devices match. Devices appear after their first update check."));
    const previous = h("button", { type: "button", class: "ghost small", disabled: ctx.offset === 0 }, "Previous");
    const next = h("button", { type: "button", class: "ghost small", disabled: ctx.offset + PAGE >= total }, "Next");
    previous.addEventListener("click", () => { ctx.offset = Math.max(0, ctx.offset - PAGE); attempt(ctx.load); });
    next.addEventListener("click", () => { ctx.offset += PAGE; attempt(ctx.load); });
    const shown = devices.length ? `${ctx.offset + 1}–${ctx.offset + devices.length} of ${total}` : `0 of ${total}`;
    clear(pager, h("span", { class: "muted small", id: newId("pager") }, shown), previous, next);
  };
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    ctx.offset = 0;
    attempt(ctx.load);
  });
  channel.addEventListener("change", () => { ctx.offset = 0; attempt(ctx.load); });

  clear(view,
    pageHeader("Devices", `${app.name} · ${app.slug}`),
    roleNote(),
    card("Devices that checked for updates", filters, results, pager));
  await ctx.load();
}
