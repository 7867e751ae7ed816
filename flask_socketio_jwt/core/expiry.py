"""One scheduler for every socket's token expiry: a heap and a single background task."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class ExpiryScheduler:
    """Calls on_expire(sid) once a socket's deadline passes, unless rescheduled or cancelled."""

    # Deadlines are checked at least this often, so a new, earlier deadline is never late by more.
    TICK = 0.1

    def __init__(self, on_expire: Callable[[str], None], sleep: Callable[[float], None],
                 spawn: Callable[..., object], leeway: float = 0.0) -> None:
        self._on_expire = on_expire
        self._sleep = sleep
        self._spawn = spawn
        self._leeway = leeway
        self._heap: list[tuple[float, int, str]] = []
        self._deadline: dict[str, float] = {}
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self._started = False
        self.running = False

    def bind_runtime(self, sleep: Callable[[float], None], spawn: Callable[..., object]) -> None:
        """Use these async primitives for the scheduler task."""
        self._sleep, self._spawn = sleep, spawn

    def schedule(self, sid: str, exp: float) -> None:
        """Expire sid at exp (Unix seconds), replacing any earlier deadline."""
        deadline = exp + self._leeway
        with self._lock:
            self._deadline[sid] = deadline
            heapq.heappush(self._heap, (deadline, next(self._seq), sid))
        if not self._started:
            self.start()

    def cancel(self, sid: str) -> None:
        """Forget sid's deadline (on disconnect)."""
        with self._lock:
            self._deadline.pop(sid, None)

    def pending(self) -> int:
        """How many sockets have a deadline."""
        return len(self._deadline)

    def start(self) -> None:
        """Start the background task (once)."""
        with self._lock:
            if self._started:
                return
            self._started = self.running = True
        self._spawn(self._run)

    def stop(self) -> None:
        """Ask the background task to end."""
        self.running = False

    def due(self, now: float) -> list[str]:
        """Pop and return the sids whose deadline has passed."""
        out = []
        with self._lock:
            while self._heap and self._heap[0][0] <= now:
                deadline, _, sid = heapq.heappop(self._heap)
                if self._deadline.get(sid) == deadline:
                    del self._deadline[sid]
                    out.append(sid)
            # Drop stale heap entries left by reschedules, so the heap cannot grow without bound.
            if len(self._heap) > 2 * len(self._deadline) + 64:
                self._heap = [e for e in self._heap if self._deadline.get(e[2]) == e[0]]
                heapq.heapify(self._heap)
        return out

    def _run(self) -> None:
        while self.running:
            for sid in self.due(time.time()):
                try:
                    self._on_expire(sid)
                except Exception:  # one failing kick must not stop every other expiry
                    log.exception("expiry handler failed")
            with self._lock:
                wait = self._heap[0][0] - time.time() if self._heap else self.TICK
            self._sleep(min(max(wait, 0.005), self.TICK))
