// Apps: the list, and creating one (then showing how to connect it).
import { get, post } from "../api.js";
import { badge, clear, field, formatDate, h, table } from "../dom.js";
import { connectPanel } from "../connect.js";
import { attempt, card, guard, notify, pageHeader, roleNote } from "../ui.js";

const APP_COLUMNS = ["Name", "Slug", "Production", "Devices (30 days)", "Created"];

function production(release) {
  if (!release) return h("span", { class: "muted" }, "no release");
  if (release.kind === "builtin") return h("span", {}, "builtin ", h("span", { class: "muted" }, release.label));
  return h("span", {}, h("strong", {}, release.bundleVersion), " ",
    badge(`${release.rollout}%`, release.rollout < 100 ? "warn" : "ok"), h("span", { class: "muted" }, release.label));
}

function appRows(apps) {
  return apps.map((app) => [
    h("a", { href: `#/apps/${encodeURIComponent(app.slug)}`, class: "strong" }, app.name),
    h("code", {}, app.slug),
    production(app.productionRelease),
    h("a", { href: `#/apps/${encodeURIComponent(app.slug)}/devices`, title: "Devices that checked for updates in the last 30 days" },
      String(app.devicesLast30Days)),
    formatDate(app.createdAt),
  ]);
}

function createForm(onCreated) {
  const slug = h("input", { name: "slug", required: true, placeholder: "com.example.app", autocomplete: "off", spellcheck: "false" });
  const name = h("input", { name: "name", placeholder: "Example", autocomplete: "off" });
  const submit = guard(h("button", { type: "submit", class: "primary" }, "Create app"), "admin");
  const form = h("form", { class: "inline-form", "aria-label": "Create an app" },
    field("Slug", slug, "Reverse-DNS, the same as the app's bundle id (Capacitor appId).").wrap,
    field("Name", name).wrap,
    h("div", { class: "field field-button" }, h("span", { class: "label-spacer", "aria-hidden": "true" }, "\u00a0"), submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const created = await attempt(() => post("/api/v1/apps", { slug: slug.value.trim(), name: name.value.trim() || undefined }), submit);
    if (created) {
      form.reset();
      notify(`App ${created.slug} created with channels production and staging.`);
      await onCreated(created);
    }
  });
  return form;
}

function appsHeader(apps) {
  return pageHeader("Apps", `${apps.length} app${apps.length === 1 ? "" : "s"} on this server`);
}

export async function appsPage(view) {
  const { apps } = await get("/api/v1/apps");
  let header = appsHeader(apps);
  const list = h("div", {}, table("Apps", APP_COLUMNS, appRows(apps),
    "No apps yet. Create the first one below."));
  const created = h("div", {});
  const refresh = async (app) => {
    const [{ apps: all }, detail] = await Promise.all([get("/api/v1/apps"), get(`/api/v1/apps/${encodeURIComponent(app.slug)}`)]);
    clear(list, table("Apps", APP_COLUMNS, appRows(all)));
    const fresh = appsHeader(all);
    header.replaceWith(fresh);
    header = fresh;
    clear(created, card(`Connect ${detail.name}`,
      h("p", {}, "Paste these into the app. ", h("a", { href: `#/apps/${encodeURIComponent(detail.slug)}` }, "Open the app"), " to upload and release a bundle."),
      connectPanel(detail, detail.channels)));
  };
  clear(view,
    header,
    roleNote("admin"),
    card("All apps", list),
    card("Create an app", createForm(refresh)),
    created);
}
