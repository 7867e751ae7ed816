"""The guards' building blocks without a server: buckets, counters, pending sessions, framing checks."""

from __future__ import annotations

import os

import pytest

from flask_socketio_jwt.core.limits import FailureCounter, TokenBucket
from flask_socketio_jwt.core.pending import PendingSessions
from flask_socketio_jwt.cors import SocketCors
from flask_socketio_jwt.patches.framing import is_refused
from flask_socketio_jwt.patches.wsguard import fast_mask, is_engineio_text


def test_bucket_burst_then_retry_after():
    b = TokenBucket(10, 5)
    assert [b.take(now=b.stamp) for _ in range(5)] == [0.0] * 5
    retry = b.take(now=b.stamp)
    assert retry == pytest.approx(0.1) and b.limited and b.strikes == 1


def test_strikes_drain_for_a_polite_client_and_grow_for_a_flooder():
    polite, flooder = TokenBucket(10, 5), TokenBucket(10, 5)
    t0 = polite.stamp
    for i in range(200):  # just under the allowed rate
        polite.take(now=t0 + i * 0.11)
    assert polite.strikes == 0
    for i in range(200):  # 4x the allowed rate for 5 s
        flooder.take(now=t0 + i * 0.025)
    assert flooder.strikes > 80 and flooder.limited  # ~145 refused, ~50 drained
    flooder.take(now=t0 + 100)  # a long pause: full bucket, episode over, strikes gone
    assert flooder.strikes == 0 and not flooder.limited


def test_failure_counter_window_and_reset():
    c = FailureCounter(2, 60)
    assert c.retry_after("a", now=0) == 0
    c.hit("a", now=0)
    c.hit("a", now=1)
    assert c.retry_after("a", now=2) == pytest.approx(58)
    assert c.retry_after("b", now=2) == 0
    assert c.retry_after("a", now=61) == 0
    c.hit("a", now=62)
    c.reset("a")
    assert c.retry_after("a", now=62) == 0


def test_pending_sessions_due_once():
    p = PendingSessions(2)
    p.opened("x", "1.2.3.4", now=10)
    p.opened("y", None, now=11)
    assert p.next_deadline() == 12
    assert [s.session_id for s in p.due(now=12)] == ["x"]
    p.settled("y")
    assert p.due(now=100) == [] and p.next_deadline() is None and len(p) == 0


def test_fast_mask_matches_the_reference():
    from eventlet.websocket import RFC6455WebSocket

    data, mask = os.urandom(1001), (7, 200, 3, 99)
    for offset in (0, 1, 2, 3, 5):
        assert fast_mask(data, mask, 1001, offset) == RFC6455WebSocket._apply_mask(data, mask, 1001, offset)
    assert fast_mask(b"", mask) == b""


@pytest.mark.parametrize(("msg", "ok"), [("", False), ("x", False), ("9", False), ("b!!", False),
                                         ("b" + "aGk=", True), ("4", True), ('42["a"]', True), ("2", True)])
def test_engineio_text_check(msg, ok):
    assert is_engineio_text(msg) is ok


def test_binary_packets_refused():
    # The Engine.IO handler sees the Socket.IO packet without engine.io's leading "4".
    assert is_refused(b"x") and is_refused('51-["a"]') and is_refused("61-[1]") and not is_refused('2["a"]')


def test_socket_cors_only_for_allowed_origins():
    seen = {}

    def inner(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    def start(status, headers, exc_info=None):
        seen["headers"] = dict(headers)

    mw = SocketCors(inner, ["http://ok.example"])
    mw({"PATH_INFO": "/socket.io/", "HTTP_ORIGIN": "http://ok.example", "REQUEST_METHOD": "OPTIONS"}, start)
    assert seen["headers"]["Access-Control-Allow-Origin"] == "http://ok.example"
    mw({"PATH_INFO": "/socket.io/", "HTTP_ORIGIN": "http://evil.example", "REQUEST_METHOD": "GET"}, start)
    assert "Access-Control-Allow-Origin" not in seen["headers"]
    mw({"PATH_INFO": "/api/x", "HTTP_ORIGIN": "http://ok.example", "REQUEST_METHOD": "GET"}, start)
    assert "Access-Control-Allow-Origin" not in seen["headers"]


@pytest.mark.parametrize("extensions", [None, {"permessage-deflate": {}}], ids=["plain", "compressed"])
def test_eventlet_websocket_send_now(extensions, request):
    """The eventlet WebSocket writes what fits without waiting, and declines mid-frame or compressed."""
    import socket

    from engineio import packet
    from engineio.async_drivers import eventlet as driver
    from eventlet.greenio import GreenSocket

    from flask_socketio_jwt.patches import leansocket, wsguard
    from tests.support.eio_fake import FakeRawWebSocket

    a, b = socket.socketpair()
    request.addfinalizer(a.close)
    request.addfinalizer(b.close)
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    ws = wsguard.hardened_class(driver.WebSocketWSGI).websocket_class(GreenSocket(a), {}, extensions=extensions)
    assert ws.raw_frames is (extensions is None)
    frame = leansocket.frame_of(packet.Packet(packet.MESSAGE, "hi"))
    assert ws.send_now(frame) == len(frame) and b.recv(64) == frame
    ws.socket = wsguard.ReadAhead(ws.socket)  # as the WebSocket app wraps it: writes go past the buffer
    assert ws.send_now(frame) == len(frame) and b.recv(64) == frame
    big = b"\x82\x7f" + (1 << 20).to_bytes(8, "big") + b"x" * (1 << 20)
    assert 0 < ws.send_now(big) < len(big)
    assert ws.send_now(big) == 0
    ws._sendlock.acquire()
    assert ws.send_now(frame) is None
    ws._sendlock.release()
    a.close()
    assert ws.send_now(frame) is None
    b.close()
    raw = FakeRawWebSocket()  # the test fake decodes what send_now wrote back into packets
    raw.send_now(frame)
    assert raw.sent == ["4hi"]


def test_read_ahead_serves_frame_parts_from_one_read():
    """Small reads come from one larger read, in order, short only at the end of what arrived."""
    from flask_socketio_jwt.patches.wsguard import READ_AHEAD, ReadAhead

    class Sock:
        def __init__(self, chunks):
            self.chunks, self.asked = list(chunks), []

        def recv(self, n):
            self.asked.append(n)
            return self.chunks.pop(0) if self.chunks else b""

        def fileno(self):
            return 7

    sock = Sock([b"\x81\x85abcdhello\x81", b"\x82xyz"])
    r = ReadAhead(sock)
    assert [r.recv(2), r.recv(4), r.recv(5)] == [b"\x81\x85", b"abcd", b"hello"]
    assert sock.asked == [READ_AHEAD]  # one read for the whole frame
    assert r.recv(2) == b"\x81"  # short: only what arrived
    assert r.recv(2) == b"\x82x" and r.recv(10) == b"yz"
    assert r.recv(3) == b""  # the peer closed
    assert r.fileno() == 7  # everything else is the socket's
