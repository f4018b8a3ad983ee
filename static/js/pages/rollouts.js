// Rollout policies of one app (create, delete) and its executions with their controls.
import { appPath, del, get, post } from "../api.js";
import { clear, field, formatDate, h, newId, table } from "../dom.js";
import { attempt, card, guard, notify, pageHeader, roleNote } from "../ui.js";
import { executionControls, stageText, statusBadge } from "../rollout.js";

function describeStages(policy) {
  return policy.stages.map((s) => `${s.percentage}%${s.minDevices ? ` ≥${s.minDevices} devices` : ""}${s.minDurationMinutes ? ` ${s.minDurationMinutes} min` : ""}`).join(" → ");
}

function describeThresholds(t) {
  const limits = [t.crashRate != null ? `crash > ${t.crashRate}%` : null, t.errorRate != null ? `errors > ${t.errorRate}%` : null].filter(Boolean);
  return limits.length ? `${limits.join(" or ")} after ${t.minLaunches} launches: ${t.action}` : "no thresholds";
}

function stageRow(values = {}) {
  const input = (name, label, value, step) => h("input", { type: "number", min: 0, step, name, value: value ?? "", "aria-label": label, class: "narrow" });
  const row = h("div", { class: "stage-row" },
    input("percentage", "Stage percentage", values.percentage, 1),
    input("minDevices", "Minimum devices that launched", values.minDevices ?? 0, 1),
    input("minDurationMinutes", "Minimum minutes at this stage", values.minDurationMinutes ?? 30, "any"));
  const remove = h("button", { type: "button", class: "ghost small", "aria-label": "Remove this stage" }, "Remove");
  remove.addEventListener("click", () => row.remove());
  row.append(remove);
  return row;
}

function policyForm(ctx) {
  const name = h("input", { name: "name", required: true, placeholder: "e.g. Safe production rollout" });
  const stages = h("div", { class: "stages" },
    h("div", { class: "stage-row stage-head", "aria-hidden": "true" }, h("span", {}, "Percent"), h("span", {}, "Min devices"), h("span", {}, "Min minutes")),
    stageRow({ percentage: 10 }), stageRow({ percentage: 50 }), stageRow({ percentage: 100, minDurationMinutes: 0 }));
  const addStage = h("button", { type: "button", class: "ghost small" }, "Add a stage");
  addStage.addEventListener("click", () => stages.append(stageRow()));
  const crash = h("input", { type: "number", min: 0, max: 100, step: "any", name: "crashRate", value: 2, class: "narrow" });
  const errors = h("input", { type: "number", min: 0, max: 100, step: "any", name: "errorRate", value: 5, class: "narrow" });
  const minLaunches = h("input", { type: "number", min: 0, step: 1, name: "minLaunches", value: 50, class: "narrow" });
  const action = h("select", { name: "action" }, h("option", { value: "auto-rollback" }, "roll the channel back"),
    h("option", { value: "pause" }, "pause the rollout"));
  const submit = guard(h("button", { type: "submit", class: "primary" }, "Create policy"));
  const form = h("form", { class: "policy-form", "aria-label": "New rollout policy" },
    field("Name", name).wrap,
    h("fieldset", {}, h("legend", {}, "Stages (the rollout rises when a stage's devices and minutes are reached)"), stages, addStage),
    h("fieldset", { class: "inline-fields" }, h("legend", {}, "Thresholds (in percent of launches)"),
      field("Crash rate above", crash).wrap, field("Error rate above", errors).wrap,
      field("Judged after launches", minLaunches).wrap, field("Then", action).wrap),
    h("div", { class: "actions" }, submit));
  const number = (input) => (input.value === "" ? null : Number(input.value));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      name: name.value.trim(),
      stages: [...stages.querySelectorAll(".stage-row:not(.stage-head)")].map((row) => ({
        percentage: number(row.querySelector("[name=percentage]")),
        minDevices: number(row.querySelector("[name=minDevices]")) ?? 0,
        minDurationMinutes: number(row.querySelector("[name=minDurationMinutes]")) ?? 0,
      })),
      thresholds: { crashRate: number(crash), errorRate: number(errors), minLaunches: number(minLaunches) ?? 50, action: action.value },
    };
    const created = await attempt(() => post(appPath(ctx.slug, "/rollout-policies"), body), submit);
    if (created) {
      notify(`Policy “${created.name}” created. Use it when releasing: otabox publish --policy "${created.name}".`);
      await ctx.load();
    }
  });
  return form;
}

function policyRows(ctx, policies) {
  return policies.map((policy) => {
    const remove = guard(h("button", { type: "button", class: "ghost small", "aria-label": `Delete policy ${policy.name}` }, "Delete"));
    remove.addEventListener("click", async () => {
      if (await attempt(() => del(appPath(ctx.slug, `/rollout-policies/${policy.id}`)), remove)) {
        notify(`Policy “${policy.name}” deleted.`);
        await ctx.load();
      }
    });
    return [h("strong", {}, policy.name), describeStages(policy), describeThresholds(policy.thresholds),
      String(policy.activeExecutions), remove];
  });
}

function executionRows(ctx, executions) {
  return executions.map((execution) => [
    h("a", { href: `#/apps/${encodeURIComponent(ctx.slug)}/releases/${execution.releaseId}` }, `${execution.channel} · ${execution.bundleVersion}`),
    execution.policyName, statusBadge(execution.status), stageText(execution), formatDate(execution.updatedAt),
    executionControls(ctx.slug, execution, ctx.load),
  ]);
}

export async function rolloutsPage(view, slug) {
  const ctx = { slug };
  const policiesBox = h("div", {});
  const executionsBox = h("div", {});
  ctx.load = async () => {
    const [{ policies }, { executions }] = await Promise.all([
      get(appPath(slug, "/rollout-policies")), get(appPath(slug, "/rollout-executions?limit=50"))]);
    clear(policiesBox, table("Rollout policies", ["Name", "Stages", "Thresholds", "Active", ""], policyRows(ctx, policies),
      "No policy yet: create one below."));
    clear(executionsBox, table("Rollout executions", ["Release", "Policy", "Status", "Where", "Updated", "Controls"],
      executionRows(ctx, executions), "No release has been started under a policy yet."));
  };
  await ctx.load();
  const formId = newId("policy");
  clear(view,
    pageHeader("Rollouts", `Policies that raise a release's rollout on their own and roll it back when its health fails · ${slug}`),
    roleNote(),
    card("Executions", executionsBox),
    card("Policies", policiesBox, h("h3", { id: formId }, "New policy"), policyForm(ctx)));
}
