"""Rooms, presence and history through the Flask-SocketIO test client."""

from __future__ import annotations

import pytest

from flask_socketio_jwt import get_state
from realtime import rooms


def drain(c, name: str) -> list:
    """Payloads of `name` events received since the last drain."""
    # The test client stores a `message` event's payload unwrapped (Socket.IO's send() legacy).
    return [e["args"] if name == "message" else e["args"][0] for e in c.get_received() if e["name"] == name]


@pytest.fixture
def pair(socket_client, tokens):
    a, b = tokens.user("alice"), tokens.user("bob")
    ca, cb = socket_client(a["access"]), socket_client(b["access"])
    ca.get_received(), cb.get_received()
    return ca, cb


def test_join_message_broadcast_to_members_only(socket_client, tokens, pair):
    ca, cb = pair
    outsider = socket_client(tokens.user("carol")["access"])
    outsider.get_received()
    assert ca.emit("join", {"room": "lobby"}, callback=True)["members"] == ["alice"]
    ack = cb.emit("join", {"room": "lobby"}, callback=True)
    assert ack["ok"] and ack["members"] == ["alice", "bob"] and ack["history"] == []
    sent = ca.emit("message", {"room": "lobby", "text": "hello"}, callback=True)
    assert sent["ok"] and isinstance(sent["id"], int)
    for c in (ca, cb):
        msgs = drain(c, "message")
        assert [m["text"] for m in msgs] == ["hello"]
        assert msgs[0]["id"] == sent["id"] and msgs[0]["user"] == "alice" and msgs[0]["room"] == "lobby"
    assert drain(outsider, "message") == []
    # What was broadcast is what history gives back, timestamp included.
    assert outsider.emit("join", {"room": "lobby"}, callback=True)["history"] == msgs


def test_not_joined_and_leave(pair):
    ca, _ = pair
    ack = ca.emit("message", {"room": "lobby", "text": "hi"}, callback=True)
    assert ack["error"]["code"] == "not_joined"
    assert ca.emit("leave", {"room": "lobby"}, callback=True)["error"]["code"] == "not_joined"
    ca.emit("join", {"room": "lobby"}, callback=True)
    assert ca.emit("leave", {"room": "lobby"}, callback=True) == {"ok": True}
    assert ca.emit("message", {"room": "lobby", "text": "hi"}, callback=True)["error"]["code"] == "not_joined"


def test_dm_rooms_admit_their_two_users_only(socket_client, tokens, pair):
    ca, cb = pair
    carol = socket_client(tokens.user("carol")["access"])
    assert ca.emit("join", {"room": "dm.alice.bob"}, callback=True)["ok"]
    assert cb.emit("join", {"room": "dm.alice.bob"}, callback=True)["ok"]
    for room in ("dm.alice.bob", "dm.bob.alice", "dm.alice.carol.x"):
        ack = carol.emit("join", {"room": room}, callback=True)
        assert ack["ok"] is False and ack["error"]["code"] == "forbidden", room
    assert carol.emit("presence", {"room": "dm.alice.bob"}, callback=True)["error"]["code"] == "forbidden"
    # Unsorted names are not the dm room of these two users, so even they may not use it.
    assert ca.emit("join", {"room": "dm.bob.alice"}, callback=True)["error"]["code"] == "forbidden"
    ca.emit("message", {"room": "dm.alice.bob", "text": "psst"}, callback=True)
    assert [m["text"] for m in drain(cb, "message")] == ["psst"]
    assert drain(carol, "message") == []


@pytest.mark.parametrize("a,b", [("a.b", "cee"), ("x-1", "y_2"), ("bob", "alice"), ("...", "a.b.c")])
def test_dm_room_names_with_dots(app, tokens, a, b):
    tokens.user(a), tokens.user(b), tokens.user("mallory")
    room = rooms.dm_room(a, b)
    with app.app_context():
        rooms.check_access(room, a)
        rooms.check_access(room, b)
        with pytest.raises(rooms.Forbidden):
            rooms.check_access(room, "mallory")


def test_a_dm_name_that_two_pairs_could_claim_belongs_to_neither(app, tokens):
    # dm.al1.bo.sm1 reads as (al1, bo.sm1) and as (al1.bo, sm1): once both pairs exist, nobody
    # may use it, so a pair registered in advance can never read the other pair's dm.
    for name in ("al1", "bo.sm1"):
        tokens.user(name)
    room = rooms.dm_room("al1", "bo.sm1")
    assert room == rooms.dm_room("al1.bo", "sm1")
    with app.app_context():
        rooms.check_access(room, "al1")
        for name in ("al1.bo", "sm1"):
            tokens.user(name)
        for name in ("al1", "bo.sm1", "al1.bo", "sm1"):
            with pytest.raises(rooms.Forbidden):
                rooms.check_access(room, name)


def test_a_dm_with_a_user_who_does_not_exist_is_refused(app, tokens):
    tokens.user("alice")
    with app.app_context():
        with pytest.raises(rooms.Forbidden):
            rooms.check_access(rooms.dm_room("alice", "nobody"), "alice")
        # Names must be spelled as registered: one dm name for one pair.
        tokens.user("bob")
        rooms.check_access("dm.alice.bob", "alice")
        with pytest.raises(rooms.Forbidden):
            rooms.check_access("dm.Alice.bob", "alice")


BAD_ROOMS = ["", "a" * 65, "with space", "semi;colon", "é", "tab\t", "nul\x00", "<script>", 5, None, ["lobby"],
             {"n": 1}, True]


@pytest.mark.parametrize("room", BAD_ROOMS, ids=[repr(r)[:20] for r in BAD_ROOMS])
@pytest.mark.parametrize("event", ["join", "leave", "message", "presence"])
def test_bad_room_names(pair, event, room):
    ca, _ = pair
    ack = ca.emit(event, {"room": room, "text": "x"}, callback=True)
    assert ack["ok"] is False and ack["error"]["code"] == "invalid_payload"


BAD_TEXTS = ["", "x" * 2001, 5, None, ["hi"], {"t": "hi"}, True, "nul\x00byte"]


@pytest.mark.parametrize("text", BAD_TEXTS, ids=[repr(t)[:20] for t in BAD_TEXTS])
def test_bad_texts_change_nothing(app, pair, text):
    ca, cb = pair
    ca.emit("join", {"room": "lobby"}, callback=True)
    cb.emit("join", {"room": "lobby"}, callback=True)
    drain(cb, "message")
    ack = ca.emit("message", {"room": "lobby", "text": text}, callback=True)
    assert ack["ok"] is False and ack["error"]["code"] == "invalid_payload"
    assert drain(cb, "message") == []
    assert cb.emit("join", {"room": "lobby"}, callback=True)["history"] == []


@pytest.mark.parametrize("payload", [None, "lobby", ["lobby"], 7, {"room": "lobby", "since_id": -1},
                                     {"room": "lobby", "since_id": "3"}, {"room": "lobby", "since_id": 1.5},
                                     {"room": "lobby", "since_id": True}])
def test_bad_join_payloads(pair, payload):
    ca, _ = pair
    ack = ca.emit("join", payload, callback=True)
    assert ack["ok"] is False and ack["error"]["code"] == "invalid_payload"


@pytest.mark.parametrize("text", ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "a" * 2000,
                                  "emoji 🎉 and \u202e rtl", "line\nbreak & \"quotes\""])
def test_text_is_stored_and_sent_verbatim(pair, text):
    ca, cb = pair
    ca.emit("join", {"room": "lobby"}, callback=True)
    cb.emit("join", {"room": "lobby"}, callback=True)
    drain(cb, "message")
    assert ca.emit("message", {"room": "lobby", "text": text}, callback=True)["ok"]
    assert [m["text"] for m in drain(cb, "message")] == [text]
    assert cb.emit("join", {"room": "lobby"}, callback=True)["history"][-1]["text"] == text


def test_history_last_50_and_since_id(app, fast_events, pair):
    ca, cb = pair
    ca.emit("join", {"room": "lobby"}, callback=True)
    ids = [ca.emit("message", {"room": "lobby", "text": f"m{i}"}, callback=True)["id"] for i in range(60)]
    ack = cb.emit("join", {"room": "lobby"}, callback=True)
    assert [m["id"] for m in ack["history"]] == ids[-50:] and ack["truncated"] is False
    ack = cb.emit("join", {"room": "lobby", "since_id": ids[41]}, callback=True)
    assert [m["id"] for m in ack["history"]] == ids[42:]
    assert cb.emit("join", {"room": "lobby", "since_id": ids[-1]}, callback=True)["history"] == []
    assert cb.emit("join", {"room": "other"}, callback=True)["history"] == []


def test_since_id_is_capped_with_truncated_flag(app, fast_events, pair):
    app.config["HISTORY_MAX"] = 10
    ca, cb = pair
    ca.emit("join", {"room": "lobby"}, callback=True)
    ids = [ca.emit("message", {"room": "lobby", "text": f"m{i}"}, callback=True)["id"] for i in range(25)]
    ack = cb.emit("join", {"room": "lobby", "since_id": 0}, callback=True)
    assert ack["truncated"] is True and [m["id"] for m in ack["history"]] == ids[:10]
    ack = cb.emit("join", {"room": "lobby", "since_id": ids[9]}, callback=True)
    assert [m["id"] for m in ack["history"]] == ids[10:20] and ack["truncated"] is True
    ack = cb.emit("join", {"room": "lobby", "since_id": ids[19]}, callback=True)
    assert [m["id"] for m in ack["history"]] == ids[20:] and ack["truncated"] is False


def test_presence_counts_a_user_once(socket_client, tokens):
    alice, bob = tokens.user("alice"), tokens.user("bob")
    tab1, tab2 = socket_client(alice["access"]), socket_client(alice["access"])
    watcher = socket_client(bob["access"])
    watcher.emit("join", {"room": "lobby"}, callback=True)
    watcher.get_received()
    tab1.emit("join", {"room": "lobby"}, callback=True)
    assert drain(watcher, "presence") == [{"room": "lobby", "members": ["alice", "bob"]}]
    tab2.emit("join", {"room": "lobby"}, callback=True)
    assert drain(watcher, "presence") == []  # alice was already there
    assert watcher.emit("presence", {"room": "lobby"}, callback=True)["members"] == ["alice", "bob"]
    tab1.disconnect()
    assert drain(watcher, "presence") == []  # alice still has a tab in the room
    tab2.emit("leave", {"room": "lobby"}, callback=True)
    assert drain(watcher, "presence") == [{"room": "lobby", "members": ["bob"]}]


def test_presence_on_disconnect_and_kick(client, socket_client, tokens):
    alice, bob = tokens.user("alice"), tokens.user("bob")
    ca, cb = socket_client(alice["access"]), socket_client(bob["access"])
    for c in (ca, cb):
        c.emit("join", {"room": "lobby"}, callback=True)
    ca.get_received()
    client.post("/api/auth/logout", headers={"Authorization": "Bearer " + bob["access"]})
    assert drain(ca, "presence") == [{"room": "lobby", "members": ["alice"]}]


def test_connection_cap(app, socket_client, tokens):
    get_state(app).hub.max_per_user = 2
    u = tokens.user()
    first, second = socket_client(u["access"]), socket_client(u["access"])
    assert first.is_connected() and second.is_connected()
    third = socket_client(u["access"])
    assert not third.is_connected()
    queued = list(get_state(app).audit._queue)
    assert [r["detail"]["code"] for r in queued if r["kind"] == "connect_refused"] == ["too_many_connections"]
    first.disconnect()
    assert socket_client(u["access"]).is_connected()
    assert get_state(app).registry.user_sockets(u["id"]) == 2


def test_a_room_named_after_a_sid_gets_none_of_that_sockets_events(client, socket_client, tokens):
    victim, mallory = tokens.user("victim"), tokens.user("mallory")
    cv = socket_client(victim["access"])
    sid = cv.get_received()[0]["args"][0]["sid"]
    cm = socket_client(mallory["access"])
    cm.get_received()
    assert cm.emit("join", {"room": sid}, callback=True)["ok"]  # a legal room name, nothing more
    assert drain(cm, "presence") == [{"room": sid, "members": ["mallory"]}]
    client.post("/api/auth/logout", headers={"Authorization": "Bearer " + victim["access"]})
    assert not cv.is_connected()
    assert [e["name"] for e in cm.get_received()] == []  # no auth_revoked, no private event
