"""The extension's config keys, their defaults (filled with `setdefault`) and start-up checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

DEFAULTS: dict[str, Any] = {
    "SOCKETIO_JWT_MAX_TOKEN_BYTES": 8192,
    # Claims a token must carry as sent (flask-jwt-extended fills in a missing `type` or `jti`).
    "SOCKETIO_JWT_REQUIRED_CLAIMS": ["exp", "jti"],
    # False: every change to a library's private internals is off (see docs/patches.md).
    "SOCKETIO_JWT_PATCHES": True,
    "SOCKETIO_JWT_MESSAGE_QUEUE": None,
    "SOCKETIO_JWT_CHANNEL": "flask-socketio",
    # "rooms": each emit goes only to the processes holding its room or socket (room_manager.py);
    # "broadcast": python-socketio's RedisManager, every emit to every process.
    "SOCKETIO_JWT_CLIENT_MANAGER": "rooms",
    # Sharded pub/sub (SSUBSCRIBE/SPUBLISH, Redis 7+) for the rooms manager; None: asks the server.
    "SOCKETIO_JWT_REDIS_SHARDED": None,
    # None: the host's SocketIO(async_mode=...) or, without one, Flask-SocketIO's own choice.
    "SOCKETIO_JWT_ASYNC_MODE": None,
    "SOCKETIO_JWT_CORS_ALLOWED_ORIGINS": [],
    "SOCKETIO_JWT_CONNECT_TIMEOUT": 10,
    "SOCKETIO_JWT_RATE_LIMIT": [20, 40],
    "SOCKETIO_JWT_ABUSE_DISCONNECT": 5,
    # Successful connects per user (refill per second, burst): reconnect loops cost a token check
    # and an audit row each, so they are limited like events.
    "SOCKETIO_JWT_CONNECT_RATE_LIMIT": [2, 20],
    # Every live socket's token is checked again this often (seconds; 0: never): the safety net
    # that kicks a revoked socket whose revocation message never arrived.
    "SOCKETIO_JWT_REVALIDATE_INTERVAL": 15,
    "SOCKETIO_JWT_AUTH_FAILURE_LIMIT": [20, 60],
    "SOCKETIO_JWT_MAX_MESSAGE_BYTES": 65536,
    "SOCKETIO_JWT_MAX_SEND_QUEUE": 1000,  # packets waiting for one slow client before it is dropped
    "SOCKETIO_JWT_MAX_CONNECTIONS_PER_USER": 10,
    "SOCKETIO_JWT_WEBSOCKET_COMPRESSION": False,
    # patches/leansocket.py: one parked green thread per idle WebSocket instead of three.
    "SOCKETIO_JWT_LEAN_ENGINEIO": True,
    "SOCKETIO_JWT_AUDIT_ENABLED": True,
    "SOCKETIO_JWT_AUDIT_BATCH_SIZE": 500,
    "SOCKETIO_JWT_AUDIT_FLUSH_INTERVAL": 0.2,
    "SOCKETIO_JWT_AUDIT_MEMORY_LIMIT": 50000,
    "SOCKETIO_JWT_AUDIT_SPILL_FILE": None,
    "SOCKETIO_JWT_REGISTRY_HEARTBEAT_TTL": 15,
    # core/gctune.py: freeze the heap this often and run a full collection this often. It tunes
    # the whole process's garbage collector, so it is the host's choice: 0 (off) unless set.
    "SOCKETIO_JWT_GC_FREEZE_INTERVAL": 0,
    "SOCKETIO_JWT_GC_COLLECT_INTERVAL": 3600.0,
    "SOCKETIO_JWT_GC_COLLECT_GROWTH": 0.25,
    "SOCKETIO_JWT_GC_YOUNG_INTERVAL": 0.02,
}

ASYNC_MODES = frozenset({"eventlet", "gevent", "threading"})
CLIENT_MANAGERS = frozenset({"rooms", "broadcast"})


def apply_defaults(app: Flask) -> None:
    """Fill every key the host did not set (a key set to None counts as unset)."""
    cfg = app.config
    for key, value in DEFAULTS.items():
        cfg.setdefault(key, value)
        if cfg[key] is None and value is not None:
            cfg[key] = value
    if cfg["SOCKETIO_JWT_AUDIT_SPILL_FILE"] is None:
        cfg["SOCKETIO_JWT_AUDIT_SPILL_FILE"] = str(Path(app.instance_path) / "socketio-jwt-audit-spill.jsonl")
    if isinstance(cfg["SOCKETIO_JWT_CORS_ALLOWED_ORIGINS"], str):
        cfg["SOCKETIO_JWT_CORS_ALLOWED_ORIGINS"] = [cfg["SOCKETIO_JWT_CORS_ALLOWED_ORIGINS"]]


def validate(cfg: dict[str, Any]) -> None:
    """Refuse to start on settings the extension cannot run safely with."""
    for key in ("SOCKETIO_JWT_RATE_LIMIT", "SOCKETIO_JWT_CONNECT_RATE_LIMIT", "SOCKETIO_JWT_AUTH_FAILURE_LIMIT"):
        value = cfg[key]
        if not (isinstance(value, (list, tuple)) and len(value) == 2 and all(float(v) > 0 for v in value)):
            raise RuntimeError(f"{key} must be a pair of positive numbers")
    for key in ("SOCKETIO_JWT_CONNECT_TIMEOUT", "SOCKETIO_JWT_MAX_MESSAGE_BYTES", "SOCKETIO_JWT_MAX_SEND_QUEUE",
                "SOCKETIO_JWT_MAX_CONNECTIONS_PER_USER", "SOCKETIO_JWT_MAX_TOKEN_BYTES"):
        if not float(cfg[key]) > 0:
            raise RuntimeError(f"{key} must be positive")
    if cfg["SOCKETIO_JWT_CLIENT_MANAGER"] not in CLIENT_MANAGERS:
        raise RuntimeError("SOCKETIO_JWT_CLIENT_MANAGER must be \"rooms\" or \"broadcast\"")
    if cfg["SOCKETIO_JWT_REDIS_SHARDED"] not in (None, True, False):
        raise RuntimeError("SOCKETIO_JWT_REDIS_SHARDED must be true, false or None (ask the server)")
    if cfg["SOCKETIO_JWT_ASYNC_MODE"] is not None and cfg["SOCKETIO_JWT_ASYNC_MODE"] not in ASYNC_MODES:
        raise RuntimeError("SOCKETIO_JWT_ASYNC_MODE must be eventlet, gevent, threading or None")
    if cfg.get("JWT_ACCESS_TOKEN_EXPIRES") is False:
        # A token without `exp` could hold a socket open forever.
        raise RuntimeError("JWT_ACCESS_TOKEN_EXPIRES must be set: sockets are held to their token's exp")
