"""Start-up checks on the async runtime: the process's monkey patching must match the async mode."""

from __future__ import annotations

from flask_socketio_jwt.runtime import gevent as gevent_runtime
from flask_socketio_jwt.runtime import green


def patched_runtime() -> str | None:
    """Which green runtime monkey-patched this process (a gunicorn eventlet or gevent worker does): or None."""
    if green.eventlet_patched():
        return "eventlet"
    if gevent_runtime.patched():
        return "gevent"
    return None


def check_async_mode(async_mode: str) -> None:
    """Stop at start when the process runs another green runtime than the async mode (connections would hang)."""
    runtime = patched_runtime()
    if runtime is not None and runtime != async_mode:
        raise RuntimeError(
            f"This process runs {runtime} (for example a gunicorn '-k {runtime}' worker) but the app's SocketIO "
            f"uses async_mode={async_mode!r}: pass async_mode={runtime!r} to SocketIO(...) or set "
            f"SOCKETIO_JWT_ASYNC_MODE = {runtime!r}, or run a worker of the async mode you chose")
