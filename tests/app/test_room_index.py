"""The client manager's per-socket room index (sockets/manager.py) against python-socketio's own."""

from __future__ import annotations

import random

import pytest
import socketio

from extensions import socketio as app_socketio
from flask_socketio_jwt.patches import manager


def pair() -> tuple:
    """A stock manager and an indexed one, each bound to a real python-socketio server."""
    stock, indexed = socketio.Manager(), manager.client_manager(None, "test")
    for m in (stock, indexed):
        socketio.Server(client_manager=m)
    return stock, indexed


def snapshot(m) -> dict:
    return {ns: {room: dict(members) for room, members in rooms.items()} for ns, rooms in m.rooms.items()}


@pytest.mark.parametrize("seed", range(8))
def test_same_rooms_as_python_socketio(seed):
    """Random connects, joins, leaves, room closes and disconnects leave identical tables."""
    rnd = random.Random(seed)
    stock, indexed = pair()
    live: list[tuple[str, str]] = []
    for step in range(400):
        op = rnd.random()
        if op < 0.3 or not live:
            ns = rnd.choice(["/", "/chat"])
            eio, sid = f"e{step}", f"s{step}"
            for m in (stock, indexed):
                m.server.eio.generate_id = lambda sid=sid: sid
                assert m.connect(eio, ns) == sid
            live.append((ns, sid))
        elif op < 0.6:
            ns, sid = rnd.choice(live)
            room = f"r{rnd.randrange(6)}"
            for m in (stock, indexed):
                m.enter_room(sid, ns, room)
        elif op < 0.75:
            ns, sid = rnd.choice(live)
            room = f"r{rnd.randrange(6)}"
            for m in (stock, indexed):
                m.leave_room(sid, ns, room)
        elif op < 0.8:
            ns, room = rnd.choice(["/", "/chat"]), f"r{rnd.randrange(6)}"
            for m in (stock, indexed):
                m.close_room(room, ns)
        else:
            ns, sid = live.pop(rnd.randrange(len(live)))
            for m in (stock, indexed):
                m.disconnect(sid, ns)
        assert snapshot(indexed) == snapshot(stock)
        for ns, sid in live:
            assert sorted(indexed.get_rooms(sid, ns)) == sorted(stock.get_rooms(sid, ns))
    for ns, sid in live:
        for m in (stock, indexed):
            m.disconnect(sid, ns)
    assert snapshot(indexed) == snapshot(stock) == {}
    assert indexed.sid_rooms == {}


def test_disconnect_visits_only_the_sockets_rooms():
    """A disconnect must not test the other sockets' rooms (the O(N) scan this index removes)."""
    _, indexed = pair()
    sids = [indexed.connect(f"e{i}", "/") for i in range(200)]
    indexed.enter_room(sids[0], "/", "lobby")
    visited = []

    class Spy(dict):
        def __contains__(self, key):
            visited.append(key)
            return super().__contains__(key)

        def copy(self):
            visited.append("copy")
            return super().copy()

    indexed.rooms["/"] = Spy(indexed.rooms["/"])
    indexed.disconnect(sids[0], "/")
    assert "copy" not in visited and len(visited) < 10
    assert indexed.get_rooms(sids[1], "/") == [sids[1]]
    assert sids[0] not in indexed.rooms["/"][None] and "lobby" not in indexed.rooms["/"]


def test_pending_lists_and_callbacks_cleared():
    _, indexed = pair()
    sid = indexed.pre_connect("e1", "/")
    indexed._generate_ack_id(sid, lambda *a: None)
    indexed.pre_disconnect(sid, "/")
    indexed.disconnect(sid, "/")
    assert indexed.pending_connect == {} and indexed.pending_disconnect == {} and indexed.callbacks == {}


def test_app_uses_the_indexed_manager(app):
    assert isinstance(app_socketio.server.manager, manager.RoomIndexMixin)


def test_redis_queue_gets_the_indexed_room_channel_manager_or_the_broadcast_one():
    from flask_socketio_jwt.room_manager import RoomChannelManager

    m = manager.client_manager("redis://127.0.0.1:6379/0", "chan")
    assert isinstance(m, RoomChannelManager) and isinstance(m, manager.RoomIndexMixin)
    assert m.channel == "chan"
    b = manager.client_manager("redis://127.0.0.1:6379/0", "chan", kind="broadcast")
    assert isinstance(b, socketio.RedisManager) and isinstance(b, manager.RoomIndexMixin)
    with pytest.raises(ValueError):
        manager.client_manager("amqp://127.0.0.1", "chan")
