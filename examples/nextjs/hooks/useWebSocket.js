"use client";
// The socket's life follows the NextAuth session:
// - one socket per signed-in user: created when the session appears, closed on sign-out, and
//   replaced when a different user signs in;
// - a renewed session token is swapped into the live socket in place (the `refresh` event;
//   same sid, no reconnect); the client renews it before it expires through NextAuth;
// - `on` and `emitWithAck` are stable and work before the socket exists: subscriptions are
//   kept and attached to every socket this hook opens (children subscribe in their mount
//   effects, which React runs before this hook's effect);
// - terminal codes (revoked token, deleted user...) stop the socket; nothing here restarts it,
//   so there is no reconnect loop: the page offers to sign in again. A revoked token also
//   signs the browser out of NextAuth (the backend session it stood for is over).
import { useEffect, useMemo, useRef, useState } from "react";
import { signOut, useSession } from "next-auth/react";
import { RealtimeError } from "flask-realtime-client";
import { createSocket } from "@/lib/socket";

const SIGNED_OUT = Object.freeze({ state: "signed_out", code: null, attempt: 0 });
const LOADING = Object.freeze({ state: "loading", code: null, attempt: 0 });
const MAX_SIGN_OUT_ROUNDS = 5;
const NO_STATS = Object.freeze({ key: null, sid: null, user: null, connects: 0, refreshes: 0, retries: 0, connectedAt: null });

/** Listeners that outlive sockets: attached to whichever socket is current. */
function createHub() {
  const listeners = new Map(); // event -> Set(fn)
  let client = null;
  let wired = new Set(); // events the current client forwards to us

  function wire(event) {
    const c = client;
    if (!c || wired.has(event)) return;
    wired.add(event);
    c.on(event, (payload) => {
      if (client !== c) return;
      for (const fn of [...(listeners.get(event) || [])]) fn(payload);
    });
  }

  return {
    get client() {
      return client;
    },
    attach(c) {
      client = c;
      wired = new Set();
      for (const event of listeners.keys()) wire(event);
    },
    detach(c) {
      if (client === c) client = null;
    },
    /** Subscribe to a server event; returns the unsubscribe function (an effect's cleanup). */
    on(event, fn) {
      let set = listeners.get(event);
      if (!set) listeners.set(event, (set = new Set()));
      set.add(fn);
      wire(event);
      return () => set.delete(fn);
    },
    /** Emit and wait for the ack; rejects with code `not_connected` when there is no socket. */
    emitWithAck(event, payload, timeoutMs) {
      if (!client) return Promise.reject(new RealtimeError("not_connected", "not connected"));
      return client.emitWithAck(event, payload, timeoutMs);
    },
  };
}

/**
 * @param {{url: string}} options  url: the Flask app's origin
 * @returns {{status, stats, on, emitWithAck, user}}  status: the client's status, or
 *          {state: "signed_out"} / {state: "loading"}; stats: {sid, connects, refreshes,
 *          retries, connectedAt} of the current user's socket
 */
export function useWebSocket({ url }) {
  const { data: session, status: authStatus, update } = useSession();
  const [hub] = useState(createHub);
  const [clientStatus, setClientStatus] = useState(null); // {key, status}
  const [stats, setStats] = useState(NO_STATS);

  // The newest session and update() for callbacks, written after render, never during it.
  const latest = useRef({ session, update });
  useEffect(() => {
    latest.current = { session, update };
  });

  // While NextAuth renews the session (update()) its status reads "loading" but the data is
  // still there: the socket stays; only "unauthenticated" or another user replaces it.
  const userId = authStatus !== "unauthenticated" && session && session.user ? session.user.id : null;
  const accessToken = userId ? session.accessToken : null;
  const key = userId ? `${url}|${userId}` : null;

  // One socket per user (and server): a new user or sign-out closes the previous one.
  useEffect(() => {
    if (!key) return undefined;
    const client = createSocket(latest.current.session, {
      url,
      renewSession: () => latest.current.update({ renew: true }),
      onStatus: (status) => setClientStatus({ key, status }),
      onEvent: (name, payload) => {
        if (name === "session") {
          setStats((s) => ({
            ...(s.key === key ? s : NO_STATS),
            key,
            sid: payload && payload.sid,
            user: payload && payload.user,
            connects: (s.key === key ? s.connects : 0) + 1,
            connectedAt: Date.now(),
          }));
        } else if (name === "refreshed" || name === "retry") {
          const field = name === "refreshed" ? "refreshes" : "retries";
          setStats((s) => {
            const base = s.key === key ? s : { ...NO_STATS, key };
            return { ...base, [field]: base[field] + 1 };
          });
        }
      },
    });
    hub.attach(client);
    return () => {
      hub.detach(client);
      client.close();
      setStats(NO_STATS); // the next socket, even of the same user, counts from zero
    };
  }, [key, url, hub]);

  // A session token renewed elsewhere (another tab, a session refetch) goes in place.
  useEffect(() => {
    if (accessToken && hub.client) hub.client.setToken(accessToken);
  }, [accessToken, hub]);

  // A revoked backend session (signed out in this tab, in another one, or "everywhere") ends
  // the NextAuth session too. Waiting for NextAuth alone is not enough: a renewal that was in
  // flight during the sign-out answers after it and sets the session cookie again, so while
  // the session is still there after a sign-out, sign out once more (a few rounds at most).
  const revoked =
    !!key &&
    ((clientStatus && clientStatus.key === key && clientStatus.status.code === "token_revoked" &&
      clientStatus.status.state === "stopped") ||
      (session && session.error === "token_revoked"));
  const [signOutRound, setSignOutRound] = useState(0);
  useEffect(() => {
    if (!revoked || signOutRound >= MAX_SIGN_OUT_ROUNDS) return undefined;
    let current = true; // false once the session is gone (or replaced) before this round ends
    signOut({ redirect: false })
      .catch(() => {}) // a failed round is tried again below, like one that was undone
      .finally(() => current && setSignOutRound((n) => n + 1));
    return () => {
      current = false;
    };
  }, [revoked, signOutRound]);
  useEffect(() => {
    if (!key) setSignOutRound(0); // signed out: a later revocation gets its rounds again
  }, [key]);

  let status;
  if (!key) status = authStatus === "loading" ? LOADING : SIGNED_OUT;
  else status = clientStatus && clientStatus.key === key ? clientStatus.status : LOADING;

  const api = useMemo(() => ({ on: hub.on, emitWithAck: hub.emitWithAck }), [hub]);
  return {
    status,
    stats: stats.key === key ? stats : NO_STATS,
    user: userId ? { id: userId, username: session.user.name } : null,
    sessionError: (session && session.error) || null,
    ...api,
  };
}
