"""Room-scoped pub/sub at its edges: joins, leaves and publishes at once across processes lose nothing.

Publishers send on process A without pause. On process B, observers become the first member of
their room (B subscribes to the room's channel as they join) and churners leave and join again
over and over (B unsubscribes and subscribes again each time, rejoining with `since_id`). Every
message a socket was owed, from its join ack's history or live, is checked against the durable
history at the end.
"""

from __future__ import annotations

import threading
import time

from tests.app.cluster.conftest import name
from tests.app.cluster.peers import register

ROOMS = 6  # 0-2: one observer on B each; 3-5: one churner on B each


def ids_of(messages) -> set[int]:
    return {m["id"] for m in messages}


def test_concurrent_joins_leaves_and_publishes_lose_no_message(cluster, peers) -> None:
    a, b = cluster.servers
    tag = name("")
    rooms = [f"edge-{tag}-{i}" for i in range(ROOMS)]
    stop = threading.Event()
    errors: list[str] = []

    publishers = []
    for room in rooms:  # one user each (the cluster caps a user at 3 sockets), all on A
        p = peers(a.url, register(a.url, name())["access"]).connect()
        assert p.call("join", {"room": room})["ok"]
        publishers.append((p, room))

    def publish(p, room: str) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            ack = p.call("message", {"room": room, "text": f"{room}:{n}"})
            if not ack.get("ok"):
                errors.append(f"publish {room}: {ack}")
            time.sleep(0.06)  # about 16 messages a second: under the per-socket rate limit

    threads = [threading.Thread(target=publish, args=pr) for pr in publishers]
    for t in threads:
        t.start()

    owed: dict[int, set[int]] = {}  # socket index -> ids it got from join histories
    socks = []
    try:
        # Observers: each becomes the first member of its room on B while messages flow.
        for i in range(3):
            time.sleep(0.3)
            o = peers(b.url, register(b.url, name())["access"]).connect()
            ack = o.call("join", {"room": rooms[i], "since_id": 0})
            assert ack["ok"] and not ack["truncated"], ack
            owed[len(socks)] = ids_of(ack["history"])
            socks.append((o, rooms[i]))
        # Churners: leave and join again (each time B's last member goes and comes back).
        churners = []
        for i in range(3, ROOMS):
            c = peers(b.url, register(b.url, name())["access"]).connect()
            ack = c.call("join", {"room": rooms[i], "since_id": 0})
            owed[len(socks)] = ids_of(ack["history"])
            churners.append(len(socks))
            socks.append((c, rooms[i]))
        for _ in range(6):
            for k in churners:
                c, room = socks[k]
                time.sleep(0.1)
                assert c.call("leave", {"room": room})["ok"]
                seen = owed[k] | ids_of(d for e, d in c.events if e == "message" and d["room"] == room)
                ack = c.call("join", {"room": room, "since_id": max(seen, default=0)})
                assert ack["ok"] and not ack["truncated"], ack
                owed[k] |= ids_of(ack["history"])
        time.sleep(0.3)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert not errors, errors[:5]

    # Let the last broadcasts arrive, then compare with the durable history of every room.
    checker = peers(a.url, register(a.url, name())["access"]).connect()
    for k, (sock, room) in enumerate(socks):
        stored = checker.call("join", {"room": room, "since_id": 0})["history"]
        last = stored[-1]["id"]
        sock.wait("message", lambda m, room=room, last=last: m["room"] == room and m["id"] == last, timeout=5)
        live = ids_of(d for e, d in sock.events if e == "message" and d["room"] == room)
        got = owed[k] | live
        first_owed = min(owed[k] | live)
        missing = sorted(m["id"] for m in stored if m["id"] >= first_owed and m["id"] not in got)
        assert not missing, f"{room}: {len(missing)} of {len(stored)} messages never reached socket {k}: {missing[:10]}"
        assert got <= ids_of(stored), f"{room}: socket {k} got ids that are not in the history"
        assert len(stored) > 30, f"{room}: too few messages ({len(stored)}) for the test to mean anything"
