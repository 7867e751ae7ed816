"""Faults: a process killed with SIGKILL leaves no ghost; a Redis restart heals by itself."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from tests.app.cluster.conftest import HEARTBEAT_TTL, Cluster, cluster_env, name
from tests.app.cluster.peers import Peer, register
from tests.app.conftest import wait_for
from tests.support.live import live_fixture
from tests.support.services import RedisServer


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory) -> Iterator[RedisServer]:
    """A redis-server of this module only: it gets restarted."""
    server = RedisServer(tmp_path_factory.mktemp("redis-faults")).start()
    yield server
    server.stop()


@live_fixture(scope="module")
def faults(tmp_path_factory, own_redis: RedisServer, postgres) -> Iterator[Cluster]:
    """A cluster whose processes the tests kill; starts with two processes."""
    c = Cluster(tmp_path_factory.mktemp("faults"), cluster_env(own_redis.url, postgres.create_db("faults")))
    c.add()
    c.add()
    yield c
    c.stop()


def test_sigkilled_process_leaves_no_ghost(faults: Cluster, own_redis: RedisServer, peers) -> None:
    a, b = faults.servers[:2]
    victim = faults.add()
    room = "ghost-" + name("")
    watcher, ghost = register(a.url, name()), register(victim.url, name())
    # The watcher listens on both survivors: whichever sweeps, the other hears it through the queue.
    watchers = [peers(s.url, watcher["access"]).connect() for s in (a, b)]
    for pw in watchers:
        pw.call("join", {"room": room})
    pg = peers(victim.url, ghost["access"]).connect()
    pg.call("join", {"room": room})
    both = sorted([watcher["username"], ghost["username"]])
    for pw in watchers:
        pw.wait("presence", lambda p: p["room"] == room and p["members"] == both)
    assert own_redis.client().hget("realtime:conn", ghost["id"]) == "1"

    marks = [pw.mark() for pw in watchers]
    faults.kill(victim)
    killed_at = time.monotonic()
    # A survivor sweeps the dead process after the heartbeat TTL and tells the room, on every process.
    for pw, mark in zip(watchers, marks, strict=True):
        pw.wait("presence", lambda p: p["room"] == room and p["members"] == [watcher["username"]],
                timeout=HEARTBEAT_TTL + 4, since=mark)
    assert time.monotonic() - killed_at >= HEARTBEAT_TTL - 1.5
    assert watchers[0].call("presence", {"room": room})["members"] == [watcher["username"]]
    assert own_redis.client().hget("realtime:conn", ghost["id"]) is None
    for _ in range(3):  # the ghost's socket no longer eats the user's cap (3)
        peers(a.url, ghost["access"]).connect()


def test_redis_restart_processes_reconnect(faults: Cluster, own_redis: RedisServer, peers) -> None:
    a, b = faults.servers[:2]
    room = "restart-" + name("")
    alice, bob = register(a.url, name()), register(b.url, name())
    pa, pb = peers(a.url, alice["access"]).connect(), peers(b.url, bob["access"]).connect()
    pa.call("join", {"room": room})
    pb.call("join", {"room": room})
    both = sorted([alice["username"], bob["username"]])

    own_redis.restart()  # every key is gone; every connection to Redis broke

    # Local clients keep working at once: their acks do not depend on Redis.
    assert pa.call("whoami")["ok"] and pb.call("message", {"room": room, "text": "during"})["ok"]
    # Presence comes back from the processes' own records (heartbeat resync).
    assert wait_for(lambda: pa.call("presence", {"room": room})["members"] == both, timeout=HEARTBEAT_TTL + 3)
    # Room messages cross again once Flask-SocketIO's listener has reconnected.
    assert _crosses(pa, pb, room, timeout=15)
    assert _crosses(pb, pa, room, timeout=5)
    # Revocations cross again, and a new socket is admitted and counted.
    r = requests.post(a.url + "/api/auth/logout", headers={"Authorization": "Bearer " + bob["access"]},
                      json={}, timeout=5)
    assert r.status_code == 200
    pb.wait("auth_revoked", timeout=3)
    fresh = register(b.url, name())
    peers(a.url, fresh["access"]).connect()
    assert wait_for(lambda: own_redis.client().hget("realtime:conn", fresh["id"]) == "1", timeout=2)


def _crosses(src: Peer, dst: Peer, room: str, timeout: float) -> bool:
    """Send until one message from src reaches dst (messages sent while the queue is down are lost)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ack = src.call("message", {"room": room, "text": "ping"})
        try:
            dst.wait("message", lambda m, i=ack["id"]: m["id"] == i, timeout=0.5)
            return True
        except AssertionError:
            continue
    return False


def test_logout_right_after_redis_returns_reaches_every_process(faults: Cluster, own_redis: RedisServer,
                                                                peers) -> None:
    a, b = faults.servers[:2]
    user = register(a.url, name())
    on_a, on_b = peers(a.url, user["access"]).connect(), peers(b.url, user["access"]).connect()

    own_redis.restart()  # the listeners have not subscribed again yet when the logout publishes
    r = requests.post(a.url + "/api/auth/logout", headers={"Authorization": "Bearer " + user["access"]},
                      json={"everywhere": True}, timeout=5)
    assert r.status_code == 200

    # The publishing process acts at once, whatever Redis did with the message.
    on_a.wait("auth_revoked", timeout=2)
    # The other process gets it again once subscribed, or finds it in its revalidation sweep (1 s here).
    on_b.wait("auth_revoked", timeout=8)
    assert on_a.disconnected.wait(2) and on_b.disconnected.wait(2)
