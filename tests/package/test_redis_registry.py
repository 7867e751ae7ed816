"""RedisRegistry, RedisBus and RedisFailureCounter against a real redis-server (no mocks)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest

from flask_socketio_jwt.core.errors import TooManyConnections
from flask_socketio_jwt.core.redis_backend import redis_client
from flask_socketio_jwt.core.redis_bus import RedisBus, RedisFailureCounter
from flask_socketio_jwt.core.redis_registry import RedisRegistry
from flask_socketio_jwt.core.registry import PresenceChange, SocketInfo
from tests.support.common import wait_for


@pytest.fixture
def make(redis_server) -> Iterator:
    """Factory for registries sharing one fresh key prefix (each one a 'process')."""
    prefix = "t" + uuid.uuid4().hex[:8]
    made: list[RedisRegistry] = []

    def factory(ttl: float = 15.0) -> RedisRegistry:
        reg = RedisRegistry(redis_client(redis_server.url), prefix=prefix, ttl=ttl)
        reg.published = []  # type: ignore[attr-defined]
        reg.on_presence = reg.published.extend  # type: ignore[attr-defined]
        made.append(reg)
        return reg

    yield factory
    for reg in made:
        reg.close()


def sock(user: str, sid: str | None = None, jti: str | None = None) -> SocketInfo:
    return SocketInfo(sid=sid or uuid.uuid4().hex, user_id=user, username="name" + user,
                      jti=jti or "j" + uuid.uuid4().hex, exp=2**31)


def test_presence_counts_a_user_once_across_processes(make) -> None:
    a, b = make(), make()
    s1, s2, s3 = sock("1"), sock("1"), sock("2")
    a.add(s1, 10)
    b.add(s2, 10)
    b.add(s3, 10)
    assert a.join(s1.sid, "room") == PresenceChange("room", ["name1"])
    assert b.join(s2.sid, "room") is None  # the same user on another process: no change
    assert b.join(s3.sid, "room") == PresenceChange("room", ["name1", "name2"])
    assert a.members("room") == b.members("room") == ["name1", "name2"]
    assert a.leave(s1.sid, "room") is None  # still there through process b
    assert b.members("room") == ["name1", "name2"]
    info, changes = b.remove(s2.sid)
    assert info is s2 and changes == [PresenceChange("room", ["name2"])]
    assert a.members("room") == ["name2"]


def test_connection_cap_is_global(make) -> None:
    a, b = make(), make()
    a.add(sock("7"), 3)
    b.add(sock("7"), 3)
    a.add(sock("7"), 3)
    with pytest.raises(TooManyConnections):
        b.add(sock("7"), 3)
    assert a.user_sockets("7") == b.user_sockets("7") == 3
    victim = next(iter(a.local))
    a.remove(victim)
    b.add(sock("7"), 3)
    assert b.user_sockets("7") == 3


def test_reserve_does_not_race(make) -> None:
    regs = [make(), make()]
    admitted: list[int] = []

    def worker(reg: RedisRegistry) -> None:
        for _ in range(20):
            try:
                reg.add(sock("9"), 5)
                admitted.append(1)
            except TooManyConnections:
                pass

    threads = [threading.Thread(target=worker, args=(regs[i % 2],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(admitted) == 5 and regs[0].user_sockets("9") == 5


def test_user_jtis_are_global_and_follow_refresh(make) -> None:
    a, b = make(), make()
    s1, s2 = sock("3", jti="ja"), sock("3", jti="jb")
    a.add(s1, 10)
    b.add(s2, 10)
    assert a.user_jtis("3") == {"ja", "jb"}
    b.update_token(s2.sid, "jc", 0)
    assert a.user_jtis("3") == {"ja", "jc"}
    a.remove(s1.sid)
    assert b.user_jtis("3") == {"jc"}


def test_dead_process_is_swept_and_presence_published(make, redis_server) -> None:
    live, dying = make(), make(ttl=0.3)
    watcher, ghost = sock("4"), sock("5")
    live.add(watcher, 10)
    live.join(watcher.sid, "hall")
    dying.add(ghost, 1)
    dying.join(ghost.sid, "hall")
    assert live.members("hall") == ["name4", "name5"]
    dying.running = False  # it "dies": no heartbeat, no goodbye
    r = redis_server.client()
    assert wait_for(lambda: not r.exists(f"{live.prefix}:alive:{dying.proc}"), timeout=3)
    assert live.sweep() == [PresenceChange("hall", ["name4"])]
    assert live.published == [PresenceChange("hall", ["name4"])]
    assert live.members("hall") == ["name4"] and live.user_sockets("5") == 0
    live.add(sock("5"), 1)  # the ghost no longer eats the cap
    assert live.sweep() == []  # swept once only


def test_resync_after_redis_lost_every_key(make, redis_server) -> None:
    a, b = make(), make()
    s1, s2 = sock("6"), sock("8")
    a.add(s1, 10)
    a.join(s1.sid, "r")
    b.add(s2, 10)
    b.join(s2.sid, "r")
    redis_server.client().flushdb()
    b.leave(s2.sid, "r")  # a write while unregistered: applied, and the next tick repairs it
    assert b.dirty
    a.tick()
    b.tick()
    assert a.members("r") == ["name6"] and a.user_sockets("6") == 1 and a.user_sockets("8") == 1
    assert a.published == [PresenceChange("r", ["name6"])]


def test_a_process_swept_while_alive_resyncs_exactly(make, redis_server) -> None:
    a, b = make(), make()
    s1, s2 = sock("10"), sock("10")
    a.add(s1, 10)
    a.join(s1.sid, "z")
    b.add(s2, 10)
    b.join(s2.sid, "z")
    redis_server.client().delete(f"{a.prefix}:alive:{a.proc}")  # a long pause: its heartbeat lapsed
    b.sweep()
    a.remove(s1.sid)  # a keeps working before it notices
    a.tick()
    assert b.members("z") == ["name10"] and b.user_sockets("10") == 1


def test_close_withdraws_this_process(make) -> None:
    a, b = make(), make()
    s = sock("11")
    a.add(s, 10)
    a.join(s.sid, "q")
    a.close()
    assert b.members("q") == [] and b.user_sockets("11") == 0


def test_failure_counter_is_shared(redis_server) -> None:
    prefix = "t" + uuid.uuid4().hex[:8]
    one, two = (RedisFailureCounter(redis_client(redis_server.url), "addr", 3, 60, prefix) for _ in range(2))
    assert one.hit("1.2.3.4") == 1 and two.hit("1.2.3.4") == 2
    assert one.retry_after("1.2.3.4") == 0.0
    one.hit("1.2.3.4")
    assert 59 < two.retry_after("1.2.3.4") <= 60
    two.reset("1.2.3.4")
    assert one.retry_after("1.2.3.4") == 0.0


def test_bus_carries_json_between_processes(redis_server) -> None:
    channel = "t" + uuid.uuid4().hex[:8]
    got: list[dict] = []
    spawn = lambda fn: threading.Thread(target=fn, daemon=True).start()  # noqa: E731
    listener = RedisBus(redis_client(redis_server.url), channel, spawn=spawn)
    sender = RedisBus(redis_client(redis_server.url), channel, spawn=None)
    listener.handler = got.append
    listener.start()
    try:
        assert wait_for(lambda: listener.subscribed, timeout=3)
        sender.publish({"op": "revoke", "jtis": ["x"], "user_id": None})
        # Each process stamps its messages with its origin, so it can skip its own echo.
        assert wait_for(lambda: got == [{"op": "revoke", "jtis": ["x"], "user_id": None, "origin": sender.origin}],
                        timeout=3)
    finally:
        listener.close()
