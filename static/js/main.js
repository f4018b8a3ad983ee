// Entry point: sign-in, navigation and the hash router (#/apps, #/apps/<slug>, #/apps/<slug>/devices,
// #/apps/<slug>/flags[/<id>], #/apps/<slug>/rollouts, #/apps/<slug>/releases/<id>, #/webhooks, #/audit,
// #/keys, #/tokens).
import { del, get, post } from "./api.js";
import { clear, h } from "./dom.js";
import { forgetSessionHint, learnRole, mightHaveSession, session, signOut, useCookie, useKey } from "./session.js";
import { clearNotices, notify } from "./ui.js";
import { appsPage } from "./pages/apps.js";
import { appPage } from "./pages/app.js";
import { devicesPage } from "./pages/devices.js";
import { flagPage, flagsPage } from "./pages/flags.js";
import { auditPage } from "./pages/audit.js";
import { keysPage } from "./pages/keys.js";
import { releasePage } from "./pages/release.js";
import { rolloutsPage } from "./pages/rollouts.js";
import { webhooksPage } from "./pages/webhooks.js";
import { signInPage } from "./pages/signin.js";
import { tokensPage } from "./pages/tokens.js";

const ROUTES = [
  [/^#\/apps\/?$/, appsPage],
  [/^#\/apps\/([^/]+)\/devices\/?$/, devicesPage],
  [/^#\/apps\/([^/]+)\/flags\/?$/, flagsPage],
  [/^#\/apps\/([^/]+)\/flags\/(\d+)\/?$/, flagPage],
  [/^#\/apps\/([^/]+)\/rollouts\/?$/, rolloutsPage],
  [/^#\/apps\/([^/]+)\/releases\/(\d+)\/?$/, releasePage],
  [/^#\/apps\/([^/]+)\/?$/, appPage],
  [/^#\/webhooks\/?$/, webhooksPage],
  [/^#\/audit\/?$/, auditPage],
  [/^#\/keys\/?$/, keysPage],
  [/^#\/tokens\/?$/, tokensPage],
];

const view = () => document.getElementById("view");
/** Counts page visits, so a slow page that finishes after the user moved on is not shown. */
let navigation = 0;

function currentApp() {
  const match = location.hash.match(/^#\/apps\/([^/]+)/);
  return match ? decodeURIComponent(match[1]) : null;
}

function navLink(href, label) {
  const active = location.hash === href;
  return h("a", { href, class: active ? "active" : null, "aria-current": active ? "page" : null }, label);
}

function renderNav() {
  const nav = document.getElementById("nav");
  const slug = currentApp();
  document.body.classList.toggle("signed-out", !session.role);
  if (!session.role) {
    clear(nav);
    clear(document.getElementById("session"));
    return;
  }
  const item = (href, label, nested) => h("li", { class: nested ? "nested" : null }, navLink(href, label));
  const base = slug ? `#/apps/${encodeURIComponent(slug)}` : null;
  clear(nav, h("ul", {},
    item("#/apps", "Apps"),
    slug ? [h("li", { class: "nav-group", title: slug }, slug), item(base, "Overview", true),
      item(`${base}/devices`, "Devices", true), item(`${base}/flags`, "Flags", true),
      item(`${base}/rollouts`, "Rollouts", true)] : null,
    item("#/webhooks", "Webhooks"),
    item("#/audit", "Audit log"),
    item("#/tokens", "Access tokens"),
    item("#/keys", "API keys")));
  const out = h("button", { type: "button", class: "ghost small" }, "Sign out");
  out.addEventListener("click", async () => {
    if (session.mode === "cookie") {
      try {
        await del("/api/v1/session");
      } catch (err) {
        notify(err.message, "error");
      }
    }
    signOut();
    route();
  });
  const who = session.via === "session" ? h("span", { class: "person", title: session.name }, session.name)
    : h("span", { class: "role", title: session.name }, `${session.topRole} ${session.via}${session.apps ? " (some apps)" : ""}`);
  clear(document.getElementById("session"), who, out);
}

/** `{email, password}` signs in with a session cookie; `{key}` uses a key for this page only. */
async function signIn({ email, password, key }) {
  try {
    if (key) {
      useKey(key);
    } else {
      useCookie((await post("/api/v1/session", { email, password })).csrfToken);
    }
    await learnRole(get);
  } catch (err) {
    signOut();
    throw err;
  }
}

/** After a reload: pick up the session cookie, if the browser holds one, and its CSRF token again. */
async function resumeSession() {
  try {
    useCookie((await get("/api/v1/session")).csrfToken);
  } catch {
    forgetSessionHint();
    signOut();
  }
}

export async function route() {
  clearNotices();
  if (!session.mode && mightHaveSession()) await resumeSession();
  if (!session.mode) {
    renderNav();
    signInPage(view(), async (credentials) => {
      await signIn(credentials);
      await route();
    });
    return;
  }
  if (!session.topRole) {
    try {
      await learnRole(get);
    } catch (err) {
      signOut();
      await route();
      notify(err.message, "error");
      return;
    }
  }
  if (!ROUTES.some(([pattern]) => pattern.test(location.hash))) {
    location.replace("#/apps");
    return;
  }
  renderNav();
  const [pattern, page] = ROUTES.find(([candidate]) => candidate.test(location.hash));
  const visit = ++navigation;
  clear(view(), h("p", { class: "muted" }, "Loading…"));
  const container = h("div", {});
  try {
    await page(container, ...location.hash.match(pattern).slice(1).map(decodeURIComponent));
  } catch (err) {
    clear(container, h("div", { class: "card" }, h("h1", {}, "Could not load this page"), h("p", {}, err.message)));
    notify(err.message, "error");
  }
  if (visit !== navigation) return;
  clear(view(), container);
  document.getElementById("main").focus({ preventScroll: true });
}

window.addEventListener("hashchange", route);
route();
