"""A cluster moving from eventlet to gevent one process at a time: both runtimes on one Redis and database."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest
import requests

from tests.app.cluster.conftest import cluster_env, name
from tests.app.cluster.peers import register
from tests.app.conftest import LiveServer
from tests.support.live import live_fixture
from tests.support.services import Postgres, RedisServer


@live_fixture(scope="module")
def mixed(tmp_path_factory, redis_server: RedisServer, postgres: Postgres) -> Iterator[list[LiveServer]]:
    """An eventlet process and a gevent process sharing the session's Redis and a PostgreSQL database."""
    env = cluster_env(redis_server.url, postgres.create_db("mixed"))
    workdir = tmp_path_factory.mktemp("mixed")
    servers: list[LiveServer] = []
    try:
        for worker in ("eventlet", "gevent"):
            (workdir / worker).mkdir()
            server = LiveServer(workdir / worker, env, worker=worker)
            if not servers:
                server.migrate()
            servers.append(server.start())
        yield servers
    finally:
        for server in servers:
            server.stop(signal.SIGINT, timeout=15)


def test_room_messages_cross_runtimes(mixed, peers) -> None:
    on_eventlet, on_gevent = mixed
    alice, bob = register(on_eventlet.url, name()), register(on_gevent.url, name())
    pa, pb = peers(on_eventlet.url, alice["access"]).connect(), peers(on_gevent.url, bob["access"]).connect()
    assert pa.call("join", {"room": "mixed"})["ok"] and pb.call("join", {"room": "mixed"})["ok"]
    sent = pa.call("message", {"room": "mixed", "text": "from eventlet"})
    assert pb.wait("message", lambda m: m["id"] == sent["id"])["text"] == "from eventlet"
    back = pb.call("message", {"room": "mixed", "text": "from gevent"})
    assert pa.wait("message", lambda m: m["id"] == back["id"])["text"] == "from gevent"


@pytest.mark.parametrize("logout_on", [0, 1], ids=["logout-on-eventlet", "logout-on-gevent"])
def test_logout_on_one_runtime_kicks_the_socket_on_the_other(mixed, peers, logout_on: int) -> None:
    where, other = mixed[logout_on], mixed[1 - logout_on]
    user = register(where.url, name())
    sock = peers(other.url, user["access"]).connect()
    r = requests.post(where.url + "/api/auth/logout", headers={"Authorization": "Bearer " + user["access"]},
                      json={}, timeout=5)
    assert r.status_code == 200
    assert sock.wait("auth_revoked", timeout=2.0) == {"code": "token_revoked"}
    assert sock.disconnected.wait(2.0)
