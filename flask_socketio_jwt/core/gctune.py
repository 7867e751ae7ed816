"""Keeps CPython's garbage collector from pausing the event loop for long.

Three costs, each measured under the benchmark (docs/benchmarks.md):
- A full collection walks every tracked object, 0.6 µs each: with a thousand sockets
  100-300 ms, about once a second under load. Freezing the heap (`gc.freeze()`, O(1)) every
  `freeze_interval` moves long-lived objects out of the collector's reach.
- Even a young collection costs 0.5-1 µs per young object (its references into the old heap
  miss the CPU cache), and its size is not bounded by the threshold: the threshold counts
  allocations minus deallocations, so while old objects die the young list keeps growing. At
  1,000 events a second that was 2-4 ms pauses three times a second, and the middle
  generation, full of eventlet's cancelled timers waiting in the hub's heap, 2-7 ms five times
  a second: the ack p99. With `young_interval` the task collects the young generation every
  20 ms (0.1-0.3 ms each; the short-lived cycles, exception tracebacks mostly, die there) and
  freezes what survived, so the middle and old generations stay empty; automatic collections
  stay as a safety net at a high threshold.
- Cyclic garbage among frozen objects is only freed by a full collection (unfreeze, collect).
  That pause grows with the heap (about 1.6 s at 10,000 sockets), so it runs when it pays
  for itself, as CPython's own rule for its oldest generation does: when the process has
  grown by `collect_growth` since the last one, and at least every `collect_interval`.
"""

from __future__ import annotations

import gc
import logging
import os
import resource
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

# Automatic young collections only as a safety net (a burst allocating between two ticks).
SAFETY_THRESHOLD = 50_000
# Growth-triggered full collections no closer than this: one pause a minute at most, even
# while a connect wave grows the heap fast.
MIN_COLLECT_SPACING = 60.0


def rss_bytes() -> int:
    """This process's resident set size (the high-water mark where /proc is missing)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class GcTuner:
    """One background task: young collections, periodic freezes, full collections when they pay."""

    def __init__(self, freeze_interval: float, collect_interval: float,
                 sleep: Callable[[float], None], spawn: Callable[..., object], *,
                 young_interval: float = 0.0, collect_growth: float = 0.0,
                 rss: Callable[[], int] = rss_bytes) -> None:
        self.freeze_interval, self.collect_interval = freeze_interval, collect_interval
        self.young_interval, self.collect_growth = young_interval, collect_growth
        self._sleep, self._spawn, self._rss = sleep, spawn, rss
        self._thresholds: tuple[int, int, int] | None = None
        self.rss_after_collect = 0
        self.started = False
        self.running = False
        self.collections = 0
        self.young_collections = 0

    def bind_runtime(self, sleep: Callable[[float], None], spawn: Callable[..., object]) -> None:
        """Use these async primitives for the task."""
        self._sleep, self._spawn = sleep, spawn

    def start(self) -> None:
        """Start the task once (a no-op when freezing is switched off)."""
        if self.started or self.freeze_interval <= 0:
            return
        self.started = self.running = True
        self.rss_after_collect = self._rss()
        if self.young_interval > 0:
            self._thresholds = gc.get_threshold()
            gc.set_threshold(max(SAFETY_THRESHOLD, self._thresholds[0]), *self._thresholds[1:])
        self._spawn(self._run)

    def stop(self) -> None:
        """End the task and hand the collector back as it was, frozen objects included."""
        self.running = False
        if self._thresholds is not None:
            gc.set_threshold(*self._thresholds)
            self._thresholds = None
        gc.unfreeze()

    def full_collection_due(self, now: float, last_collect: float) -> bool:
        """True when the periodic or the growth-triggered full collection is due."""
        since = now - last_collect
        if self.collect_interval > 0 and since >= self.collect_interval:
            return True
        return (self.collect_growth > 0 and since >= MIN_COLLECT_SPACING
                and self._rss() >= self.rss_after_collect * (1 + self.collect_growth))

    def tick(self, now: float, last_collect: float) -> float:
        """Freeze the heap; run the full collection when due. Returns the last collect time."""
        if self.full_collection_due(now, last_collect):
            gc.unfreeze()
            gc.collect()
            self.collections += 1
            self.rss_after_collect = self._rss()
            last_collect = now
        gc.freeze()
        return last_collect

    def young_tick(self) -> None:
        """Collect the young generation and freeze its survivors."""
        gc.collect(0)
        gc.freeze()
        self.young_collections += 1

    def _run(self) -> None:
        last_collect = last_freeze = time.monotonic()
        step = self.young_interval if self.young_interval > 0 else self.freeze_interval
        while self.running:
            self._sleep(step)
            if not self.running:
                break
            try:
                now = time.monotonic()
                if self.young_interval > 0:
                    self.young_tick()
                if now - last_freeze >= self.freeze_interval:
                    last_freeze = now
                    last_collect = self.tick(now, last_collect)
            except Exception:  # never let tuning take the worker down
                log.exception("gc tuning failed")
