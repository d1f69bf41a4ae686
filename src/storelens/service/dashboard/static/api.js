// SPDX-License-Identifier: AGPL-3.0-or-later
// The one way the dashboard talks to the storelens API.
//
// Every request goes through `api()` so that authentication (issue 9: cookie sessions with a
// double-submit CSRF token) needs no change anywhere else: credentials are same-origin only, the
// CSRF token is read from its cookie and sent as X-CSRF-Token, and a 401 sends the user to /login
// (coming back to this page afterwards). Failures become an ApiError with the HTTP status
// (0 = the server could not be reached) and the server's own message.

export const API = "/api/v1";

/** Cookie names of the CSRF token: "__Host-" prefixed when the session cookie is Secure. */
const CSRF_COOKIES = ["__Host-storelens_csrf", "storelens_csrf"];

export class ApiError extends Error {
  constructor(status, detail, path, body = null) {
    super(status === 0 ? detail : `${detail} (HTTP ${status})`);
    this.name = "ApiError";
    this.status = status;
    this.detail = detail;
    this.path = path;
    this.body = body; // the parsed error body: a 422's detail list locates each problem
  }

  /** The service is down or overloaded (retry later), as opposed to a request it refused. */
  get outage() {
    return this.status === 0 || this.status === 502 || this.status === 503 || this.status === 504;
  }
}

export function readCookie(name) {
  for (const part of document.cookie ? document.cookie.split(";") : []) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return part.slice(eq + 1).trim();
      }
    }
  }
  return null;
}

export function csrfToken() {
  for (const name of CSRF_COOKIES) {
    const value = readCookie(name);
    if (value) return value;
  }
  return null;
}

/** "?a=1&type=x&type=y" from an object; arrays repeat the key, null/undefined/"" are left out. */
export function query(params = {}) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (v === null || v === undefined || v === "") continue;
      q.append(key, v instanceof Date ? v.toISOString() : String(v));
    }
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

/** Only same-site paths are followed after signing in (no open redirect through ?next=). */
export function safeNext(next) {
  if (typeof next !== "string" || !next.startsWith("/") || next.startsWith("//") || next.includes("\\")) {
    return "/";
  }
  return next.startsWith("/login") ? "/" : next;
}

let redirecting = false;

export function redirectToLogin() {
  if (redirecting || location.pathname === "/login") return;
  redirecting = true;
  const next = safeNext(location.pathname + location.search);
  location.assign(`/login${query({ next })}`);
}

function errorDetail(body, fallback) {
  if (body && typeof body.detail === "string") return body.detail;
  if (body && Array.isArray(body.detail)) {
    const msgs = body.detail.map((d) => (d && typeof d.msg === "string" ? d.msg : JSON.stringify(d)));
    return msgs.join("; ");
  }
  return fallback;
}

/**
 * Call the API. `as` is "json" (default) or "blob" (images). Resolves to the parsed body
 * (null for 204) or rejects with ApiError; a 401 also starts the redirect to /login.
 */
export async function api(path, { method = "GET", body, as = "json", signal } = {}) {
  const headers = { Accept: as === "json" ? "application/json" : "*/*" };
  const token = csrfToken();
  if (token) headers["X-CSRF-Token"] = token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(API + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
      signal,
    });
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    throw new ApiError(0, "cannot reach the storelens API", path);
  }
  if (response.status === 401) {
    redirectToLogin();
    throw new ApiError(401, "sign-in required", path);
  }
  if (!response.ok) {
    let parsed = null;
    try {
      parsed = await response.json();
    } catch {
      // not JSON (a proxy's error page): the status line says enough
    }
    const detail = errorDetail(parsed, response.statusText || "request failed");
    throw new ApiError(response.status, detail, path, parsed);
  }
  if (response.status === 204) return null;
  return as === "blob" ? response.blob() : response.json();
}

/** ws:// or wss:// URL of the live stream on this origin. */
export function streamUrl(params = {}) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${API}/stream${query(params)}`;
}
