"""The one place that knows about gevent's runtime: is the process patched, blocking calls off the loop."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any


def patched() -> bool:
    """True when this process runs gevent with a monkey-patched standard library."""
    if "gevent" not in sys.modules:
        return False
    from gevent import monkey

    return bool(monkey.is_module_patched("socket"))


def run_blocking(fn: Callable[..., Any], *args: Any) -> Any:
    """Run a call that may block in C on gevent's thread pool (other greenlets keep running)."""
    import gevent

    return gevent.get_hub().threadpool.apply(fn, args)


def spawn_untracked(fn: Callable[..., Any], *args: Any) -> None:
    """Run fn on a new green thread nobody joins (gevent's `spawn_raw`: a bare greenlet)."""
    import gevent

    gevent.spawn_raw(fn, *args)
