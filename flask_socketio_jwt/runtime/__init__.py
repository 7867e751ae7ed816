"""Helpers for the async runtime a host runs on (eventlet, gevent or threading), exported by the package.

- `monkey_patch()`: patch the standard library for eventlet, first thing in a hand-run entry point
  (gunicorn's eventlet worker does it itself).
- `gevent_patched()` / `eventlet_patched()`: whether this process runs that green runtime.
- `run_blocking(fn, *args)`: run a call that may block in C (SQLite's busy wait, an fsync) without
  pausing every other green thread (eventlet's or gevent's thread pool; a plain call otherwise).
"""

from flask_socketio_jwt.runtime.gevent import patched as gevent_patched
from flask_socketio_jwt.runtime.green import eventlet_patched, monkey_patch, run_blocking

__all__ = ["eventlet_patched", "gevent_patched", "monkey_patch", "run_blocking"]
