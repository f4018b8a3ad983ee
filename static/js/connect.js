// The snippets a developer pastes into an app to point it at this server, one per client protocol.
import { h } from "./dom.js";
import { copyButton, snippet } from "./ui.js";

export function capacitorSnippet(origin, app) {
  return JSON.stringify({
    appId: app.slug,
    plugins: {
      CapacitorUpdater: {
        updateUrl: `${origin}/capgo/updates`,
        statsUrl: `${origin}/capgo/stats`,
        channelUrl: `${origin}/capgo/channel_self`,
        defaultChannel: "production",
      },
    },
  }, null, 2);
}

export function expoSnippet(origin, app, channel = "production") {
  return JSON.stringify({
    expo: {
      updates: {
        url: `${origin}/expo/${app.slug}/manifest`,
        requestHeaders: { "expo-channel-name": channel },
      },
      runtimeVersion: { policy: "appVersion" },
    },
  }, null, 2);
}

export function codePushSnippet(origin, channel) {
  return [
    `<!-- iOS Info.plist (${channel.name}) -->`,
    `<key>CodePushServerURL</key><string>${origin}</string>`,
    `<key>CodePushDeploymentKey</key><string>${channel.deploymentKey}</string>`,
    "",
    `<!-- Android res/values/strings.xml (${channel.name}) -->`,
    `<string moduleConfig="true" name="CodePushServerUrl">${origin}</string>`,
    `<string moduleConfig="true" name="CodePushDeploymentKey">${channel.deploymentKey}</string>`,
  ].join("\n");
}

/** The "connect your app" panel: client key, Capacitor, CodePush per channel, Expo. */
export function connectPanel(app, channels) {
  const origin = location.origin;
  return h("div", { class: "connect" },
    h("div", { class: "keyline" },
      h("span", { class: "label" }, "Client key"),
      h("code", { class: "key" }, app.clientKey),
      copyButton(app.clientKey, "Client key")),
    h("p", { class: "hint" }, "The client key identifies the app to the native check endpoint (header X-Client-Key). It is public: it ships inside the app."),
    h("div", { class: "snippets" },
      snippet("Capacitor — capacitor.config.json (appId must equal the app slug)", capacitorSnippet(origin, app)),
      channels.map((channel) => snippet(`CodePush — ${channel.name} deployment`, codePushSnippet(origin, channel))),
      snippet("Expo — app.json", expoSnippet(origin, app))));
}
