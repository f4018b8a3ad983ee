// Feature flags of one app: the flag list with switches per channel, one flag's variations, channel
// settings, rules in priority order and evaluation counts, and the app's segments.
import { appPath, del, get, patch, post } from "../api.js";
import { badge, clear, field, formatDate, h, newId, table } from "../dom.js";
import { attempt, card, guard, notify, openDialog, pageHeader, roleNote } from "../ui.js";

const TYPES = ["boolean", "string", "number", "json"];
const OPERATORS = ["eq", "neq", "in", "not_in", "contains", "starts_with", "ends_with", "gt", "gte", "lt", "lte",
  "semver_eq", "semver_gt", "semver_gte", "semver_lt", "semver_lte", "exists", "not_exists"];
const RULE_TYPES = { user_list: "Targeting keys", percentage_rollout: "Percentage rollout", attribute: "Attribute",
  segment: "Segment", ota_update: "Devices on an OTA update" };

const show = (value) => JSON.stringify(value);
const flagsPath = (slug, rest = "") => appPath(slug, `/flags${rest}`);

/** A value typed in a form: plain text for a string flag, JSON for the others. */
function parseValue(flagType, text) {
  if (flagType === "string") return text;
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`"${text}" is not JSON (for example true, 3 or {"a": 1}).`);
  }
}

/** A labelled switch that saves itself; `save(checked)` returns the changed flag. */
function toggle(label, checked, save, after) {
  const input = guard(h("input", { type: "checkbox", checked, id: newId() }));
  input.addEventListener("change", async () => {
    const changed = await attempt(() => save(input.checked), input);
    if (changed) await after(changed);
    else input.checked = !input.checked;
  });
  return h("label", { class: "check", for: input.id }, input, ` ${label}`);
}

function variationSelect(flag, selected, name = "variantValue") {
  return h("select", { name }, flag.variations.map((v, index) =>
    h("option", { value: index, selected: show(v.value) === show(selected) }, `${v.name} (${show(v.value)})`)));
}

function describeRule(rule, flag) {
  const config = rule.ruleConfig;
  const named = (value) => (flag.variations.find((v) => show(v.value) === show(value)) || { name: show(value) }).name;
  if (rule.ruleType === "user_list") return `targetingKey is one of ${config.targetingKeys.join(", ")}`;
  if (rule.ruleType === "attribute") return `${config.attribute} ${config.operator} ${config.values.map(show).join(", ")}`;
  if (rule.ruleType === "segment") return `in segment ${config.segmentKey}`;
  if (rule.ruleType === "ota_update") return config.releaseId ? `running release #${config.releaseId}` : `running bundle #${config.bundleId}`;
  const split = config.rollout.map((entry) => `${entry.weight}% ${named(entry.variantValue)}`).join(", ");
  return `${split}${config.segmentKey ? ` of segment ${config.segmentKey}` : ""}`;
}

// --- the list ------------------------------------------------------------------------------------

function createFlagDialog(ctx) {
  const key = h("input", { name: "key", required: true, autocomplete: "off", placeholder: "new-checkout" });
  const type = h("select", { name: "flagType" }, TYPES.map((t) => h("option", { value: t }, t)));
  const fallback = h("input", { name: "defaultValue", autocomplete: "off", placeholder: "false" });
  const variations = h("textarea", { name: "variations", rows: 3, placeholder: "blue=blue\ngreen=green" });
  const description = h("input", { name: "description", autocomplete: "off" });
  openDialog({
    title: "New flag",
    submitLabel: "Create flag",
    build: () => [
      field("Key", key, "Letters, digits, '.', '_' and '-'; apps ask for the flag by this key.").wrap,
      field("Type", type).wrap,
      field("Default value", fallback, "JSON (true, 3, {\"a\": 1}) or, for a string flag, plain text. A boolean flag defaults to false.").wrap,
      field("Variations", variations, "One NAME=VALUE per line; a boolean flag gets on/off without any.").wrap,
      field("Description", description).wrap,
    ],
    submit: async () => {
      const body = { key: key.value.trim(), flagType: type.value, description: description.value };
      if (fallback.value.trim()) body.defaultValue = parseValue(type.value, fallback.value.trim());
      const lines = variations.value.split("\n").map((line) => line.trim()).filter(Boolean);
      if (lines.length) {
        body.variations = lines.map((line) => {
          const at = line.indexOf("=");
          if (at < 1) throw new Error(`"${line}": write each variation as NAME=VALUE.`);
          return { name: line.slice(0, at).trim(), value: parseValue(type.value, line.slice(at + 1).trim()) };
        });
      }
      const flag = await post(flagsPath(ctx.slug), body);
      await ctx.load();
      notify(`Flag ${flag.key} created.`);
    },
  });
}

function flagRows(ctx) {
  return ctx.flags.map((flag) => [
    h("a", { href: `#/apps/${encodeURIComponent(ctx.slug)}/flags/${flag.id}` }, h("strong", {}, flag.key)),
    flag.flagType,
    toggle(flag.enabled ? "on" : "off", flag.enabled,
      (checked) => patch(flagsPath(ctx.slug, `/${flag.id}`), { enabled: checked }), async (changed) => {
        await ctx.load();
        notify(`${changed.key} is ${changed.enabled ? "on" : "off"}.`);
      }),
    h("span", { class: "row-actions" }, flag.channels.map((channel) => toggle(channel.channelName, channel.enabled,
      (checked) => patch(flagsPath(ctx.slug, `/${flag.id}/env/${encodeURIComponent(channel.channelName)}`), { enabled: checked }),
      async (changed) => {
        await ctx.load();
        const now = changed.channels.find((c) => c.channelName === channel.channelName);
        notify(`${changed.key} in ${channel.channelName}: ${now.enabled ? "on" : "off"}.`);
      }))),
    h("code", {}, show(flag.defaultValue)),
    String(flag.rules.length),
  ]);
}

function segmentDialog(ctx) {
  const name = h("input", { name: "name", required: true, autocomplete: "off", placeholder: "iOS Pro Users" });
  const match = h("select", { name: "matchType" }, h("option", { value: "all" }, "all conditions (AND)"),
    h("option", { value: "any" }, "any condition (OR)"));
  const conditions = h("textarea", { name: "conditions", rows: 4, placeholder: "platform eq ios\nplan in pro,enterprise" });
  openDialog({
    title: "New segment",
    submitLabel: "Create segment",
    build: () => [
      field("Name", name, "The key is made from the name (e.g. ios-pro-users).").wrap,
      field("Match", match).wrap,
      field("Conditions", conditions, `One per line: attribute operator value[,value…]. Operators: ${OPERATORS.join(", ")}.`).wrap,
    ],
    submit: async () => {
      const parsed = conditions.value.split("\n").map((line) => line.trim()).filter(Boolean).map((line) => {
        const [attribute, operator, ...rest] = line.split(/\s+/);
        const values = rest.join(" ");
        return { attribute, operator, valuesJson: values ? values.split(",").map((v) => v.trim()) : [] };
      });
      const segment = await post(appPath(ctx.slug, "/segments"), { name: name.value.trim(), matchType: match.value, conditions: parsed });
      await ctx.load();
      notify(`Segment ${segment.key} created.`);
    },
  });
}

function segmentRows(ctx) {
  return ctx.segments.map((segment) => {
    const remove = guard(h("button", { type: "button", class: "ghost small", "aria-label": `Delete segment ${segment.key}` }, "Delete"));
    remove.addEventListener("click", async () => {
      if (await attempt(() => del(appPath(ctx.slug, `/segments/${segment.id}`)), remove)) {
        await ctx.load();
        notify(`Segment ${segment.key} deleted.`);
      }
    });
    return [h("strong", {}, segment.key), segment.name, segment.matchType,
      h("code", { class: "details" }, segment.conditions.map((c) => `${c.attribute} ${c.operator} ${c.valuesJson.map(show).join(",")}`).join("; ")),
      segment.usedBy.length ? badge(`${segment.usedBy.length} rule${segment.usedBy.length === 1 ? "" : "s"}`, "ok") : "—",
      remove];
  });
}

export async function flagsPage(view, slug) {
  const ctx = { slug };
  const flagsBox = h("div", {});
  const segmentsBox = h("div", {});
  ctx.load = async () => {
    const [{ flags }, { segments }] = await Promise.all([get(flagsPath(slug)), get(appPath(slug, "/segments"))]);
    Object.assign(ctx, { flags, segments });
    clear(flagsBox, table("Feature flags", ["Flag", "Type", "Switch", "Per channel", "Default", "Rules"],
      flagRows(ctx), "No flags yet. Apps evaluate them with any OpenFeature OFREP provider."));
    clear(segmentsBox, table("Segments", ["Key", "Name", "Match", "Conditions", "Used by", ""],
      segmentRows(ctx), "No segments yet: reusable audiences such as “pro users on iOS”."));
  };
  const newFlag = guard(h("button", { type: "button", class: "primary" }, "New flag"));
  newFlag.addEventListener("click", () => createFlagDialog(ctx));
  const newSegment = guard(h("button", { type: "button", class: "secondary" }, "New segment"));
  newSegment.addEventListener("click", () => segmentDialog(ctx));
  await ctx.load();
  clear(view,
    pageHeader("Feature flags", slug, newFlag),
    roleNote(),
    card("Flags", h("p", { class: "muted small" }, "A flag is served where its own switch and the channel's are on; elsewhere its default, reason DISABLED."), flagsBox),
    card("Segments", h("div", { class: "actions" }, newSegment), segmentsBox));
}

// --- one flag ------------------------------------------------------------------------------------

function ruleDialog(ctx) {
  const { flag } = ctx;
  const type = h("select", { name: "ruleType" }, Object.entries(RULE_TYPES).map(([value, label]) => h("option", { value }, label)));
  const variant = variationSelect(flag, flag.variations[0]?.value);
  const channel = h("select", { name: "channelName" }, h("option", { value: "" }, "every channel"),
    flag.channels.map((c) => h("option", { value: c.channelName }, c.channelName)));
  const priority = h("input", { type: "number", name: "priority", class: "narrow", placeholder: "last" });
  const keys = h("textarea", { name: "targetingKeys", rows: 3, placeholder: "user-1\nuser-2" });
  const attribute = h("input", { name: "attribute", autocomplete: "off", placeholder: "plan" });
  const operator = h("select", { name: "operator" }, OPERATORS.map((o) => h("option", { value: o }, o)));
  const values = h("input", { name: "values", autocomplete: "off", placeholder: "pro,enterprise" });
  const segmentSelect = () => h("select", { name: "segmentKey" }, h("option", { value: "" }, "—"),
    ctx.segments.map((s) => h("option", { value: s.key }, `${s.name} (${s.key})`)));
  const segment = segmentSelect();
  const audience = segmentSelect();
  const bundle = h("select", { name: "bundleId" }, ctx.bundles.map((b) => h("option", { value: b.id }, `${b.version} (${b.platform})`)));
  const weights = flag.variations.map((v) => h("input", { type: "number", min: 0, max: 100, step: "0.01", class: "narrow",
    name: `weight-${v.id}`, "aria-label": `Percent for ${v.name}`, value: 0 }));
  const parts = {
    user_list: [field("Targeting keys", keys, "One per line.").wrap],
    attribute: [field("Attribute", attribute).wrap, field("Operator", operator).wrap, field("Values", values, "Comma-separated.").wrap],
    segment: [field("Segment", segment).wrap],
    ota_update: [field("Bundle", bundle, "Devices that say they run it (bundleId, bundleVersion or packageHash in their context).").wrap],
    percentage_rollout: [h("fieldset", {}, h("legend", {}, "Split by targetingKey"), flag.variations.map((v, i) =>
      h("label", { class: "check" }, weights[i], ` % ${v.name}`))), field("Only contexts in segment", audience).wrap],
  };
  const specific = h("div", {});
  const variantField = field("Serve", variant).wrap;
  const render = () => {
    clear(specific, parts[type.value]);
    variantField.hidden = type.value === "percentage_rollout";
  };
  type.addEventListener("change", render);
  render();
  openDialog({
    title: `Add a rule to ${flag.key}`,
    submitLabel: "Add rule",
    build: () => [field("Rule type", type).wrap, specific, variantField, field("Channel", channel).wrap,
      field("Priority", priority, "Lower runs first; empty: after the others.").wrap],
    submit: async () => {
      const kind = type.value;
      const configs = {
        user_list: () => ({ targetingKeys: keys.value.split("\n").map((k) => k.trim()).filter(Boolean) }),
        attribute: () => ({ attribute: attribute.value.trim(), operator: operator.value,
          values: values.value ? values.value.split(",").map((v) => v.trim()) : [] }),
        segment: () => ({ segmentKey: segment.value }),
        ota_update: () => ({ bundleId: Number(bundle.value) }),
        percentage_rollout: () => ({ rollout: flag.variations.map((v, i) => ({ variantValue: v.value, weight: Number(weights[i].value) }))
          .filter((entry) => entry.weight > 0), ...(audience.value ? { segmentKey: audience.value } : {}) }),
      };
      const body = { ruleType: kind, ruleConfig: configs[kind](), channelName: channel.value || null };
      if (kind !== "percentage_rollout") body.variantValue = flag.variations[Number(variant.value)].value;
      if (priority.value !== "") body.priority = Number(priority.value);
      await post(flagsPath(ctx.slug, `/${flag.id}/rules`), body);
      await ctx.load();
      notify(`Rule added to ${flag.key}.`);
    },
  });
}

function channelRows(ctx) {
  const { flag } = ctx;
  return flag.channels.map((channel) => {
    const fallback = h("select", { name: `default-${channel.channelName}`, "aria-label": `Default in ${channel.channelName}` },
      h("option", { value: "", selected: channel.defaultValue === null }, `the flag's (${show(flag.defaultValue)})`),
      flag.variations.map((v, index) => h("option", { value: index, selected: channel.defaultValue !== null && show(v.value) === show(channel.defaultValue) }, v.name)));
    guard(fallback).addEventListener("change", async () => {
      const value = fallback.value === "" ? null : flag.variations[Number(fallback.value)].value;
      if (await attempt(() => patch(flagsPath(ctx.slug, `/${flag.id}/env/${encodeURIComponent(channel.channelName)}`), { defaultValue: value }))) {
        await ctx.load();
        notify(`Default in ${channel.channelName} saved.`);
      }
    });
    return [h("strong", {}, channel.channelName),
      toggle(channel.enabled ? "on" : "off", channel.enabled,
        (checked) => patch(flagsPath(ctx.slug, `/${flag.id}/env/${encodeURIComponent(channel.channelName)}`), { enabled: checked }),
        async () => { await ctx.load(); notify(`${flag.key} in ${channel.channelName} saved.`); }),
      channel.active ? badge("served", "ok") : badge("serves its default", "neutral"), fallback];
  });
}

function variationRows(ctx) {
  const { flag } = ctx;
  return flag.variations.map((variation) => {
    const name = h("input", { value: variation.name, "aria-label": `Name of ${variation.name}`, class: "narrow" });
    const value = h("input", { value: flag.flagType === "string" ? variation.value : show(variation.value), "aria-label": `Value of ${variation.name}` });
    const save = guard(h("button", { type: "button", class: "secondary small" }, "Save"));
    save.addEventListener("click", async () => {
      const done = await attempt(() => patch(flagsPath(ctx.slug, `/${flag.id}/variations/${variation.id}`),
        { name: name.value.trim(), value: parseValue(flag.flagType, value.value) }), save);
      if (done) {
        await ctx.load();
        notify(`Variation ${name.value.trim()} saved (wherever it is served).`);
      }
    });
    return [guard(name), guard(value), save];
  });
}

function ruleRows(ctx) {
  const { flag } = ctx;
  return flag.rules.map((rule) => {
    const remove = guard(h("button", { type: "button", class: "ghost small", "aria-label": `Delete rule ${rule.id}` }, "Delete"));
    remove.addEventListener("click", async () => {
      if (await attempt(() => del(flagsPath(ctx.slug, `/${flag.id}/rules/${rule.id}`)), remove)) {
        await ctx.load();
        notify(`Rule ${rule.id} deleted.`);
      }
    });
    const served = rule.ruleType === "percentage_rollout" ? "split"
      : (flag.variations.find((v) => show(v.value) === show(rule.variantValue)) || { name: show(rule.variantValue) }).name;
    return [String(rule.priority), RULE_TYPES[rule.ruleType], h("code", { class: "details" }, describeRule(rule, flag)),
      served, rule.channelName || "every channel", remove];
  });
}

function evaluationTable(counts) {
  const variants = Object.keys(counts.totals).sort();
  const days = [...new Set(counts.evaluations.map((row) => row.day))].reverse();
  const cell = (day, variant) => String((counts.evaluations.find((r) => r.day === day && r.variant === variant) || { count: 0 }).count);
  return [
    h("p", { class: "muted small" }, `Last ${counts.days} days: `, variants.length
      ? variants.map((v) => badge(`${v}: ${counts.totals[v]}`, "neutral")) : "no evaluations yet."),
    table("Evaluations per day and variant", ["Day", ...variants], days.map((day) => [day, ...variants.map((v) => cell(day, v))]),
      "Evaluations are counted as apps evaluate the flag, and written every few seconds."),
  ];
}

export async function flagPage(view, slug, flagId) {
  const ctx = { slug };
  const boxes = { channels: h("div", {}), variations: h("div", {}), rules: h("div", {}), evaluations: h("div", {}) };
  const header = h("div", {});
  ctx.load = async () => {
    const [flag, { segments }, { bundles }, counts] = await Promise.all([
      get(flagsPath(slug, `/${flagId}`)), get(appPath(slug, "/segments")), get(appPath(slug, "/bundles?limit=100")),
      get(flagsPath(slug, `/${flagId}/evaluations?days=14`))]);
    Object.assign(ctx, { flag, segments, bundles });
    const master = toggle(flag.enabled ? "Flag on" : "Flag off", flag.enabled,
      (checked) => patch(flagsPath(slug, `/${flag.id}`), { enabled: checked }),
      async (changed) => { await ctx.load(); notify(`${changed.key} is ${changed.enabled ? "on" : "off"}.`); });
    clear(header, pageHeader(flag.name, `${flag.key} · ${flag.flagType} · updated ${formatDate(flag.updatedAt)}`, master),
      flag.description ? h("p", {}, flag.description) : null);
    clear(boxes.channels, table("Channels", ["Channel", "Switch", "State", "Default"], channelRows(ctx)));
    clear(boxes.variations, table("Variations", ["Name", "Value", ""], variationRows(ctx)));
    clear(boxes.rules, table("Rules in priority order", ["Priority", "Type", "Condition", "Serves", "Channel", ""],
      ruleRows(ctx), "No rules: every context gets the default value (reason STATIC)."));
    clear(boxes.evaluations, evaluationTable(counts));
  };
  await ctx.load();
  const addRule = guard(h("button", { type: "button", class: "primary" }, "Add rule"));
  addRule.addEventListener("click", () => ruleDialog(ctx));
  clear(view,
    h("p", {}, h("a", { href: `#/apps/${encodeURIComponent(slug)}/flags` }, "← All flags")),
    header,
    roleNote(),
    card("Channels", boxes.channels),
    card("Rules", h("p", { class: "muted small" }, "Tried from the lowest priority; the first that matches decides."), boxes.rules,
      h("div", { class: "actions" }, addRule)),
    card("Variations", boxes.variations),
    card("Evaluations", boxes.evaluations));
}
