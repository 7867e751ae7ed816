// The socket of a NextAuth session, built on flask-realtime-client.
import { createSocket as createClient, RealtimeError } from "flask-realtime-client";

/**
 * Open an authenticated socket for a NextAuth session (`session.accessToken`).
 *
 * @param {object} session  the session of useSession(); its access token opens the socket
 * @param {object} options
 * @param {string} options.url  the Flask app's origin (NEXT_PUBLIC_SOCKET_URL)
 * @param {() => Promise<object|null>} options.renewSession  renews the backend token and
 *        resolves with the new session (NextAuth's `update({renew: true})`)
 * @param {Function} [options.onStatus]  status changes ({state, code, attempt, retryInMs?})
 * @param {Function} [options.onEvent]   every server event, plus "refreshed" and "retry"
 * @returns the client (flask-realtime-client); `setToken(t)` also makes `t` the token of
 *          later handshakes
 */
export function createSocket(session, { url, renewSession, onStatus, onEvent, ...options }) {
  let token = (session && session.accessToken) || null;
  const client = createClient({
    url,
    // A renewal takes two hops (browser -> Next.js -> Flask): start it 2 s before exp at least.
    refreshMarginS: 2,
    getToken: () => token, // read on every handshake
    refreshToken: async () => {
      const next = await renewSession();
      // No session back: NextAuth was busy loading one, or the request failed. Without a code
      // this counts as a network error, tried again soon (a real sign-out closes the socket).
      if (!next) throw new Error("the session could not be renewed now");
      if (next.error) throw new RealtimeError(next.error, "the session could not be renewed");
      token = next.accessToken;
      return token;
    },
    onStatus,
    onEvent,
    ...options,
  });
  return Object.create(client, {
    setToken: {
      value(next) {
        if (typeof next === "string" && next) token = next;
        return client.setToken(next);
      },
    },
  });
}
