// Webhooks (admin keys not limited to one app): create (the secret is shown once), test, switch off,
// delete, and each webhook's recent deliveries with every attempt.
import { del, get, patch, post } from "../api.js";
import { badge, clear, field, formatDate, h, table } from "../dom.js";
import { attempt, card, copyButton, notify, openDialog, pageHeader } from "../ui.js";
import { session } from "../session.js";

const EVENTS = ["bundle.created", "release.created", "release.updated", "release.rolled_back", "release.promoted",
  "rollout.advanced", "rollout.paused", "rollout.completed", "rollout.rolled_back", "health.threshold_exceeded",
  "channel.updated", "app.created", "deployment.released"];

function showSecret(webhook) {
  openDialog({
    title: "Webhook created: copy its secret now",
    submitLabel: "I stored it",
    build: () => [
      h("p", {}, "This is the only time the signing secret is shown. Receivers check each request's X-Otabox-Signature with it."),
      h("div", { class: "keyline" }, h("code", { class: "key" }, webhook.secret), copyButton(webhook.secret, "Webhook secret")),
    ],
    submit: async () => {},
  });
}

function createForm(ctx, apps) {
  const url = h("input", { name: "url", type: "url", required: true, placeholder: "https://hooks.example.com/otabox" });
  const app = h("select", { name: "appId" }, h("option", { value: "" }, "Every app"),
    apps.map((a) => h("option", { value: a.id }, a.slug)));
  const format = h("select", { name: "format" }, h("option", { value: "json" }, "JSON (otabox's event)"),
    h("option", { value: "slack" }, "Slack incoming webhook"));
  const boxes = EVENTS.map((name) => h("input", { type: "checkbox", name: "events", value: name }));
  const submit = h("button", { type: "submit", class: "primary" }, "Create webhook");
  const form = h("form", { class: "webhook-form", "aria-label": "New webhook" },
    field("URL", url, "http or https; private and loopback addresses are refused unless the server allows them").wrap,
    h("div", { class: "inline-fields" }, field("App", app).wrap, field("Format", format).wrap),
    h("fieldset", { class: "event-list" }, h("legend", {}, "Events (none ticked: every event)"),
      boxes.map((box) => h("label", { class: "check" }, box, ` ${box.value}`))),
    h("div", { class: "actions" }, submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const events = boxes.filter((box) => box.checked).map((box) => box.value);
    const body = { url: url.value.trim(), events: events.length ? events : ["*"], format: format.value,
      appId: app.value ? Number(app.value) : null };
    const created = await attempt(() => post("/api/v1/webhooks", body), submit);
    if (created) {
      form.reset();
      showSecret(created);
      await ctx.load();
    }
  });
  return form;
}

function deliveriesTable(deliveries) {
  return table("Recent deliveries", ["Event", "Status", "Attempts", "Last answer", "When"], deliveries.map((d) => {
    const last = d.attempts[d.attempts.length - 1] || {};
    const answer = last.statusCode ? `HTTP ${last.statusCode} in ${Math.round(last.durationMs)} ms` : (last.error || "—");
    return [d.event, badge(d.status, { delivered: "ok", pending: "warn", failed: "danger" }[d.status]), String(d.attempts.length),
      h("span", { title: last.error || "" }, answer), formatDate(d.createdAt)];
  }), "Nothing sent yet.");
}

function webhookCard(ctx, webhook) {
  const deliveriesBox = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const test = h("button", { type: "button", class: "secondary small" }, "Send a test");
  const toggle = h("button", { type: "button", class: "secondary small" }, webhook.isActive ? "Switch off" : "Switch on");
  const remove = h("button", { type: "button", class: "danger small" }, "Delete");
  const loadDeliveries = async () => {
    const { deliveries } = await get(`/api/v1/webhooks/${webhook.id}/deliveries?limit=10`);
    clear(deliveriesBox, deliveriesTable(deliveries));
    return deliveries;
  };
  test.addEventListener("click", async () => {
    // The server queues the test for its delivery worker and answers at once; watch for its attempt.
    const queued = await attempt(() => post(`/api/v1/webhooks/${webhook.id}/test`), test);
    if (!queued) return;
    notify("Test queued.");
    for (let wait = 0; wait < 30; wait += 1) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const result = (await loadDeliveries()).find((d) => d.id === queued.id);
      if (result && result.status !== "pending") {
        const last = result.attempts[0];
        const delivered = result.status === "delivered";
        notify(delivered ? `Test delivered (HTTP ${last.statusCode}).` : `Test failed: ${last.error}`,
          delivered ? "success" : "error");
        return;
      }
    }
  });
  toggle.addEventListener("click", async () => {
    if (await attempt(() => patch(`/api/v1/webhooks/${webhook.id}`, { isActive: !webhook.isActive }), toggle)) await ctx.load();
  });
  remove.addEventListener("click", async () => {
    if (await attempt(() => del(`/api/v1/webhooks/${webhook.id}`), remove)) {
      notify("Webhook deleted.");
      await ctx.load();
    }
  });
  const node = card(webhook.url,
    h("p", {}, webhook.isActive ? badge("on", "ok") : badge("off", "neutral"), badge(webhook.format),
      h("span", { class: "muted" }, ` ${webhook.events.join(", ")} · ${webhook.appId ? `app ${webhook.appId}` : "every app"}`)),
    h("div", { class: "actions" }, test, toggle, remove),
    h("h3", {}, "Recent deliveries"), deliveriesBox);
  return { node, loadDeliveries };
}

export async function webhooksPage(view) {
  if (session.role !== "admin" || session.scoped) {
    clear(view, pageHeader("Webhooks"), card("Admins only",
      h("p", {}, "Webhooks need an admin key that is not limited to one app. The CLI manages them too: otabox webhooks")));
    return;
  }
  const list = h("div", {});
  const { apps } = await get("/api/v1/apps");
  const ctx = {};
  ctx.load = async () => {
    const { webhooks } = await get("/api/v1/webhooks");
    const cards = webhooks.map((webhook) => webhookCard(ctx, webhook));
    clear(list, cards.length ? cards.map((c) => c.node) : h("p", { class: "empty" }, "No webhook yet."));
    await Promise.all(cards.map((c) => c.loadDeliveries()));
  };
  await ctx.load();
  clear(view,
    pageHeader("Webhooks", "otabox POSTs signed JSON to these URLs when releases, rollouts or health change."),
    list,
    card("New webhook", createForm(ctx, apps)));
}
