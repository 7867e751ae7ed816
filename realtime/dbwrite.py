"""Database writes that wait for a locked SQLite file without blocking the event loop."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa

from extensions import db

T = TypeVar("T")

# SQLite's own busy wait sleeps inside C, which pauses every greenlet; keep it short and do
# the rest of the waiting here, where time.sleep is cooperative under eventlet and gevent.
SQLITE_BUSY_MS = 50


def write(unit: Callable[[], T], timeout: float = 10.0) -> T:
    """Run a unit of work that ends in a commit, retrying while the database is locked."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        try:
            return unit()
        except sa.exc.OperationalError as exc:
            db.session.rollback()
            if "locked" not in str(exc.orig) or time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.25)
        except Exception:
            db.session.rollback()
            raise
