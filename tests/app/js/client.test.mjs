// Unit tests of the client package (clients/js) with `node --test`, against a real server.
// tests/app/js/test_client_package.py starts the servers and runs this file; environment:
//   REALTIME_URL          server with 3-second access tokens and 2 sockets per user at most
//   REALTIME_LIMITED_URL  server that rate-limits refused connects after 3 per address
//   REALTIME_JWT_SECRET   the servers' signing key (to mint tokens for unknown users)
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHmac, randomUUID } from "node:crypto";
import { io } from "socket.io-client";
import {
  createSocket, backoffDelay, dmRoom, formatStatus, RETRYABLE_CODES, TERMINAL_CODES,
} from "../../../clients/js/src/index.js";

const URL = process.env.REALTIME_URL;
const LIMITED_URL = process.env.REALTIME_LIMITED_URL;
const SECRET = process.env.REALTIME_JWT_SECRET;
const PASSWORD = "correct horse battery";
const FAST = { initialMs: 100, maxMs: 1000, factor: 2, jitter: 0 };

async function api(base, path, { token, body = {}, method = "POST" } = {}) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const r = await fetch(base + path, { method, headers, body: method === "GET" ? undefined : JSON.stringify(body) });
  const data = await r.json();
  if (!r.ok) throw Object.assign(new Error(data.error.message), { code: data.error.code, status: r.status });
  return data;
}

async function newUser(base = URL) {
  const username = `n${randomUUID().slice(0, 8)}`;
  const { id } = await api(base, "/api/auth/register", { body: { username, password: PASSWORD } });
  const t = await api(base, "/api/auth/login", { body: { username, password: PASSWORD } });
  return { id, username, access: t.access_token, refresh: t.refresh_token };
}

const b64url = (v) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");

/** An HS256 access token signed with the server's key. */
function mint(sub, claims = {}) {
  const now = Math.floor(Date.now() / 1000);
  const head = b64url({ alg: "HS256", typ: "JWT" });
  const body = b64url({ sub, iat: now, nbf: now, exp: now + 300, jti: randomUUID(), type: "access", fresh: false, ...claims });
  const sig = createHmac("sha256", SECRET).update(`${head}.${body}`).digest("base64url");
  return `${head}.${body}.${sig}`;
}

// Timers the client module itself has pending (set by clients/js/src/index.js, not yet fired
// or cleared): after a stop there must be none, so nothing can retry later.
const clientTimers = new Set();
const { setTimeout: realSetTimeout, clearTimeout: realClearTimeout } = globalThis;
globalThis.setTimeout = (fn, ms, ...args) => {
  const mine = /clients\/js\/src\/index\.js/.test(new Error().stack);
  const t = realSetTimeout((...a) => { clientTimers.delete(t); fn(...a); }, ms, ...args);
  if (mine) clientTimers.add(t);
  return t;
};
globalThis.clearTimeout = (t) => { clientTimers.delete(t); realClearTimeout(t); };
const timeouts = () => clientTimers.size;

/** A client whose statuses and events are recorded; `until(pred)` waits for a condition. */
function recorded(options) {
  const rec = { states: [], events: [], retries: [], refreshCalls: 0, waiters: new Set() };
  const check = () => {
    for (const w of [...rec.waiters]) if (w.pred(rec)) { rec.waiters.delete(w); clearTimeout(w.timer); w.resolve(); }
  };
  rec.until = (pred, ms = 10000, what = "condition") =>
    new Promise((resolve, reject) => {
      if (pred(rec)) return resolve();
      const w = { pred, resolve };
      w.timer = setTimeout(() => {
        rec.waiters.delete(w);
        reject(new Error(`timed out waiting for ${what}; states ${JSON.stringify(rec.states)}, events ${JSON.stringify(rec.events)}`));
      }, ms);
      rec.waiters.add(w);
    });
  const refreshToken = options.refreshToken;
  rec.rt = createSocket({
    url: URL,
    transports: ["websocket"],
    backoff: FAST,
    connectTimeoutMs: 5000,
    ...options,
    refreshToken: refreshToken && (async () => { rec.refreshCalls += 1; return refreshToken(); }),
    onStatus: (s) => { rec.states.push(formatStatus(s)); check(); },
    onEvent: (name, payload) => {
      rec.events.push(name);
      if (name === "retry") rec.retries.push(payload);
      check();
    },
  });
  return rec;
}

const has = (name, n = 1) => (rec) => rec.events.filter((e) => e === name).length >= n;
const stateIs = (text) => (rec) => rec.states.includes(text);

test("connects, acks, and refreshes the token in place before it expires", async () => {
  const u = await newUser();
  let token = u.access;
  const beforeExp = [];
  const rec = recorded({
    getToken: () => token,
    refreshToken: async () => {
      beforeExp.push(Date.now() / 1000 < rec.rt.expiresAt);
      token = (await api(URL, "/api/auth/refresh", { token: u.refresh })).access_token;
      return token;
    },
  });
  try {
    await rec.until(has("session"), 10000, "session");
    const sid = rec.rt.socket.id;
    const who = await rec.rt.emitWithAck("whoami");
    assert.equal(who.ok, true);
    assert.equal(who.user.username, u.username);
    // 3-second tokens: two swaps take about 5 s.
    await rec.until(has("refreshed", 2), 15000, "two refreshes");
    assert.deepEqual(beforeExp, beforeExp.map(() => true), "every refresh starts before exp");
    assert.equal(rec.rt.socket.id, sid, "same socket");
    assert.ok(!rec.events.includes("auth_expired"));
    assert.equal(rec.events.filter((e) => e === "session").length, 1, "no reconnect");
    assert.ok(rec.rt.secondsLeft > 0);
    assert.equal((await rec.rt.emitWithAck("whoami")).ok, true);
  } finally {
    rec.rt.close();
  }
});

test("an expired token is refreshed before the client connects", async () => {
  const u = await newUser();
  const me = await api(URL, "/api/auth/me", { token: u.access, method: "GET" });
  let token = mint(me.id, { exp: Math.floor(Date.now() / 1000) - 10, iat: Math.floor(Date.now() / 1000) - 20 });
  const rec = recorded({
    getToken: () => token,
    refreshToken: async () => (token = (await api(URL, "/api/auth/refresh", { token: u.refresh })).access_token),
  });
  try {
    await rec.until(stateIs("connected"), 10000, "connected");
    assert.equal(rec.refreshCalls, 1);
    assert.ok(rec.states.includes("refreshing"));
    assert.ok(!rec.states.some((s) => s.startsWith("stopped")));
  } finally {
    rec.rt.close();
  }
});

const terminalCases = {
  token_invalid: async () => ({ token: "not.a.jwt" }),
  auth_required: async () => ({ token: "" }),
  wrong_token_type: async () => ({ token: (await newUser()).refresh }),
  token_revoked: async () => {
    const u = await newUser();
    await api(URL, "/api/auth/logout", { token: u.access });
    return { token: u.access };
  },
  user_unknown: async () => ({ token: mint("987654321") }),
  origin_forbidden: async () => ({
    token: (await newUser()).access,
    ioOptions: { extraHeaders: { Origin: "http://elsewhere.example" } },
  }),
};

for (const [code, setup] of Object.entries(terminalCases)) {
  test(`a ${code} refusal stops the client: no retry, no refresh, no timer left`, async () => {
    const { token, ioOptions } = await setup();
    const before = timeouts();
    const rec = recorded({ getToken: () => token, refreshToken: async () => "unused", ioOptions });
    await rec.until(stateIs(`stopped: ${code}`), 10000, `stopped: ${code}`);
    assert.equal(rec.rt.status.state, "stopped");
    assert.deepEqual(rec.retries, []);
    assert.equal(rec.refreshCalls, 0);
    assert.ok(!rec.states.includes("reconnecting"));
    // Nothing is scheduled any more: nothing can retry later.
    assert.ok(timeouts() <= before, `timers left: ${timeouts()} > ${before}`);
    assert.ok(TERMINAL_CODES.includes(code));
    rec.rt.close();
  });
}

test("too_many_connections backs off exponentially, then connects when a slot frees", async () => {
  const u = await newUser();
  const holders = [0, 1].map(() => io(URL, { transports: ["websocket"], reconnection: false, forceNew: true, auth: { token: u.access } }));
  await Promise.all(holders.map((s) => new Promise((r) => s.once("session", r))));
  const rec = recorded({ getToken: () => u.access });
  try {
    await rec.until((r) => r.retries.length >= 3, 10000, "three retries");
    assert.deepEqual(rec.retries.slice(0, 3).map((r) => [r.code, r.attempt, r.delayMs]), [
      ["too_many_connections", 1, 100],
      ["too_many_connections", 2, 200],
      ["too_many_connections", 3, 400],
    ]);
    assert.ok(!rec.states.some((s) => s.startsWith("stopped")));
    holders[0].close();
    await rec.until(stateIs("connected"), 10000, "connected after a slot freed");
    assert.equal(rec.rt.status.attempt, 0);
  } finally {
    rec.rt.close();
    holders.forEach((s) => s.close());
  }
});

test("rate_limited is retried, waiting as long as the backoff allows", async () => {
  const u = await newUser(LIMITED_URL);
  // Refused attempts from this address until the server rate-limits it.
  for (;;) {
    const s = io(LIMITED_URL, { transports: ["websocket"], reconnection: false, forceNew: true, auth: { token: "bad" } });
    const err = await new Promise((r) => s.once("connect_error", r));
    s.close();
    if (err.message === "rate_limited") break;
  }
  const rec = recorded({ url: LIMITED_URL, getToken: () => u.access });
  try {
    await rec.until((r) => r.retries.length >= 1, 10000, "a retry");
    assert.equal(rec.retries[0].code, "rate_limited");
    // retry_after (about a minute) lengthens even the first wait, up to backoff.maxMs.
    assert.equal(rec.retries[0].delayMs, FAST.maxMs);
    assert.equal(rec.rt.status.state, "reconnecting");
    assert.ok(RETRYABLE_CODES.includes("rate_limited"));
  } finally {
    rec.rt.close();
  }
});

test("a refresh refused with a transient code (unavailable) keeps the socket and tries again", async () => {
  const u = await newUser();
  let token = u.access;
  let calls = 0;
  const rec = recorded({
    getToken: () => token,
    refreshToken: async () => {
      calls += 1;
      if (calls === 1) throw Object.assign(new Error("database down"), { code: "unavailable" });
      return (token = (await api(URL, "/api/auth/refresh", { token: u.refresh })).access_token);
    },
  });
  try {
    await rec.until(has("session"), 10000, "session");
    const sid = rec.rt.socket.id;
    await rec.until(has("refreshed"), 10000, "a refresh after the failed one");
    assert.equal(calls, 2);
    assert.equal(rec.rt.socket.id, sid);
    assert.ok(!rec.states.some((s) => s.startsWith("stopped")));
    assert.ok(RETRYABLE_CODES.includes("unavailable"));
  } finally {
    rec.rt.close();
  }
});

test("a refresh refused with a terminal code stops the client", async () => {
  const u = await newUser();
  const rec = recorded({
    getToken: () => u.access,
    refreshToken: async () => { throw Object.assign(new Error("revoked"), { code: "token_revoked" }); },
  });
  await rec.until(stateIs("stopped: token_revoked"), 10000, "stopped: token_revoked");
  assert.deepEqual(rec.retries, []);
  rec.rt.close();
});

test("setToken swaps a token in place; another user's token stops with identity_mismatch", async () => {
  const u = await newUser();
  const other = await newUser();
  const rec = recorded({ getToken: () => u.access, refreshMarginS: 0.1, refreshFraction: 0 });
  try {
    await rec.until(has("session"), 10000, "session");
    const sid = rec.rt.socket.id;
    const fresh = (await api(URL, "/api/auth/refresh", { token: u.refresh })).access_token;
    await rec.rt.setToken(fresh);
    assert.equal(rec.events.filter((e) => e === "refreshed").length, 1);
    await rec.rt.setToken(fresh); // the token in use: nothing to do
    assert.equal(rec.events.filter((e) => e === "refreshed").length, 1);
    assert.equal(rec.rt.socket.id, sid);
    await rec.rt.setToken(other.access);
    await rec.until(stateIs("stopped: identity_mismatch"), 5000, "identity_mismatch");
  } finally {
    rec.rt.close();
  }
});

test("close() stops for good and clears every timer", async () => {
  const before = timeouts();
  const rec = recorded({ url: "http://127.0.0.1:9", getToken: () => "x" }); // nothing listens there
  await rec.until((r) => r.retries.length >= 2, 10000, "two retries");
  rec.rt.close();
  assert.equal(rec.rt.status.state, "stopped");
  assert.equal(rec.rt.status.code, "closed");
  assert.ok(timeouts() <= before, `timers left: ${timeouts()} > ${before}`);
  assert.rejects(rec.rt.emitWithAck("whoami"), { code: "not_connected" });
});

test("backoffDelay grows, caps and jitters; dmRoom sorts the two usernames", () => {
  const o = { initialMs: 100, maxMs: 1000, factor: 2, jitter: 0.5 };
  assert.deepEqual([1, 2, 3, 4, 5, 10].map((a) => backoffDelay(a, o, () => 0)), [100, 200, 400, 800, 1000, 1000]);
  assert.deepEqual([1, 2, 5].map((a) => backoffDelay(a, o, () => 1)), [50, 100, 500]);
  assert.equal(dmRoom("zoe", "adam"), "dm.adam.zoe");
  assert.equal(dmRoom("adam", "zoe"), "dm.adam.zoe");
  assert.equal(dmRoom("a.b", "a"), "dm.a.a.b");
  assert.throws(() => dmRoom("", "x"), TypeError);
});
