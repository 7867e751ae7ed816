"""Builds the per-app core objects once (audit log, registry, hub) from the config."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app

from flask_socketio_jwt.core.audit import AuditLog
from flask_socketio_jwt.core.gctune import GcTuner
from flask_socketio_jwt.core.hub import Hub, LocalBus
from flask_socketio_jwt.core.limits import FailureCounter
from flask_socketio_jwt.core.registry import MemoryRegistry, Registry

STATE_KEY = "flask-socketio-jwt:state"


@dataclass
class State:
    """The extension's objects for one app (`get_state(app)`): its audit log, its registry of live sockets, its hub."""

    audit: AuditLog
    registry: Registry
    hub: Hub
    # Makes a failure counter (name, limit, window) on the app's backend: in memory, or in Redis
    # (shared by every process) when a message queue is configured.
    counters: Callable[[str, int, float], Any]
    # The host's extra `session` user fields for its user object (SocketJWT's `session_user`).
    session_user: Callable[[Any], dict[str, Any]] | None = None
    # How tokens are decoded (None: flask-jwt-extended's decode_token; patches/jwtdecode.py: one parse).
    decoder: Callable[[str], tuple[dict[str, Any], dict[str, Any]]] | None = None
    # Origins besides the app's own that may open a socket (the config's and the host's SocketIO's).
    allowed_origins: list[str] = field(default_factory=list)

    def bind_runtime(self, sleep: Callable[[float], None], spawn: Callable[..., object]) -> None:
        """Run background work with the socket layer's async primitives (before any has started)."""
        self.audit.bind_runtime(sleep, spawn)
        self.hub.expiry.bind_runtime(sleep, spawn)
        self.hub.sweeper.bind_runtime(sleep, spawn)
        if self.hub.gc_tuner is not None:
            self.hub.gc_tuner.bind_runtime(sleep, spawn)


def _thread_spawn(fn: Callable, *args: Any) -> threading.Thread:
    t = threading.Thread(target=fn, args=args, daemon=True)
    t.start()
    return t


def init_app(app: Flask, *, engine: sa.Engine | None, audit_table: sa.Table | None, leeway: float,
             sleep: Callable[[float], None] | None = None,
             spawn: Callable[..., object] | None = None) -> State:
    """Create the app's State once; a later call with sleep/spawn rebinds its background runtime."""
    if STATE_KEY in app.extensions:
        state: State = app.extensions[STATE_KEY]
        if sleep is not None and spawn is not None:
            state.bind_runtime(sleep, spawn)
        return state
    sleep, spawn = sleep or time.sleep, spawn or _thread_spawn
    cfg = app.config
    # No table (or no engine): the host keeps no audit trail and gets no table for it.
    enabled = bool(cfg["SOCKETIO_JWT_AUDIT_ENABLED"]) and audit_table is not None and engine is not None
    audit = AuditLog(engine, audit_table, spill_path=cfg["SOCKETIO_JWT_AUDIT_SPILL_FILE"],
                     batch_size=int(cfg["SOCKETIO_JWT_AUDIT_BATCH_SIZE"]),
                     interval=float(cfg["SOCKETIO_JWT_AUDIT_FLUSH_INTERVAL"]),
                     memory_limit=int(cfg["SOCKETIO_JWT_AUDIT_MEMORY_LIMIT"]), sleep=sleep, spawn=spawn,
                     enabled=enabled)
    registry, bus, auth_failures, counters = _backends(cfg, sleep=sleep, spawn=spawn)
    hub = Hub(registry=registry, audit=audit, bus=bus, sleep=sleep, spawn=spawn,
              max_per_user=int(cfg["SOCKETIO_JWT_MAX_CONNECTIONS_PER_USER"]),
              event_rate=tuple(cfg["SOCKETIO_JWT_RATE_LIMIT"]),
              abuse_disconnect=int(cfg["SOCKETIO_JWT_ABUSE_DISCONNECT"]),
              auth_failures=auth_failures, leeway=leeway,
              connect_rate=tuple(cfg["SOCKETIO_JWT_CONNECT_RATE_LIMIT"]),
              sweep_interval=float(cfg["SOCKETIO_JWT_REVALIDATE_INTERVAL"]))
    registry.on_presence = hub.publish_presence  # presence changes found in the background
    hub.gc_tuner = GcTuner(float(cfg["SOCKETIO_JWT_GC_FREEZE_INTERVAL"]),
                           float(cfg["SOCKETIO_JWT_GC_COLLECT_INTERVAL"]),
                           sleep=sleep, spawn=spawn, young_interval=float(cfg["SOCKETIO_JWT_GC_YOUNG_INTERVAL"]),
                           collect_growth=float(cfg["SOCKETIO_JWT_GC_COLLECT_GROWTH"]))
    state = State(audit=audit, registry=registry, hub=hub, counters=counters)
    app.extensions[STATE_KEY] = state
    return state


def _backends(cfg: dict, *, sleep: Callable[[float], None],
              spawn: Callable[..., object]) -> tuple[Registry, Any, Any, Callable[[str, int, float], Any]]:
    """(registry, bus, auth failures, counter factory): in memory for one process, Redis for several."""
    limit, window = cfg["SOCKETIO_JWT_AUTH_FAILURE_LIMIT"]
    url = cfg.get("SOCKETIO_JWT_MESSAGE_QUEUE")
    if url:
        from flask_socketio_jwt.core.redis_backend import redis_backends

        return redis_backends(url, cfg, spawn=spawn, sleep=sleep)
    return MemoryRegistry(), LocalBus(), FailureCounter(limit, window), _memory_counter


def _memory_counter(_name: str, limit: int, window: float) -> FailureCounter:
    return FailureCounter(limit, window)


def get_state(app: Flask | None = None) -> State:
    """The State of app (default: the current app)."""
    state: State = (app or current_app).extensions[STATE_KEY]
    return state
