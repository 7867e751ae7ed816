"""Slow consumers: bound each Engine.IO socket's send queue.

engine.io gives every socket an unbounded queue; a writer task drains it into the WebSocket
(or a long-poll GET). A client that stops reading leaves the writer blocked in `sendall`
once the kernel buffers are full, while broadcasts keep queueing: memory grows without bound
until the ping timeout, and a client that blindly sends PONG frames while never reading
defeats the ping timeout too. Senders never block (they only enqueue), so other clients are
not delayed; memory is the risk. We wrap `eio.send_packet` (every Socket.IO emit, direct or
broadcast, passes through it): when a socket has had at least `SOCKETIO_JWT_MAX_SEND_QUEUE` packets
waiting for GRACE seconds (or ten times that many at once), it is dropped (audited as `kick`
with code `slow_consumer`) and its queue emptied.

`eio.disconnect(sid)` closes with `wait=True`: it blocks until the client has read the CLOSE
packet. A polling client that never polls again (for example after engine.io refused its
oversized POST, which calls `disconnect`) would pin that request's green thread and
connection forever. `nonblocking_disconnect` makes it close without waiting.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask_socketio_jwt.core.hub import Hub
from flask_socketio_jwt.patches import has
from flask_socketio_jwt.patches.framing import socket_sid

log = logging.getLogger(__name__)

WRITTEN_FOR = {"python-engineio": ("4.13", "4.16")}


def missing(socketio: Any) -> list[str]:
    """The engine.io internals the send-queue bound needs."""
    return has(socketio, "server.eio.send_packet", "server.eio.sockets", "server.eio.disconnect",
               "server.eio.get_queue_empty_exception", "server.eio.reason", "server.manager.sid_from_eio_sid")

# A burst of pipelined events can queue many acks before the writer task gets to run; only a
# queue that stays over the limit this long (or grows far past it) marks a slow consumer.
GRACE = 1.0
HARD_FACTOR = 10


class SendQueueGuard:
    """Drops sockets whose outgoing queue has reached the limit."""

    def __init__(self, socketio: Any, hub: Hub, limit: int) -> None:
        self.socketio, self.hub = socketio, hub
        self.eio = socketio.server.eio
        self.limit = int(limit)
        self._dropping: set[str] = set()

    def install(self) -> SendQueueGuard:
        """Wrap the engine.io server's send_packet."""
        original = self.eio.send_packet
        # Only engine.io's own method may be skipped for an open socket, never someone's wrapper.
        direct = getattr(original, "__func__", None) is getattr(type(self.eio), "send_packet", None)

        def send_packet(eio_sid: str, pkt: Any) -> None:
            if eio_sid in self._dropping:
                return
            sock = self.eio.sockets.get(eio_sid)
            if not direct or sock is None or sock.closed:
                original(eio_sid, pkt)  # engine.io's path: it logs the miss and forgets a closed socket
                return
            if self.is_stuck(sock):
                self._dropping.add(eio_sid)
                # Not inline: we may be inside another client's handler or a broadcast loop.
                self.socketio.start_background_task(self.drop, eio_sid)
                return
            # What engine.io's send_packet does with an open socket, without its second lookup:
            # every recipient of a broadcast passes here.
            sock.send(pkt)

        self.eio.send_packet = send_packet
        return self

    def is_stuck(self, sock: Any, now: float | None = None) -> bool:
        """Over the limit for longer than GRACE seconds, or over HARD_FACTOR times the limit."""
        size = sock.queue.qsize()
        if size < self.limit:
            if getattr(sock, "over_limit_since", None) is not None:  # no write per packet otherwise
                sock.over_limit_since = None
            return False
        now = time.monotonic() if now is None else now
        since = getattr(sock, "over_limit_since", None)
        if since is None:
            sock.over_limit_since = since = now
        return size >= self.limit * HARD_FACTOR or now - since >= GRACE

    def drop(self, eio_sid: str) -> None:
        """Close a slow socket without waiting for it and release what it had queued."""
        try:
            sock = self.eio.sockets.get(eio_sid)
            if sock is None or sock.closed:
                return
            sid = socket_sid(self.socketio.server, eio_sid, self.hub.namespaces)
            self.hub.kick(sid, "slow_consumer", eio_sid=eio_sid, abort=True, queued=sock.queue.qsize())
            self.eio.sockets.pop(eio_sid, None)
            _drain(sock.queue, self.eio.get_queue_empty_exception())
            wake = getattr(sock, "wake_writer", None)  # a LeanSocket may have no writer running
            if wake is not None:
                wake()
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


def install(socketio: Any, hub: Hub, limit: int) -> SendQueueGuard:
    """Start bounding send queues on this Socket.IO server; disconnects never wait for the client."""
    nonblocking_disconnect(socketio.server.eio)
    return SendQueueGuard(socketio, hub, limit).install()
