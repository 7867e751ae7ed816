"""Socket.IO packets the contract does not use: binary events, binary acks and attachments.

python-socketio keeps a BINARY_EVENT's header until its announced number of attachments has
arrived, with no limit on that number: a connected client could grow server memory one
64 KiB attachment at a time. The contract is JSON only, so a session that sends a binary
packet or a binary message is closed and audited (`kick`, code `protocol_error`).
"""

from __future__ import annotations

import logging
from typing import Any

from flask_socketio_jwt.core.audit import AuditLog
from flask_socketio_jwt.core.registry import Registry

log = logging.getLogger(__name__)

BINARY_PACKET_TYPES = ("5", "6")  # Socket.IO BINARY_EVENT, BINARY_ACK


def is_refused(data: Any) -> bool:
    """True for an Engine.IO message the contract never sends: binary data or a binary packet."""
    return not isinstance(data, str) or data[:1] in BINARY_PACKET_TYPES


def install(socketio: Any, audit: AuditLog, registry: Registry, namespace: str = "/") -> None:
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
        sid = server.manager.sid_from_eio_sid(eio_sid, namespace)
        info = registry.get(sid) if sid else None
        audit.enqueue("kick", user_id=info.user_id if info else None, sid=sid or eio_sid,
                      remote_addr=info.remote_addr if info else None, code="protocol_error")
        sock.close(wait=False, abort=False, reason=eio.reason.SERVER_DISCONNECT)
        return None

    eio.on("message", message)
