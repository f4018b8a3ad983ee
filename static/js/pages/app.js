// One app: channels, upload, bundles, release history with the chart, and how to connect the app.
import { appPath, get } from "../api.js";
import { clear, h } from "../dom.js";
import { connectPanel } from "../connect.js";
import { card, pageHeader, roleNote } from "../ui.js";
import { channelCards } from "./channels.js";
import { bundleTable, uploadCard } from "./bundles.js";
import { historySection } from "./history.js";

async function loadState(ctx) {
  const [app, { bundles, total }, { overrides }, { branches }] = await Promise.all([
    get(appPath(ctx.slug)), get(appPath(ctx.slug, "/bundles?limit=100")), get(appPath(ctx.slug, "/user-overrides")),
    get(appPath(ctx.slug, "/branches")),
  ]);
  const stats = await Promise.all(app.channels.map((channel) =>
    get(appPath(ctx.slug, `/channels/${encodeURIComponent(channel.name)}/stats`))));
  Object.assign(ctx, { app, channels: app.channels, bundles, bundleTotal: total, userOverrides: overrides, branches,
    stats: Object.fromEntries(stats.map((entry) => [entry.channel, entry])) });
  if (!ctx.channels.some((c) => c.name === ctx.historyChannel)) {
    ctx.historyChannel = ctx.channels.some((c) => c.name === "production") ? "production" : ctx.channels[0]?.name;
  }
}

export async function appPage(view, slug) {
  const ctx = { slug, historyChannel: "production" };
  await loadState(ctx);
  const channelsBox = h("div", {});
  const bundlesBox = h("div", {});
  const historyBox = h("div", {});
  const render = async () => {
    clear(channelsBox, channelCards(ctx));
    clear(bundlesBox, h("p", { class: "muted small" }, `${ctx.bundleTotal} bundle${ctx.bundleTotal === 1 ? "" : "s"}`), bundleTable(ctx));
    const history = historySection(ctx);
    clear(historyBox, history.section);
    await history.load();
  };
  ctx.refresh = async () => {
    await loadState(ctx);
    await render();
  };
  clear(view,
    pageHeader(ctx.app.name, ctx.app.slug,
      h("a", { class: "button secondary", href: `#/apps/${encodeURIComponent(ctx.app.slug)}/rollouts` }, "Rollouts"),
      h("a", { class: "button secondary", href: `#/apps/${encodeURIComponent(ctx.app.slug)}/devices` }, "Devices")),
    roleNote(),
    h("h2", { class: "section-title" }, "Channels"),
    channelsBox,
    card("Upload a bundle", uploadCard(ctx)),
    card("Bundles", bundlesBox),
    card("Release history", historyBox),
    h("details", { class: "card connect-details" },
      h("summary", {}, h("h2", { class: "inline" }, "Connect your app")),
      connectPanel(ctx.app, ctx.channels)));
  await render();
}
