"""The collector tuning: freezing hides long-lived objects; the periodic collection frees frozen cycles."""

from __future__ import annotations

import gc
import threading
import weakref

from realtime.gctune import GcTuner


class Node:
    """A reference cycle's member."""

    def __init__(self) -> None:
        self.me = self


def test_freeze_then_periodic_collection_reclaims_cycles():
    tuner = GcTuner(1.0, 60.0, sleep=lambda s: None, spawn=lambda fn: None)
    try:
        cycle = Node()
        ref = weakref.ref(cycle)
        last = tuner.tick(now=100.0, last_collect=100.0)  # freezes only: not due yet
        assert last == 100.0 and gc.get_freeze_count() > 0
        del cycle
        gc.collect()
        assert ref() is not None  # frozen garbage waits for the periodic collection
        last = tuner.tick(now=161.0, last_collect=last)
        assert last == 161.0 and tuner.collections == 1 and ref() is None
        assert gc.get_freeze_count() > 0  # frozen again after collecting
    finally:
        tuner.stop()
    assert gc.get_freeze_count() == 0


def test_background_task_freezes_and_stops():
    ticked = threading.Event()

    def sleep(_seconds: float) -> None:
        if gc.get_freeze_count():
            ticked.set()

    started = []
    tuner = GcTuner(0.01, 0, sleep=sleep, spawn=lambda fn: started.append(threading.Thread(target=fn, daemon=True)))
    tuner.start()
    tuner.start()  # idempotent
    assert len(started) == 1
    started[0].start()
    try:
        assert ticked.wait(5)
    finally:
        tuner.stop()
        started[0].join(5)
    assert not started[0].is_alive() and gc.get_freeze_count() == 0


def test_switched_off():
    spawned = []
    GcTuner(0, 60, sleep=lambda s: None, spawn=spawned.append).start()
    assert spawned == []
