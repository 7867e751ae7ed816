"""A cheaper Flask request context for Socket.IO events (Flask-SocketIO's `_handle_event`, leaner).

Flask-SocketIO pushes a full request context for every event: it opens the cookie session
(an itsdangerous serializer and a signature check) and matches the URL map, about 59 µs of
the ~200 µs an event costs here, on every connect and every event. This layer uses JWTs,
not the Flask session, and the Engine.IO path matches no view, so `EventContext` skips the
URL match and opens the session only if a handler reads `flask.session` (22 µs per event).
Handlers keep `flask.request` (with `sid`, `namespace`, `event`), `current_app`, `g`,
`url_for`; a session a handler opened and changed is saved as Flask-SocketIO does.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.ctx import RequestContext
from flask.sessions import SessionMixin
from flask_socketio import SocketIO
from socketio.exceptions import ConnectionRefusedError
from werkzeug.exceptions import HTTPException

from flask_socketio_jwt.patches import has

_UNOPENED: Any = object()

# Written for and measured on Flask 3.1.3 and Flask-SocketIO 5.7.0. Flask 3.2 reworks
# RequestContext/AppContext (and opens the session lazily by itself): a 3.1 subclass fails there.
WRITTEN_FOR = {"Flask": ("3.1", "3.2"), "Flask-SocketIO": ("5.6", "5.8")}


def missing(socketio: Any) -> list[str]:
    """The internals this patch needs that socketio (and Flask) do not have."""
    return (has(socketio, "_handle_event", "server.get_environ", "exception_handlers")
            + has(RequestContext, "match_request", "session", "push", "pop")
            + context_attrs())


# What Flask 3.1's RequestContext.__init__ sets; `EventContext` sets the same itself (checked at install).
CONTEXT_ATTRS = frozenset({"app", "request", "url_adapter", "flashes", "_session", "_after_request_functions",
                           "_cv_tokens"})
# The environ keys werkzeug's `bind_to_environ` reads: sockets whose handshakes agree on them
# share one URL adapter (the query string is left out: it differs per polling request and only
# `match`, which events never run, reads it).
ADAPTER_KEYS = ("HTTP_HOST", "SERVER_NAME", "SERVER_PORT", "wsgi.url_scheme", "SCRIPT_NAME", "PATH_INFO",
                "REQUEST_METHOD", "HTTP_X_FORWARDED_HOST")
ADAPTER_CACHE_SIZE = 256


class EventContext(RequestContext):
    """A request context with a lazily opened session, no URL match and a shared URL adapter."""

    def __init__(self, app: Flask, environ: dict) -> None:
        request = app.request_class(environ)
        request.json_module = app.json
        # RequestContext.__init__ (its attributes are checked by `missing`) without binding the
        # URL map for every event: binding it (host parsing and a MapAdapter) was a fifth of an
        # event's cost in the handler path. A non-None session keeps `push` from opening it;
        # `session` opens it on first use.
        self.app, self.request = app, request
        self.url_adapter = url_adapter(app, request)
        self.flashes = None
        self._session = _UNOPENED
        self._after_request_functions = []
        self._cv_tokens = []

    @property
    def session(self) -> SessionMixin:
        """The Flask session, opened the first time a handler asks for it."""
        if self._session is _UNOPENED:
            si = self.app.session_interface
            opened = si.open_session(self.app, self.request)  # an empty session is falsy: test for None
            self._session = si.make_null_session(self.app) if opened is None else opened
        self._session.accessed = True  # type: ignore[union-attr]
        return self._session  # type: ignore[return-value]

    def match_request(self) -> None:
        """The Engine.IO endpoint is no view: nothing to match."""

    def save_opened_session(self) -> None:
        """Save a session a handler opened and modified (server-side sessions keep the change)."""
        sess = self._session
        if sess is not _UNOPENED and getattr(sess, "modified", True):
            self.app.session_interface.save_session(self.app, sess, self.app.response_class())  # type: ignore[arg-type]


def url_adapter(app: Flask, request: Any) -> Any:
    """The app's URL adapter for this handshake's environ, bound once per distinct environ."""
    if app.config.get("TRUSTED_HOSTS") is not None:
        request.trusted_hosts = app.config["TRUSTED_HOSTS"]
    environ = request.environ
    key = tuple(environ.get(k) for k in ADAPTER_KEYS)
    cache = app.extensions.setdefault("flask-socketio-jwt:url-adapters", {})
    adapter = cache.get(key)
    if adapter is None:
        try:
            adapter = app.create_url_adapter(request)
        except HTTPException as e:  # as RequestContext does: an untrusted host fails at first use
            request.routing_exception = e
            return None
        if len(cache) >= ADAPTER_CACHE_SIZE:
            cache.clear()
        cache[key] = adapter
    return adapter


def context_attrs() -> list[str]:
    """Differences between what Flask's RequestContext.__init__ sets and what `EventContext` sets."""
    probe = RequestContext(Flask(__name__), {"REQUEST_METHOD": "GET", "SERVER_NAME": "localhost", "SERVER_PORT": "80",
                                 "wsgi.url_scheme": "http", "PATH_INFO": "/"})
    return [f"RequestContext.{name} (set by EventContext)" for name in sorted(CONTEXT_ATTRS - set(vars(probe)))] + [
        f"RequestContext.{name} (unknown to EventContext)" for name in sorted(set(vars(probe)) - CONTEXT_ATTRS)]


def handle_event(socketio: SocketIO, handler: Callable[..., Any], message: str, namespace: str,
                 sid: str, *args: Any) -> Any:
    """Run one Socket.IO event handler in an `EventContext` (same contract as Flask-SocketIO's)."""
    environ = socketio.server.get_environ(sid, namespace=namespace)
    if not environ:
        return "", 400  # a client we have no record of: ignored, as Flask-SocketIO does
    ctx = EventContext(environ["flask.app"], environ)
    with ctx:
        request = ctx.request
        request.sid, request.namespace = sid, namespace  # type: ignore[attr-defined]
        request.event = {"message": message, "args": args}  # type: ignore[attr-defined]
        try:
            if message == "connect":
                auth = args[1] if len(args) > 1 else None
                ret = handler(auth)
            else:
                ret = handler(*args)
        except ConnectionRefusedError:
            raise  # python-socketio turns it into the CONNECT_ERROR packet
        except Exception:
            err_handler = socketio.exception_handlers.get(namespace, socketio.default_exception_handler)
            if err_handler is None:
                raise
            return err_handler(sys.exc_info()[1])
        ctx.save_opened_session()
        return ret


def install(socketio: SocketIO) -> None:
    """Run every event handler of this Socket.IO server in an `EventContext`."""
    socketio._handle_event = functools.partial(handle_event, socketio)  # type: ignore[method-assign]
