"""Lean Engine.IO sockets: one parked green thread per idle WebSocket instead of three.

python-engineio 4.15 keeps three green threads alive for every WebSocket: the request's own
(the reader loop), a writer blocked on the send queue, and a `_send_ping` task asleep for
`ping_interval`. A parked greenlet costs 7.5-9 KiB RSS here (its stack slice is copied to the
heap), a sixth of the per-socket budget each. `LeanSocket` keeps the reader only:

- pings: one `PingClock` task per server sends every socket's next PING when it is due.
  Every socket waits the same `ping_interval`, so the due times arrive in order and a deque
  is the whole schedule (a few dozen bytes a socket);
- direct writes: a packet with nothing queued ahead of it goes to the kernel at once from the
  sender's green thread (the WebSocket's `send_now`: a non-blocking send, no yield). Its frame
  is built once per packet object, so a broadcast builds one frame for all its members. What
  the kernel does not take (its buffer is full, or it took part of the frame) is queued;
- writer on demand: a writer task starts when a packet is queued on a WebSocket and exits
  once the queue has stayed empty for WRITER_LINGER. Under cooperative scheduling nothing
  yields between "the queue is empty, no writer" and "the writer is gone", nor between "a
  packet was queued" and "a writer was started", so no packet is left behind without a writer.
  While anything is queued or a frame is mid-send, new packets queue behind it: order holds.

Engine.IO's semantics stay: a ping is scheduled only once the previous cycle ended (a PONG),
`last_ping` is set when the PING is sent, packets leave in order, each dequeued packet is
`task_done` (so `close(wait=True)` works), `None` closes the WebSocket. The stock writer also
closed a WebSocket that had nothing to send for ping_interval + ping_timeout; that happens
only when pings stopped because the client stopped answering them, and the ping timeout
(engine.io's service task) and the reader's socket timeout already close such a session.

Installed per engine.io server (several apps may share a process), for eventlet and gevent
only: threading mode keeps the stock socket. `SOCKETIO_JWT_LEAN_ENGINEIO = False` switches it off.
"""

from __future__ import annotations

import logging
import struct
import time
from collections import deque
from typing import Any

from engineio import exceptions, packet
from engineio.socket import Socket

from flask_socketio_jwt.patches import has

# `_websocket_handler` below is python-engineio 4.15.1's, reworked: another minor may differ.
WRITTEN_FOR = {"python-engineio": ("4.15", "4.16")}

log = logging.getLogger(__name__)

COOPERATIVE_MODES = frozenset({"eventlet", "gevent"})
# Pings sent in one go before the clock lets other green threads run.
PING_BATCH = 64
# A writer waits this long for more packets before it exits: a socket that gets packets more
# often (a busy room) keeps its writer, as in stock engine.io, instead of paying a new green
# thread per packet (about 7 us each); an idle socket parks one for 1% of each ping interval.
WRITER_LINGER = 0.25


def frame_of(pkt: packet.Packet) -> bytes:
    """The packet as one unmasked WebSocket frame, built once per MESSAGE packet object.

    A broadcast sends the same packet object to every member: the frame is built for the
    first and reused for the rest."""
    frame = pkt.__dict__.get("_frame")
    if frame is None:
        data = pkt.encode()
        if isinstance(data, str):
            payload, first = data.encode("utf-8"), 0x81
        else:
            payload, first = bytes(data), 0x82
        n = len(payload)
        if n < 126:
            header = bytes((first, n))
        elif n < 65536:
            header = struct.pack("!BBH", first, 126, n)
        else:
            header = struct.pack("!BBQ", first, 127, n)
        frame = header + payload
        # Only a MESSAGE goes to many sockets. engine.io's connect keeps its OPEN packet referenced
        # for the socket's whole life: a frame cached on it would cost every idle socket its size.
        if pkt.packet_type == packet.MESSAGE:
            pkt._frame = frame  # type: ignore[attr-defined]
    return frame


class PingClock:
    """One task per engine.io server that sends each socket's next PING when it is due."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.due: deque[tuple[float, LeanSocket]] = deque()
        self.running = False

    def add(self, sock: LeanSocket) -> None:
        """Ping this socket `ping_interval` from now."""
        self.due.append((time.monotonic() + self.server.ping_interval, sock))
        if not self.running:
            self.running = True
            self.server.start_background_task(self._run)

    def _run(self) -> None:
        """Runs while some ping is scheduled; exits when none is left."""
        try:
            sent = 0
            while self.due:
                wait = self.due[0][0] - time.monotonic()
                if wait > 0:
                    self.server.sleep(wait)
                    sent = 0
                    continue
                _, sock = self.due.popleft()
                try:
                    sock.ping_due()
                except Exception:  # one socket must not stop everyone's heartbeat
                    log.exception("ping for %s failed", sock.sid)
                sent += 1
                if sent >= PING_BATCH:
                    self.server.sleep(0)
                    sent = 0
        finally:
            self.running = False


class LeanSocket(Socket):
    """engine.io's Socket without a sleeping ping task or a parked writer."""

    # Class defaults: set on the instance only while a WebSocket is open / a writer runs.
    _ws: Any = None
    _writer: Any = None
    _writer_done: Any = None

    def schedule_ping(self) -> None:
        """Queue the next PING on the server's clock (only once the previous cycle completed)."""
        if self.last_ping:  # type: ignore[has-type]
            self.last_ping = None
            self.server.lean_ping_clock.add(self)

    def ping_due(self) -> None:
        """Send the scheduled PING unless the socket is closing."""
        if not self.closing and not self.closed:
            self.last_ping = time.time()  # type: ignore[assignment]
            self.send(packet.Packet(packet.PING))

    def send(self, pkt: packet.Packet) -> None:
        """Write a packet now when nothing is ahead of it; otherwise queue it for the writer."""
        ws = self._ws
        if (ws is not None and pkt is not None and not self.upgrading and not self.queue.qsize()
                and getattr(ws, "raw_frames", False)):
            if not self.check_ping_timeout():
                return
            frame = frame_of(pkt)
            sent = ws.send_now(frame)
            if sent is not None:
                if sent < len(frame):  # the kernel took part of it: the writer sends the rest first
                    self.queue.put(frame[sent:] if sent else frame)
                    self.wake_writer()
                return
        super().send(pkt)
        self.wake_writer()

    def close(self, wait: bool = True, abort: bool = False, reason: Any = None) -> None:
        """Close as engine.io does; the writer is woken before waiting for the queue to drain."""
        first = not self.closed and not self.closing
        super().close(wait=False, abort=abort, reason=reason)
        if first:
            self.wake_writer()
            if wait:
                self.queue.join()

    def wake_writer(self) -> None:
        """Start a writer if the WebSocket is open and none is running."""
        # No yield between the check and the assignment: see the module docstring.
        if self._writer is None and self._ws is not None:
            self._writer = self.server.start_background_task(self._write)

    def _write(self) -> None:
        """Send queued packets until the queue stays empty (exit) or holds None (close the WebSocket)."""
        ws, empty = self._ws, self.server.get_queue_empty_exception()
        try:
            while True:
                try:
                    pkt = self.queue.get(timeout=WRITER_LINGER)
                except empty:
                    if self.queue.qsize():  # a packet arrived just as the wait timed out
                        continue
                    return
                self.queue.task_done()
                if pkt is None:
                    break
                try:
                    if isinstance(pkt, bytes):  # a frame `send` could write only part of
                        ws.send_frame(pkt)
                    elif getattr(ws, "raw_frames", False):
                        ws.send_frame(frame_of(pkt))
                    else:
                        ws.send(pkt.encode())
                except Exception:
                    break
            self._ws = None  # before ws.close(), which may yield: no new writer for a closed socket
            ws.close()
        finally:
            self._writer = None
            done = self.__dict__.pop("_writer_done", None)
            if done is not None:
                done.set()

    def _join_writer(self) -> None:
        """Wait until no writer runs."""
        # Not the task's join(): engine.io's eventlet join returns at once for a task not started yet.
        while self._writer is not None:
            done = self._writer_done = self.server.create_event()
            done.wait()

    def _receive_ws(self, ws: Any) -> Any:
        """The next WebSocket message (None once closed); refuses one over max_http_buffer_size."""
        data = ws.wait()
        if data and len(data) > self.server.max_http_buffer_size:
            raise ValueError("packet is too large")
        return data

    def _websocket_handler(self, ws: Any) -> list:
        """engine.io 4.15.1's handler with the writer started on demand instead of for the socket's life."""
        # A silent peer is dropped after ping_interval + ping_timeout, as engine.io does.
        for attr in ("_sock", "socket"):
            if hasattr(ws, attr) and hasattr(getattr(ws, attr), "settimeout"):
                getattr(ws, attr).settimeout(self.server.ping_interval + self.server.ping_timeout)

        if self.connected:  # type: ignore[has-type]
            if not self._upgrade(ws):
                return []
        else:
            self.connected = True
            self.upgraded = True

        self._ws = ws
        self.wake_writer()  # what was queued before the upgrade (the OPEN packet, polled leftovers)
        self.server.logger.info("%s: Upgrade to websocket successful", self.sid)

        while True:
            try:
                p = self._receive_ws(ws)
            except Exception as e:
                if not self.closed:
                    self.server.logger.info('%s: Unexpected error "%s", closing connection', self.sid, str(e))
                break
            if p is None:  # connection closed by the client
                break
            try:
                self.receive(packet.Packet(encoded_packet=p))
            except exceptions.UnknownPacketError:
                pass
            except exceptions.SocketIsClosedError:
                self.server.logger.info("Receive error -- socket is closed")
                break
            except Exception:
                self.server.logger.exception("Unknown receive error")
                break

        self.queue.put(None)  # the writer sends what is left, then closes the WebSocket
        self.wake_writer()
        self._join_writer()
        self._ws = None
        self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)
        return []

    def _upgrade(self, ws: Any) -> bool:
        """The polling -> WebSocket probe/upgrade exchange; False when the client did not complete it."""
        self.upgrading = True  # hold packet sends during the upgrade
        pkt = packet.Packet(encoded_packet=self._receive_ws(ws))
        if pkt.packet_type != packet.PING or pkt.data != "probe":
            self.server.logger.info("%s: Failed websocket upgrade, no PING packet", self.sid)
            self.upgrading = False
            return False
        ws.send(packet.Packet(packet.PONG, data="probe").encode())
        self.queue.put(packet.Packet(packet.NOOP))  # end the pending poll
        raw = self._receive_ws(ws)
        if packet.Packet(encoded_packet=raw).packet_type != packet.UPGRADE:
            self.upgraded = False
            self.server.logger.info("%s: Failed websocket upgrade, expected UPGRADE packet, "
                                    "received %s instead.", self.sid, raw)
            self.upgrading = False
            return False
        self.upgraded = True
        self.upgrading = False
        return True


class LeanSockets(dict):
    """engine.io's sid -> socket map; turns each socket the server creates into a LeanSocket."""

    def __setitem__(self, sid: str, sock: Any) -> None:
        # engine.io builds `socket.Socket(self, sid)` itself and stores it here before using it;
        # the lean class adds behaviour only, so switching the class of the fresh object is safe.
        if type(sock) is Socket:
            sock.__class__ = LeanSocket
        super().__setitem__(sid, sock)


def missing(eio: Any) -> list[str]:
    """The internals lean sockets need that engine.io does not have."""
    return (has(Socket, "schedule_ping", "send", "close", "receive", "_websocket_handler", "check_ping_timeout")
            + has(eio, "sockets", "start_background_task", "sleep", "create_event", "get_queue_empty_exception",
                  "disconnect", "ping_interval", "ping_timeout", "max_http_buffer_size", "reason"))


def install(eio: Any, enabled: bool = True) -> bool:
    """Make this engine.io server create LeanSockets; False (stock sockets) unless cooperative."""
    if not enabled or eio.async_mode not in COOPERATIVE_MODES:
        return False
    eio.lean_ping_clock = PingClock(eio)
    eio.sockets = LeanSockets(eio.sockets)
    disconnect_all = eio.disconnect

    def disconnect(sid: str | None = None) -> None:
        try:
            disconnect_all(sid)
        finally:
            # engine.io replaces the map with a plain dict when it disconnects everyone.
            if not isinstance(eio.sockets, LeanSockets):
                eio.sockets = LeanSockets(eio.sockets)

    eio.disconnect = disconnect
    return True
