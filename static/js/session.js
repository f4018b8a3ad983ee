// Who is signed in, and what they may do. Signing in with email and password gives an HttpOnly
// session cookie the page never sees; the page keeps only its CSRF token, in memory. An API key or
// access token pasted instead is kept in memory too, so it is gone when the page reloads. Nothing
// is written to localStorage or sessionStorage.

const RANK = { reader: 0, publisher: 1, admin: 2 };
const HINT_COOKIE = "otabox_signed_in=1";

/** The app whose pages are shown (#/apps/<slug>...), whose role counts for the controls there. */
function currentApp() {
  const match = location.hash.match(/^#\/apps\/([^/]+)/);
  return match ? decodeURIComponent(match[1]) : null;
}

export const session = {
  mode: null, // "cookie" (email and password) or "key" (a pasted key or token)
  key: "",
  csrf: "",
  name: "",
  via: null,
  topRole: null,
  tokenRole: null, // the role of the token or key in use (a token made with it has at most this one)
  apps: null, // null: every app; else {slug: role} for the apps it reaches
  /** The role on the app being shown, else the highest role held anywhere. */
  get role() {
    const slug = currentApp();
    if (this.apps && slug) return this.apps[slug] || null;
    return this.topRole;
  },
  /** Limited to some apps, where that matters: everywhere but an app it administers. */
  get scoped() {
    return this.apps !== null && !(currentApp() && this.apps[currentApp()] === "admin");
  },
};

export function useKey(key) {
  session.mode = "key";
  session.key = key;
}

export function useCookie(csrfToken) {
  session.mode = "cookie";
  session.csrf = csrfToken;
}

/** Whether the browser holds a session cookie worth asking the server about. */
export function mightHaveSession() {
  return document.cookie.split("; ").includes(HINT_COOKIE);
}

/** The session the hint pointed to has ended: stop asking on every page. */
export function forgetSessionHint() {
  document.cookie = `${HINT_COOKIE.split("=")[0]}=; Max-Age=0; Path=/; SameSite=Strict`;
}

export function signOut() {
  Object.assign(session, { mode: null, key: "", csrf: "", name: "", via: null, topRole: null, tokenRole: null, apps: null });
}

/** The headers that carry the credentials: the bearer key, or the CSRF token that changes made with
 * the session cookie need. */
export function authHeaders(method) {
  if (session.mode === "key") return { Authorization: `Bearer ${session.key}` };
  if (session.mode === "cookie" && method !== "GET") return { "X-CSRF-Token": session.csrf };
  return {};
}

/** True when the signed-in caller has at least `role` (on the app being shown). */
export function can(role) {
  return session.role !== null && RANK[session.role] >= RANK[role];
}

/** Learn who is calling and what it may do where, from GET /api/v1/me. */
export async function learnRole(get) {
  const me = await get("/api/v1/me");
  session.name = me.name;
  session.via = me.via;
  session.topRole = me.role;
  session.tokenRole = me.token ? me.token.role : null;
  session.apps = me.apps ? Object.fromEntries(me.apps.map((app) => [app.slug, app.role])) : null;
  return session.topRole;
}
