"""What a Redis URL points at: one server or a Redis Cluster, and whether it has sharded pub/sub.

Detected once at start from the server itself (`INFO`), so the same `SOCKETIO_JWT_MESSAGE_QUEUE`
setting works for a single Redis and for any node of a cluster. Every key the package keeps
together in one Lua script shares one hash tag on a cluster (`{realtime}:...`), so a script's
keys always live on one node.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import redis
from redis.cluster import RedisCluster

_TAG = re.compile(r"\{[^{}]+\}")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Topology:
    """The Redis behind a URL, as read from its INFO."""

    cluster: bool
    version: tuple[int, ...]

    @property
    def sharded(self) -> bool:
        """Redis 7 and later: SSUBSCRIBE/SPUBLISH (a channel lives on the node owning its slot)."""
        return self.version >= (7,)


UNREACHABLE = Topology(cluster=False, version=(7,))


def probe(url: str, **options: Any) -> Topology:
    """Ask the server at `url` whether it is a cluster node and which version it runs.

    Unreachable at start: a single Redis 7 is assumed (logged), so a process can start while
    Redis is down and connect once it is back.
    """
    client = redis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=2, socket_timeout=5,
                                  **options)
    try:
        info = client.info("server") | client.info("cluster")
    except redis.RedisError as exc:
        log.warning("Redis at start-up: %s; assuming a single Redis 7", type(exc).__name__)
        return UNREACHABLE
    finally:
        client.close()
    version = tuple(int(x) for x in re.findall(r"\d+", str(info.get("redis_version", "0")))[:3])
    return Topology(cluster=bool(int(info.get("cluster_enabled", 0))), version=version)


def client_for(url: str, topology: Topology, **options: Any) -> redis.Redis | RedisCluster:
    """A command client: `RedisCluster` on a cluster (routes each key to its node), else `Redis`."""
    if topology.cluster:
        options.pop("max_connections", None)  # per node in RedisCluster; its default is ample
        options.pop("health_check_interval", None)
        return RedisCluster.from_url(url, **options)
    return redis.Redis.from_url(url, **options)


def tagged(prefix: str, topology: Topology) -> str:
    """The key prefix; on a cluster wrapped in a hash tag unless it has one, so related keys share a slot."""
    if topology.cluster and not _TAG.search(prefix):
        return "{" + prefix + "}"
    return prefix
