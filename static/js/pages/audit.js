// The audit log (admin keys only), with filters and paging to older entries.
import { get } from "../api.js";
import { clear, field, formatDate, h, table } from "../dom.js";
import { attempt, card, pageHeader } from "../ui.js";
import { session } from "../session.js";

const ENTITY_TYPES = ["", "app", "channel", "bundle", "upload", "release", "device", "key", "rollout_policy",
  "rollout_execution", "webhook"];
const ACTIONS = ["app.created", "app.deleted", "channel.created", "channel.updated", "channel.deleted", "channel.key_rotated",
  "bundle.created", "bundle.deleted", "upload.initiated", "release.created", "release.updated", "release.rollout_changed",
  "release.rolled_back", "release.promoted", "device.override_set", "device.override_cleared",
  "rollout_policy.created", "rollout_policy.updated", "rollout_policy.deleted", "rollout.started", "rollout.advanced",
  "rollout.paused", "rollout.resumed", "rollout.completed", "rollout.cancelled", "rollout.rolled_back",
  "rollout.threshold_exceeded", "webhook.created", "webhook.updated", "webhook.deleted"];

/** [["before.rollout", "10"], ...]: nested details as dotted keys with plain values. */
function flatten(value, prefix = "") {
  if (value && typeof value === "object" && !Array.isArray(value)) {
    return Object.entries(value).flatMap(([key, inner]) => flatten(inner, prefix ? `${prefix}.${key}` : key));
  }
  const text = value === null || value === undefined ? "—"
    : Array.isArray(value) ? value.map((item) => (typeof item === "object" ? JSON.stringify(item) : String(item))).join(", ")
      : String(value);
  return [[prefix, text]];
}

function details(entry) {
  const pairs = flatten(entry.details || {});
  if (!pairs.length) return h("span", { class: "muted" }, "—");
  return h("ul", { class: "details" }, pairs.map(([key, text]) => h("li", {}, h("span", { class: "key" }, `${key}:`), " ", text)));
}

export async function auditPage(view) {
  if (session.role !== "admin" || session.scoped) {
    clear(view, pageHeader("Audit log"), card("Admins only",
      h("p", {}, "The audit log needs an admin key that is not limited to one app. The CLI shows it too: otabox audit")));
    return;
  }
  const action = h("input", { name: "action", list: "audit-actions", placeholder: "any action", autocomplete: "off" });
  const entityType = h("select", { name: "entityType" }, ENTITY_TYPES.map((t) => h("option", { value: t }, t || "any type")));
  const limit = h("select", { name: "limit" }, [50, 100, 200, 500].map((n) => h("option", { value: n, selected: n === 100 }, String(n))));
  const filters = h("form", { class: "toolbar", role: "search", "aria-label": "Filter the audit log" },
    field("Action", action).wrap, h("datalist", { id: "audit-actions" }, ACTIONS.map((a) => h("option", { value: a }))),
    field("Entity type", entityType).wrap, field("Entries", limit).wrap,
    h("div", { class: "field field-button" }, h("button", { type: "submit", class: "secondary" }, "Apply filters")));
  const results = h("div", {});
  const more = h("div", { class: "pager" });
  let entries = [];

  const load = async (before) => {
    const query = new URLSearchParams({ limit: limit.value });
    if (action.value.trim()) query.set("action", action.value.trim());
    if (entityType.value) query.set("entityType", entityType.value);
    if (before) query.set("before", before);
    const page = (await get(`/api/v1/audit-log?${query}`)).entries;
    entries = before ? entries.concat(page) : page;
    clear(results, table("Audit log", ["When", "Actor", "Action", "Entity", "Details"], entries.map((entry) => [
      h("span", { title: entry.at }, formatDate(entry.at)), entry.actor, h("strong", {}, entry.action),
      `${entry.entityType} ${entry.entityId}`, details(entry),
    ]), "No entries match these filters."));
    clear(more);
    if (page.length === Number(limit.value)) {
      const older = h("button", { type: "button", class: "ghost small" }, "Older entries");
      older.addEventListener("click", () => attempt(() => load(entries[entries.length - 1].id), older));
      more.append(older);
    }
  };
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    attempt(() => load());
  });
  clear(view,
    pageHeader("Audit log", "Every change made through the API or the CLI, newest first."),
    card("Entries", filters, results, more),
    h("p", { class: "muted small" }, "API keys are managed from the CLI only (otabox keys create/list/revoke); key changes are not made from this dashboard."));
  await load();
}
