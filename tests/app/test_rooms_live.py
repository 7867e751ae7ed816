"""Rooms against the real server: broadcast, presence through expiry, history across a restart."""

from __future__ import annotations

from tests.support.sio import Recorder


def test_three_clients_broadcast_and_presence_through_expiry(live_server, clients):
    alice, bob, carol = (live_server.register() for _ in range(3))
    ca, cb, cc = clients(), clients(), clients()
    for c, u in ((ca, alice), (cb, bob), (cc, carol)):
        assert c.connect(u["access"])
    assert ca.call("join", {"room": "live"})["ok"]
    assert cb.call("join", {"room": "live"})["members"] == sorted([alice["username"], bob["username"]])
    sent = ca.call("message", {"room": "live", "text": "<b>hi</b>"})
    for c in (ca, cb):
        assert c.wait("message")[0] == {"id": sent["id"], "room": "live", "user": alice["username"],
                                         "text": "<b>hi</b>", "ts": c.events["message"][0]["ts"]}
    assert cc.events["message"] == []
    # alice's 3-second token runs out: bob sees her leave the room's presence.
    before = len(cb.events["presence"])
    assert ca.wait("auth_expired", timeout=6)
    presence = cb.wait("presence", count=before + 1, timeout=3)
    assert alice["username"] not in presence[-1]["members"]


def test_history_survives_a_server_restart(live_server_factory):
    server = live_server_factory({"FLASK_JWT_ACCESS_TOKEN_EXPIRES": "600"})
    try:
        u = server.register()
        c = Recorder(server.url)
        assert c.connect(u["access"])
        assert c.call("join", {"room": "durable"})["ok"]
        ids = [c.call("message", {"room": "durable", "text": f"m{i}"})["id"] for i in range(5)]
        c.close()
        assert server.stop() == 0
        server.start()
        again = Recorder(server.url)
        assert again.connect(u["access"])  # same secret, same database: the token still works
        ack = again.call("join", {"room": "durable", "since_id": ids[1]})
        assert [m["id"] for m in ack["history"]] == ids[2:]
        assert [m["text"] for m in again.call("join", {"room": "durable"})["history"]] == [f"m{i}" for i in range(5)]
        again.close()
    finally:
        server.stop()


def test_connection_cap_on_the_real_server(live_server_factory):
    server = live_server_factory({"FLASK_SOCKETIO_JWT_MAX_CONNECTIONS_PER_USER": "2"})
    made = []
    try:
        u = server.register()
        for _ in range(2):
            r = Recorder(server.url)
            made.append(r)
            assert r.connect(u["access"])
        extra = Recorder(server.url)
        made.append(extra)
        assert not extra.connect(u["access"])
        assert extra.connect_error["message"] == "too_many_connections"
        made[0].close()
        assert made[0].disconnected.wait(2)
        later = Recorder(server.url)
        made.append(later)
        assert later.connect(u["access"])
    finally:
        for r in made:
            r.close()
        server.stop()
