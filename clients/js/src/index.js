// Authenticated real-time client: a thin, framework-free layer over socket.io-client.
//
//   import { createSocket } from "flask-realtime-client";
//   const rt = createSocket({
//     getToken: () => accessToken,                 // current access token (string or Promise)
//     refreshToken: async () => newAccessToken,     // the app's POST /api/auth/refresh
//     onStatus: (s) => console.log(s.state, s.code),
//     onEvent: (name, payload) => console.log(name, payload),
//   });
//   rt.on("message", (m) => ...);
//   const ack = await rt.emitWithAck("join", { room: "lobby" });
//   rt.close();
//
// What it does (see README.md):
// - sends the token in the Socket.IO auth payload through a callback, so every
//   (re)connect carries the current token; never in the query string;
// - on `session` schedules an in-place refresh shortly before the token's exp:
//   refreshToken() then the socket `refresh` event, rescheduled from the ack;
// - reconnects by itself (socket.io's own reconnection is off) with jittered
//   exponential backoff on retryable failures and stops, saying why, on terminal ones;
// - one status model: connecting | connected | refreshing | reconnecting | stopped (+ code).
// A peer dependency, imported by its bare name: bundlers and Node resolve it from the app's
// node_modules; a page without a build step maps it with an import map.
import { io } from "socket.io-client";

/** Handshake / kick codes after which retrying cannot help: the client stops. */
export const TERMINAL_CODES = Object.freeze([
  "token_revoked",
  "user_unknown",
  "origin_forbidden",
  "wrong_token_type",
  "auth_required",
  "token_invalid",
  "identity_mismatch",
  "invalid_credentials",
]);

/** Codes after which the client retries with backoff (token_expired refreshes first). */
export const RETRYABLE_CODES = Object.freeze([
  "token_expired",
  "network_error",
  "connect_timeout",
  "rate_limited",
  "too_many_connections",
  "unavailable",
  "internal_error",
  "server_disconnect",
]);

/** Codes the server can put in a connect_error; anything else is a transport failure. */
const SERVER_CODES = new Set([...TERMINAL_CODES, ...RETRYABLE_CODES]);

const DEFAULT_BACKOFF = Object.freeze({
  initialMs: 500, // first retry delay (before jitter)
  maxMs: 15000, // cap
  factor: 2, // growth per failed attempt
  jitter: 0.5, // delay is uniformly drawn from [d*(1-jitter), d]
  maxAttempts: Infinity, // consecutive failed attempts before stopping with "gave_up"
});

/** An Error carrying a protocol `code` (and the server's `data`, if any). */
export class RealtimeError extends Error {
  constructor(code, message, data) {
    super(message || code);
    this.name = "RealtimeError";
    this.code = code;
    if (data !== undefined) this.data = data;
  }
}

/** Delay (ms) before retry number `attempt` (1-based), with jitter. Exported for tests. */
export function backoffDelay(attempt, opts = DEFAULT_BACKOFF, random = Math.random) {
  const o = { ...DEFAULT_BACKOFF, ...opts };
  const base = Math.min(o.maxMs, o.initialMs * Math.pow(o.factor, Math.max(0, attempt - 1)));
  const j = Math.min(1, Math.max(0, o.jitter));
  return Math.round(base * (1 - j * random()));
}

/** The `iat` claim of a JWT (Unix seconds), or null; the signature is not checked here. */
function tokenIssuedAt(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(atob(part + "=".repeat((4 - (part.length % 4)) % 4)));
    return typeof claims.iat === "number" ? claims.iat : null;
  } catch (e) {
    return null;
  }
}

/** Classify a refreshToken() rejection: its `code` if it has one, else a network error. */
function refreshErrorCode(err) {
  const code = err && typeof err.code === "string" ? err.code : null;
  return code || "network_error";
}

/** REST refresh failures worth another try (anything else needs a new login). */
const TRANSIENT_REFRESH_CODES = new Set(["network_error", "rate_limited", "unavailable", "internal_error"]);

/**
 * The room name of the direct-message room of two users: `dm.<a>.<b>`, usernames sorted.
 * The server admits exactly those two users (usernames may contain dots; the server finds
 * the split where both halves sort back into the same name).
 */
export function dmRoom(a, b) {
  if (typeof a !== "string" || typeof b !== "string" || !a || !b) {
    throw new TypeError("dmRoom: two usernames are required");
  }
  // Usernames are ASCII, so code-unit order equals the server's code-point order.
  return `dm.${[a, b].sort().join(".")}`;
}

/**
 * Create and start an authenticated socket.
 *
 * @param {object} options
 * @param {string} [options.url]           server origin; default: the page's origin
 * @param {string} [options.path]          Socket.IO path; default "/socket.io"
 * @param {() => string|Promise<string>} [options.getToken]   current access token (not with tokenInCookie)
 * @param {boolean} [options.tokenInCookie=false]  the server reads the token from the app's HttpOnly
 *        access cookie (flask-jwt-extended's JWT_TOKEN_LOCATION = ["cookies"]): the handshake sends
 *        no token, cookies go with it (withCredentials), and before exp the client calls
 *        refreshToken() (the app's REST refresh, which sets a new access cookie) and reconnects,
 *        because a live WebSocket never sees a new cookie. Listeners stay; rooms are re-joined
 *        by the app's `connect` listener.
 * @param {() => Promise<string>} options.refreshToken  gets a new access token (REST refresh);
 *        reject with an Error whose `code` is the server's error code (e.g. "token_revoked")
 *        to make the client stop; a rejection without a code counts as a network error.
 *        The app must also make getToken() return the new token afterwards.
 * @param {(status: {state: string, code: string|null, attempt: number, retryInMs?: number}) => void} [options.onStatus]
 * @param {(name: string, payload: any) => void} [options.onEvent]  every server-to-client event
 *        plus the module's own notes: "refreshed" {expires_at}, "retry" {code, attempt, delayMs}
 * @param {number} [options.connectTimeoutMs=10000]  a connect attempt that is not connected by then fails
 * @param {number} [options.refreshMarginS=1]        refresh at least this many seconds before exp
 * @param {number} [options.refreshFraction=0.2]     ... or this fraction of the remaining life, if larger
 * @param {number} [options.ackTimeoutMs=10000]      default timeout of emitWithAck
 * @param {object} [options.backoff]       {initialMs, maxMs, factor, jitter, maxAttempts}
 * @param {string[]} [options.transports]  default ["websocket", "polling"]
 * @param {boolean} [options.autoStart=true]  connect right away (else call start())
 * @param {object} [options.ioOptions]     extra options for socket.io-client's io()
 */
export function createSocket(options = {}) {
  const {
    url,
    path = "/socket.io",
    getToken,
    tokenInCookie = false,
    refreshToken,
    onStatus = () => {},
    onEvent = () => {},
    connectTimeoutMs = 10000,
    refreshMarginS = 1,
    refreshFraction = 0.2,
    ackTimeoutMs = 10000,
    transports = ["websocket", "polling"],
    autoStart = true,
    ioOptions = {},
  } = options;
  const backoff = { ...DEFAULT_BACKOFF, ...(options.backoff || {}) };
  if (!tokenInCookie && typeof getToken !== "function") {
    throw new TypeError("createSocket: getToken is required (or tokenInCookie: true)");
  }

  const listeners = new Map(); // event -> Set(fn), re-attached to each new socket
  let socket = null; // the current socket.io Socket
  let gen = 0; // generation of the current attempt; callbacks of older ones are ignored
  let attempt = 0; // consecutive failed attempts
  let closed = false;
  let status = { state: "idle", code: null, attempt: 0 };
  let session = null; // last `session` payload
  let expiresAt = null; // Unix seconds of the current token's exp
  let pendingKick = null;
  let needsRefresh = false; // the next attempt must get a new access token first // code from auth_expired / auth_revoked, applied on disconnect
  let refreshInFlight = null; // single-flight refreshToken() promise
  let heldToken = null; // the token the live connection is authenticated with
  let handshakeToken = null; // the token sent in the current attempt's handshake
  let sendingToken = null; // a token being swapped in with the `refresh` event
  // Server clock minus ours (s), estimated from the `iat` of each token just received, so a
  // client clock that runs ahead or behind does not make refreshes too early or too late.
  let clockSkewS = 0;
  const timers = { connect: null, retry: null, refresh: null };

  function clearTimer(name) {
    if (timers[name] !== null) {
      clearTimeout(timers[name]);
      timers[name] = null;
    }
  }

  function clearAllTimers() {
    for (const name of Object.keys(timers)) clearTimer(name);
  }

  function setStatus(state, code = null, extra = {}) {
    status = Object.freeze({ state, code, attempt, ...extra });
    try {
      onStatus(status);
    } catch (e) {
      console.error("realtime: onStatus handler failed", e);
    }
  }

  function note(name, payload) {
    try {
      onEvent(name, payload);
    } catch (e) {
      console.error("realtime: onEvent handler failed", e);
    }
  }

  function teardownSocket() {
    clearTimer("connect");
    clearTimer("refresh");
    if (socket) {
      const s = socket;
      socket = null;
      s.offAny();
      s.removeAllListeners();
      s.disconnect();
    }
  }

  function stop(code) {
    gen += 1;
    clearAllTimers();
    teardownSocket();
    pendingKick = null;
    expiresAt = null;
    setStatus("stopped", code);
  }

  // One refreshToken() call at a time; resolves with the new token.
  function doRefreshToken() {
    if (typeof refreshToken !== "function") {
      return Promise.reject(new RealtimeError("token_expired", "no refreshToken() given"));
    }
    if (!refreshInFlight) {
      refreshInFlight = Promise.resolve()
        .then(() => refreshToken())
        .then((token) => {
          if (tokenInCookie) return null; // the new token is in the cookie the response set
          if (typeof token !== "string" || !token) {
            throw new RealtimeError("token_invalid", "refreshToken() did not return a token");
          }
          const iat = tokenIssuedAt(token);
          if (iat !== null) clockSkewS = iat - Date.now() / 1000;
          return token;
        })
        .finally(() => {
          refreshInFlight = null;
        });
    }
    return refreshInFlight;
  }

  // A failed attempt or a lost connection: retry with backoff or stop.
  // token_expired: the next attempt first gets a new token (never reconnects with a dead one).
  function fail(code, retryAfterMs = 0) {
    if (closed) return;
    if (TERMINAL_CODES.includes(code)) {
      stop(code);
      return;
    }
    if (code === "token_expired") needsRefresh = true;
    const myGen = ++gen;
    teardownSocket();
    attempt += 1;
    if (attempt > backoff.maxAttempts) {
      stop("gave_up");
      return;
    }
    let delayMs = attempt === 1 && code === "token_expired" ? 0 : backoffDelay(attempt, backoff);
    // A server that says when to come back (rate_limited's retry_after) is not asked sooner.
    if (retryAfterMs > delayMs) delayMs = Math.min(retryAfterMs, backoff.maxMs);
    note("retry", { code, attempt, delayMs });
    clearTimer("retry");
    timers.retry = setTimeout(() => {
      timers.retry = null;
      if (!closed && myGen === gen) connect();
    }, delayMs);
    setStatus("reconnecting", code, { retryInMs: delayMs });
  }

  function scheduleRefresh() {
    clearTimer("refresh");
    if (closed || typeof expiresAt !== "number") return;
    const remainingS = expiresAt - (Date.now() / 1000 + clockSkewS);
    const marginS = Math.max(refreshMarginS, refreshFraction * remainingS);
    // At least 500 ms apart, so a token that looks expired cannot cause a refresh storm.
    const inMs = Math.max(500, (remainingS - marginS) * 1000);
    const myGen = gen;
    timers.refresh = setTimeout(() => {
      timers.refresh = null;
      if (!closed && myGen === gen) (tokenInCookie ? renewCookie : refreshInPlace)(myGen);
    }, inMs);
  }

  // A refreshToken() that failed while the connection is up: try again soon while the token is
  // still valid (if it runs out, the server sends auth_expired and the reconnect path refreshes
  // again), or stop on a code that needs a new login.
  function refreshFailed(myGen, err) {
    if (closed || myGen !== gen) return;
    const rc = refreshErrorCode(err);
    if (TRANSIENT_REFRESH_CODES.has(rc)) {
      setStatus("connected", null);
      retryRefreshSoon(myGen);
    } else {
      stop(rc);
    }
  }

  // Cookie mode: refreshToken() sets a new access cookie; a new handshake carries it.
  async function renewCookie(myGen) {
    setStatus("refreshing", null);
    try {
      await doRefreshToken();
    } catch (err) {
      refreshFailed(myGen, err);
      return;
    }
    if (closed || myGen !== gen) return;
    note("refreshed", { reconnect: true });
    openSocket(); // a new handshake, which carries the new cookie (the old socket is closed first)
  }

  // Get a new access token (or use `given`) and hand it to the live connection (no reconnect).
  async function refreshInPlace(myGen, given) {
    const s = socket;
    if (!s || !s.connected) return;
    setStatus("refreshing", null);
    let token = given;
    try {
      if (token === undefined) token = await doRefreshToken();
    } catch (err) {
      refreshFailed(myGen, err);
      return;
    }
    if (closed || myGen !== gen || socket !== s || !s.connected) return;
    if (token === heldToken) {
      // Someone else already swapped this token in (setToken() and the timer crossed).
      setStatus("connected", null);
      scheduleRefresh();
      return;
    }
    if (token === sendingToken) return; // being swapped in: that swap's ack reschedules
    let ack;
    sendingToken = token;
    try {
      ack = await s.timeout(ackTimeoutMs).emitWithAck("refresh", { token });
    } catch (err) {
      if (sendingToken === token) sendingToken = null;
      // No ack: the connection is probably gone; the disconnect handler takes over.
      if (closed || myGen !== gen) return;
      if (s.connected) retryRefreshSoon(myGen);
      return;
    }
    if (sendingToken === token) sendingToken = null;
    if (closed || myGen !== gen) return;
    if (ack && ack.ok === true && typeof ack.expires_at === "number") {
      heldToken = token;
      if (given !== undefined) {
        const iat = tokenIssuedAt(token);
        if (iat !== null) clockSkewS = iat - Date.now() / 1000;
      }
      expiresAt = ack.expires_at;
      note("refreshed", { expires_at: ack.expires_at });
      setStatus("connected", null);
      scheduleRefresh();
      return;
    }
    const code = (ack && ack.error && ack.error.code) || "internal_error";
    note("refresh_failed", { code });
    if (TERMINAL_CODES.includes(code)) {
      stop(code);
    } else if (code === "token_expired") {
      // Our connection's token ran out before the swap: reconnect with the new token.
      fail("token_expired");
      needsRefresh = false;
    } else {
      setStatus("connected", null);
      const retryAfterS = ack && ack.error && Number(ack.error.retry_after);
      retryRefreshSoon(myGen, retryAfterS > 0 ? retryAfterS * 1000 : undefined);
    }
  }

  function retryRefreshSoon(myGen, delayMs) {
    clearTimer("refresh");
    const remainingMs = typeof expiresAt === "number" ? (expiresAt - clockSkewS) * 1000 - Date.now() : 0;
    const inMs = delayMs ?? Math.max(250, Math.min(2000, remainingMs / 4));
    timers.refresh = setTimeout(() => {
      timers.refresh = null;
      if (!closed && myGen === gen) (tokenInCookie ? renewCookie : refreshInPlace)(myGen);
    }, inMs);
  }

  function connect() {
    if (closed) return;
    teardownSocket();
    clearTimer("retry");
    if (!needsRefresh) {
      openSocket();
      return;
    }
    const myGen = ++gen;
    setStatus("refreshing", status.code);
    doRefreshToken().then(
      () => {
        if (closed || myGen !== gen) return;
        needsRefresh = false;
        openSocket();
      },
      (err) => {
        if (closed || myGen !== gen) return;
        const rc = refreshErrorCode(err);
        // A refresh token that is expired, revoked or invalid needs a new login.
        if (TRANSIENT_REFRESH_CODES.has(rc)) fail(rc);
        else stop(rc);
      },
    );
  }

  function openSocket() {
    teardownSocket();
    const myGen = ++gen;
    pendingKick = null;
    heldToken = null;
    handshakeToken = null;
    setStatus(attempt === 0 ? "connecting" : "reconnecting", status.code);

    const s = io(url, {
      path,
      transports,
      tryAllTransports: true,
      reconnection: false, // this module decides when to retry
      autoConnect: false,
      forceNew: true,
      timeout: connectTimeoutMs,
      withCredentials: tokenInCookie, // the access cookie goes with a cross-origin handshake too
      ...ioOptions,
      // Evaluated on every handshake, so a reconnect always carries the current token.
      auth: (cb) => {
        if (tokenInCookie) {
          cb({}); // no token key: the server reads the access cookie
          return;
        }
        Promise.resolve()
          .then(() => getToken())
          .then(
            // No token: send no `token` key, which the server refuses as auth_required.
            (token) => {
              const ok = typeof token === "string" && token;
              if (myGen === gen) handshakeToken = ok ? token : null;
              cb(ok ? { token } : {});
            },
            () => cb({}),
          );
      },
    });
    socket = s;
    const mine = () => !closed && myGen === gen && socket === s;

    for (const [name, set] of listeners) {
      if (set.size) s.on(name, (payload) => mine() && dispatchToSet(name, payload));
    }
    s.onAny((name, payload) => {
      if (mine()) note(name, payload);
    });

    s.on("connect", () => {
      if (!mine()) return;
      clearTimer("connect");
      attempt = 0;
      heldToken = handshakeToken;
      setStatus("connected", null);
    });

    s.on("session", (payload) => {
      if (!mine()) return;
      session = payload || null;
      expiresAt = payload && typeof payload.expires_at === "number" ? payload.expires_at : null;
      scheduleRefresh();
    });

    s.on("auth_expired", (payload) => {
      if (!mine()) return;
      pendingKick = (payload && payload.code) || "token_expired";
    });

    s.on("auth_revoked", (payload) => {
      if (!mine()) return;
      pendingKick = (payload && payload.code) || "token_revoked";
      // The server disconnects right after; stop now so nothing retries meanwhile.
      stop(pendingKick === "token_expired" ? "token_revoked" : pendingKick);
    });

    s.on("connect_error", (err) => {
      if (!mine()) return;
      clearTimer("connect");
      const dataCode = err && err.data && typeof err.data.code === "string" ? err.data.code : null;
      const msgCode = err && SERVER_CODES.has(err.message) ? err.message : null;
      const code = dataCode || msgCode || "network_error";
      note("connect_error", { code, message: (err && err.data && err.data.message) || (err && err.message) });
      const retryAfterS = err && err.data ? Number(err.data.retry_after) : 0;
      fail(code, retryAfterS > 0 ? retryAfterS * 1000 : 0);
    });

    s.on("disconnect", (reason) => {
      if (!mine()) return;
      clearTimer("refresh");
      const kick = pendingKick;
      pendingKick = null;
      if (reason === "io client disconnect") return; // we did it
      if (kick) {
        fail(kick);
      } else if (reason === "io server disconnect") {
        // Kicked without a reason: reconnect; a revoked token is refused at the handshake.
        fail("server_disconnect");
      } else {
        fail("network_error");
      }
    });

    clearTimer("connect");
    timers.connect = setTimeout(() => {
      timers.connect = null;
      if (mine() && !s.connected) fail("connect_timeout");
    }, connectTimeoutMs);

    s.connect();
  }

  function dispatchToSet(name, payload) {
    const set = listeners.get(name);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(payload);
      } catch (e) {
        console.error(`realtime: handler for "${name}" failed`, e);
      }
    }
  }

  function onOnline() {
    // Back online: skip the rest of the backoff wait.
    if (!closed && status.state === "reconnecting" && timers.retry !== null) {
      clearTimer("retry");
      connect();
    }
  }
  const hasWindow = typeof window !== "undefined" && typeof window.addEventListener === "function";
  if (hasWindow) window.addEventListener("online", onOnline);

  const api = {
    /** Current status object: {state, code, attempt, retryInMs?}. */
    get status() {
      return status;
    },
    /** Last `session` payload from the server ({user, sid, expires_at}) or null. */
    get session() {
      return session;
    },
    /** Unix seconds at which the connection's token expires (null when unknown). */
    get expiresAt() {
      return expiresAt;
    },
    /** Seconds left on the connection's token by the server's clock (null when unknown). */
    get secondsLeft() {
      return typeof expiresAt === "number" ? expiresAt - (Date.now() / 1000 + clockSkewS) : null;
    },
    get connected() {
      return !!(socket && socket.connected);
    },
    /** The underlying socket.io Socket of the current attempt (may change on reconnect). */
    get socket() {
      return socket;
    },
    /** Start (or restart after a stop) connecting. */
    start() {
      closed = false;
      attempt = 0;
      needsRefresh = false;
      if (hasWindow) {
        window.removeEventListener("online", onOnline);
        window.addEventListener("online", onOnline);
      }
      connect();
      return api;
    },
    /** Subscribe to a server event; returns an unsubscribe function. */
    on(event, fn) {
      let set = listeners.get(event);
      if (!set) {
        set = new Set();
        listeners.set(event, set);
        if (socket) {
          const s = socket;
          const myGen = gen;
          s.on(event, (payload) => !closed && myGen === gen && socket === s && dispatchToSet(event, payload));
        }
      }
      set.add(fn);
      return () => api.off(event, fn);
    },
    off(event, fn) {
      const set = listeners.get(event);
      if (set) set.delete(fn);
    },
    /** Emit and wait for the ack; rejects with RealtimeError ("not_connected", "ack_timeout"). */
    emitWithAck(event, payload, timeoutMs = ackTimeoutMs) {
      const s = socket;
      if (!s || !s.connected) {
        return Promise.reject(new RealtimeError("not_connected", "not connected"));
      }
      const args = payload === undefined ? [event] : [event, payload];
      return s
        .timeout(timeoutMs)
        .emitWithAck(...args)
        .catch((err) => {
          throw new RealtimeError(s.connected ? "ack_timeout" : "not_connected", err && err.message);
        });
    },
    /** Fire-and-forget emit (no ack); false when not connected. */
    emit(event, payload) {
      const s = socket;
      if (!s || !s.connected) return false;
      if (payload === undefined) s.emit(event);
      else s.emit(event, payload);
      return true;
    },
    /** Get a new token with refreshToken() and swap it in now (in place). */
    refreshNow() {
      if (socket && socket.connected) return (tokenInCookie ? renewCookie : refreshInPlace)(gen);
      return Promise.resolve();
    },
    /**
     * Swap in a token the app got by itself (e.g. a renewed session): in place with the
     * `refresh` event when connected (a no-op for the token already in use); otherwise the
     * next handshake sends whatever getToken() returns.
     */
    setToken(token) {
      if (typeof token !== "string" || !token || token === heldToken || token === sendingToken) {
        return Promise.resolve();
      }
      if (socket && socket.connected) return refreshInPlace(gen, token);
      return Promise.resolve();
    },
    /** Stop for good: clears every timer and disconnects. */
    close() {
      if (closed) return;
      closed = true;
      if (hasWindow) window.removeEventListener("online", onOnline);
      gen += 1;
      clearAllTimers();
      teardownSocket();
      setStatus("stopped", "closed");
    },
  };

  if (autoStart) connect();
  return api;
}

/** "connected", "stopped: token_revoked", ... */
export function formatStatus(s) {
  if (!s) return "";
  return s.state === "stopped" ? `stopped: ${s.code || "unknown"}` : s.state;
}
