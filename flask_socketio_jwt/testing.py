"""Helpers for a host app's own pytest: tokens, an authenticated test client, the refusal payload."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_jwt_extended import create_access_token
from flask_socketio import SocketIO, SocketIOTestClient
from socketio import packet

_TOKEN: Any = object()


def access_token(app: Flask, identity: Any, **claims: Any) -> str:
    """An access token for identity, minted by the app's own JWTManager."""
    with app.app_context():
        token: str = create_access_token(identity=identity, additional_claims=claims or None)
        return token


class SocketTestClient(SocketIOTestClient):
    """Flask-SocketIO's test client that also keeps a refused connect's payload in `refusal`."""

    refusal: dict[str, Any] | None = None

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
