"""Helpers for a host app's own pytest: tokens, an authenticated test client, the refusal payload."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_jwt_extended import create_access_token
from flask_socketio import SocketIO, SocketIOTestClient
from socketio import packet

__all__ = ["SocketTestClient", "access_token", "socket_client"]

_TOKEN: Any = object()
KICK_EVENTS = frozenset({"auth_revoked", "auth_expired"})


def access_token(app: Flask, identity: Any, *, fresh: bool = False, expires_delta: Any = None,
                 additional_headers: dict[str, Any] | None = None, **claims: Any) -> str:
    """An access token minted by the app's own JWTManager, as its `create_access_token` mints one.

    identity is what the host passes to `create_access_token`: an identity, or a user object
    its `user_identity_loader` turns into one. Extra keyword arguments become claims.
    """
    with app.app_context():
        token: str = create_access_token(identity=identity, fresh=fresh, expires_delta=expires_delta,
                                         additional_claims=claims or None, additional_headers=additional_headers)
        return token


class SocketTestClient(SocketIOTestClient):
    """Flask-SocketIO's test client that also keeps a refused connect's payload in `refusal`."""

    refusal: dict[str, Any] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.kicks: list[dict[str, Any]] = []  # kick events a get_received() call already handed out
        self.queue: list[dict[str, Any]] = []
        super().__init__(*args, **kwargs)

    def connect(self, namespace: str | None = None, query_string: str | None = None,
                headers: dict[str, str] | None = None, auth: Any = None) -> None:
        """Connect as Flask-SocketIO's client does; a CONNECT_ERROR's data lands in `refusal`."""
        server = self.socketio.server
        send = server._send_packet

        def capture(eio_sid: str, pkt: Any) -> Any:
            if eio_sid == self.eio_sid and pkt.packet_type == packet.CONNECT_ERROR:
                data = pkt.data if isinstance(pkt.data, dict) else {"message": pkt.data}
                self.refusal = data.get("data") if isinstance(data.get("data"), dict) else data
            return send(eio_sid, pkt)

        server._send_packet = capture
        try:
            super().connect(namespace=namespace, query_string=query_string, headers=headers, auth=auth)
        finally:
            server._send_packet = send

    def get_received(self, namespace: str | None = None) -> list[dict[str, Any]]:
        """As Flask-SocketIO's, but also once the server disconnected the client: a kick's event stays readable."""
        namespace = namespace or "/"
        received = [pkt for pkt in self.queue if pkt["namespace"] == namespace]
        self.queue = [pkt for pkt in self.queue if pkt["namespace"] != namespace]
        self.kicks += [pkt for pkt in received if pkt["name"] in KICK_EVENTS]
        return received

    def kick(self, namespace: str | None = None) -> dict[str, Any] | None:
        """The `auth_revoked` / `auth_expired` the server sent before disconnecting this client, unread or not.

        `{"event": "auth_revoked", "code": "token_revoked"}`, or None when the client was not
        kicked in namespace. Does not consume received events.
        """
        namespace = namespace or "/"
        for pkt in reversed(self.kicks + self.queue):
            if pkt["namespace"] == namespace and pkt["name"] in KICK_EVENTS:
                data = pkt["args"][0] if pkt["args"] else {}
                return {"event": pkt["name"], "code": data.get("code") if isinstance(data, dict) else None}
        return None

    @property
    def refusal_code(self) -> str | None:
        """The contract code of a refused connect (`token_expired`, ...), None if not refused."""
        return None if self.refusal is None else self.refusal.get("code")


def socket_client(app: Flask, token: str | None = None, *, namespace: str = "/",
                  headers: dict[str, str] | None = None, auth: Any = _TOKEN,
                  socketio: SocketIO | None = None) -> SocketTestClient:
    """A test client connected to namespace with token in the auth payload (auth= sends another payload)."""
    sio: SocketIO = socketio or app.extensions["socketio"]
    payload = {"token": token} if auth is _TOKEN else auth
    return SocketTestClient(app, sio, namespace=namespace, headers=headers, auth=payload)
