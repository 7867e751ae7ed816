"""This app's Socket.IO layer: binds the flask_socketio_jwt extension and mounts the namespace."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_socketio import SocketIO

from sockets.namespace import RealtimeNamespace


def session_user(user: Any) -> dict:
    """What the `session` event adds to {"id"} for this app's users: the username."""
    return {"username": user.username}


def init_app(app: Flask, socketio: SocketIO | None = None, namespace: str = "/") -> SocketIO:
    """Bind Flask-SocketIO and the extension to app and mount the namespace; returns the SocketIO object."""
    from extensions import db, socket_jwt
    from models import AuditEvent
    from realtime import tokens

    if socketio is None:
        from extensions import socketio
    cfg = app.config
    # This app's own Socket.IO options (the extension keeps whatever a host passes).
    options = {"ping_interval": cfg.get("SOCKET_PING_INTERVAL", 25), "ping_timeout": cfg.get("SOCKET_PING_TIMEOUT", 20),
               # Chat payloads are small; WebSocket compression is SOCKETIO_JWT_WEBSOCKET_COMPRESSION.
               "http_compression": False, "manage_session": False, "logger": False, "engineio_logger": False}
    # The admin view (sockets/admin.py) checks its admins' tokens itself.
    public = ["/admin"] if cfg.get("ADMIN_UI_ENABLED") else []
    # Revalidation: two queries per batch of live sockets instead of the loaders one socket at a time.
    socket_jwt.init_app(app, socketio, audit_table=AuditEvent.__table__, engine=db, session_user=session_user,
                        revalidate=tokens.find_revoked, socketio_options=options, public_namespaces=public)
    socketio.on_namespace(RealtimeNamespace(namespace))
    return socketio
