"""The lean request context Socket.IO events run in (sockets/context.py)."""

from __future__ import annotations

import flask
import pytest
from flask.sessions import SecureCookieSessionInterface
from socketio.exceptions import ConnectionRefusedError

from extensions import socketio
from flask_socketio_jwt.patches import context


def connected_sid(socket_client, tokens) -> str:
    """Connect a test client and return its Socket.IO sid (from the `session` event)."""
    c = socket_client(tokens.user()["access"])
    (session,) = [e["args"][0] for e in c.get_received() if e["name"] == "session"]
    return session["sid"]


def test_handler_sees_request_app_and_url_for(app, socket_client, tokens):
    sid = connected_sid(socket_client, tokens)
    seen = {}

    def handler(payload):
        req = flask.request
        seen.update(sid=req.sid, ns=req.namespace, event=req.event, app=flask.current_app.name,
                    url=flask.url_for("auth.me"), rule=req.url_rule)
        return {"echo": payload}

    assert context.handle_event(socketio, handler, "custom", "/", sid, {"x": 1}) == {"echo": {"x": 1}}
    assert seen == {"sid": sid, "ns": "/", "event": {"message": "custom", "args": ({"x": 1},)},
                    "app": app.name, "url": "/api/auth/me", "rule": None}


def test_session_opened_only_when_read(app, socket_client, tokens):
    sid = connected_sid(socket_client, tokens)
    opened = []

    class CountingInterface(SecureCookieSessionInterface):
        def open_session(self, app, request):
            opened.append(request.path)
            return super().open_session(app, request)

    app.session_interface = CountingInterface()
    context.handle_event(socketio, lambda: flask.request.sid, "quiet", "/", sid)
    assert opened == []
    got = context.handle_event(socketio, lambda: dict(flask.session), "reads", "/", sid)
    assert got == {} and opened == ["/socket.io"]


def test_modified_session_is_saved(app, socket_client, tokens):
    sid = connected_sid(socket_client, tokens)
    saved = []

    class RecordingInterface(SecureCookieSessionInterface):
        def save_session(self, app, session, response):
            saved.append(dict(session))

    app.session_interface = RecordingInterface()

    def writes():
        flask.session["seen"] = True

    context.handle_event(socketio, lambda: flask.session.get("seen"), "reads", "/", sid)
    assert saved == []  # read, not modified: nothing to save
    context.handle_event(socketio, writes, "writes", "/", sid)
    assert saved == [{"seen": True}]


def test_unknown_sid_is_ignored(app):
    with app.app_context():
        assert context.handle_event(socketio, lambda: pytest.fail("ran"), "x", "/", "no-such-sid") == ("", 400)


def test_errors_bubble_without_a_handler(app, socket_client, tokens):
    sid = connected_sid(socket_client, tokens)

    def refuse(auth):
        raise ConnectionRefusedError("nope")

    def boom():
        raise RuntimeError("bug")

    with pytest.raises(ConnectionRefusedError):
        context.handle_event(socketio, refuse, "connect", "/", sid, {}, None)
    with pytest.raises(RuntimeError, match="bug"):
        context.handle_event(socketio, boom, "boom", "/", sid)


def test_registered_error_handler_answers(app, socket_client, tokens):
    sid = connected_sid(socket_client, tokens)
    socketio.default_exception_handler = lambda exc: {"handled": type(exc).__name__}
    try:
        assert context.handle_event(socketio, lambda: 1 / 0, "boom", "/", sid) == {"handled": "ZeroDivisionError"}
    finally:
        socketio.default_exception_handler = None


def test_url_adapter_bound_once_per_host(app, socket_client, tokens):
    """Sockets whose handshakes name the same host share one URL adapter; another host gets its own."""
    seen = []

    def handler(_payload):
        seen.append((flask.url_for("auth.me", _external=True), flask.globals.request_ctx.url_adapter))

    first, second = (connected_sid(socket_client, tokens) for _ in range(2))
    other = socket_client(tokens.user()["access"], headers={"Host": "chat.example.test"})
    (session,) = [e["args"][0] for e in other.get_received() if e["name"] == "session"]
    for sid in (first, second, session["sid"]):
        context.handle_event(socketio, handler, "custom", "/", sid, None)
    (url_a, adapter_a), (url_b, adapter_b), (url_c, adapter_c) = seen
    assert url_a == url_b == "http://localhost/api/auth/me" and adapter_a is adapter_b
    assert url_c == "http://chat.example.test/api/auth/me" and adapter_c is not adapter_a


def test_untrusted_host_gets_no_url_adapter(app, socket_client, tokens):
    """TRUSTED_HOSTS still applies, as in a Flask request: no URL adapter, the routing exception set."""
    app.config["TRUSTED_HOSTS"] = ["localhost"]
    other = socket_client(tokens.user()["access"], headers={"Host": "evil.example.test"})
    (session,) = [e["args"][0] for e in other.get_received() if e["name"] == "session"]

    def handler(_payload):
        assert flask.globals.request_ctx.url_adapter is None
        assert flask.request.routing_exception.code == 400
        return "ran"

    assert context.handle_event(socketio, handler, "custom", "/", session["sid"], None) == "ran"


def test_context_attributes_checked(monkeypatch):
    """A Flask whose RequestContext sets other attributes leaves the stock context in place."""
    assert context.context_attrs() == []
    monkeypatch.setattr(context, "CONTEXT_ATTRS", context.CONTEXT_ATTRS | {"_gone"})
    assert context.missing(socketio) == ["RequestContext._gone (set by EventContext)"]
