"""Installs the abuse protections that sit below the namespace (see docs/security.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask

from realtime.state import State
from sockets import backpressure, framing, gevent_ws, leansocket, leanstack, timeouts, wsguard
from sockets.cors import SocketCors


@dataclass
class Hardening:
    """Handles on the guards installed on one app's Socket.IO server."""

    websocket_hardened: bool
    lean_sockets: bool
    connect_timeout: timeouts.ConnectTimeout
    send_queue: backpressure.SendQueueGuard


def install(app: Flask, socketio: Any, state: State) -> Hardening:
    """WebSocket limits, lean sockets, the connect timeout, send-queue bounds, no binary packets, CORS headers."""
    cfg = app.config
    eio = socketio.server.eio
    lean = leansocket.install(eio, bool(cfg["SOCKET_LEAN_ENGINEIO"]))
    handles = Hardening(
        websocket_hardened=(wsguard.install(eio, bool(cfg["SOCKET_WEBSOCKET_COMPRESSION"]), lean=lean)
                            or gevent_ws.install(eio, bool(cfg["SOCKET_WEBSOCKET_COMPRESSION"]))),
        lean_sockets=lean,
        connect_timeout=timeouts.install(socketio, state.audit, float(cfg["SOCKET_CONNECT_TIMEOUT"])),
        send_queue=backpressure.install(socketio, state.audit, state.registry, int(cfg["SOCKET_MAX_SEND_QUEUE"])),
    )
    framing.install(socketio, state.audit, state.registry)
    cors = SocketCors(leanstack.flat(app.wsgi_app), cfg["CORS_ALLOWED_ORIGINS"])
    app.wsgi_app = leanstack.flat(cors)  # type: ignore[method-assign]
    if lean:  # lean implies eventlet or gevent, whose WebSocket classes both read `eventlet.input`
        app.wsgi_app = leanstack.prefill_input(app.wsgi_app)  # type: ignore[method-assign]
    app.extensions["socket_hardening"] = handles
    return handles
