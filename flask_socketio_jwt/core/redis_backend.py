"""Scale-out backends, chosen once in create_app when SOCKETIO_JWT_MESSAGE_QUEUE is a Redis URL."""

from __future__ import annotations

import atexit
import time
from collections.abc import Callable
from typing import Any

import redis

from flask_socketio_jwt.core.redis_bus import RedisBus, RedisFailureCounter
from flask_socketio_jwt.core.redis_registry import RedisRegistry
from flask_socketio_jwt.core.redis_topology import Topology, client_for, probe, tagged


def redis_client(url: str, cfg: dict | None = None, topology: Topology | None = None) -> redis.Redis:
    """A client for url (redis:// or rediss://, password and TLS options in the URL); a cluster
    client when the server is a Redis Cluster node."""
    cfg = cfg or {}
    return client_for(  # type: ignore[return-value]  # RedisCluster answers the same commands
        url, topology or probe(url), decode_responses=True, socket_connect_timeout=2, socket_timeout=5,
        health_check_interval=10, max_connections=int(cfg.get("SOCKETIO_JWT_REDIS_MAX_CONNECTIONS") or 100))


def redis_backends(url: str, cfg: dict, *, spawn: Callable[..., object] | None = None,
                   sleep: Callable[[float], None] = time.sleep
                   ) -> tuple[RedisRegistry, RedisBus, Any, Callable[[str, int, float], Any]]:
    """(registry, revocation bus, auth failure counter, failure counter factory) on one Redis."""
    topology = probe(url)
    client = redis_client(url, cfg, topology)
    prefix = tagged(cfg.get("SOCKETIO_JWT_REDIS_KEY_PREFIX") or "realtime", topology)
    base = cfg.get("SOCKETIO_JWT_CHANNEL") or "flask-socketio"
    channel = cfg.get("SOCKETIO_JWT_REDIS_BUS_CHANNEL") or f"{base}-revoke"
    registry = RedisRegistry(client, prefix=prefix, ttl=float(cfg.get("SOCKETIO_JWT_REGISTRY_HEARTBEAT_TTL") or 15),
                             spawn=spawn, sleep=sleep)
    bus = RedisBus(client, channel, spawn=spawn, sleep=sleep)
    registry.on_start.append(bus.start)
    atexit.register(registry.close)
    limit, window = cfg["SOCKETIO_JWT_AUTH_FAILURE_LIMIT"]
    auth_failures = RedisFailureCounter(client, "addr", limit, window, prefix)

    def counters(name: str, limit: int, window: float) -> RedisFailureCounter:
        return RedisFailureCounter(client, name, limit, window, prefix)

    return registry, bus, auth_failures, counters
