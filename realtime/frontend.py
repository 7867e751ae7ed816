"""The browser's address as a trusted frontend (the Next.js example's server) passes it.

Every sign-in through a server-side frontend reaches Flask from that server's address, so the
per-address limits would count every browser as one: one person's wrong passwords would lock
everyone out. The frontend sends the browser's address in `X-Client-Address` together with a
key shared with Flask (`FRONTEND_KEY`); only then does Flask take it as the request's address.
Without the key (or with a wrong one) both headers are dropped and the connection's address
stands, so a browser cannot choose its own address.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Callable
from typing import Any

KEY_HEADER = "HTTP_X_FRONTEND_KEY"
ADDRESS_HEADER = "HTTP_X_CLIENT_ADDRESS"
MIN_KEY_CHARS = 32


class FrontendAddress:
    """WSGI middleware: REMOTE_ADDR from `X-Client-Address` on requests that carry the frontend key."""

    def __init__(self, app: Callable[..., Any], key: str) -> None:
        if not isinstance(key, str) or len(key) < MIN_KEY_CHARS:
            raise RuntimeError(f"FRONTEND_KEY must be at least {MIN_KEY_CHARS} characters")
        self.app, self.digest = app, hashlib.sha256(key.encode()).digest()

    def __call__(self, environ: dict, start_response: Callable[..., Any]) -> Any:
        presented, address = environ.pop(KEY_HEADER, None), environ.pop(ADDRESS_HEADER, None)
        if presented is not None and address and hmac.compare_digest(
                hashlib.sha256(presented.encode("latin-1")).digest(), self.digest):
            try:
                environ["REMOTE_ADDR"] = str(ipaddress.ip_address(address.strip()))
            except ValueError:
                pass  # not an address: the connection's address stands
        return self.app(environ, start_response)
