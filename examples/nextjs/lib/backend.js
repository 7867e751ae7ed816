// The Flask REST API (/api/auth/...), called from the Next.js server only. Server-only.
import { apiUrl } from "./config";

/** An error answer of the backend: `code` is its snake_case error code. */
export class BackendError extends Error {
  constructor(code, message, status = 0) {
    super(message || code);
    this.name = "BackendError";
    this.code = code;
    this.status = status;
  }
}

// Shared with Flask (its FRONTEND_KEY): with it, Flask takes X-Client-Address as the request's
// address, so its per-address sign-in limits count each browser, not this server.
const FRONTEND_KEY = process.env.FLASK_FRONTEND_KEY || "";

async function call(path, { token, body, method = "POST", clientAddress } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  if (FRONTEND_KEY && clientAddress) {
    headers["X-Frontend-Key"] = FRONTEND_KEY;
    headers["X-Client-Address"] = clientAddress;
  }
  let resp;
  try {
    resp = await fetch(apiUrl() + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      signal: AbortSignal.timeout(10000),
    });
  } catch {
    throw new BackendError("network_error", "the backend cannot be reached");
  }
  const data = await resp.json().catch(() => null);
  if (!resp.ok) {
    const err = (data && data.error) || {};
    const code = err.code || (resp.status >= 500 ? "unavailable" : "internal_error");
    throw new BackendError(code, err.message, resp.status);
  }
  return data;
}

export const backend = {
  register: (username, password, clientAddress) =>
    call("/api/auth/register", { body: { username, password }, clientAddress }),
  /** {access_token, refresh_token, token_type, expires_in} */
  login: (username, password, clientAddress) =>
    call("/api/auth/login", { body: { username, password }, clientAddress }),
  /** {access_token, token_type, expires_in} */
  refresh: (refreshToken) => call("/api/auth/refresh", { token: refreshToken, body: {} }),
  me: (accessToken) => call("/api/auth/me", { token: accessToken, method: "GET" }),
  logout: (accessToken, everywhere = false) =>
    call("/api/auth/logout", { token: accessToken, body: { everywhere } }),
};
