"""Slow consumers: bound each Engine.IO socket's send queue.

engine.io gives every socket an unbounded queue; a writer task drains it into the WebSocket
(or a long-poll GET). A client that stops reading leaves the writer blocked in `sendall`
once the kernel buffers are full, while broadcasts keep queueing: memory grows without bound
until the ping timeout, and a client that blindly sends PONG frames while never reading
defeats the ping timeout too. Senders never block (they only enqueue), so other clients are
not delayed; memory is the risk. We wrap `eio.send_packet` (every Socket.IO emit, direct or
broadcast, passes through it): when a socket already has `SOCKET_MAX_SEND_QUEUE` packets
waiting, it is dropped (audited as `kick` with code `slow_consumer`) and its queue emptied.

`eio.disconnect(sid)` closes with `wait=True`: it blocks until the client has read the CLOSE
packet. A polling client that never polls again (for example after engine.io refused its
oversized POST, which calls `disconnect`) would pin that request's green thread and
connection forever. `nonblocking_disconnect` makes it close without waiting.
"""

from __future__ import annotations

import logging
from typing import Any

from realtime.audit import AuditLog
from realtime.registry import Registry

log = logging.getLogger(__name__)


class SendQueueGuard:
    """Drops sockets whose outgoing queue has reached the limit."""

    def __init__(self, socketio: Any, audit: AuditLog, registry: Registry, limit: int,
                 namespace: str = "/") -> None:
        self.socketio, self.audit, self.registry = socketio, audit, registry
        self.eio = socketio.server.eio
        self.limit, self.namespace = int(limit), namespace
        self._dropping: set[str] = set()
        self.dropped = 0

    def install(self) -> SendQueueGuard:
        """Wrap the engine.io server's send_packet."""
        original = self.eio.send_packet

        def send_packet(eio_sid: str, pkt: Any) -> None:
            if eio_sid in self._dropping:
                return
            sock = self.eio.sockets.get(eio_sid)
            if sock is not None and sock.queue.qsize() >= self.limit:
                self._dropping.add(eio_sid)
                # Not inline: we may be inside another client's handler or a broadcast loop.
                self.socketio.start_background_task(self.drop, eio_sid)
                return
            original(eio_sid, pkt)

        self.eio.send_packet = send_packet
        return self

    def drop(self, eio_sid: str) -> None:
        """Close a slow socket without waiting for it and release what it had queued."""
        try:
            sock = self.eio.sockets.get(eio_sid)
            if sock is None or sock.closed:
                return
            sid = self.socketio.server.manager.sid_from_eio_sid(eio_sid, self.namespace)
            info = self.registry.get(sid) if sid else None
            self.audit.enqueue("kick", user_id=info.user_id if info else None, sid=sid or eio_sid,
                               remote_addr=info.remote_addr if info else None, code="slow_consumer",
                               queued=sock.queue.qsize())
            self.dropped += 1
            sock.close(wait=False, abort=True, reason=self.eio.reason.TRANSPORT_ERROR)
            self.eio.sockets.pop(eio_sid, None)
            _drain(sock.queue, self.eio.get_queue_empty_exception())
        except Exception:
            log.exception("dropping slow consumer %s failed", eio_sid)
        finally:
            self._dropping.discard(eio_sid)


def _drain(queue: Any, empty: type[BaseException]) -> None:
    """Empty a queue, then wake its writer so it exits after the packet it is sending."""
    for _ in range(queue.qsize() + 1):
        try:
            queue.get(block=False)
            queue.task_done()
        except empty:
            break
    queue.put(None)


def nonblocking_disconnect(eio: Any) -> None:
    """Make `eio.disconnect(sid)` queue the CLOSE packet and return instead of waiting for the client."""
    original = eio.disconnect

    def disconnect(sid: str | None = None) -> None:
        if sid is None:
            return original()
        sock = eio.sockets.get(sid)
        if sock is not None:
            sock.close(wait=False, reason=eio.reason.SERVER_DISCONNECT)
        eio.sockets.pop(sid, None)
        return None

    eio.disconnect = disconnect


def install(socketio: Any, audit: AuditLog, registry: Registry, limit: int) -> SendQueueGuard:
    """Start bounding send queues on this Socket.IO server; disconnects never wait for the client."""
    nonblocking_disconnect(socketio.server.eio)
    return SendQueueGuard(socketio, audit, registry, limit).install()
