// Shared pieces of the page: notices (errors and successes), dialogs, copy buttons, read-only guards.
import { h, newId } from "./dom.js";
import { can, session } from "./session.js";

const notices = () => document.getElementById("notices");

/** Show a message at the top of the page; errors stay until dismissed or until something succeeds,
 * successes fade after a while. */
export function notify(message, tone = "success") {
  if (tone !== "error") clearErrors();
  const close = h("button", { class: "ghost small", type: "button", "aria-label": "Dismiss message" }, "×");
  const node = h("div", { class: `notice notice-${tone}`, role: tone === "error" ? "alert" : "status" },
    h("span", {}, message), close);
  close.addEventListener("click", () => node.remove());
  notices().append(node);
  if (tone !== "error") setTimeout(() => node.remove(), 6000);
  return node;
}

export function clearNotices() {
  notices().replaceChildren();
}

/** Remove error notices: once an action succeeds, an earlier failure is no longer the news. */
export function clearErrors() {
  for (const node of notices().querySelectorAll(".notice-error")) node.remove();
}

/** Run an action; show the server's error message if it fails. Returns the result or undefined. */
export async function attempt(action, button) {
  if (button) button.disabled = true;
  try {
    const result = await action();
    clearErrors();
    return result;
  } catch (err) {
    notify(err.message || String(err), "error");
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

const ROLE_NOTES = {
  publisher: "Read-only: this key has the reader role. Ask an admin for a publisher key to upload, release or roll back.",
  admin: "Only an admin key (not limited to one app) can do this.",
};

/** Disable a control the signed-in key may not use, with a note why (also read by screen readers). */
export function guard(control, role = "publisher") {
  const allowed = can(role) && !(role === "admin" && session.scoped);
  if (!allowed) {
    control.disabled = true;
    control.title = ROLE_NOTES[role];
    control.classList.add("locked");
    control.setAttribute("aria-describedby", "role-note");
  }
  return control;
}

/** A visible note for pages where the key can change nothing (guard() points at its id). */
export function roleNote(role = "publisher") {
  const allowed = can(role) && !(role === "admin" && session.scoped);
  if (allowed) return null;
  return h("p", { class: "role-note", id: "role-note" }, ROLE_NOTES[role]);
}

export function copyButton(text, label = "Copy") {
  const button = h("button", { type: "button", class: "ghost small copy", "aria-label": `${label}: copy to clipboard` }, "Copy");
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(typeof text === "function" ? text() : text);
      button.textContent = "Copied";
      setTimeout(() => { button.textContent = "Copy"; }, 1500);
    } catch {
      notify("The browser did not allow copying; select the text and copy it by hand.", "error");
    }
  });
  return button;
}

/** A block of code with a copy button. */
export function snippet(title, code) {
  const id = newId("code");
  return h("figure", { class: "snippet" },
    h("figcaption", {}, h("span", { id }, title), copyButton(code, title)),
    h("pre", { "aria-labelledby": id, tabindex: "0" }, h("code", {}, code)));
}

/**
 * A modal dialog with a form. `build(form)` returns the fields; `submit(form)` runs on confirm and
 * keeps the dialog open (with the error shown) when it throws.
 */
export function openDialog({ title, build, submitLabel = "Confirm", tone = "primary", submit }) {
  const heading = newId("dlg");
  const error = h("p", { class: "form-error", role: "alert" });
  const confirm = h("button", { type: "submit", class: tone }, submitLabel);
  const cancel = h("button", { type: "button", class: "ghost" }, "Cancel");
  const form = h("form", { class: "dialog-form", novalidate: true });
  const dialog = h("dialog", { "aria-labelledby": heading },
    h("h2", { id: heading }, title), form);
  form.append(...[].concat(build(form)), error, h("div", { class: "actions" }, cancel, confirm));
  cancel.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => dialog.remove());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    confirm.disabled = true;
    try {
      await submit(form);
      dialog.close();
    } catch (err) {
      error.textContent = err.message || String(err);
    } finally {
      confirm.disabled = false;
    }
  });
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}

export function pageHeader(title, subtitle, ...actions) {
  return h("div", { class: "page-header" },
    h("div", {}, h("h1", {}, title), subtitle ? h("p", { class: "muted" }, subtitle) : null),
    actions.length ? h("div", { class: "header-actions" }, actions) : null);
}

export function card(title, ...children) {
  const id = newId("card");
  return h("section", { class: "card", "aria-labelledby": id }, h("h2", { id }, title), children);
}
