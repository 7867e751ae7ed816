"""Direct messages: an unregistered peer is refused, and the peer is told (`dm`) that the room has something."""

from __future__ import annotations

import pytest

from realtime import rooms
from tests.app.test_rooms import drain


@pytest.fixture
def users(tokens):
    return {name: tokens.user(name) for name in ("alice", "bob", "carol")}


def test_dm_to_a_user_that_does_not_exist_is_refused(socket_client, users):
    ca = socket_client(users["alice"]["access"])
    for room in (rooms.dm_room("alice", "nobody"), rooms.dm_room("alice", "Bob")):  # names are exact
        ack = ca.emit("join", {"room": room}, callback=True)
        assert ack["ok"] is False and ack["error"]["code"] == "forbidden", (room, ack)
        assert ca.emit("message", {"room": room, "text": "hello?"}, callback=True)["error"]["code"] == "not_joined"
    assert ca.emit("join", {"room": rooms.dm_room("alice", "bob")}, callback=True)["ok"]


def test_peer_is_told_on_first_join_and_on_every_message(socket_client, users):
    room = rooms.dm_room("alice", "bob")
    ca = socket_client(users["alice"]["access"])
    cb1, cb2 = socket_client(users["bob"]["access"]), socket_client(users["bob"]["access"])
    carol = socket_client(users["carol"]["access"])
    for c in (ca, cb1, cb2, carol):
        c.get_received()
    assert ca.emit("join", {"room": room}, callback=True)["ok"]
    for c in (cb1, cb2):  # every socket of the peer, though none has joined the room
        assert drain(c, "dm") == [{"room": room, "from": "alice"}]
    assert drain(ca, "dm") == [] and drain(carol, "dm") == []
    # A second socket of alice joining is no news.
    ca2 = socket_client(users["alice"]["access"])
    assert ca2.emit("join", {"room": room}, callback=True)["ok"]
    assert drain(cb1, "dm") == []
    assert ca.emit("message", {"room": room, "text": "psst"}, callback=True)["ok"]
    assert drain(cb1, "dm") == [{"room": room, "from": "alice"}]
    # The peer joins, gets the history, and alice is told in turn.
    ack = cb1.emit("join", {"room": room}, callback=True)
    assert ack["ok"] and [m["text"] for m in ack["history"]] == ["psst"]
    assert drain(ca, "dm") == [{"room": room, "from": "bob"}]
    assert drain(carol, "dm") == [] and drain(carol, "message") == []


def test_public_rooms_send_no_dm(socket_client, users):
    ca, cb = socket_client(users["alice"]["access"]), socket_client(users["bob"]["access"])
    cb.get_received()
    assert ca.emit("join", {"room": "lobby"}, callback=True)["ok"]
    assert ca.emit("message", {"room": "lobby", "text": "hi"}, callback=True)["ok"]
    assert drain(cb, "dm") == []
