"""Keeps CPython's full garbage collections from pausing the event loop for long.

A full collection walks every tracked object; with thousands of sockets that is 100-300 ms
(0.6 µs an object, measured in bench/analysis.md), about once a second under load, and every
socket waits for it. Freezing the heap often (`gc.freeze()` costs O(1)) moves the long-lived
objects out of the collector's reach, so automatic collections walk only what is new. Cyclic
garbage among frozen objects waits for the periodic full collection (`collect_interval`), one
pause a minute instead of one a second.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class GcTuner:
    """One background task: freeze every `freeze_interval`, unfreeze and collect every `collect_interval`."""

    def __init__(self, freeze_interval: float, collect_interval: float,
                 sleep: Callable[[float], None], spawn: Callable[..., object]) -> None:
        self.freeze_interval, self.collect_interval = freeze_interval, collect_interval
        self._sleep, self._spawn = sleep, spawn
        self.started = False
        self.running = False
        self.collections = 0
        self.last_pause = 0.0

    def bind_runtime(self, sleep: Callable[[float], None], spawn: Callable[..., object]) -> None:
        """Use these async primitives for the task."""
        self._sleep, self._spawn = sleep, spawn

    def start(self) -> None:
        """Start the task once (a no-op when freezing is switched off)."""
        if self.started or self.freeze_interval <= 0:
            return
        self.started = self.running = True
        self._spawn(self._run)

    def stop(self) -> None:
        """End the task and hand every frozen object back to the collector."""
        self.running = False
        gc.unfreeze()

    def tick(self, now: float, last_collect: float) -> float:
        """Freeze the heap; run the periodic full collection when due. Returns the last collect time."""
        if self.collect_interval > 0 and now - last_collect >= self.collect_interval:
            t0 = time.perf_counter()
            gc.unfreeze()
            gc.collect()
            self.last_pause = time.perf_counter() - t0
            self.collections += 1
            last_collect = now
        gc.freeze()
        return last_collect

    def _run(self) -> None:
        last_collect = time.monotonic()
        while self.running:
            self._sleep(self.freeze_interval)
            if not self.running:
                break
            try:
                last_collect = self.tick(time.monotonic(), last_collect)
            except Exception:  # never let tuning take the worker down
                log.exception("gc tuning failed")
