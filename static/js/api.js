// The REST client: the session's credentials (cookie and CSRF token, or a bearer key), JSON in and out,
// and the server's error message on failure.
import { authHeaders } from "./session.js";

export class ApiError extends Error {
  constructor(status, code, message, details = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

function errorFrom(status, statusText, text) {
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  const error = body && body.error;
  if (error && error.message) return new ApiError(status, error.code, error.message, error.details || {});
  return new ApiError(status, `http_${status}`, `The server answered ${status} ${statusText || ""}`.trim());
}

export async function api(method, path, body) {
  const headers = { ...authHeaders(method), Accept: "application/json" };
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, "network", `The server could not be reached (${err.message}).`);
  }
  const text = await response.text();
  if (!response.ok) throw errorFrom(response.status, response.statusText, text);
  return text ? JSON.parse(text) : null;
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body);
export const patch = (path, body) => api("PATCH", path, body);
export const put = (path, body) => api("PUT", path, body);
export const del = (path) => api("DELETE", path);

/** Send a body with XMLHttpRequest, which (unlike fetch) reports upload progress; `bearer` sends the
 * signed-in credentials (signed upload URLs need none). */
export function sendWithProgress(method, url, body, { bearer = false, onProgress } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    if (bearer) Object.entries(authHeaders(method)).forEach(([name, value]) => xhr.setRequestHeader(name, value));
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable && onProgress) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve(xhr.responseText ? JSON.parse(xhr.responseText) : null);
      } else {
        reject(errorFrom(xhr.status, xhr.statusText, xhr.responseText));
      }
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, "network", "The upload was interrupted: the server could not be reached.")));
    xhr.addEventListener("abort", () => reject(new ApiError(0, "aborted", "The upload was cancelled.")));
    xhr.send(body);
  });
}

export const appPath = (app, rest = "") => `/api/v1/apps/${encodeURIComponent(app)}${rest}`;
