"""The gevent runtime's WebSocket endpoint, frame by frame, in process (a socket pair, no server)."""

from __future__ import annotations

import base64
import socket
import struct
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from flask_socketio_jwt.patches import gevent_ws
from flask_socketio_jwt.patches.gevent_ws import GeventWebSocket, GeventWebSocketWSGI, accept_key

LIMIT = 1024


class ThreadedWebSocket(GeventWebSocket):
    """The endpoint with a thread lock: these tests run without gevent."""

    lock_factory = threading.Lock


@pytest.fixture
def pair() -> Iterator[tuple[ThreadedWebSocket, socket.socket]]:
    server, client = socket.socketpair()
    server.settimeout(5)
    client.settimeout(5)
    yield ThreadedWebSocket(server, LIMIT), client
    server.close()
    client.close()


def frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bytes = b"\x01\x02\x03\x04",
          rsv: int = 0, length: int | None = None) -> bytes:
    """A client frame, masked unless mask is empty."""
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | rsv | opcode
    m = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, m | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, m | 126, n)
    else:
        head = struct.pack("!BBQ", b0, m | 127, n)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) if mask else payload
    return head + mask + body


def server_frame(sock: socket.socket) -> tuple[int, bytes]:
    """One unmasked frame the endpoint wrote."""
    b0, b1 = sock.recv(2, socket.MSG_WAITALL)
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", sock.recv(2, socket.MSG_WAITALL))
    elif n == 127:
        (n,) = struct.unpack("!Q", sock.recv(8, socket.MSG_WAITALL))
    assert not b1 & 0x80, "server frames are never masked"
    return b0 & 0x0F, sock.recv(n, socket.MSG_WAITALL) if n else b""


def close_code(sock: socket.socket) -> int:
    """The code of the CLOSE frame the endpoint sent."""
    op, data = server_frame(sock)
    assert op == 0x8
    return struct.unpack("!H", data[:2])[0]


def test_text_binary_and_fragmented_messages(pair) -> None:
    ws, client = pair
    client.sendall(frame(0x1, b'42["a"]') + frame(0x2, b"\x00\x01")
                   + frame(0x1, b"4", fin=False) + frame(0x9, b"hi") + frame(0x0, b"2", fin=False)
                   + frame(0x0, "é".encode()))
    assert ws.wait() == '42["a"]'
    assert ws.wait() == b"\x00\x01"
    assert ws.wait() == "42é"  # a ping between fragments is answered and changes nothing
    assert server_frame(client) == (0xA, b"hi")


def test_a_message_of_exactly_the_limit_is_read(pair) -> None:
    ws, client = pair
    msg = b"4" + b"x" * (LIMIT - 1)
    client.sendall(frame(0x1, msg[:300], fin=False) + frame(0x0, msg[300:]))
    assert ws.wait() == msg.decode()


@pytest.mark.parametrize(("name", "data", "code"), [
    ("one frame over the limit, refused from its header", frame(0x1, b"", length=LIMIT + 1), 1009),
    ("a 2**63-byte frame", frame(0x1, b"", length=2**63 - 1), 1009),
    ("continuations over the limit", frame(0x1, b"4" * 600, fin=False) + frame(0x0, b"x" * 600, length=600), 1009),
    ("unmasked client frame", frame(0x1, b"4", mask=b""), 1002),
    ("reserved bits without an extension", frame(0x1, b"4", rsv=0x40), 1002),
    ("unknown opcode", frame(0x3, b"4"), 1002),
    ("fragmented control frame", frame(0x9, b"p", fin=False), 1002),
    ("control frame over 125 bytes", frame(0x9, b"p" * 126), 1002),
    ("continuation with nothing to continue", frame(0x0, b"4"), 1002),
    ("new message inside a fragmented one", frame(0x1, b"4", fin=False) + frame(0x1, b"4"), 1002),
    ("invalid UTF-8", frame(0x1, b"4\xff\xfe"), 1007),
    ("empty text message", frame(0x1, b""), 1002),
    ("not an Engine.IO packet", frame(0x1, b"x"), 1002),
])
def test_violations_close_with_a_code(pair, name: str, data: bytes, code: int) -> None:
    ws, client = pair
    client.sendall(data)
    assert ws.wait() is None
    assert close_code(client) == code
    assert ws.close_sent
    with pytest.raises(OSError):
        ws.send("40")


def test_peer_close_is_answered_and_ends_the_socket(pair) -> None:
    ws, client = pair
    client.sendall(frame(0x8, struct.pack("!H", 1001)))
    assert ws.wait() is None
    assert close_code(client) == 1001
    assert ws.closed


def test_eof_ends_the_socket(pair) -> None:
    ws, client = pair
    client.shutdown(socket.SHUT_WR)
    assert ws.wait() is None
    assert ws.closed


def test_send_frames_by_size(pair) -> None:
    ws, client = pair
    for payload in ("x" * 10, "y" * 300, "z" * 70000):
        ws.send(payload)
        assert server_frame(client) == (0x1, payload.encode())
    ws.send(b"\x01")
    assert server_frame(client) == (0x2, b"\x01")
    ws.close()
    assert close_code(client) == 1000
    assert client.recv(1) == b""  # the write side was shut after CLOSE


KEY = base64.b64encode(b"0123456789abcdef").decode()
GOOD = {"REQUEST_METHOD": "GET", "HTTP_UPGRADE": "websocket", "HTTP_CONNECTION": "keep-alive, Upgrade",
        "HTTP_SEC_WEBSOCKET_VERSION": "13", "HTTP_SEC_WEBSOCKET_KEY": KEY}


def test_accept_key_follows_rfc_6455() -> None:
    rfc = {**GOOD, "HTTP_SEC_WEBSOCKET_KEY": "dGhlIHNhbXBsZSBub25jZQ=="}
    assert accept_key(rfc) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # the example of RFC 6455 section 1.3


@pytest.mark.parametrize("change", [
    {"HTTP_SEC_WEBSOCKET_VERSION": None},  # hixie-76 sends Sec-WebSocket-Key1/Key2 and no version
    {"HTTP_SEC_WEBSOCKET_KEY": None},
    {"HTTP_SEC_WEBSOCKET_VERSION": "8"},
    {"HTTP_SEC_WEBSOCKET_KEY": "short"},
    {"HTTP_SEC_WEBSOCKET_KEY": base64.b64encode(b"x" * 17).decode()},
    {"HTTP_UPGRADE": "h2c"},
    {"HTTP_CONNECTION": "keep-alive"},
    {"REQUEST_METHOD": "POST"},
])
def test_other_handshakes_get_a_400(change: dict) -> None:
    environ = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    assert accept_key(environ) is None
    seen: list[Any] = []
    app = GeventWebSocketWSGI(lambda ws: seen.append(ws), type("S", (), {"max_http_buffer_size": LIMIT})())
    body = app(environ, lambda status, headers: seen.append(status))
    assert seen == ["400 BAD REQUEST"] and b"invalid_payload" in b"".join(body)


def test_handshake_answers_101_without_extensions_and_hands_over_the_socket() -> None:
    server, client = socket.socketpair()
    handled: list[Any] = []
    app = GeventWebSocketWSGI(handled.append, type("S", (), {"max_http_buffer_size": LIMIT})())
    environ = {**GOOD, "HTTP_SEC_WEBSOCKET_EXTENSIONS": "permessage-deflate; client_max_window_bits",
               "gunicorn.socket": server}
    try:
        with pytest.raises(StopIteration):  # gunicorn then closes the connection without writing
            app(environ, lambda *a: pytest.fail("no WSGI response for an upgraded connection"))
        head = client.recv(4096).decode()
        assert head.startswith("HTTP/1.1 101 Switching Protocols\r\n")
        assert "Sec-WebSocket-Accept: " + accept_key(GOOD) in head  # type: ignore[operator]
        assert "extensions" not in head.lower()
        assert isinstance(handled[0], GeventWebSocket) and handled[0].max_size == LIMIT
    finally:
        server.close()
        client.close()


@pytest.mark.parametrize(("compression", "offer_seen"), [(False, False), (True, True)])
def test_other_servers_and_compression_use_the_capped_fallback(compression: bool, offer_seen: bool) -> None:
    calls: list[dict] = []

    def fallback(handler: Any, server: Any) -> Any:
        return lambda environ, start_response: calls.append(dict(environ)) or [b"fallback"]

    app = GeventWebSocketWSGI(print, type("S", (), {"max_http_buffer_size": LIMIT})(), fallback, compression)
    environ = {**GOOD, "HTTP_SEC_WEBSOCKET_EXTENSIONS": "permessage-deflate"}  # no gunicorn.socket
    assert app(environ, lambda *a: None) == [b"fallback"]
    assert ("HTTP_SEC_WEBSOCKET_EXTENSIONS" in calls[0]) is offer_seen


def test_install_is_for_gevent_servers_only_and_fails_closed() -> None:
    from flask_socketio_jwt import patches

    eio = type("E", (), {"async_mode": "eventlet", "_async": {"websocket": object}})()
    assert gevent_ws.install(eio) is False and eio._async == {"websocket": object}
    driverless = type("E", (), {"async_mode": "gevent", "max_http_buffer_size": LIMIT})()
    assert gevent_ws.missing(driverless)  # not the engine.io it was written for
    with pytest.raises(RuntimeError, match="cannot put its 'gevent_ws' guard in place"):
        patches.require(gevent_ws, driverless)  # the message cap is a guard: start-up stops


def test_threading_mode_gets_the_capped_simple_websocket() -> None:
    eio = type("E", (), {"async_mode": "threading", "_async": {"websocket": object},
                         "max_http_buffer_size": LIMIT})()
    assert gevent_ws.install_threading(eio) is True
    capped = eio._async["websocket"](lambda ws: None, eio)
    assert capped.server_args["max_message_size"] == LIMIT


class GreenLike:
    """A gevent socket's shape: the OS socket as `_sock`, the waiting calls on the wrapper."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock, self.sendall, self.recv = sock, sock.sendall, sock.recv


def test_send_now_writes_what_fits_and_never_waits() -> None:
    server, client = socket.socketpair()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    ws = ThreadedWebSocket(GreenLike(server), LIMIT)
    small = gevent_ws.encode_frame(gevent_ws.OP_TEXT, b"4hello")
    assert ws.send_now(small) == len(small)
    assert client.recv(64) == small
    big = gevent_ws.encode_frame(gevent_ws.OP_TEXT, b"x" * 1_000_000)
    took = ws.send_now(big)
    assert 0 < took < len(big)  # the kernel took part; the caller queues the rest
    assert ws.send_now(big) == 0  # full: 0 at once, no wait
    ws._lock = threading.Lock()
    with ws._lock:  # a frame mid-send: the caller must queue behind it
        assert ws.send_now(small) is None
    ws.close_sent = True
    assert ws.send_now(small) is None
    server.close()
    client.close()
    assert ThreadedWebSocket(GreenLike(server), LIMIT).send_now(small) is None  # closed descriptor
