// Sign-in with an API key (kept in sessionStorage for this tab only).
import { clear, field, h } from "../dom.js";

export function signInPage(view, signIn) {
  const key = h("input", { type: "password", name: "key", autocomplete: "off", required: true, spellcheck: "false", placeholder: "otabox_sk_…" });
  const error = h("p", { class: "form-error", role: "alert" });
  const submit = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h("form", { class: "signin card", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "Sign in to otabox"),
    h("p", { class: "muted" }, "Paste an API key. It is kept in this browser tab only and sent as a bearer token."),
    field("API key", key, "Create one on the server with: otabox keys create --name me --role admin").wrap,
    error, h("div", { class: "actions" }, submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    if (!key.value.trim()) {
      error.textContent = "Enter an API key.";
      key.focus();
      return;
    }
    submit.disabled = true;
    try {
      await signIn(key.value.trim());
    } catch (err) {
      error.textContent = err.message;
      key.focus();
    } finally {
      submit.disabled = false;
    }
  });
  clear(view, h("div", { class: "signin-wrap" }, form));
  key.focus();
}
