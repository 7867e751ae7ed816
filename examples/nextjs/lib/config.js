// Settings read from the environment when the server starts a request (not at build time),
// so one `next build` serves any backend. Server-only.

/** process.env[name] with a computed key: Next.js inlines only literal `process.env.X`. */
function env(name, fallback) {
  const value = process.env[name];
  return value && value.trim() ? value.trim().replace(/\/+$/, "") : fallback;
}

/** The Flask app's origin for the browser's socket: NEXT_PUBLIC_SOCKET_URL. */
export function socketUrl() {
  return env("NEXT_PUBLIC_SOCKET_URL", "http://127.0.0.1:5000");
}

/** The Flask REST API's origin as this server reaches it: REALTIME_API_URL (default: the socket URL). */
export function apiUrl() {
  return env("REALTIME_API_URL", socketUrl());
}
