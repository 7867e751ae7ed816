// Socket-auth cases run by the official socket.io-client in Node against a real server.
// Input: the JSON in env CASES_JSON; output: one JSON object with a result per case.
import { io } from "socket.io-client";

const cfg = JSON.parse(process.env.CASES_JSON);
const url = cfg.url;

function connect(auth, opts = {}) {
  return io(url, { transports: ["websocket"], reconnection: false, forceNew: true, auth, ...opts });
}

function once(socket, event, ms = 6000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timeout waiting for ${event}`)), ms);
    socket.once(event, (...args) => { clearTimeout(t); resolve(args); });
  });
}

async function valid() {
  const s = connect({ token: cfg.valid });
  const [session] = await once(s, "session");
  const who = await s.timeout(5000).emitWithAck("whoami");
  s.close();
  return { session, who };
}

async function refusal(auth) {
  const s = connect(auth);
  const [err] = await once(s, "connect_error");
  s.close();
  return { message: err.message, data: err.data ?? null };
}

async function expiry() {
  const s = connect({ token: cfg.short });
  await once(s, "session");
  // Both listeners first: the two packets can arrive in one read and fire in the same tick.
  const expiredP = once(s, "auth_expired", 8000);
  const gone = once(s, "disconnect", 8000);
  const [expired] = await expiredP;
  const [reason] = await gone;
  // The client decides to reconnect (a server disconnect is not retried by socket.io itself).
  s.auth = { token: cfg.fresh };
  s.connect();
  const [session] = await once(s, "session");
  const who = await s.timeout(5000).emitWithAck("whoami");
  s.close();
  return { expired, reason, session, who };
}

async function refresh() {
  const s = connect({ token: cfg.short2 });
  const [session] = await once(s, "session");
  const sid = s.id;
  const ack = await s.timeout(5000).emitWithAck("refresh", { token: cfg.long });
  const wait = Math.max(0, session.expires_at * 1000 - Date.now()) + 1500;
  const kicked = await Promise.race([
    once(s, "auth_expired", wait).then(() => true, () => false),
  ]);
  const who = await s.timeout(5000).emitWithAck("whoami");
  const same = s.id === sid && s.connected;
  s.close();
  return { ack, kicked, who, same, first_exp: session.expires_at };
}

async function kick() {
  const mine = connect({ token: cfg.kick_token });
  const other = connect({ token: cfg.long });
  await Promise.all([once(mine, "session"), once(other, "session")]);
  const t0 = Date.now();
  const revoked = once(mine, "auth_revoked", 3000);
  const gone = once(mine, "disconnect", 3000);
  const r = await fetch(`${url}/api/auth/logout`, {
    method: "POST", headers: { Authorization: `Bearer ${cfg.kick_token}`, "Content-Type": "application/json" },
    body: "{}",
  });
  const [payload] = await revoked;
  const [reason] = await gone;
  const elapsed = Date.now() - t0;
  const who = await other.timeout(5000).emitWithAck("whoami");
  other.close();
  mine.close();
  return { status: r.status, payload, reason, elapsed, other_ok: who.ok };
}

async function header() {
  const s = connect(undefined, { extraHeaders: { Authorization: `Bearer ${cfg.valid}` } });
  const [session] = await once(s, "session");
  s.close();
  return { session };
}

// Each case reports its own failure, so one broken case does not hide the others.
const guard = (p) => p.catch((e) => ({ error: String(e) }));
const out = {};
out.valid = await guard(valid());
out.refusals = {};
for (const [name, auth] of Object.entries(cfg.refusals)) out.refusals[name] = await guard(refusal(auth));
out.header = await guard(header());
const [exp, ref] = await Promise.all([guard(expiry()), guard(refresh())]);
out.expiry = exp;
out.refresh = ref;
out.kick = await guard(kick());
console.log(JSON.stringify(out));
process.exit(0);
