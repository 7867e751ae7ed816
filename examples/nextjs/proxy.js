// Every page: a signed-out visitor lands on the sign-in page, and security headers go out (the
// page's JavaScript holds the backend's access token, so no other site may frame it, and it may
// talk to this server and the Flask socket URL only).
import { NextResponse } from "next/server";
import { getToken } from "next-auth/jwt";

/** Paths a signed-out visitor may open: the sign-in page and NextAuth's own routes. */
function isPublic(pathname) {
  return pathname === "/signin" || pathname.startsWith("/api/auth/") || pathname === "/icon.svg";
}

/** The Flask socket origin (http and ws forms) the page may connect to, read at request time. */
function socketOrigins() {
  const url = (process.env.NEXT_PUBLIC_SOCKET_URL || "http://127.0.0.1:5000").trim().replace(/\/+$/, "");
  return [url, url.replace(/^http/, "ws")];
}

export async function proxy(request) {
  const { pathname, search } = request.nextUrl;
  let response;
  if (!isPublic(pathname) && !(await getToken({ req: request, secret: process.env.NEXTAUTH_SECRET }))) {
    const signin = new URL("/signin", request.url);
    signin.searchParams.set("callbackUrl", pathname + search);
    response = NextResponse.redirect(signin);
  } else {
    response = NextResponse.next();
  }
  const csp = [
    "default-src 'self'",
    // Next.js inlines its bootstrap scripts in statically rendered pages.
    "script-src 'self' 'unsafe-inline'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self'",
    `connect-src 'self' ${socketOrigins().join(" ")}`,
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
  response.headers.set("Content-Security-Policy", csp);
  response.headers.set("X-Frame-Options", "DENY");
  response.headers.set("X-Content-Type-Options", "nosniff");
  response.headers.set("Referrer-Policy", "same-origin");
  return response;
}

export const config = { matcher: ["/((?!_next/static|_next/image).*)"] };
