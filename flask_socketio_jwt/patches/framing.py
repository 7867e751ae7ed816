"""Socket.IO packets the contract does not use: binary events, binary acks and attachments.

python-socketio keeps a BINARY_EVENT's header until its announced number of attachments has
arrived, with no limit on that number: a connected client could grow server memory one
64 KiB attachment at a time. The contract is JSON only, so a session that sends a binary
packet or a binary message is closed and audited (`kick`, code `protocol_error`).
"""

from __future__ import annotations

import logging
from typing import Any

from flask_socketio_jwt.core.hub import Hub
from flask_socketio_jwt.patches import has

log = logging.getLogger(__name__)

WRITTEN_FOR = {"python-socketio": ("5.16", "5.19"), "python-engineio": ("4.13", "4.16")}


def missing(socketio: Any) -> list[str]:
    """The engine.io internals the binary-packet guard needs."""
    return has(socketio, "server.eio.handlers", "server.eio.sockets", "server.eio.reason", "server.eio.on",
               "server.manager.sid_from_eio_sid")

BINARY_PACKET_TYPES = ("5", "6")  # Socket.IO BINARY_EVENT, BINARY_ACK


def is_refused(data: Any) -> bool:
    """True for an Engine.IO message the contract never sends: binary data or a binary packet."""
    return not isinstance(data, str) or data[:1] in BINARY_PACKET_TYPES


def socket_sid(server: Any, eio_sid: str, namespaces: set[str]) -> str | None:
    """The Socket.IO sid of an Engine.IO session in one of the hub's namespaces, if it joined one."""
    for namespace in namespaces:
        sid = server.manager.sid_from_eio_sid(eio_sid, namespace)
        if sid:
            return str(sid)
    return None


def install(socketio: Any, hub: Hub) -> None:
    """Wrap the Engine.IO message handler so refused packets close the session."""
    server = socketio.server
    eio = server.eio
    on_message = eio.handlers["message"]

    def message(eio_sid: str, data: Any) -> Any:
        if not is_refused(data):
            return on_message(eio_sid, data)
        sock = eio.sockets.get(eio_sid)
        if sock is None or sock.closed or sock.closing:
            return None
        hub.kick(socket_sid(server, eio_sid, hub.namespaces), "protocol_error", eio_sid=eio_sid)
        return None

    eio.on("message", message)
