"""The send-queue guard on a real engine.io server: open sockets get the packet, the rest engine.io handles."""

from __future__ import annotations

import pytest
from engineio import packet
from engineio.socket import Socket
from flask import Flask
from flask_socketio import SocketIO

from flask_socketio_jwt.patches.backpressure import SendQueueGuard


@pytest.fixture
def guarded():
    """(engine.io server, guard) with the guard installed and a limit of 3 queued packets."""
    socketio = SocketIO(Flask(__name__), async_mode="threading")
    eio = socketio.server.eio
    kicked: list[str] = []
    guard = SendQueueGuard(socketio, hub=None, limit=3).install()  # type: ignore[arg-type]
    guard.drop = kicked.append  # type: ignore[method-assign]
    socketio.start_background_task = lambda fn, *a: fn(*a)  # type: ignore[method-assign]
    return eio, guard, kicked


def add_socket(eio, sid: str) -> Socket:
    sock = Socket(eio, sid)
    eio.sockets[sid] = sock
    return sock


def test_an_open_socket_gets_the_packet(guarded):
    eio, _, kicked = guarded
    sock = add_socket(eio, "open")
    eio.send_packet("open", packet.Packet(packet.MESSAGE, "hi"))
    assert sock.queue.qsize() == 1 and sock.queue.get().data == "hi"
    assert kicked == []


def test_a_closed_socket_is_forgotten_as_engineio_does(guarded):
    eio, _, kicked = guarded
    sock = add_socket(eio, "gone")
    sock.closed = True
    eio.send_packet("gone", packet.Packet(packet.MESSAGE, "hi"))
    assert sock.queue.qsize() == 0
    assert "gone" not in eio.sockets
    eio.send_packet("never-was", packet.Packet(packet.MESSAGE, "hi"))  # logged by engine.io, no error
    assert kicked == []


def test_a_socket_far_over_the_limit_is_dropped_not_sent_to(guarded):
    eio, guard, kicked = guarded
    sock = add_socket(eio, "slow")
    for _ in range(3 * 10):  # ten times the limit at once
        sock.queue.put(packet.Packet(packet.NOOP))
    eio.send_packet("slow", packet.Packet(packet.MESSAGE, "hi"))
    assert kicked == ["slow"] and sock.queue.qsize() == 30
    eio.send_packet("slow", packet.Packet(packet.MESSAGE, "again"))  # being dropped: nothing more
    assert kicked == ["slow"] and sock.queue.qsize() == 30


def test_a_wrapper_installed_before_the_guard_still_sees_every_packet():
    socketio = SocketIO(Flask(__name__), async_mode="threading")
    eio = socketio.server.eio
    seen: list[str] = []
    stock = eio.send_packet

    def wrapper(sid, pkt):
        seen.append(pkt.data)
        stock(sid, pkt)

    eio.send_packet = wrapper
    SendQueueGuard(socketio, hub=None, limit=3).install()  # type: ignore[arg-type]
    sock = add_socket(eio, "open")
    eio.send_packet("open", packet.Packet(packet.MESSAGE, "hi"))
    assert seen == ["hi"] and sock.queue.qsize() == 1
