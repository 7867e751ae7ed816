// The page never holds a token: flask-jwt-extended's HttpOnly cookies carry them.
import { createSocket, formatStatus } from "/static/vendor/flask-realtime-client/index.js";

function cookie(name) {
  const hit = document.cookie.split("; ").find((c) => c.startsWith(name + "="));
  return hit ? decodeURIComponent(hit.slice(name.length + 1)) : "";
}

async function post(path, headers = {}) {
  const r = await fetch(path, { method: "POST", credentials: "same-origin", headers });
  if (!r.ok) {
    const err = new Error(`${path}: ${r.status}`);
    if (r.status === 401) err.code = "token_revoked"; // the refresh cookie is gone: sign in again
    throw err;
  }
  return r.json();
}

export async function login(name, password) {
  const r = await fetch("/api/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ name, password }),
  });
  return r.ok;
}

export function start() {
  return createSocket({
    tokenInCookie: true,
    // The refresh cookie plus the CSRF value its readable companion cookie holds (double submit).
    refreshToken: () => post("/api/refresh", { "X-CSRF-TOKEN": cookie("csrf_refresh_token") }),
    onStatus: (s) => {
      document.getElementById("status").textContent = formatStatus(s);
    },
    onEvent: (name, payload) => {
      if (name === "session") document.getElementById("identity").textContent = payload.user.id;
    },
  });
}

export function logout() {
  return post("/api/logout", { "X-CSRF-TOKEN": cookie("csrf_access_token") });
}

window.cookieDemo = { login, start, logout };
