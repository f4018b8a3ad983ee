// Entry point: sign-in, navigation and the hash router (#/apps, #/apps/<slug>, #/apps/<slug>/devices,
// #/apps/<slug>/rollouts, #/apps/<slug>/releases/<id>, #/webhooks, #/audit, #/keys).
import { get } from "./api.js";
import { clear, h } from "./dom.js";
import { learnRole, saveKey, session, signOut } from "./session.js";
import { clearNotices, notify } from "./ui.js";
import { appsPage } from "./pages/apps.js";
import { appPage } from "./pages/app.js";
import { devicesPage } from "./pages/devices.js";
import { auditPage } from "./pages/audit.js";
import { keysPage } from "./pages/keys.js";
import { releasePage } from "./pages/release.js";
import { rolloutsPage } from "./pages/rollouts.js";
import { webhooksPage } from "./pages/webhooks.js";
import { signInPage } from "./pages/signin.js";

const ROUTES = [
  [/^#\/apps\/?$/, appsPage],
  [/^#\/apps\/([^/]+)\/devices\/?$/, devicesPage],
  [/^#\/apps\/([^/]+)\/rollouts\/?$/, rolloutsPage],
  [/^#\/apps\/([^/]+)\/releases\/(\d+)\/?$/, releasePage],
  [/^#\/apps\/([^/]+)\/?$/, appPage],
  [/^#\/webhooks\/?$/, webhooksPage],
  [/^#\/audit\/?$/, auditPage],
  [/^#\/keys\/?$/, keysPage],
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
      item(`${base}/devices`, "Devices", true), item(`${base}/rollouts`, "Rollouts", true)] : null,
    item("#/webhooks", "Webhooks"),
    item("#/audit", "Audit log"),
    item("#/keys", "API keys")));
  const out = h("button", { type: "button", class: "ghost small" }, "Sign out");
  out.addEventListener("click", () => {
    signOut();
    route();
  });
  clear(document.getElementById("session"),
    h("span", { class: "role" }, `${session.role} key${session.scoped ? " (one app)" : ""}`), out);
}

async function signIn(key) {
  saveKey(key);
  try {
    await get("/api/v1/apps");
    await learnRole(get);
  } catch (err) {
    signOut();
    throw err;
  }
}

export async function route() {
  clearNotices();
  if (!session.key) {
    renderNav();
    signInPage(view(), async (key) => {
      await signIn(key);
      await route();
    });
    return;
  }
  if (!session.role) {
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
