"""The collector tuning: freezing hides long-lived objects; the periodic collection frees frozen cycles."""

from __future__ import annotations

import gc
import threading
import weakref

from flask_socketio_jwt.core.gctune import GcTuner


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


def test_full_collection_when_the_process_grew():
    sizes = iter([100, 110, 126, 126, 126])  # start, then one reading per due check
    tuner = GcTuner(1.0, 0, sleep=lambda s: None, spawn=lambda fn: None, collect_growth=0.25,
                    rss=lambda: next(sizes))
    tuner.started = True
    tuner.rss_after_collect = tuner._rss()  # 100, as start() takes it
    try:
        assert not tuner.full_collection_due(now=50.0, last_collect=0.0)  # too soon after the last one
        assert not tuner.full_collection_due(now=70.0, last_collect=0.0)  # 110: grew 10%
        cycle = Node()
        ref = weakref.ref(cycle)
        tuner.tick(now=0.5, last_collect=0.0)  # freeze the cycle
        del cycle
        assert tuner.tick(now=80.0, last_collect=0.0) == 80.0  # 126: grew 26% -> collected
        assert ref() is None and tuner.collections == 1 and tuner.rss_after_collect == 126
    finally:
        tuner.stop()


def test_young_collections_free_young_cycles_and_thresholds_come_back():
    before = gc.get_threshold()
    ran = threading.Event()
    refs = []

    def sleep(_seconds: float) -> None:
        if tuner.young_collections >= 3 and refs and refs[0]() is None:
            ran.set()
            tuner.running = False

    spawned = []
    tuner = GcTuner(60.0, 0, sleep=sleep, spawn=lambda fn: spawned.append(threading.Thread(target=fn, daemon=True)),
                    young_interval=0.001)
    tuner.start()
    try:
        assert gc.get_threshold()[0] >= 50_000  # automatic young collections only as a safety net
        cycle = Node()
        refs.append(weakref.ref(cycle))
        del cycle
        spawned[0].start()
        assert ran.wait(5)
        spawned[0].join(5)
        assert gc.get_freeze_count() > 0  # young survivors are frozen
    finally:
        tuner.stop()
    assert gc.get_threshold() == before
