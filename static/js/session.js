// The signed-in API key (sessionStorage, so it goes when the tab closes) and what its role may do.

const STORAGE_KEY = "otabox.apiKey";
const RANK = { reader: 0, publisher: 1, admin: 2 };

export const session = {
  key: sessionStorage.getItem(STORAGE_KEY) || "",
  role: null,
  scoped: false,
};

export function saveKey(key) {
  session.key = key;
  sessionStorage.setItem(STORAGE_KEY, key);
}

export function signOut() {
  session.key = "";
  session.role = null;
  session.scoped = false;
  sessionStorage.removeItem(STORAGE_KEY);
}

/** True when the signed-in key has at least `role`. */
export function can(role) {
  return session.role !== null && RANK[session.role] >= RANK[role];
}

/**
 * Learn the key's role from the admin-only audit log: 200 means admin; a 403 for the role names the
 * key's role in details.role; a 403 without it means an admin key limited to one app.
 */
export async function learnRole(get) {
  const me = await get("/api/v1/me");
  session.role = me.role;
  session.scoped = me.appId !== null;
  return session.role;
}
