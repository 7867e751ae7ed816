"""WebSocket limits at the wire, on a real server of each runtime (`WORKER`): raw frames, no client library.

`SOCKETIO_JWT_MAX_MESSAGE_BYTES` must hold while a message is read: one frame announcing megabytes, or a
message of thousands of small continuation frames, is refused (close 1009 or a reset) and the
worker's peak RSS does not grow by what was sent. permessage-deflate is negotiated only when
`SOCKETIO_JWT_WEBSOCKET_COMPRESSION` is on, and the limit holds either way.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.app.conftest import LiveServer
from tests.support.live import live_fixture

MAX_BYTES = 65536
SENT = 16 * 1024 * 1024  # what a hostile client pushes at the server
PEAK_BUDGET = 4 * 1024 * 1024  # the worker's peak RSS may grow by this much, not by SENT
OP_CONT, OP_TEXT, OP_CLOSE, OP_PING = 0x0, 0x1, 0x8, 0x9


class Wire:
    """A WebSocket to /socket.io spoken byte by byte."""

    def __init__(self, port: int, extensions: str | None = None) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = ["GET /socket.io/?EIO=4&transport=websocket HTTP/1.1", f"Host: 127.0.0.1:{port}",
                 "Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
                 "Sec-WebSocket-Version: 13"]
        if extensions:
            lines.append(f"Sec-WebSocket-Extensions: {extensions}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buf = b""
        self.inflater = zlib.decompressobj(-15)
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            assert chunk, "closed during the handshake"
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        status, *headers = head.decode("latin-1").split("\r\n")
        assert status.startswith("HTTP/1.1 101"), status
        self.headers = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in headers)}

    def frame(self, opcode: int, payload: bytes, fin: bool = True, length: int | None = None) -> bytes:
        """A masked client frame; `length` may announce more than the payload given."""
        n = len(payload) if length is None else length
        b0 = (0x80 if fin else 0) | opcode
        if n < 126:
            head = struct.pack("!BB", b0, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", b0, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", b0, 0x80 | 127, n)
        return head + b"\0\0\0\0" + payload  # a zero mask leaves the payload as is

    def send(self, data: bytes) -> None:
        """Write raw bytes."""
        self.sock.sendall(data)

    def _read(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self) -> tuple[int, bytes]:
        """The next server frame (opcode, payload)."""
        b0, b1 = self._read(2)
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", self._read(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", self._read(8))
        data = self._read(n)
        if b0 & 0x40:  # RSV1: a permessage-deflate message (RFC 7692), one context per connection
            data = self.inflater.decompress(data + b"\x00\x00\xff\xff")
        return b0 & 0x0F, data

    def text(self) -> str:
        """The next text message, answering Engine.IO pings."""
        while True:
            op, data = self.recv()
            if op == OP_TEXT and data == b"2":
                self.send(self.frame(OP_TEXT, b"3"))
                continue
            if op == OP_TEXT:
                return data.decode()
            if op == OP_CLOSE:
                raise EOFError(data)

    def join(self, token: str) -> None:
        """Engine.IO OPEN, then the namespace CONNECT with a token."""
        assert self.text().startswith("0{")
        self.send(self.frame(OP_TEXT, b"40" + json.dumps({"token": token}).encode()))
        while not (msg := self.text()).startswith("40{"):  # the `session` event may come first
            assert not msg.startswith("44"), msg

    def closed_by_server(self) -> bool:
        """True when the server ends the WebSocket (CLOSE frame, EOF or reset) within the socket timeout."""
        try:
            while True:
                op, _ = self.recv()
                if op == OP_CLOSE:
                    return True
        except (EOFError, ConnectionError):
            return True
        except TimeoutError:
            return False

    def close(self) -> None:
        """Drop the TCP connection."""
        self.sock.close()


def peak_rss_growth(worker: psutil.Process, action) -> tuple[int, object]:
    """(peak RSS during action - RSS before, action's result): the kernel's high-water mark, reset first."""
    Path(f"/proc/{worker.pid}/clear_refs").write_text("5")  # 5: reset the peak RSS to the current RSS
    before = worker.memory_info().rss
    result = action()
    status = Path(f"/proc/{worker.pid}/status").read_text()
    peak = int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]) * 1024
    return peak - before, result


def push(wire: Wire, chunks: Iterator[bytes]) -> int:
    """Send chunks until the server stops taking them; returns the bytes it took."""
    sent = 0
    try:
        for chunk in chunks:
            wire.send(chunk)
            sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass
    return sent


@live_fixture(scope="module", params=[False, True], ids=["compression-off", "compression-on"])
def wire_server(request, tmp_path_factory) -> Iterator[tuple[LiveServer, bool]]:
    """A server with SOCKETIO_JWT_WEBSOCKET_COMPRESSION off (the default) or on."""
    server = LiveServer(tmp_path_factory.mktemp("wire"), {
        "FLASK_SOCKETIO_JWT_WEBSOCKET_COMPRESSION": json.dumps(request.param),
        "FLASK_SOCKETIO_JWT_MAX_MESSAGE_BYTES": str(MAX_BYTES),
        "FLASK_SOCKETIO_JWT_CONNECT_RATE_LIMIT": "[1000, 1000]"})
    server.migrate()
    server.start()
    try:
        yield server, request.param
    finally:
        server.stop()


def worker_of(server: LiveServer) -> psutil.Process:
    """The gunicorn worker holding the sockets."""
    return psutil.Process(server.proc.pid).children()[0]


def test_permessage_deflate_is_negotiated_only_when_enabled(wire_server) -> None:
    server, compression = wire_server
    wire = Wire(server.port, "permessage-deflate; client_max_window_bits")
    try:
        offered_back = wire.headers.get("sec-websocket-extensions", "")
        assert ("permessage-deflate" in offered_back) is compression, wire.headers
        wire.join(server.register()["access"])
    finally:
        wire.close()


def test_one_huge_frame_is_refused_without_being_held(wire_server) -> None:
    server, _ = wire_server
    wire = Wire(server.port)
    try:
        wire.join(server.register()["access"])
        body = b"4" + b"x" * (1024 * 1024 - 1)

        def send_huge() -> int:
            head = wire.frame(OP_TEXT, b"", length=SENT)
            return push(wire, iter([head] + [body] * (SENT // len(body))))

        growth, sent = peak_rss_growth(worker_of(server), send_huge)
        assert wire.closed_by_server()
    finally:
        wire.close()
    assert growth < PEAK_BUDGET, f"peak RSS grew {growth / 2**20:.1f} MiB while {sent / 2**20:.1f} MiB were sent"


def test_many_continuation_frames_are_refused_without_being_held(wire_server) -> None:
    server, _ = wire_server
    wire = Wire(server.port)
    try:
        wire.join(server.register()["access"])
        piece = b"x" * 1000
        pings_between = wire.frame(OP_PING, b"p")  # control frames may interleave; they change nothing

        def frames() -> Iterator[bytes]:
            yield wire.frame(OP_TEXT, b"4" + piece[1:], fin=False)
            batch = (wire.frame(OP_CONT, piece, fin=False) * 63) + pings_between
            for _ in range(SENT // (len(piece) * 64)):
                yield batch

        growth, sent = peak_rss_growth(worker_of(server), lambda: push(wire, frames()))
        assert wire.closed_by_server()
    finally:
        wire.close()
    assert growth < PEAK_BUDGET, f"peak RSS grew {growth / 2**20:.1f} MiB while {sent / 2**20:.1f} MiB were sent"


def test_a_message_at_the_limit_still_works(wire_server) -> None:
    server, _ = wire_server
    wire = Wire(server.port)
    try:
        wire.join(server.register()["access"])
        packet = b'421["whoami",{"pad":"' + b"y" * 100 + b'"}]'
        # The same ack request split over three frames, and padded up to exactly the limit.
        wire.send(wire.frame(OP_TEXT, packet[:5], fin=False) + wire.frame(OP_CONT, packet[5:20], fin=False)
                  + wire.frame(OP_CONT, packet[20:]))
        assert wire.text().startswith('431[{"ok":true')
        head, tail = b'422["whoami",{"pad":"', b'"}]'
        padded = head + b"z" * (MAX_BYTES - len(head) - len(tail)) + tail
        assert len(padded) == MAX_BYTES
        wire.send(wire.frame(OP_TEXT, padded))
        assert wire.text().startswith('432[{"ok":true')
    finally:
        wire.close()


@pytest.mark.parametrize("size", [0, 1], ids=["empty-fragments", "1-byte-fragments"])
def test_tiny_fragments_cost_what_the_cap_allows(wire_server, size) -> None:
    """Each fragment counts toward the cap: empty or 1-byte continuation frames end in a refusal,
    and the memory held per connection stays under twice the cap, whatever the fragmentation."""
    server, _ = wire_server
    token = server.register()["access"]
    wires = [Wire(server.port) for _ in range(10)]
    try:
        for wire in wires:
            wire.join(token)
        piece = b"x" * size
        batch = b"".join(wires[0].frame(OP_CONT, piece, fin=False) for _ in range(4096))

        def flood() -> list[int]:
            sent = []
            for wire in wires:  # every connection holds its half-read message at once
                wire.send(wire.frame(OP_TEXT, b"4", fin=False))
                sent.append(push(wire, iter([batch] * 500)))  # 2,048,000 fragments at most
            return sent

        growth, _ = peak_rss_growth(worker_of(server), flood)
        assert all(wire.closed_by_server() for wire in wires)
    finally:
        for wire in wires:
            wire.close()
    assert growth < 2 * MAX_BYTES * len(wires), f"peak RSS grew {growth / 2**10:.0f} KiB for {len(wires)} sockets"


def test_after_the_servers_close_data_frames_are_discarded_and_the_socket_ends(wire_server) -> None:
    server, _ = wire_server
    wire = Wire(server.port)
    try:
        wire.join(server.register()["access"])
        wire.send(wire.frame(OP_TEXT, b"4" + b"x" * MAX_BYTES))  # over the cap: the server sends CLOSE 1009
        op, data = wire.recv()
        while op != OP_CLOSE:
            op, data = wire.recv()
        assert struct.unpack("!H", data[:2])[0] == 1009
        deadline = time.monotonic() + 8
        chunk = wire.frame(OP_TEXT, b"4" + b"y" * 999) * 16
        ended = False
        while time.monotonic() < deadline:  # a peer that never answers CLOSE but keeps sending data
            try:
                wire.send(chunk)
            except (BrokenPipeError, ConnectionResetError):
                ended = True
                break
        assert ended, "the server kept reading data frames after its CLOSE"
    finally:
        wire.close()


@pytest.mark.parametrize(("body", "expected"), [
    (struct.pack("!H", 1005), 1002), (struct.pack("!H", 1006), 1002), (struct.pack("!H", 999), 1002),
    (b"\x03", 1002), (struct.pack("!H", 1000) + b"\xff\xfe", 1002), (struct.pack("!H", 1001) + b"bye", 1001),
    (b"", 1000), (struct.pack("!H", 4000), 4000),
], ids=["1005", "1006", "999", "one-byte", "bad-utf8", "1001", "empty", "4000"])
def test_close_codes_are_answered_as_rfc_6455_says(wire_server, body, expected) -> None:
    server, _ = wire_server
    wire = Wire(server.port)
    try:
        wire.join(server.register()["access"])
        wire.send(wire.frame(OP_CLOSE, body))
        op, data = wire.recv()
        while op != OP_CLOSE:
            op, data = wire.recv()
        code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else 1000
        assert code == expected
    finally:
        wire.close()
