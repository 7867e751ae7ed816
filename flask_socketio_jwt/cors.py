"""CORS headers on Socket.IO long-polling responses for the configured origins.

engine.io's own CORS handling is off (it would refuse a foreign Origin with a bare 400 before
the connect handler could answer `origin_forbidden`), so without this a browser on an allowed
origin could not read polling responses. WebSocket handshakes ignore these headers; the
Origin itself is checked in the namespace's connect handler.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

CORS_HEADERS = {"access-control-allow-origin", "access-control-allow-methods",
                "access-control-allow-headers", "access-control-allow-credentials", "vary"}


class SocketCors:
    """WSGI middleware: Access-Control-* headers for allowed origins under the Socket.IO path."""

    def __init__(self, app: Callable, allowed: Iterable[str], path: str = "/socket.io") -> None:
        self.app, self.allowed, self.path = app, list(allowed), path.rstrip("/")

    def origin_allowed(self, origin: str) -> bool:
        """True for a configured origin (or any, with "*")."""
        return "*" in self.allowed or origin in self.allowed

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        origin = environ.get("HTTP_ORIGIN")
        path = environ.get("PATH_INFO", "")
        if not origin or not (path == self.path or path.startswith(self.path + "/")) \
                or not self.origin_allowed(origin):
            return self.app(environ, start_response)
        extra = [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]
        if environ.get("REQUEST_METHOD") == "OPTIONS":
            extra += [("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
                      ("Access-Control-Allow-Headers", "Authorization, Content-Type")]

        def cors_start_response(status: str, headers: list, exc_info: Any = None) -> Any:
            kept = [h for h in headers if h[0].lower() not in CORS_HEADERS]
            return start_response(status, kept + extra, exc_info)

        return self.app(environ, cors_start_response)
