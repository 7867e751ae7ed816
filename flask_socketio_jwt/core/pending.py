"""Bookkeeping for the connect timeout: transport sessions that have not joined the namespace yet."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Pending:
    """A transport session waiting for its namespace connect."""

    session_id: str
    opened_at: float
    remote_addr: str | None


class PendingSessions:
    """Sessions opened but not joined; `due` hands back those past the timeout, once each."""

    # Every session gets the same timeout and opens later than the one before, so the dict's
    # insertion order is deadline order: the sweeper looks at the front only, never at all.

    def __init__(self, timeout: float) -> None:
        self.timeout = float(timeout)
        self._open: dict[str, Pending] = {}
        self._lock = threading.Lock()

    def opened(self, session_id: str, remote_addr: str | None, now: float | None = None) -> None:
        """Start the clock for a new transport session."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._open.pop(session_id, None)  # a reused id moves to the back, with its new deadline
            self._open[session_id] = Pending(session_id, now, remote_addr)

    def settled(self, session_id: str) -> None:
        """The session joined the namespace or closed: stop watching it."""
        with self._lock:
            self._open.pop(session_id, None)

    def due(self, now: float | None = None) -> list[Pending]:
        """Remove and return every session whose timeout has passed."""
        now = time.monotonic() if now is None else now
        late = []
        with self._lock:
            while self._open:
                first = next(iter(self._open.values()))
                if now - first.opened_at < self.timeout:
                    break
                late.append(self._open.pop(first.session_id))
        return late

    def next_deadline(self) -> float | None:
        """Monotonic time at which the oldest session falls due, or None when none is watched."""
        with self._lock:
            if not self._open:
                return None
            return next(iter(self._open.values())).opened_at + self.timeout

    def __len__(self) -> int:
        return len(self._open)
