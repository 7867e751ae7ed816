"""The browser address a trusted frontend passes (realtime/frontend.py): only with the shared key."""

from __future__ import annotations

import pytest
from flask import Flask, request

from realtime.frontend import FrontendAddress

KEY = "frontend-key-" + "f" * 40


@pytest.fixture
def client():
    app = Flask("frontend")
    app.add_url_rule("/addr", "addr", lambda: request.remote_addr or "")
    app.wsgi_app = FrontendAddress(app.wsgi_app, KEY)  # type: ignore[method-assign]
    return app.test_client()


@pytest.mark.parametrize(("headers", "seen"), [
    ({"X-Frontend-Key": KEY, "X-Client-Address": "10.1.2.3"}, "10.1.2.3"),
    ({"X-Frontend-Key": KEY, "X-Client-Address": " 2001:db8::1 "}, "2001:db8::1"),
    ({"X-Frontend-Key": "wrong" + KEY, "X-Client-Address": "10.1.2.3"}, "127.0.0.1"),
    ({"X-Client-Address": "10.1.2.3"}, "127.0.0.1"),  # a browser cannot choose its address
    ({"X-Frontend-Key": KEY, "X-Client-Address": "not-an-address"}, "127.0.0.1"),
    ({"X-Frontend-Key": KEY}, "127.0.0.1"),
], ids=["key", "ipv6", "wrong-key", "no-key", "not-an-address", "no-address"])
def test_the_address_is_taken_only_with_the_key(client, headers, seen) -> None:
    assert client.get("/addr", headers=headers, environ_base={"REMOTE_ADDR": "127.0.0.1"}).text == seen


def test_a_short_key_stops_the_app() -> None:
    with pytest.raises(RuntimeError, match="FRONTEND_KEY"):
        FrontendAddress(lambda e, s: [], "short")
