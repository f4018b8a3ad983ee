// Access tokens of the signed-in user: for the otabox CLI, CI and the code-push CLI. A token is shown
// once when it is made; it never has more rights than its maker, and it expires.
import { del, get, post } from "../api.js";
import { clear, field, formatDate, h, newId, table, timeAgo } from "../dom.js";
import { session } from "../session.js";
import { attempt, card, copyButton, notify, openDialog, pageHeader } from "../ui.js";

const DAY = 24 * 3600 * 1000;
const LIFETIMES = [["1 day", DAY], ["7 days", 7 * DAY], ["30 days", 30 * DAY], ["60 days", 60 * DAY], ["90 days", 90 * DAY],
  ["1 year", 365 * DAY]];
const ROLES = ["admin", "publisher", "reader"];

function appsText(token) {
  return token.appSlugs ? token.appSlugs.join(", ") || "none" : "all its owner's";
}

function revoke(token, reload) {
  openDialog({
    title: `Revoke ${token.friendlyName}?`,
    submitLabel: "Revoke",
    tone: "danger",
    build: () => [h("p", {}, "Anything still using this token gets 401 from now on.",
      token.current ? " It is the token this page signed in with: you will be signed out." : "")],
    submit: async () => {
      await del(`/api/v1/auth/tokens/${encodeURIComponent(token.friendlyName)}`);
      if (token.current) {
        location.reload(); // the key lived in this page only: back to the sign-in page
        return;
      }
      notify(`Token ${token.friendlyName} revoked.`);
      await reload();
    },
  });
}

function tokenRows(tokens, reload) {
  return tokens.map((token) => {
    const button = h("button", { type: "button", class: "ghost small", "aria-label": `Revoke ${token.friendlyName}` }, "Revoke");
    button.addEventListener("click", () => revoke(token, reload));
    return [h("strong", {}, token.friendlyName, token.current ? " (this page)" : ""), token.role, appsText(token),
      formatDate(token.createdAt), token.expiresAt ? formatDate(token.expiresAt) : "never", timeAgo(token.lastUsedAt), button];
  });
}

function shownOnce(made) {
  return card(`Token ${made.friendlyName}`,
    h("p", { class: "role-note" }, "Copy it now: it is not shown again."),
    h("p", {}, h("code", { class: "secret" }, made.accessToken), " ", copyButton(made.accessToken, "Access token")),
    h("p", { class: "muted small" }, "Use it as a bearer key: OTABOX_KEY for otabox publish, or code-push-standalone login ",
      location.origin, " --accessKey <token>."));
}

function createForm(apps, onCreated) {
  const name = h("input", { name: "friendlyName", required: true, autocomplete: "off", placeholder: "ci" });
  const lifetime = h("select", { name: "ttl" }, LIFETIMES.map(([label, ms]) => h("option", { value: ms, selected: ms === 60 * DAY }, label)));
  const cap = session.via === "session" ? "admin" : session.tokenRole;
  const role = h("select", { name: "role" }, ROLES.slice(ROLES.indexOf(cap)).map((r) => h("option", { value: r }, r)));
  const boxes = apps.map((app) => ({ app, input: h("input", { type: "checkbox", id: newId(), value: app.id }) }));
  const submit = h("button", { type: "submit", class: "primary" }, "Create token");
  const form = h("form", { class: "form-grid", "aria-label": "Create an access token" },
    field("Name", name, "Unique among your tokens, e.g. the machine or pipeline that uses it.").wrap,
    field("Expires in", lifetime).wrap,
    field("Role", role, "At most: the token never does more than you may, on the apps you may.").wrap,
    h("fieldset", {}, h("legend", {}, "Limit to apps (none ticked: every app you can reach)"),
      boxes.map(({ app, input }) => h("label", { class: "check", for: input.id }, input, ` ${app.slug}`))),
    h("div", { class: "field field-button" }, submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const appIds = boxes.filter((b) => b.input.checked).map((b) => b.app.id);
    const made = await attempt(() => post("/api/v1/auth/tokens", {
      friendlyName: name.value.trim(), ttl: Number(lifetime.value), role: role.value, ...(appIds.length ? { appIds } : {}),
    }), submit);
    if (made) {
      name.value = "";
      boxes.forEach((b) => { b.input.checked = false; });
      await onCreated(made);
    }
  });
  return form;
}

export async function tokensPage(view) {
  const [{ apps }, listing] = await Promise.all([get("/api/v1/apps"), get("/api/v1/auth/tokens")]);
  const list = h("div", {});
  const created = h("div", {});
  const headers = ["Name", "Role", "Apps", "Created", "Expires", "Last used", ""];
  const show = (tokens) => clear(list, table("Access tokens", headers, tokenRows(tokens, reload), "No tokens yet."));
  async function reload() {
    show((await get("/api/v1/auth/tokens")).tokens);
  }
  show(listing.tokens);
  clear(view,
    pageHeader("Access tokens", `Tokens of ${session.name}, for the CLI, CI and the code-push CLI.`),
    created,
    card("Your tokens", list),
    card("Create a token", createForm(apps, async (made) => {
      clear(created, shownOnce(made));
      await reload();
    })));
}
