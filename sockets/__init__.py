"""Socket.IO layer: `init_app(app)` binds Flask-SocketIO and mounts the authenticated namespace."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_socketio import SocketIO

from flask_socketio_jwt.core import state as core_state
from flask_socketio_jwt.patches import manager
from sockets.namespace import RealtimeNamespace


class SocketTransport:
    """The hub's view of Socket.IO: emits and disconnects on the socket's own process."""

    def __init__(self, socketio: SocketIO, namespace: str = "/") -> None:
        self.socketio, self.namespace = socketio, namespace

    # User room names share Socket.IO's namespace with socket ids (both match [A-Za-z0-9_-]);
    # a prefix with a character room names may not contain keeps a room from ever being a sid.
    ROOM_PREFIX = "room:"

    def emit(self, event: str, data: Any, to: str) -> None:
        """Emit to one socket by sid (across processes when a queue is configured)."""
        self.socketio.emit(event, data, to=to, namespace=self.namespace)

    def broadcast(self, event: str, data: Any, room: str) -> None:
        """Emit to every socket in a room (across processes when a queue is configured)."""
        self.socketio.emit(event, data, to=self.ROOM_PREFIX + room, namespace=self.namespace)

    def disconnect(self, sid: str) -> None:
        """Disconnect a socket of this process after what was emitted to it."""
        self.socketio.server.disconnect(sid, namespace=self.namespace, ignore_queue=True)

    def enter_room(self, sid: str, room: str) -> None:
        """Add a socket to a Socket.IO room."""
        self.socketio.server.enter_room(sid, self.ROOM_PREFIX + room, namespace=self.namespace)

    def leave_room(self, sid: str, room: str) -> None:
        """Remove a socket from a Socket.IO room."""
        self.socketio.server.leave_room(sid, self.ROOM_PREFIX + room, namespace=self.namespace)


def socketio_options(app: Flask) -> dict:
    """Flask-SocketIO / engine.io options from the app config."""
    cfg = app.config
    opts = {
        "async_mode": cfg["SOCKETIO_ASYNC_MODE"],
        # Origins are checked in the connect handler so a refusal carries `origin_forbidden`.
        "cors_allowed_origins": [],
        "max_http_buffer_size": int(cfg["SOCKET_MAX_MESSAGE_BYTES"]),
        "ping_interval": cfg["SOCKET_PING_INTERVAL"],
        "ping_timeout": cfg["SOCKET_PING_TIMEOUT"],
        # Chat payloads are small; WebSocket compression is SOCKET_WEBSOCKET_COMPRESSION (wsguard).
        "http_compression": False,
        "manage_session": False,
        "logger": False,
        "engineio_logger": False,
    }
    # Always our own manager (room index: O(1) disconnects); passing one also keeps Flask-SocketIO
    # from reusing a queue an earlier init_app call set, as it keeps options across calls.
    opts["message_queue"] = cfg.get("SOCKETIO_MESSAGE_QUEUE") or None
    opts["client_manager"] = manager.client_manager(opts["message_queue"], cfg["SOCKETIO_CHANNEL"])
    return opts


def init_app(app: Flask, socketio: SocketIO | None = None, namespace: str = "/") -> SocketIO:
    """Bind Flask-SocketIO to app and mount the namespace; returns the SocketIO object."""
    from config import apply_defaults

    if socketio is None:
        from extensions import socketio
    apply_defaults(app)
    socketio.init_app(app, **socketio_options(app))
    state = core_state.init_app(app, sleep=socketio.sleep, spawn=socketio.start_background_task)
    state.hub.transport = SocketTransport(socketio, namespace)
    socketio.on_namespace(RealtimeNamespace(namespace))
    from flask_socketio_jwt import hardening

    hardening.install(app, socketio, state)
    return socketio
