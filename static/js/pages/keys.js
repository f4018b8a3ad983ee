// API keys are managed from the CLI only; this page says how.
import { clear, h } from "../dom.js";
import { card, pageHeader, snippet } from "../ui.js";

export function keysPage(view) {
  clear(view,
    pageHeader("API keys", "Keys are managed from the command line on the server, never from the dashboard."),
    card("Manage keys with the CLI",
      h("p", {}, "A key is shown once when it is created; only its hash is stored. Roles: ",
        h("strong", {}, "admin"), " (everything), ", h("strong", {}, "publisher"), " (upload, release, roll back, pin devices), ",
        h("strong", {}, "reader"), " (read only). Add --app SLUG to limit a key to one app."),
      snippet("Create, list and revoke keys", [
        "otabox keys create --name ci --role publisher --app com.example.app",
        "otabox keys list",
        "otabox keys revoke ci",
      ].join("\n"))));
}
