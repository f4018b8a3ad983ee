// Sign-in: email and password (a session cookie the page never sees), or an API key or access token
// pasted for this page only (kept in memory: reloading the page signs out).
import { clear, field, h } from "../dom.js";

/** A form that runs `action(values)` on submit and shows its error under the fields. */
function signInForm(label, fields, buttonText, action) {
  const error = h("p", { class: "form-error", role: "alert" });
  const submit = h("button", { type: "submit", class: "primary" }, buttonText);
  const form = h("form", { "aria-label": label }, fields.map((f) => f.wrap), error, h("div", { class: "actions" }, submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const empty = fields.find((f) => !f.input.value.trim());
    if (empty) {
      error.textContent = `Enter ${empty.wrap.querySelector("label").textContent.toLowerCase()}.`;
      empty.input.focus();
      return;
    }
    submit.disabled = true;
    try {
      await action(fields.map((f) => f.input.value.trim()));
    } catch (err) {
      error.textContent = err.message;
      fields[fields.length - 1].input.focus();
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

/** `signIn({email, password})` or `signIn({key})`; both throw the server's message on failure. */
export function signInPage(view, signIn) {
  const email = field("Email", h("input", { type: "email", name: "email", autocomplete: "username", required: true, spellcheck: "false" }));
  const password = field("Password", h("input", { type: "password", name: "password", autocomplete: "current-password", required: true }));
  const key = field("API key", h("input", { type: "password", name: "key", autocomplete: "off", spellcheck: "false", placeholder: "otabox_sk_… or otabox_at_…" }),
    "For scripts and admins without an account (otabox keys create --name me --role admin). Kept in this page only: reloading signs out.");
  const people = signInForm("Account sign-in", [email, password], "Sign in",
    ([address, secret]) => signIn({ email: address, password: secret }));
  const withKey = signInForm("Key sign-in", [key], "Use this key", ([value]) => signIn({ key: value }));
  clear(view, h("div", { class: "signin-wrap" },
    h("section", { class: "signin card", "aria-labelledby": "signin-title" },
      h("h1", { id: "signin-title" }, "Sign in to otabox"),
      h("p", { class: "muted" }, "An admin creates your account with: otabox users create --email you@example.com --role member"),
      people,
      h("details", { class: "signin-key" }, h("summary", {}, "Use an API key or access token instead"), withKey))));
  email.input.focus();
}
