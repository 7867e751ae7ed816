"""The hub's view of Socket.IO, and the Socket.IO server options the extension needs."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_socketio import SocketIO


class SocketTransport:
    """The hub's view of Socket.IO: emits and disconnects on the socket's own process."""

    def __init__(self, socketio: SocketIO) -> None:
        self.socketio = socketio

    # User room names share Socket.IO's namespace with socket ids (both match [A-Za-z0-9_-]);
    # a prefix with a character room names may not contain keeps a room from ever being a sid.
    ROOM_PREFIX = "room:"

    def emit(self, event: str, data: Any, to: str, namespace: str = "/") -> None:
        """Emit to one socket by sid (across processes when a queue is configured)."""
        self.socketio.emit(event, data, to=to, namespace=namespace)

    def broadcast(self, event: str, data: Any, room: str, namespace: str = "/") -> None:
        """Emit to every socket in a room (across processes when a queue is configured)."""
        self.socketio.emit(event, data, to=self.ROOM_PREFIX + room, namespace=namespace)

    def disconnect(self, sid: str, namespace: str = "/") -> None:
        """Disconnect a socket of this process after what was emitted to it."""
        self.socketio.server.disconnect(sid, namespace=namespace, ignore_queue=True)

    def enter_room(self, sid: str, room: str, namespace: str = "/") -> None:
        """Add a socket to a Socket.IO room."""
        self.socketio.server.enter_room(sid, self.ROOM_PREFIX + room, namespace=namespace)

    def leave_room(self, sid: str, room: str, namespace: str = "/") -> None:
        """Remove a socket from a Socket.IO room."""
        self.socketio.server.leave_room(sid, self.ROOM_PREFIX + room, namespace=namespace)

    def close_session(self, eio_sid: str, abort: bool) -> None:
        """Close an Engine.IO session without waiting for the client (abort: drop what it had queued)."""
        eio = self.socketio.server.eio
        sock = eio.sockets.get(eio_sid)
        if sock is None or sock.closed or sock.closing:
            return
        reason = eio.reason.TRANSPORT_ERROR if abort else eio.reason.SERVER_DISCONNECT
        sock.close(wait=False, abort=abort, reason=reason)
        if abort:
            eio.sockets.pop(eio_sid, None)


def socketio_options(app: Flask, client_manager: Any) -> dict[str, Any]:
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
    # Always a manager of our own choosing: passing one also keeps Flask-SocketIO from reusing
    # a queue an earlier init_app call set, as it keeps options across calls.
    opts["message_queue"] = cfg.get("SOCKETIO_MESSAGE_QUEUE") or None
    opts["client_manager"] = client_manager
    return opts
