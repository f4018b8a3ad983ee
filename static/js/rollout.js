// A rollout execution as a panel: its stage, status, event log and the pause/resume/advance/cancel buttons.
import { appPath, post } from "./api.js";
import { badge, formatDate, h, table } from "./dom.js";
import { attempt, guard, notify } from "./ui.js";

const STATUS_TONES = { running: "ok", paused: "warn", completed: "neutral", rolled_back: "danger", cancelled: "neutral" };
const CONTROLS = [
  ["pause", "Pause", ["running"]],
  ["resume", "Resume", ["paused"]],
  ["advance", "Advance to the next stage", ["running", "paused"]],
  ["cancel", "Cancel", ["running", "paused"]],
];

export function statusBadge(status) {
  return badge(status.replace("_", " "), STATUS_TONES[status] || "neutral");
}

export function stageText(execution) {
  return `stage ${execution.stage}${execution.stages ? ` of ${execution.stages}` : ""} · ${execution.percentage}%`;
}

/** Buttons for what the execution's status allows; `after(updated)` runs once a control succeeded. */
export function executionControls(slug, execution, after) {
  return h("div", { class: "actions execution-controls" }, CONTROLS
    .filter(([, , allowed]) => allowed.includes(execution.status))
    .map(([verb, label]) => {
      const button = guard(h("button", { type: "button", class: verb === "cancel" ? "danger small" : "secondary small",
        "aria-label": `${label} (execution ${execution.id})` }, label));
      button.addEventListener("click", async () => {
        const updated = await attempt(() => post(appPath(slug, `/rollout-executions/${execution.id}/${verb}`)), button);
        if (updated) {
          notify(`Execution ${updated.id}: ${updated.status.replace("_", " ")}, ${stageText(updated)}.`);
          await after(updated);
        }
      });
      return button;
    }));
}

export function executionPanel(slug, execution, after) {
  const rows = (execution.events || []).slice().reverse().map((event) => [
    formatDate(event.at), event.kind.replace("_", " "), `${event.stage} · ${event.percentage}%`, event.actor,
    Object.keys(event.details || {}).length ? h("code", { class: "details" }, JSON.stringify(event.details)) : "—",
  ]);
  return h("div", { class: "execution" },
    h("p", { class: "execution-head" }, statusBadge(execution.status), " ",
      h("strong", {}, `Policy “${execution.policyName}”`), " ", h("span", { class: "muted" },
        `${stageText(execution)} · stage since ${formatDate(execution.stageStartedAt)}`)),
    executionControls(slug, execution, after),
    table(`Events of execution ${execution.id}`, ["When", "What", "Stage", "By", "Details"], rows));
}
