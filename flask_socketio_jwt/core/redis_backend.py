"""Scale-out backends, chosen once in create_app when SOCKETIO_MESSAGE_QUEUE is a Redis URL."""

from __future__ import annotations

import atexit
import time
from collections.abc import Callable
from typing import Any

import redis

from flask_socketio_jwt.core.redis_bus import RedisBus, RedisFailureCounter
from flask_socketio_jwt.core.redis_registry import RedisRegistry


def redis_client(url: str, cfg: dict | None = None) -> redis.Redis:
    """A client for url (redis:// or rediss://, password and TLS options in the URL)."""
    cfg = cfg or {}
    return redis.Redis.from_url(
        url, decode_responses=True, socket_connect_timeout=2, socket_timeout=5,
        health_check_interval=10, max_connections=int(cfg.get("REDIS_MAX_CONNECTIONS") or 100))


def redis_backends(url: str, cfg: dict, *, spawn: Callable[..., object] | None = None,
                   sleep: Callable[[float], None] = time.sleep) -> tuple[RedisRegistry, RedisBus, Any, Any]:
    """(registry, revocation bus, auth failure counter, login failure counter) on one Redis."""
    client = redis_client(url, cfg)
    prefix = cfg.get("REDIS_KEY_PREFIX") or "realtime"
    channel = cfg.get("REDIS_BUS_CHANNEL") or f"{cfg.get('SOCKETIO_CHANNEL') or 'flask-socketio'}-revoke"
    registry = RedisRegistry(client, prefix=prefix, ttl=float(cfg.get("REGISTRY_HEARTBEAT_TTL") or 15),
                             spawn=spawn, sleep=sleep)
    bus = RedisBus(client, channel, spawn=spawn, sleep=sleep)
    registry.on_start.append(bus.start)
    atexit.register(registry.close)
    limit, window = cfg["AUTH_FAILURE_LIMIT"]
    per_user = cfg["LOGIN_FAILURE_LIMIT_PER_USER"]
    auth_failures = RedisFailureCounter(client, "addr", limit, window, prefix)
    login_failures = RedisFailureCounter(client, "login", per_user[0], per_user[1], prefix)
    return registry, bus, auth_failures, login_failures
