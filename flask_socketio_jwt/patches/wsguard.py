"""eventlet WebSocket hardening for engine.io: no legacy protocols, capped messages, fast unmasking.

eventlet's `WebSocketWSGI` (0.41) has three weak spots a hostile client can use:
- it speaks the pre-RFC hixie-75/76 protocols, whose reader buffers until a 0xFF byte with no
  bound at all (a client streaming bytes without it grows server memory without limit);
- `max_frame_length` bounds one frame, but a message made of continuation frames is joined
  in memory with no total limit;
- it unmasks client frames one byte at a time in Python (about 20 ms of CPU per 64 KiB frame),
  so one client sending large frames can starve the worker.
And engine.io decodes each text message outside its error handling: an empty message or one
not starting with a packet-type digit kills the handler with the session still registered
(until the ping timeout). `HardenedWebSocketWSGI` refuses the legacy handshakes (400), caps a
whole message at the frame limit (`SOCKETIO_JWT_MAX_MESSAGE_BYTES`, close code 1009), closes the
WebSocket on a text message that is not an Engine.IO packet (1002; engine.io then closes the
session normally) and unmasks with one integer XOR.

It also closes a WebSocket once, and wakes whoever waits on it. eventlet closes the socket itself
when the peer's close frame arrives, and engine.io's writer closes it again afterwards: eventlet
then logged `socket shutdown error: [Errno 9] Bad file descriptor` (with no newline) on every
client-side close. And eventlet's green socket `close` is the plain socket's: when one green
thread (engine.io's writer) closes the connection, the reader parked in `recv` on it is never
woken, so gunicorn's worker could not finish its connections at a graceful stop and was killed
at the graceful timeout. `close` here tells the hub that the descriptor is gone.
"""

from __future__ import annotations

import binascii
import errno
import logging
import socket
from typing import Any

from flask_socketio_jwt.patches import has
from flask_socketio_jwt.patches.leanstack import flat

# Written for eventlet 0.41.3's websocket module and python-engineio 4.15.1's eventlet driver.
WRITTEN_FOR = {"eventlet": ("0.40", "0.42"), "python-engineio": ("4.13", "4.16")}

log = logging.getLogger(__name__)

PACKET_TYPES = frozenset("0123456")
# A send that returns instead of waiting when the kernel buffer is full (Linux, macOS).
DONTWAIT = getattr(socket, "MSG_DONTWAIT", 0)


def is_engineio_text(msg: str) -> bool:
    """True when engine.io can decode this text message (a type digit, or `b` + base64)."""
    if not msg:
        return False
    if msg[0] == "b":
        try:
            binascii.a2b_base64(msg[1:].encode("ascii"), strict_mode=True)
        except (ValueError, UnicodeEncodeError):
            return False
        return True
    return msg[0] in PACKET_TYPES


def fast_mask(data: bytes, mask: tuple[int, ...], length: int | None = None, offset: int = 0) -> bytes:
    """XOR data with the 4-byte WebSocket mask (RFC 6455 5.3), starting at mask position offset."""
    if length is None:
        length = len(data)
    data = bytes(data[:length])
    n = len(data)
    if not n:
        return b""
    key = bytes(mask[(offset + i) % 4] for i in range(4))
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")


# One read takes what the kernel has, up to this: a small frame (header, mask, payload) costs one
# recv instead of three, and pipelined frames share one.
READ_AHEAD = 16384
# Frames one message may span. The payload grows one buffer (never an object per frame), so
# memory is bounded by the message cap; this bounds the work empty or 1-byte continuation frames
# could otherwise make without ever reaching the cap.
MAX_FRAGMENTS = 1024


class ReadAhead:
    """A green socket whose `recv` serves eventlet's small frame-part reads from one larger read."""

    __slots__ = ("sock", "buf")

    def __init__(self, sock: Any) -> None:
        self.sock, self.buf = sock, b""

    def recv(self, n: int) -> bytes:
        """Up to n bytes: buffered ones first, else one read of up to READ_AHEAD."""
        buf = self.buf
        if not buf:
            buf = self.sock.recv(max(n, READ_AHEAD))
            if len(buf) <= n:
                return buf
        self.buf = buf[n:]
        return buf[:n]

    @property
    def fd(self) -> Any:
        """The raw socket (a direct write's path: a class attribute skips `__getattr__`)."""
        return self.sock.fd

    def __getattr__(self, name: str) -> Any:  # sendall, fileno, settimeout, shutdown, close...
        return getattr(self.sock, name)


def hardened_class(base: type, compression: bool = False, lean: bool = False) -> type:
    """A subclass of engine.io's eventlet WebSocketWSGI with the fixes above."""
    from eventlet import hubs
    from eventlet.websocket import FailedConnectionError, RFC6455WebSocket

    class CappedMessage(RFC6455WebSocket.Message):
        """A message whose fragments together may not exceed the frame limit."""

        total = 0  # bytes pushed
        frames = 0  # data frames (counted by `CheckedWebSocket._recv_frame`)

        def push(self, data: bytes, final: bool = False) -> None:
            # The bytes go into one growing buffer, not a list entry (a bytes object) per push.
            self.total += len(data)
            if self.total > self.max_frame_length:
                raise FailedConnectionError(1009, "Message too big.")
            self.finished = final
            if self.data:
                self.data[0] += data
            else:
                self.data.append(bytearray(data))

    class CheckedWebSocket(RFC6455WebSocket):  # type: ignore[misc, valid-type]
        """eventlet's RFC 6455 WebSocket with capped messages, fast unmasking and a checked wait."""

        # Class attributes, not per-socket ones: an idle socket keeps no closures for them.
        Message = CappedMessage
        _apply_mask = staticmethod(fast_mask)

        def _recv_frame(self, message: Any = None) -> Any:
            # Empty or 1-byte continuation frames end at MAX_FRAGMENTS instead of going on forever.
            msg = super()._recv_frame(message)
            if isinstance(msg, CappedMessage) and not msg.opcode & 8:
                msg.frames += 1
                if msg.frames > MAX_FRAGMENTS:
                    raise FailedConnectionError(1009, "Too many fragments.")
            return msg

        @property
        def raw_frames(self) -> bool:
            """True when frames go out as built by `frame_of` (no per-message compression)."""
            return "permessage-deflate" not in self.extensions

        def send_now(self, frame: bytes) -> int | None:
            """Write what the kernel takes of a whole frame without yielding: bytes written, or
            None when a frame is mid-send or the connection failed (the writer path then runs)."""
            if self._sendlock.locked():
                return None
            try:
                return self.socket.fd.send(frame, DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return 0
            except (OSError, AttributeError):
                return None

        def send_frame(self, frame: bytes) -> None:
            """Send a frame built by `frame_of` (or the rest of one), waiting for the kernel as needed."""
            self._send(frame)

        def wait(self) -> Any:
            """The next message; closes the WebSocket (and reports it closed) on one engine.io cannot decode."""
            msg = super().wait()
            if isinstance(msg, str) and not is_engineio_text(msg):
                self.close(close_data=(1002, "Not an Engine.IO packet."))
                return None
            return msg

        def close(self, close_data: Any = None) -> None:
            """Send the closing frame and close the connection, once; wake a reader parked on it."""
            sock = self.socket
            fileno = sock.fileno()
            if fileno == -1:  # closed already (eventlet does so on the peer's close frame)
                return
            try:
                self._send_closing_frame(close_data=close_data, ignore_send_errors=True)
                sock.shutdown(socket.SHUT_WR)
            except OSError as e:
                if e.errno not in (errno.ENOTCONN, errno.EBADF, errno.EPIPE, errno.ECONNRESET):
                    log.info("%s socket shutdown error: %s", self.log_context, e)
            finally:
                sock.close()
                # No yield since the close, so the number is not reused yet: any green thread
                # still waiting on it gets IOClosed on the hub's next turn instead of waiting forever.
                hubs.get_hub().mark_as_reopened(fileno)

    class HardenedWebSocketWSGI(base):  # type: ignore[misc, valid-type]
        """engine.io's eventlet WebSocket app, hardened."""

        websocket_class = CheckedWebSocket

        def __init__(self, handler: Any, server: Any) -> None:
            super().__init__(handler, server)
            self.support_legacy_versions = False

        def __call__(self, environ: dict, start_response: Any) -> Any:
            if not compression:
                # eventlet accepts any permessage-deflate offer and keeps two zlib contexts per
                # socket (~100 KiB, measured); with no offer seen, it negotiates none.
                environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)
            return super().__call__(environ, start_response)

        def _handle_hybi_request(self, environ: dict) -> Any:
            ws = super()._handle_hybi_request(environ)
            ws.__class__ = CheckedWebSocket  # adds behaviour only: the fresh object's layout is the same
            ws.socket = ReadAhead(ws.socket)
            if lean:
                # Only the legacy protocols' reader uses this deque (760 bytes per socket).
                ws._msgs = ()
            return ws

    return HardenedWebSocketWSGI


def missing(eio: Any) -> list[str]:
    """The eventlet and engine.io internals the hardened WebSocket class needs."""
    from engineio.async_drivers import eventlet as driver
    from eventlet import websocket

    return (has(websocket, "RFC6455WebSocket.Message.push", "RFC6455WebSocket._apply_mask",
                "RFC6455WebSocket._recv_frame", "FailedConnectionError")
            + has(driver, "WebSocketWSGI._handle_hybi_request", "WebSocketWSGI.__call__")
            + has(eio, "_async"))


def install(eio: Any, compression: bool = False, lean: bool = False) -> bool:
    """Use the hardened WebSocket class on this engine.io server; False when not on eventlet."""
    if eio.async_mode != "eventlet":
        return False
    from engineio.async_drivers import eventlet as driver

    cls = hardened_class(driver.WebSocketWSGI, compression, lean)

    def websocket_app(handler: Any, server: Any) -> Any:
        # A bound method: calling it nests no C interpreter loop under each parked reader.
        return flat(cls(handler, server))

    # A per-server copy: the driver's module-level dict stays untouched.
    eio._async = {**eio._async, "websocket": websocket_app}
    return True
