"""Room channels on classic pub/sub (SUBSCRIBE/PUBLISH: the fallback for Redis before 7), and the
broadcast manager (`SOCKETIO_JWT_CLIENT_MANAGER = "broadcast"`): the same behaviour across processes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.app.cluster import test_cluster as on_one_redis
from tests.app.cluster.conftest import Cluster, cluster_env
from tests.support.live import live_fixture
from tests.support.services import RedisServer

SETTINGS = {
    "classic": {"FLASK_SOCKETIO_JWT_REDIS_SHARDED": "false"},
    "broadcast": {"FLASK_SOCKETIO_JWT_CLIENT_MANAGER": '"broadcast"'},
}


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory) -> Iterator[RedisServer]:
    """A redis-server of this module only, so the channels seen are this module's."""
    server = RedisServer(tmp_path_factory.mktemp("redis-classic")).start()
    yield server
    server.stop()


@live_fixture(scope="module", params=sorted(SETTINGS))
def cluster(request, tmp_path_factory, own_redis: RedisServer, postgres) -> Iterator[Cluster]:
    """Processes A and B with one of the two other pub/sub settings."""
    env = cluster_env(own_redis.url, postgres.create_db(f"pubsub_{request.param}"), **SETTINGS[request.param])
    c = Cluster(tmp_path_factory.mktemp(f"pubsub-{request.param}"), env)
    c.add()
    c.add()
    c.setting = request.param
    yield c
    c.stop()


@pytest.mark.parametrize("case", [
    on_one_redis.test_room_message_crosses_processes,
    on_one_redis.test_presence_is_global_and_counts_a_user_once,
    on_one_redis.test_logout_on_a_kicks_the_socket_on_b_within_a_second,
], ids=lambda f: f.__name__.removeprefix("test_"))
def test_behaves_as_with_sharded_room_channels(case, cluster, peers) -> None:
    case(cluster=cluster, peers=peers)


def test_the_setting_decides_the_channels(cluster, own_redis: RedisServer, peers) -> None:
    from tests.app.cluster.conftest import name
    from tests.app.cluster.peers import register

    a, b = cluster.servers
    room = "chan-" + name("")
    user = register(a.url, name())
    pa, pb = peers(a.url, user["access"]).connect(), peers(b.url, register(b.url, name())["access"]).connect()
    assert pa.call("join", {"room": room})["ok"] and pb.call("join", {"room": room})["ok"]
    r = own_redis.client()
    classic = set(r.pubsub_channels())
    sharded = set(r.execute_command("PUBSUB", "SHARDCHANNELS"))
    if cluster.setting == "classic":
        assert f"flask-socketio#r#/#room:{room}" in classic and not sharded
    else:  # python-socketio's RedisManager: one channel for everything
        assert "flask-socketio" in classic and not any("#r#" in c for c in classic) and not sharded
