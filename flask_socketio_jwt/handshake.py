"""Where a connecting socket's token is, as the host's flask-jwt-extended setup says, and its Origin check.

Besides the auth payload `{"token": ...}` (always read, and it wins), the token comes from the
places the host's `JWT_TOKEN_LOCATION` names, parsed as flask-jwt-extended parses them for
REST: the header `JWT_HEADER_NAME` with the `JWT_HEADER_TYPE` prefix (an empty type: the bare
token), and the access cookie `JWT_ACCESS_COOKIE_NAME`. A cookie is ambient (a browser sends it
on a handshake a foreign page starts), so it counts only on a handshake whose `Origin` is the
app's own or an allowed one: that is what stands in for double-submit CSRF on a WebSocket.
Tokens in the URL (`query_string`) are never read: URLs end up in logs and proxies.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from flask import current_app, request
from flask_jwt_extended.config import config as jwt_config

from flask_socketio_jwt.core.errors import OriginForbidden, auth_error
from flask_socketio_jwt.core.state import get_state


def allowed_origins() -> list[str]:
    """The origins besides the app's own that may open a socket (config and the host's SocketIO options)."""
    return [*current_app.config["SOCKETIO_JWT_CORS_ALLOWED_ORIGINS"], *get_state().allowed_origins]


def origin_is_allowed(origin: str | None, allowed: Iterable[str]) -> bool:
    """True for the app's own origin, a listed one, or any with "*"; False for a missing Origin."""
    if not origin:
        return False
    allowed = list(allowed)
    if "*" in allowed or origin in allowed:
        return True
    return bool(origin == f"{request.scheme}://{request.host}")


def check_origin() -> None:
    """Refuse a browser handshake from a foreign page; a handshake with no Origin is not a browser's."""
    origin = request.headers.get("Origin")
    if origin and not origin_is_allowed(origin, allowed_origins()):
        raise OriginForbidden()


def token_locations() -> tuple[str, ...]:
    """The host's JWT_TOKEN_LOCATION as a tuple."""
    return tuple(jwt_config.token_location)


def handshake_token(auth: Any) -> str:
    """The connecting socket's token: the auth payload first, then the host's header, then its cookie."""
    if isinstance(auth, dict) and "token" in auth:
        token = auth["token"]
        if not isinstance(token, str):
            raise auth_error("auth_required")
        return token
    if auth is not None and not isinstance(auth, dict):
        raise auth_error("auth_required")
    locations = token_locations()
    if "headers" in locations:
        token = header_token(request.headers.get(jwt_config.header_name, ""), jwt_config.header_type)
        if token:
            return token
    if "cookies" in locations:
        token = request.cookies.get(jwt_config.access_cookie_name)
        if token:
            # An ambient credential: only from the app's own or an allowed page.
            if not origin_is_allowed(request.headers.get("Origin"), allowed_origins()):
                raise OriginForbidden("A cookie token is accepted only from the app's own or an allowed origin.")
            return token
    raise auth_error("auth_required")


def header_token(value: str, header_type: str) -> str | None:
    """The token in a header value, parsed as flask-jwt-extended parses it (None: no usable token)."""
    value = value.strip().strip(",")
    if not value:
        return None
    if header_type:
        fields = [s for s in re.split(r",\s*", value) if s and s.split()[0] == header_type]
        if len(fields) != 1:
            return None
        parts = fields[0].split()
    else:
        parts = value.split()
        if len(parts) == 1:
            return parts[0]
        return None
    return parts[1] if len(parts) == 2 else None
