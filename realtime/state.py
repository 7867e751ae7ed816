"""Builds the per-app core objects once (audit log, registry, hub) from the config."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

from extensions import db
from models import AuditEvent
from realtime.audit import AuditLog
from realtime.gctune import GcTuner
from realtime.hub import Hub, LocalBus
from realtime.limits import FailureCounter
from realtime.registry import MemoryRegistry, Registry
from realtime.tokens import TokenSettings, find_revoked


@dataclass
class State:
    """Everything the blueprints and the namespace share, one per app."""

    tokens: TokenSettings
    audit: AuditLog
    registry: Registry
    hub: Hub
    login_failures: FailureCounter

    def bind_runtime(self, sleep: Callable[[float], None], spawn: Callable[..., object]) -> None:
        """Run background work with the socket layer's async primitives (before any has started)."""
        self.audit.bind_runtime(sleep, spawn)
        self.hub.expiry.bind_runtime(sleep, spawn)
        self.hub.bind_runtime(sleep, spawn)
        if self.hub.gc_tuner is not None:
            self.hub.gc_tuner.bind_runtime(sleep, spawn)


def _thread_spawn(fn: Callable, *args: Any) -> threading.Thread:
    t = threading.Thread(target=fn, args=args, daemon=True)
    t.start()
    return t


def init_app(app: Flask, *, sleep: Callable[[float], None] | None = None,
             spawn: Callable[..., object] | None = None) -> State:
    """Create the app's State once; a later call with sleep/spawn rebinds its background runtime."""
    if "realtime" in app.extensions:
        state = app.extensions["realtime"]
        if sleep is not None and spawn is not None:
            state.bind_runtime(sleep, spawn)
        return state
    sleep, spawn = sleep or time.sleep, spawn or _thread_spawn
    from config import apply_defaults

    apply_defaults(app)
    cfg = app.config
    with app.app_context():
        engine = db.engine
    audit = AuditLog(engine, AuditEvent.__table__, spill_path=cfg["AUDIT_SPILL_FILE"],
                     batch_size=int(cfg["AUDIT_BATCH_SIZE"]), interval=float(cfg["AUDIT_FLUSH_INTERVAL"]),
                     memory_limit=int(cfg["AUDIT_MEMORY_LIMIT"]), sleep=sleep, spawn=spawn,
                     enabled=bool(cfg["AUDIT_ENABLED"]))
    registry, bus, auth_failures, login_failures = _backends(cfg, sleep=sleep, spawn=spawn)
    hub = Hub(registry=registry, audit=audit, bus=bus, sleep=sleep, spawn=spawn,
              max_per_user=int(cfg["SOCKET_MAX_CONNECTIONS_PER_USER"]),
              event_rate=tuple(cfg["SOCKET_RATE_LIMIT"]),
              connect_rate=tuple(cfg["SOCKET_CONNECT_RATE_LIMIT"]),
              abuse_disconnect=int(cfg["SOCKET_ABUSE_DISCONNECT"]),
              auth_failures=auth_failures, leeway=float(cfg["JWT_DECODE_LEEWAY"]))
    registry.on_presence = hub.publish_presence  # presence changes found in the background
    hub.sweeper = lambda records: find_revoked(engine, records)
    hub.sweep_interval = float(cfg["SOCKET_REVALIDATE_INTERVAL"])
    hub.gc_tuner = GcTuner(float(cfg["GC_FREEZE_INTERVAL"]), float(cfg["GC_COLLECT_INTERVAL"]),
                           sleep=sleep, spawn=spawn, young_interval=float(cfg["GC_YOUNG_INTERVAL"]),
                           collect_growth=float(cfg["GC_COLLECT_GROWTH"]))
    state = State(tokens=TokenSettings.from_config(cfg), audit=audit, registry=registry, hub=hub,
                  login_failures=login_failures)
    app.extensions["realtime"] = state
    return state


def _backends(cfg: dict, *, sleep: Callable[[float], None],
              spawn: Callable[..., object]) -> tuple[Registry, Any, Any, Any]:
    """(registry, bus, auth failures, login failures): in memory for one process, Redis for several."""
    limit, window = cfg["AUTH_FAILURE_LIMIT"]
    per_user = cfg["LOGIN_FAILURE_LIMIT_PER_USER"]
    url = cfg.get("SOCKETIO_MESSAGE_QUEUE")
    if url:
        from realtime.redis_backend import redis_backends

        return redis_backends(url, cfg, spawn=spawn, sleep=sleep)
    return MemoryRegistry(), LocalBus(), FailureCounter(limit, window), FailureCounter(*per_user)


def get_state() -> State:
    """The current app's State."""
    return current_app.extensions["realtime"]
