"""The one place that knows about eventlet: blocking calls off the event loop (gevent's half: runtime/gevent.py).

Everything else uses Flask-SocketIO's `start_background_task` / `sleep`, so the async mode
(eventlet, gevent, threading) stays a setting.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any


def eventlet_patched() -> bool:
    """True when this process runs eventlet with a monkey-patched standard library."""
    if "eventlet" not in sys.modules:
        return False
    from eventlet import patcher

    return patcher.is_monkey_patched("socket")


def run_blocking(fn: Callable[..., Any], *args: Any) -> Any:
    """Run a call that may block in C (SQLite's busy wait, file fsync) without pausing greenlets."""
    if eventlet_patched():
        from eventlet import tpool

        return tpool.execute(fn, *args)
    if "gevent" in sys.modules:
        from flask_socketio_jwt.runtime import gevent as gevent_runtime

        if gevent_runtime.patched():
            return gevent_runtime.run_blocking(fn, *args)
    return fn(*args)


def monkey_patch() -> None:
    """Patch the standard library for eventlet; call before anything else is imported."""
    import eventlet

    eventlet.monkey_patch()


def spawn_untracked(fn: Callable[..., Any], *args: Any) -> None:
    """Run fn on a new green thread nobody joins (eventlet's `spawn_n`: no GreenThread, no result event)."""
    import eventlet

    eventlet.spawn_n(fn, *args)
