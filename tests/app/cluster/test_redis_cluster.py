"""Two processes on a real Redis Cluster (3 masters, 3 replicas): the same behaviour as on one Redis,
and a master killed mid-run (its replica promoted) costs nothing once the processes resubscribe."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.app.cluster import test_cluster as on_one_redis
from tests.app.cluster.conftest import Cluster, cluster_env, name
from tests.app.cluster.peers import register
from tests.app.conftest import wait_for
from tests.support.live import live_fixture
from tests.support.services import RedisCluster


@pytest.fixture(scope="module")
def redis_cluster(tmp_path_factory) -> Iterator[RedisCluster]:
    """Six redis-server nodes joined into one cluster; this module's only (a test kills a master)."""
    rc = RedisCluster(tmp_path_factory.mktemp("redis-cluster")).start()
    yield rc
    rc.stop()


@live_fixture(scope="module")
def cluster(tmp_path_factory, redis_cluster: RedisCluster, postgres) -> Iterator[Cluster]:
    """Processes A and B whose message queue is the Redis Cluster (named by its first node)."""
    c = Cluster(tmp_path_factory.mktemp("on-cluster"), cluster_env(redis_cluster.url, postgres.create_db("rc")))
    c.add()
    c.add()
    yield c
    c.stop()


@pytest.fixture(autouse=True)
def fresh_cluster_failures(redis_cluster: RedisCluster) -> None:
    """No refused attempts counted against 127.0.0.1 (the prefix carries a hash tag on a cluster)."""
    node = redis_cluster.master_of("{realtime}")
    node.client().delete("{realtime}:fail:addr:127.0.0.1")


# The single-Redis suite's own tests, unchanged, on the cluster.
@pytest.mark.parametrize("case", [
    on_one_redis.test_room_message_crosses_processes,
    on_one_redis.test_presence_is_global_and_counts_a_user_once,
    on_one_redis.test_logout_on_a_kicks_the_socket_on_b_within_a_second,
    on_one_redis.test_logout_everywhere_kicks_every_process,
    on_one_redis.test_connection_cap_counts_across_processes,
    on_one_redis.test_auth_failures_count_across_processes,
    on_one_redis.test_login_failures_per_username_and_address_count_across_processes,
], ids=lambda f: f.__name__.removeprefix("test_"))
def test_behaves_as_on_one_redis(case, cluster, peers, request) -> None:
    args = {"cluster": cluster, "peers": peers}
    case(**{k: v for k, v in args.items() if k in case.__code__.co_varnames[:case.__code__.co_argcount]})


def test_registry_keys_share_one_slot(cluster, redis_cluster: RedisCluster, peers) -> None:
    a, _ = cluster.servers
    user = register(a.url, name())
    peers(a.url, user["access"]).connect()
    node = redis_cluster.master_of("{realtime}")
    keys = set(node.client().scan_iter("{realtime}:*"))
    assert "{realtime}:conn" in keys and "{realtime}:procs" in keys
    assert all(k.startswith("{realtime}:") for k in keys)


def test_a_master_killed_mid_run_is_replaced_and_every_channel_resubscribed(cluster, redis_cluster: RedisCluster,
                                                                         peers) -> None:
    a, b = cluster.servers
    room = "failover-" + name("")
    alice, bob = register(a.url, name()), register(b.url, name())
    pa, pb = peers(a.url, alice["access"]).connect(), peers(b.url, bob["access"]).connect()
    assert pa.call("join", {"room": room})["ok"] and pb.call("join", {"room": room})["ok"]
    first = pa.call("message", {"room": room, "text": "before"})
    pb.wait("message", lambda m: m["id"] == first["id"])

    channel = f"flask-socketio#r#/#room:{room}"
    victim = redis_cluster.master_of(channel)  # the room channel's node
    redis_cluster.kill(victim)
    # its replica takes over the slot (failure detection plus election: a few seconds)
    assert wait_for(lambda: redis_cluster.master_of(channel) is not victim, timeout=30, interval=0.2)
    redis_cluster.wait_ok(timeout=30)

    # Both processes resubscribe on the new master: a message crosses again, both ways.
    def crosses(sender, receiver, text: str) -> bool:
        ack = sender.call("message", {"room": room, "text": text})
        if not ack.get("ok"):
            return False
        try:
            receiver.wait("message", lambda m: m["id"] == ack["id"], timeout=1.0)
        except AssertionError:
            return False
        return True

    assert wait_for(lambda: crosses(pa, pb, "after, A to B"), timeout=30, interval=0.2)
    assert wait_for(lambda: crosses(pb, pa, "after, B to A"), timeout=10, interval=0.2)
    # Nothing acked is lost: every message sent is in the durable history.
    history = pb.call("join", {"room": room, "since_id": 0})["history"]
    texts = [m["text"] for m in history]
    assert texts[0] == "before" and "after, A to B" in texts and "after, B to A" in texts
    # The revocation bus and the registry came back as well.
    r = requests.post(a.url + "/api/auth/logout", headers={"Authorization": "Bearer " + bob["access"]},
                      json={}, timeout=5)
    assert r.status_code == 200
    assert pb.wait("auth_revoked", timeout=5) == {"code": "token_revoked"}
