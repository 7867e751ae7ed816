// NextAuth (v4) options: a credentials provider that signs in against the Flask REST API and a
// JWT session that carries the backend's access token and renews it before it expires.
import CredentialsProvider from "next-auth/providers/credentials";
import { backend, BackendError } from "./backend";

// REST refresh failures that may pass on a later try; any other code ends the session.
const TRANSIENT = new Set(["network_error", "rate_limited", "unavailable", "internal_error"]);

/** Renew when less than this is left: a quarter of the token's life, at most 60 s. */
function renewMarginMs(token) {
  return Math.min(60_000, (token.accessTokenLifetimeMs || 0) / 4);
}

/** The token with a new backend access token, or with `error` set to the backend's code. */
async function renew(token) {
  try {
    const data = await backend.refresh(token.refreshToken);
    return {
      ...token,
      accessToken: data.access_token,
      accessTokenExpires: Date.now() + data.expires_in * 1000,
      accessTokenLifetimeMs: data.expires_in * 1000,
      error: undefined,
    };
  } catch (e) {
    return { ...token, error: e instanceof BackendError ? e.code : "network_error" };
  }
}

/**
 * The browser's address: the first X-Forwarded-For entry. Next.js sets that header to the
 * connection's address when a request arrives without one; a proxy in front of Next.js must set
 * (overwrite) it, as any deployment that limits by address needs.
 */
function browserAddress(req) {
  const headers = (req && req.headers) || {};
  const value = typeof headers.get === "function" ? headers.get("x-forwarded-for") : headers["x-forwarded-for"];
  const first = value ? String(value).split(",")[0].trim() : "";
  return first || undefined;
}

export const authOptions = {
  secret: process.env.NEXTAUTH_SECRET,
  session: { strategy: "jwt" },
  pages: { signIn: "/signin" },
  providers: [
    CredentialsProvider({
      name: "Password",
      credentials: {
        username: { label: "Username", type: "text" },
        password: { label: "Password", type: "password" },
        mode: { label: "Mode", type: "hidden" }, // "register" creates the account first
      },
      async authorize(credentials, req) {
        const { username, password, mode } = credentials || {};
        const address = browserAddress(req);
        try {
          if (mode === "register") await backend.register(username, password, address);
          const tokens = await backend.login(username, password, address);
          const me = await backend.me(tokens.access_token);
          return {
            id: me.id,
            name: me.username,
            accessToken: tokens.access_token,
            refreshToken: tokens.refresh_token,
            expiresIn: tokens.expires_in,
          };
        } catch (e) {
          // The message reaches the sign-in page as `error`: the backend's code.
          throw new Error(e instanceof BackendError ? e.code : "network_error");
        }
      },
    }),
  ],
  callbacks: {
    async jwt({ token, user, trigger, session }) {
      if (user) {
        // Sign-in: keep the backend's tokens in the (encrypted) NextAuth cookie.
        return {
          sub: user.id,
          name: user.name,
          accessToken: user.accessToken,
          refreshToken: user.refreshToken,
          accessTokenExpires: Date.now() + user.expiresIn * 1000,
          accessTokenLifetimeMs: user.expiresIn * 1000,
        };
      }
      if (token.error && !TRANSIENT.has(token.error)) return token; // needs a new sign-in
      // The socket client asks for a renewal (update({renew: true})) shortly before exp;
      // any other session read renews when the token is close to its end.
      const asked = trigger === "update" && session && session.renew === true;
      if (!asked && Date.now() < token.accessTokenExpires - renewMarginMs(token)) return token;
      return renew(token);
    },
    async session({ session, token }) {
      return {
        expires: session.expires,
        user: { id: token.sub, name: token.name },
        accessToken: token.accessToken,
        accessTokenExpires: token.accessTokenExpires,
        error: token.error || null,
      };
    },
  },
  events: {
    // Sign-out ends the backend session too: its token is revoked and its sockets are kicked.
    async signOut({ token }) {
      if (!token || !token.accessToken) return;
      try {
        await backend.logout(token.accessToken);
      } catch (e) {
        if (!(e instanceof BackendError) || e.code !== "token_expired") return;
        const renewed = await renew(token);
        if (!renewed.error) await backend.logout(renewed.accessToken).catch(() => {});
      }
    },
  },
};
