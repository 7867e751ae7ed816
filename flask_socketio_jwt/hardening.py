"""Installs the patches and guards that sit below the namespace (see docs/patches.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask

from flask_socketio_jwt import patches
from flask_socketio_jwt.core.state import State
from flask_socketio_jwt.cors import SocketCors
from flask_socketio_jwt.patches import (
    backpressure,
    context,
    eventtask,
    framing,
    gevent_ws,
    jwtdecode,
    leansocket,
    leanstack,
    timeouts,
    wsguard,
)

HARDENING_KEY = "flask-socketio-jwt:hardening"


@dataclass
class Hardening:
    """What was installed on one app's Socket.IO server (None / False: the stock behaviour runs)."""

    websocket_hardened: bool
    lean_sockets: bool
    event_context: bool
    untracked_event_tasks: bool
    one_parse_decode: bool
    connect_timeout: timeouts.ConnectTimeout | None
    send_queue: backpressure.SendQueueGuard | None
    binary_refused: bool


def _websocket_guard(eio: Any, compression: bool, lean: bool) -> bool:
    """The WebSocket message cap of each runtime (eventlet, gevent, threading); True when it is in place."""
    if eio.async_mode == "eventlet":
        patches.require(wsguard, eio)
        return wsguard.install(eio, compression, lean=lean)
    if eio.async_mode == "gevent":
        patches.require(gevent_ws, eio)
        return gevent_ws.install(eio, compression)
    if eio.async_mode == "threading":
        return gevent_ws.install_threading(eio)
    raise RuntimeError(f"flask_socketio_jwt has no WebSocket guard for async_mode={eio.async_mode!r}")


def patches_enabled(app: Flask) -> bool:
    """False when SOCKETIO_JWT_PATCHES switches every speed change off (the guards stay)."""
    return bool(app.config["SOCKETIO_JWT_PATCHES"])


def install(app: Flask, socketio: Any, state: State) -> Hardening:
    """The security guards (always, or start-up stops), then the speed changes `SOCKETIO_JWT_PATCHES` allows."""
    cfg = app.config
    on = patches_enabled(app)
    eio = socketio.server.eio
    lean = on and patches.usable(leansocket, eio) and leansocket.install(eio, bool(cfg["SOCKETIO_JWT_LEAN_ENGINEIO"]))
    # -- guards: on every supported version, patches on or off; one that cannot go in stops start-up
    hardened = _websocket_guard(eio, bool(cfg["SOCKETIO_JWT_WEBSOCKET_COMPRESSION"]), lean)
    patches.require(framing, socketio)
    framing.install(socketio, state.hub)
    patches.require(timeouts, socketio)
    connect_timeout = timeouts.install(socketio, state.audit, float(cfg["SOCKETIO_JWT_CONNECT_TIMEOUT"]))
    patches.require(backpressure, socketio)
    send_queue = backpressure.install(socketio, state.hub, int(cfg["SOCKETIO_JWT_MAX_SEND_QUEUE"]))
    # -- speed changes: each skipped with one log line where the installed versions differ
    lean_context = on and patches.usable(context, socketio)
    if lean_context:
        context.install(socketio)
    untracked = on and patches.usable(eventtask, socketio.server) and eventtask.install(socketio.server)
    one_parse = on and patches.usable(jwtdecode, app.extensions["flask-jwt-extended"])
    state.decoder = jwtdecode.decode if one_parse else None
    handles = Hardening(
        websocket_hardened=hardened,
        lean_sockets=lean,
        event_context=lean_context,
        untracked_event_tasks=untracked,
        one_parse_decode=one_parse,
        connect_timeout=connect_timeout,
        send_queue=send_queue,
        binary_refused=True,
    )
    flat = on and patches.usable(leanstack)
    origins = [*cfg["SOCKETIO_JWT_CORS_ALLOWED_ORIGINS"], *state.allowed_origins]
    cors = SocketCors(leanstack.flat(app.wsgi_app) if flat else app.wsgi_app, origins)
    app.wsgi_app = leanstack.flat(cors) if flat else cors  # type: ignore[method-assign]
    if flat and lean:  # lean implies eventlet or gevent, whose WebSocket classes both read `eventlet.input`
        app.wsgi_app = leanstack.prefill_input(app.wsgi_app)  # type: ignore[method-assign, assignment]
    app.extensions[HARDENING_KEY] = handles
    return handles
