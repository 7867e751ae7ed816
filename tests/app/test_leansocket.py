"""Lean Engine.IO sockets in-process (eventlet, fake WebSockets), each behaviour checked against stock engine.io."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import engineio
import eventlet
import pytest
from engineio.socket import Socket

from flask_socketio_jwt.patches import leansocket, leanstack
from tests.support.eio_fake import FakeWebSocket, Server, green_wait, live_greenlets, start_response


@pytest.fixture(params=[True, False], ids=["lean", "stock"])
def lean(request) -> bool:
    return request.param


@pytest.fixture
def make_server(lean: bool, caplog) -> Iterator:
    made: list[Server] = []
    caplog.set_level(logging.WARNING, logger="flask_socketio_jwt.patches.leansocket")

    def make(**kw) -> Server:
        s = Server(lean, **kw)
        assert s.lean is lean
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()
    # e.g. a ping fired for a socket that had closed meanwhile must be skipped, not fail
    name = "flask_socketio_jwt.patches.leansocket"
    assert [r.getMessage() for r in caplog.get_records("call") if r.name == name] == []


def autopong(client) -> eventlet.greenthread.GreenThread:
    """A client that answers every PING, like a healthy peer."""
    def run() -> None:
        answered = 0
        while not client.ws.closed:
            pings = client.ws.packets("2")
            for _ in pings[answered:]:
                client.send("3")
            answered = len(pings)
            eventlet.sleep(0.005)
    return eventlet.spawn(run)


def test_lean_only_where_asked_and_cooperative():
    assert leansocket.install(engineio.Server(async_mode="threading")) is False
    assert leansocket.install(engineio.Server(async_mode="eventlet"), enabled=False) is False
    eio = engineio.Server(async_mode="eventlet")
    assert leansocket.install(eio) is True
    assert isinstance(eio.sockets, leansocket.LeanSockets)


def test_sockets_get_the_lean_class_only_when_installed(make_server, lean):
    s = make_server()
    c = s.open_ws()
    assert type(c.sock) is (leansocket.LeanSocket if lean else Socket)


def test_pings_keep_a_healthy_socket_up_across_cycles(make_server):
    s = make_server(ping_interval=0.05, ping_timeout=0.5)
    c = s.open_ws()
    pong = autopong(c)
    assert green_wait(lambda: len(c.ws.packets("2")) >= 6, timeout=10), c.ws.sent
    assert not c.ws.closed and not c.sock.closed and s.disconnects == []
    c.ws.inbox.put(None)
    pong.wait()


@pytest.mark.parametrize("lean", [True], ids=["lean"])
def test_no_new_ping_while_one_is_unanswered(make_server):
    s = make_server(ping_interval=0.02, ping_timeout=30)
    c = s.open_ws()
    assert green_wait(lambda: len(c.ws.packets("2")) == 1)
    assert c.sock.last_ping and all(sock is not c.sock for _, sock in s.eio.lean_ping_clock.due)
    c.send("3")
    c.send("3")  # a duplicate PONG must not start a second ping cycle
    assert green_wait(lambda: len(c.ws.packets("2")) == 2)
    assert c.sock.last_ping and all(sock is not c.sock for _, sock in s.eio.lean_ping_clock.due)


def test_silent_peer_is_closed_by_the_ping_timeout(make_server):
    s = make_server(ping_interval=0.05, ping_timeout=0.1)
    c = s.open_ws()
    assert green_wait(lambda: c.ws.packets("2") != [])
    assert green_wait(lambda: bool(s.disconnects), timeout=10)
    assert s.disconnects == [(c.sid, s.eio.reason.PING_TIMEOUT)]
    assert green_wait(lambda: c.ws.closed and c.task.dead)
    assert c.sid not in s.eio.sockets


@pytest.mark.parametrize("yielding", [False, True], ids=["instant-send", "yielding-send"])
def test_many_packets_arrive_in_order(make_server, yielding):
    s = make_server()
    c = s.open_ws()
    c.ws.yield_on_send = yielding
    for i in range(500):
        s.eio.send(c.sid, f"m{i}")
        if i % 7 == 0:
            eventlet.sleep(0)  # let the writer run mid-stream
    assert green_wait(lambda: len(c.ws.packets("4")) == 500)
    assert c.ws.packets("4") == [f"m{i}" for i in range(500)]


def test_client_messages_reach_the_app(make_server):
    s = make_server()
    c = s.open_ws()
    for i in range(20):
        c.send(f"4hello{i}")
    assert green_wait(lambda: len(s.messages) == 20)
    assert sorted(d for _, d in s.messages) == sorted(f"hello{i}" for i in range(20))


def send_while_stalled(s, c) -> None:
    """Send 100 packets while the WebSocket's sends block: they stay queued; then release it and let them out."""
    c.ws.stall = eventlet.Event()
    for i in range(100):
        s.eio.send(c.sid, f"m{i}")
        eventlet.sleep(0)
    assert green_wait(lambda: c.sock.queue.qsize() >= 99)
    c.ws.stall.send()
    c.ws.stall, c.ws.room = None, None
    assert green_wait(lambda: len(c.ws.packets("4")) == 100)


def test_stalled_writer_leaves_packets_queued(make_server):
    """The slow-consumer guard reads queue sizes: a writer stuck in sendall must not hide them."""
    s = make_server()
    c = s.open_ws()
    assert green_wait(lambda: c.sock.queue.qsize() == 0)
    send_while_stalled(s, c)
    assert c.sock.queue.qsize() == 0


@pytest.mark.parametrize("abort", [False, True], ids=["close", "abort"])
def test_close_wait_returns_once_the_queue_is_sent(make_server, abort):
    s = make_server()
    c = s.open_ws()
    for i in range(10):
        s.eio.send(c.sid, f"m{i}")
    closer = eventlet.spawn(c.sock.close, wait=True, abort=abort)
    assert green_wait(lambda: closer.dead)
    assert c.ws.packets("4") == [f"m{i}" for i in range(10)]
    assert (c.ws.sent[-1] == "1") is not abort  # CLOSE packet unless aborted
    assert green_wait(lambda: c.ws.closed and c.task.dead)


def nothing_left(s: Server, before: set, sock) -> Callable[[], bool]:
    """No green thread started since `before` is alive and no ping is still scheduled for sock."""
    clock = getattr(s.eio, "lean_ping_clock", None)
    return lambda: not (live_greenlets() - before) and (clock is None or all(x is not sock for _, x in clock.due))


def test_server_disconnect_cleans_up(make_server):
    s = make_server(ping_interval=0.05, ping_timeout=5)
    s.open_ws()  # the server's own tasks (service task, ping clock) exist from here on
    before = live_greenlets()
    c = s.open_ws()
    sock = c.sock
    s.eio.disconnect(c.sid)
    assert green_wait(lambda: c.ws.closed and c.task.dead)
    assert c.ws.sent[-1] == "1"
    assert s.disconnects == [(c.sid, s.eio.reason.SERVER_DISCONNECT)]
    assert c.sid not in s.eio.sockets
    # the closed socket's last scheduled ping fires and finds it closed: nothing stays behind
    assert green_wait(nothing_left(s, before, sock)), live_greenlets() - before


def test_client_close_cleans_up(make_server):
    s = make_server(ping_interval=0.05, ping_timeout=5)
    s.open_ws()
    before = live_greenlets()
    c = s.open_ws()
    sock = c.sock
    c.ws.inbox.put(None)
    assert green_wait(lambda: c.task.dead)
    assert s.disconnects == [(c.sid, s.eio.reason.TRANSPORT_CLOSE)]
    assert c.sid not in s.eio.sockets
    assert green_wait(nothing_left(s, before, sock)), live_greenlets() - before


def test_polling_then_upgrade(make_server):
    s = make_server()
    c = s.open_polling()
    s.eio.send(c.sid, "over-polling")
    assert c.poll() == "4over-polling"
    assert c.post("4from-polling") == "OK"
    c.upgrade()
    s.eio.send(c.sid, "over-websocket")
    assert green_wait(lambda: c.ws.packets("4") == ["over-websocket"])
    c.send("4from-websocket")
    assert green_wait(lambda: [d for _, d in s.messages] == ["from-polling", "from-websocket"])
    c.ws.inbox.put(None)
    assert green_wait(lambda: c.task.dead)
    assert s.disconnects == [(c.sid, s.eio.reason.TRANSPORT_CLOSE)]


def test_packets_sent_during_the_upgrade_go_out_on_the_websocket(make_server):
    s = make_server()
    c = s.open_polling()
    c.upgrade(during=lambda: s.eio.send(c.sid, "during"))  # after the last poll, before UPGRADE
    assert green_wait(lambda: c.ws.packets("4") == ["during"])


def test_failed_upgrade_keeps_polling(make_server):
    s = make_server()
    c = s.open_polling()
    ws = FakeWebSocket()
    task = eventlet.spawn(s.eio.handle_request, s.environ("GET", f"transport=websocket&sid={c.sid}", ws=ws),
                          start_response)
    ws.inbox.put("4not-a-probe")
    with eventlet.Timeout(5):
        task.wait()
    assert not c.sock.upgraded and not c.sock.closed
    s.eio.send(c.sid, "still-polling")
    assert c.poll() == "4still-polling"


def test_idle_websocket_parks_one_greenlet_lean_three_stock(make_server, lean):
    s = make_server(ping_interval=30, ping_timeout=30)
    s.open_ws()  # server-wide tasks start with the first session
    assert green_wait(lambda: s.clients[0].sock.queue.qsize() == 0)
    before = live_greenlets()
    for _ in range(10):
        s.open_ws()
    per_socket = 1 if lean else 3  # the reader only; stock adds a writer and a sleeping ping task
    assert green_wait(lambda: len(live_greenlets() - before) == 10 * per_socket), len(live_greenlets() - before)


@pytest.mark.parametrize("lean", [True], ids=["lean"])
def test_disconnect_all_keeps_new_sockets_lean(make_server):
    s = make_server()
    first = s.open_ws()
    s.eio.disconnect()
    assert green_wait(lambda: first.task.dead)
    assert isinstance(s.eio.sockets, leansocket.LeanSockets)
    assert type(s.open_ws().sock) is leansocket.LeanSocket


# -- the WSGI stack under each parked reader (sockets/leanstack.py) --------------------------

def test_flat_hands_out_plain_callables():
    def fn(environ, start_response):
        return [b"fn"]

    class Middleware:
        def __call__(self, environ, start_response):
            return [b"mw"]

    mw = Middleware()
    assert leanstack.flat(fn) is fn
    assert leanstack.flat(mw) == mw.__call__ and leanstack.flat(mw)({}, None) == [b"mw"]
    assert leanstack.flat(len) is len  # a builtin: nothing to unwrap


def test_prefill_input_hands_the_gunicorn_socket_to_eventlet():
    seen: dict = {}
    app = leanstack.prefill_input(lambda environ, sr: seen.update(environ) or [b""])
    sock = object()
    app({"gunicorn.socket": sock}, None)
    assert "gunicorn.socket" not in seen and seen["eventlet.input"].get_socket() is sock
    seen.clear()
    app({"PATH_INFO": "/"}, None)  # another server: left alone
    assert seen == {"PATH_INFO": "/"}


@pytest.mark.parametrize("lean", [True, False], ids=["lean", "stock"])
def test_app_wiring_under_eventlet(tmp_path, lean):
    """engine.io's middleware must find `eventlet.input` already there (no class per request)."""
    from tests.app.conftest import built_app

    with built_app(tmp_path, SOCKETIO_JWT_ASYNC_MODE="eventlet", SOCKETIO_JWT_LEAN_ENGINEIO=lean) as app:
        assert app.extensions["flask-socketio-jwt:hardening"].lean_sockets is lean
        eio = app.extensions["socketio"].server.eio
        assert isinstance(eio.sockets, leansocket.LeanSockets) is lean
        seen: dict = {}
        real = eio.handle_request
        eio.handle_request = lambda environ, sr: seen.update(environ) or real(environ, sr)
        sock = object()
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/socket.io/", "QUERY_STRING": "EIO=4&transport=polling",
                   "SERVER_NAME": "x", "SERVER_PORT": "80", "wsgi.url_scheme": "http", "gunicorn.socket": sock}
        body = b"".join(app(environ, lambda status, headers, exc_info=None: None))
        assert body.startswith(b"0{")
        assert seen["eventlet.input"].get_socket() is sock
        assert (type(seen["eventlet.input"]) is leanstack.EventletInput) is lean
        assert ("gunicorn.socket" in seen) is not lean


def test_frame_of_builds_one_frame_per_packet():
    """Text and binary frames with each length form; a packet's frame is built once and reused."""
    from engineio import packet

    for size, header in ((5, b"\x81\x06"), (200, b"\x81\x7e\x00\xc9"),
                         (70000, b"\x81\x7f" + (70001).to_bytes(8, "big"))):
        pkt = packet.Packet(packet.MESSAGE, "x" * size)
        frame = leansocket.frame_of(pkt)
        assert frame == header + b"4" + b"x" * size
        assert leansocket.frame_of(pkt) is frame
    binary = leansocket.frame_of(packet.Packet(packet.MESSAGE, b"\x00\x01"))
    assert binary == b"\x82\x02\x00\x01"
    # An OPEN stays referenced by engine.io for the socket's life: its frame is not kept on it.
    opened = packet.Packet(packet.OPEN, {"sid": "abc"})
    assert leansocket.frame_of(opened) == b"\x81\x0e" + b'0{"sid":"abc"}'
    assert "_frame" not in opened.__dict__


def idle_frame_socket(make_server) -> tuple:
    """A server and a session on a frame-taking WebSocket with nothing queued and no writer."""
    s = make_server()
    c = s.open_ws(raw=True)
    assert green_wait(lambda: c.sock._writer is None and c.sock.queue.qsize() == 0)
    return s, c


@pytest.mark.parametrize("lean", [True], ids=["lean"])
def test_idle_socket_writes_directly_without_a_writer(make_server):
    """Nothing queued: a packet goes to the kernel from the sender's green thread, no writer starts."""
    s, c = idle_frame_socket(make_server)
    before = c.ws.direct
    for i in range(50):
        s.eio.send(c.sid, f"m{i}")
    assert c.ws.packets("4") == [f"m{i}" for i in range(50)]  # written before any yield
    assert c.ws.direct - before == 50 and c.sock._writer is None


@pytest.mark.parametrize("lean", [True], ids=["lean"])
def test_partial_write_leaves_the_rest_first_in_line(make_server):
    """A kernel buffer that takes half a frame: the writer sends the rest before any later packet."""
    s, c = idle_frame_socket(make_server)
    c.ws.room = 10
    s.eio.send(c.sid, "first-" + "y" * 40)
    assert c.sock.queue.qsize() == 1 and c.sock._writer is not None
    for i in range(20):  # queued behind the rest of the first frame
        s.eio.send(c.sid, f"m{i}")
    c.ws.room = None
    assert green_wait(lambda: len(c.ws.packets("4")) == 21)
    assert c.ws.packets("4") == ["first-" + "y" * 40] + [f"m{i}" for i in range(20)]
    assert green_wait(lambda: c.sock._writer is None)
    s.eio.send(c.sid, "after")  # the queue drained: direct again
    assert c.ws.packets("4")[-1] == "after"


@pytest.mark.parametrize("lean", [True], ids=["lean"])
def test_full_kernel_buffer_queues_for_the_slow_consumer_guard(make_server):
    """Nothing fits: packets queue (where the slow-consumer guard counts them) and leave in order."""
    s, c = idle_frame_socket(make_server)
    c.ws.room = 0
    send_while_stalled(s, c)
    assert c.ws.packets("4") == [f"m{i}" for i in range(100)]


@pytest.mark.parametrize("yielding", [False, True], ids=["plain", "yielding"])
def test_many_packets_in_order_on_a_frame_socket(make_server, lean, yielding):
    """Direct writes and the writer interleave without reordering (stock sockets ignore raw frames)."""
    s = make_server()
    c = s.open_ws(raw=True)
    c.ws.yield_on_send = yielding
    for i in range(500):
        c.ws.room = 7 if i % 11 == 0 else None  # now and then only part of a frame fits
        s.eio.send(c.sid, f"m{i}")
        if i % 7 == 0:
            eventlet.sleep(0)
    c.ws.room = None
    assert green_wait(lambda: len(c.ws.packets("4")) == 500)
    assert c.ws.packets("4") == [f"m{i}" for i in range(500)]
