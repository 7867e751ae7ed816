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


def bind_options(app: Flask, given: dict[str, Any], client_manager: Any) -> dict[str, Any]:
    """What `SocketIO.init_app` gets when the extension binds the host's SocketIO: only what the host left unset.

    given: the options the host passed to `SocketIO(...)` and as `socketio_options`; they stay as
    they are. The extension fills the message cap, its own Origin check (engine.io's is off so a
    refusal carries `origin_forbidden`), the async mode if `SOCKETIO_JWT_ASYNC_MODE` names one (else
    Flask-SocketIO chooses), and its client manager unless the host chose a queue or a manager.
    """
    cfg = app.config
    fill: dict[str, Any] = {
        "max_http_buffer_size": int(cfg["SOCKETIO_JWT_MAX_MESSAGE_BYTES"]),
        "cors_allowed_origins": [],
    }
    if cfg["SOCKETIO_JWT_ASYNC_MODE"]:
        fill["async_mode"] = cfg["SOCKETIO_JWT_ASYNC_MODE"]
    if client_manager is not None and "message_queue" not in given and "client_manager" not in given:
        fill["client_manager"] = client_manager
    return {k: v for k, v in fill.items() if k not in given}


def adopt_server(app: Flask, socketio: SocketIO, given: dict[str, Any]) -> None:
    """A SocketIO the host bound itself: keep its server and options; set on it what `bind_options`
    would have filled in (the message cap, the Origin check), and refuse a contradicting async mode."""
    eio = socketio.server.eio
    fill = bind_options(app, given, client_manager=None)
    fill.pop("async_mode", None)  # a bound server's mode is fixed: checked against the config instead
    wanted = app.config["SOCKETIO_JWT_ASYNC_MODE"]
    if wanted and wanted != eio.async_mode:
        raise RuntimeError(f"SOCKETIO_JWT_ASYNC_MODE is {wanted!r} but the app's SocketIO runs {eio.async_mode!r}: "
                           "set one of them, not both")
    for name, value in fill.items():  # engine.io reads both per request
        setattr(eio, name, value)


def host_origins(app: Flask, given: dict[str, Any]) -> list[str]:
    """The origins the host's SocketIO allows (`cors_allowed_origins`), besides the config's.

    Raises when cookie tokens meet an open CORS policy: a cookie is sent on a handshake any page
    starts, so only the Origin check keeps foreign pages out.
    """
    cors = given.get("cors_allowed_origins")
    cors_list = [cors] if isinstance(cors, str) else list(cors or [])
    origins = [*app.config["SOCKETIO_JWT_CORS_ALLOWED_ORIGINS"], *cors_list]
    locations = app.config.get("JWT_TOKEN_LOCATION") or ()
    cookies = "cookies" in ([locations] if isinstance(locations, str) else locations)
    if cookies and "*" in origins:
        where = "SocketIO's cors_allowed_origins" if "*" in cors_list else "SOCKETIO_JWT_CORS_ALLOWED_ORIGINS"
        raise RuntimeError(f"JWT_TOKEN_LOCATION includes 'cookies' and {where} is '*' (every origin): a cookie "
                           "token would let any web page open a socket as the signed-in user. List the "
                           "allowed origins instead")
    return cors_list
