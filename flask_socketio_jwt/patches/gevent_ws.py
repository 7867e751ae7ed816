"""The one place that knows about gevent: engine.io's WebSocket under gunicorn's gevent worker.

Under gevent, engine.io (4.15) serves WebSockets through simple-websocket (1.1), which
- accepts every permessage-deflate offer, whatever `SOCKETIO_JWT_WEBSOCKET_COMPRESSION` says (two zlib
  contexts, about 100 KiB, per socket);
- is given no maximum message size by engine.io, which checks `max_http_buffer_size` only once a
  whole message (one huge frame, or any number of continuation frames) is held in memory;
- parks two green threads per socket (a reader thread and the request waiting on an event) and
  runs every frame through wsproto's event machinery.

`GeventWebSocket` is a small RFC 6455 server endpoint run by the request's own green thread: it
reads each frame header first and refuses a message as soon as its announced length would take
the whole message over `SOCKETIO_JWT_MAX_MESSAGE_BYTES` (close 1009), so no client makes the server
hold more than that; it negotiates no extension; it closes the WebSocket on a text message
engine.io cannot decode (1002) and on any protocol error. Handshakes that are not RFC 6455
(the pre-RFC hixie drafts, a missing or malformed key) get a 400. With compression switched on
and offered, or on a server other than gunicorn, the socket is simple-websocket's, given the
maximum message size (and, with compression off, shown no offer).

Written for python-engineio 4.15, simple-websocket 1.1, gunicorn 27 and gevent 26. It replaces
the `websocket` entry of one engine.io server's async driver (a per-server copy) and takes the
connection over the way engine.io's own gunicorn support does (write the 101 response on
`gunicorn.socket`, then end the request with StopIteration). What it uses of engine.io's driver
(the `websocket` entry, the simple-websocket wrapper class) is checked when installing; where it
is missing that part stays stock, with one warning. The runtime's own calls (`patched`,
`run_blocking`) are in `runtime/gevent.py`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import struct
import sys
import time
from collections.abc import Callable
from typing import Any

from flask_socketio_jwt.patches.leanstack import flat
from flask_socketio_jwt.patches.wsguard import DONTWAIT, MAX_FRAGMENTS, fast_mask, is_engineio_text
from flask_socketio_jwt.runtime.gevent import patched, run_blocking  # noqa: F401 - re-exported

log = logging.getLogger(__name__)

# distribution -> (lowest, first untested) version this guard needs (it was tested with gevent 26
# and gunicorn 27's gevent worker; off gunicorn, the capped simple-websocket serves).
WRITTEN_FOR = {"python-engineio": ("4.13", "4.16"), "simple-websocket": ("1.0", "1.2")}

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
DATA_OPCODES = frozenset({OP_CONT, OP_TEXT, OP_BINARY})
CONTROL_OPCODES = frozenset({OP_CLOSE, OP_PING, OP_PONG})
CLOSE_NORMAL, CLOSE_PROTOCOL, CLOSE_INVALID_DATA, CLOSE_TOO_BIG = 1000, 1002, 1007, 1009
RECV_CHUNK = 16384
# Seconds a socket that sent its CLOSE keeps reading for the peer's (data frames are discarded).
CLOSE_WAIT = 2.0
# Close codes a peer may send (RFC 6455 7.4): 1005, 1006 and 1015 are never sent on the wire.
SENDABLE_CLOSE_CODES = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})


def close_reply(payload: bytes) -> int:
    """The code to answer a peer's CLOSE with: its own if valid, else 1002 (protocol error)."""
    if not payload:
        return CLOSE_NORMAL
    if len(payload) == 1:
        return CLOSE_PROTOCOL
    code = struct.unpack("!H", payload[:2])[0]
    if code not in SENDABLE_CLOSE_CODES and not 3000 <= code < 5000:
        return CLOSE_PROTOCOL
    try:
        payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        return CLOSE_PROTOCOL
    return code


class ProtocolError(Exception):
    """The peer broke RFC 6455 or a limit: close the WebSocket with `code`."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code


def accept_key(environ: dict) -> str | None:
    """The Sec-WebSocket-Accept value for an RFC 6455 upgrade request, or None for any other request."""
    if environ.get("REQUEST_METHOD", "GET") != "GET":
        return None
    if environ.get("HTTP_UPGRADE", "").lower() != "websocket":
        return None
    if "upgrade" not in (t.strip() for t in environ.get("HTTP_CONNECTION", "").lower().split(",")):
        return None
    if environ.get("HTTP_SEC_WEBSOCKET_VERSION", "").strip() != "13":
        return None
    key = environ.get("HTTP_SEC_WEBSOCKET_KEY", "").strip()
    try:
        if len(base64.b64decode(key, validate=True)) != 16:
            return None
    except (binascii.Error, ValueError):
        return None
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + GUID).digest()).decode("ascii")


def encode_frame(opcode: int, payload: bytes) -> bytes:
    """One unmasked, final server frame."""
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return header + payload


class GeventWebSocket:
    """A server-side RFC 6455 WebSocket read by the green thread that calls `wait`."""

    # The request's green thread is the only reader: an idle socket keeps a socket, an empty
    # buffer and a few ints. `_lock` (made on the first send) keeps two senders' frames whole.
    __slots__ = ("socket", "max_size", "buf", "closed", "close_sent", "close_deadline", "_lock")
    # Makes the send lock; None: gevent's Semaphore, imported on first use.
    lock_factory: Callable[[], Any] | None = None

    def __init__(self, sock: Any, max_size: int) -> None:
        self.socket = sock  # engine.io sets its read timeout (ping interval + timeout) through it
        self.max_size = max_size
        self.buf = bytearray()
        self.closed = False
        self.close_sent = False
        self.close_deadline = 0.0
        self._lock: Any = None

    # -- reading

    def _fill(self, n: int) -> None:
        """Read until the buffer holds at least n bytes."""
        while len(self.buf) < n:
            chunk = self.socket.recv(max(RECV_CHUNK, n - len(self.buf)))
            if not chunk:
                raise EOFError
            self.buf += chunk

    def _take(self, n: int) -> bytes:
        self._fill(n)
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def _frame(self, held: int) -> tuple[bool, int, bytes]:
        """The next frame (fin, opcode, unmasked payload); `held` bytes of a message are already held."""
        b0, b1 = self._take(2)
        fin, opcode, length = bool(b0 & 0x80), b0 & 0x0F, b1 & 0x7F
        if b0 & 0x70:
            raise ProtocolError(CLOSE_PROTOCOL, "No extension was negotiated.")
        if not b1 & 0x80:
            raise ProtocolError(CLOSE_PROTOCOL, "Client frames must be masked.")
        if opcode not in DATA_OPCODES and opcode not in CONTROL_OPCODES:
            raise ProtocolError(CLOSE_PROTOCOL, "Unknown opcode.")
        if opcode in CONTROL_OPCODES and (not fin or length > 125):
            raise ProtocolError(CLOSE_PROTOCOL, "Bad control frame.")
        if length == 126:
            (length,) = struct.unpack("!H", self._take(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._take(8))
        if opcode in DATA_OPCODES and held + length > self.max_size:
            # Refused from the header: the payload is never read into memory.
            raise ProtocolError(CLOSE_TOO_BIG, "Message too big.")
        mask = self._take(4)
        payload = self._take(length) if length else b""
        return fin, opcode, fast_mask(payload, tuple(mask)) if payload else b""

    def wait(self) -> str | bytes | None:
        """The next message; None once the WebSocket is closed (by the peer, an error or a limit)."""
        data = bytearray()  # the payload grows one buffer, not a list of objects
        held, kind, frames = 0, None, 0
        try:
            while not self.closed:
                fin, opcode, payload = self._frame(held)
                if opcode == OP_CLOSE:
                    self._closed_by_peer(payload)
                    return None
                if self.close_sent:
                    # After our CLOSE only the peer's CLOSE matters (RFC 6455 5.5.1), for a while.
                    if time.monotonic() > self.close_deadline:
                        self.closed = True
                    continue
                if opcode == OP_PING:
                    self._send(OP_PONG, payload)
                    continue
                if opcode == OP_PONG:
                    continue
                if (opcode == OP_CONT) != (kind is not None):
                    raise ProtocolError(CLOSE_PROTOCOL, "Unexpected continuation state.")
                kind = kind if opcode == OP_CONT else opcode
                if fin and not data:
                    return self._message(kind, payload)
                frames += 1
                if frames > MAX_FRAGMENTS:  # empty or 1-byte fragments end here, not never
                    raise ProtocolError(CLOSE_TOO_BIG, "Too many fragments.")
                data += payload
                held += len(payload)
                if fin:
                    return self._message(kind, bytes(data))
        except ProtocolError as e:
            self.close(e.code, str(e))
        except (EOFError, OSError):
            self.closed = True
        return None

    def _message(self, kind: int | None, data: bytes) -> str | bytes | None:
        if kind == OP_BINARY:
            return data
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ProtocolError(CLOSE_INVALID_DATA, "Invalid UTF-8.") from e
        if not is_engineio_text(text):
            # engine.io would fail on it outside its error handling and keep the session.
            raise ProtocolError(CLOSE_PROTOCOL, "Not an Engine.IO packet.")
        return text

    def _closed_by_peer(self, payload: bytes) -> None:
        if not self.close_sent:
            self.close(close_reply(payload))
        self.closed = True

    # -- writing

    # Frames built by `frame_of` go out as they are: this endpoint never compresses.
    raw_frames = True

    def send_now(self, frame: bytes) -> int | None:
        """Write what the kernel takes of a whole frame without yielding: bytes written, or
        None when a frame is mid-send or the connection is closing (the writer path then runs)."""
        lock = self._lock
        raw = getattr(self.socket, "_sock", None)
        if self.closed or self.close_sent or raw is None or (lock is not None and lock.locked()):
            return None
        try:
            return raw.send(frame, DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError:
            return None

    def send_frame(self, frame: bytes) -> None:
        """Send a frame built by `frame_of` (or the rest of one), waiting for the kernel as needed."""
        if self.closed or self.close_sent:
            raise OSError("WebSocket is closed")
        self._write(frame)

    def _send(self, opcode: int, payload: bytes) -> None:
        self._write(encode_frame(opcode, payload))

    def _write(self, frame: bytes) -> None:
        lock = self._lock
        if lock is None:
            factory: Callable[[], Any] | None = self.lock_factory
            if factory is None:
                from gevent.lock import Semaphore

                factory = Semaphore
            lock = self._lock = factory()
        with lock:  # sendall may yield midway; another sender's frame must not land inside this one
            self.socket.sendall(frame)

    def send(self, message: str | bytes) -> None:
        """Send one message (text for str); OSError once closed."""
        if self.closed or self.close_sent:
            raise OSError("WebSocket is closed")
        if isinstance(message, str):
            self._send(OP_TEXT, message.encode("utf-8"))
        else:
            self._send(OP_BINARY, bytes(message))

    def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        """Send a CLOSE frame once and stop writing; the reader waits CLOSE_WAIT at most for the peer's."""
        if self.close_sent:
            return
        self.close_sent = True
        self.close_deadline = time.monotonic() + CLOSE_WAIT
        try:
            self._send(OP_CLOSE, struct.pack("!H", code) + reason.encode("utf-8")[:120])
            self.socket.shutdown(1)  # SHUT_WR: the peer reads our CLOSE, then its own EOF
            # A peer that keeps sending data instead of its CLOSE is cut off soon (reads time out).
            self.socket.settimeout(CLOSE_WAIT)
        except OSError:
            self.closed = True


def _bad_request(start_response: Callable, message: str) -> list[bytes]:
    body = json.dumps({"error": {"code": "invalid_payload", "message": message}}).encode()
    start_response("400 BAD REQUEST", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


class GeventWebSocketWSGI:
    """engine.io's `websocket` driver entry for gevent: RFC 6455 only, capped, no compression unless enabled."""

    def __init__(self, handler: Callable[[Any], Any], server: Any, fallback: Callable | None = None,
                 compression: bool = False) -> None:
        self.handler, self.server = handler, server
        self.fallback, self.compression = fallback, compression

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        key = accept_key(environ)
        if key is None:
            return _bad_request(start_response, "Not an RFC 6455 WebSocket handshake.")
        sock = environ.get("gunicorn.socket")
        if sock is None and "eventlet.input" in environ:  # sockets.leanstack.prefill_input moved it there
            sock = environ["eventlet.input"].get_socket()
        offered = "permessage-deflate" in environ.get("HTTP_SEC_WEBSOCKET_EXTENSIONS", "")
        if sock is None or (offered and self.compression):
            # Compression, or a server other than gunicorn: simple-websocket, given the limit.
            if self.fallback is None:
                return _bad_request(start_response, "WebSockets are not available on this server.")
            if not self.compression:
                environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)  # no offer seen, none accepted
            if sock is not None:
                environ["gunicorn.socket"] = sock  # where simple-websocket looks for it
            return self.fallback(self.handler, self.server)(environ, start_response)
        sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Accept: " + key.encode("ascii") + b"\r\n\r\n")
        ws = GeventWebSocket(sock, int(self.server.max_http_buffer_size))
        try:
            self.handler(ws)
        finally:
            ws.closed = True
        # The connection is no longer HTTP: gunicorn closes it without writing a response.
        raise StopIteration


def capped_base() -> Any:
    """engine.io's simple-websocket wrapper, if it is the one this module extends (else None)."""
    try:
        from engineio.async_drivers._websocket_wsgi import SimpleWebSocketWSGI
    except ImportError:
        return None
    return SimpleWebSocketWSGI if callable(getattr(SimpleWebSocketWSGI, "wait", None)) else None


def capped_class(max_size: int, runtime: str = "gevent") -> Callable | None:
    """simple-websocket as engine.io's driver for runtime builds it, plus a maximum message size and
    the packet check; None if engine.io's wrapper is not the one this extends."""
    SimpleWebSocketWSGI = capped_base()  # noqa: N806 - the class
    if SimpleWebSocketWSGI is None:
        return None
    if runtime == "gevent":
        try:
            import gevent.event
            import gevent.selectors
            from engineio.async_drivers.gevent import Thread
        except ImportError:
            return None
        threads = {"thread_class": Thread, "event_class": gevent.event.Event,
                   "selector_class": gevent.selectors.DefaultSelector}
    else:  # threading: simple-websocket's own defaults
        threads = {}

    class CappedSimpleWebSocketWSGI(SimpleWebSocketWSGI):  # type: ignore[misc, valid-type]
        """engine.io's simple-websocket wrapper with a maximum message size and the packet check."""

        def __init__(self, handler: Any, server: Any) -> None:
            super().__init__(handler, server, max_message_size=max_size, **threads)

        def wait(self) -> Any:
            msg = super().wait()
            if isinstance(msg, str) and not is_engineio_text(msg):
                self.close()
                return None
            return msg

    return CappedSimpleWebSocketWSGI


def tune() -> None:
    """Stop gevent from recording each green thread's spawn tree and stack (unless set in the environment)."""
    if "gevent" not in sys.modules:  # not running gevent (a test of this module)
        return
    import os

    import gevent

    # A debugging aid on by default: every spawn walks and copies up to ten frames and keeps them
    # (and a locals dict) with the green thread: about 1.5 KiB per idle socket, and time per spawn.
    if "GEVENT_TRACK_GREENLET_TREE" not in os.environ:
        gevent.config.track_greenlet_tree = False


def missing(eio: Any) -> list[str]:
    """The engine.io internals this module needs and cannot find on this server (empty: all there)."""
    problems = [] if capped_base() is not None else ["engine.io's SimpleWebSocketWSGI with `wait`"]
    if not isinstance(getattr(eio, "_async", None), dict) or "websocket" not in eio._async:
        problems.append("engine.io server has no `_async['websocket']` driver entry")
    if not hasattr(eio, "max_http_buffer_size"):
        problems.append("engine.io server has no `max_http_buffer_size`")
    return problems


def install(eio: Any, compression: bool = False) -> bool:
    """Serve this engine.io server's WebSockets with GeventWebSocket; False when not on gevent."""
    if eio.async_mode != "gevent":
        return False
    tune()
    fallback = capped_class(int(eio.max_http_buffer_size))
    if fallback is None:
        raise RuntimeError("flask_socketio_jwt cannot cap WebSocket messages: engine.io's simple-websocket "
                           "wrapper is not the one it supports")

    def websocket_app(handler: Any, server: Any) -> Any:
        # A bound method: calling it nests no C interpreter loop under each parked reader.
        return flat(GeventWebSocketWSGI(handler, server, fallback, compression))

    # A per-server copy: the driver's module-level dict stays untouched.
    eio._async = {**eio._async, "websocket": websocket_app}
    return True


def install_threading(eio: Any) -> bool:
    """Threading mode (the Flask dev server): simple-websocket given the message cap; False elsewhere."""
    if eio.async_mode != "threading":
        return False
    capped = capped_class(int(eio.max_http_buffer_size), runtime="threading")
    if capped is None:
        raise RuntimeError("flask_socketio_jwt cannot cap WebSocket messages: engine.io's simple-websocket "
                           "wrapper is not the one it supports")
    eio._async = {**eio._async, "websocket": capped}
    return True
