"""What every test of this repository shares: the checkout, the runtime of this pass, two small helpers.

Nothing here imports the demo app: the package's tests (tests/package) use it with the app hidden.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The runtime every real server of this test run uses: `WORKER=gevent` runs gunicorn 27's gevent
# worker from .venv-gevent (`make test` runs the live tests once per runtime).
WORKER = os.environ.get("WORKER", "eventlet")
RUNTIMES = {"eventlet": (ROOT / ".venv/bin", {}),
            "gevent": (ROOT / ".venv-gevent/bin", {"FLASK_SOCKETIO_JWT_ASYNC_MODE": "gevent"})}
if WORKER not in RUNTIMES:
    raise RuntimeError(f"WORKER must be one of {sorted(RUNTIMES)}, not {WORKER!r}")
# `SOCKETIO_JWT_TEST_PATCHES=off pytest -m live` (the patches-off pass of `make test`) runs the
# live tests with every speed change switched off (the security guards stay: they always do).
PATCHES_OFF = os.environ.get("SOCKETIO_JWT_TEST_PATCHES", "on") == "off"
PATCHES_ENV = {"FLASK_SOCKETIO_JWT_PATCHES": "false"} if PATCHES_OFF else {}


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float = 5.0, interval: float = 0.02) -> bool:
    """Poll a condition until it holds or the timeout passes (no fixed sleeps in tests)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
