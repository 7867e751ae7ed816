"""Group commit (realtime/batch.py) with real threads: batching, results, failures, hand-off."""

from __future__ import annotations

import threading
import time

import pytest

from realtime.batch import GroupCommit
from tests.support.common import wait_for


class Store:
    """A write_batch that records its batches; `gate` holds a batch in flight until released."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.batches: list[list[str]] = []
        self.rows: list[str] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.fail_on = fail_on

    def __call__(self, items):
        self.entered.set()
        assert self.gate.wait(10)
        self.batches.append(list(items))
        if self.fail_on in items:
            raise OSError("database is locked")
        start = len(self.rows)
        self.rows.extend(items)
        return [start + i + 1 for i in range(len(items))]


def run_all(gc: GroupCommit, items: list[str]) -> dict:
    out: dict = {}

    def one(item: str) -> None:
        try:
            out[item] = gc.submit(item)
        except Exception as exc:  # recorded for the assertions
            out[item] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in items]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads)
    return out


def test_a_lone_item_is_written_at_once_in_a_batch_of_its_own():
    store = Store()
    gc = GroupCommit(store)
    started = time.monotonic()
    assert gc.submit("a") == 1
    assert time.monotonic() - started < 0.5
    assert store.batches == [["a"]] and gc.batches == 1 and gc.items == 1 and gc.pending() == 0


def behind_a_held_batch(gc: GroupCommit, store: Store, first: str, items: list[str]) -> dict:
    """Hold `first`'s batch in flight until every item has arrived, then let it go; each item's outcome."""
    store.gate.clear()
    holder = threading.Thread(target=gc.submit, args=(first,))
    holder.start()
    assert store.entered.wait(5)
    out: dict = {}
    threads = [threading.Thread(target=lambda i=i: out.__setitem__(i, _try(gc, i))) for i in items]
    for t in threads:
        t.start()
    assert wait_for(lambda: gc.pending() == len(items) + 1)  # the waiting items plus the one in flight
    store.gate.set()
    for t in (holder, *threads):
        t.join(5)
    return out


def test_items_arriving_during_a_commit_share_the_next_one_and_each_gets_its_own_result():
    store = Store()
    gc = GroupCommit(store)
    others = [f"m{i}" for i in range(20)]
    results = behind_a_held_batch(gc, store, "first", others)
    assert store.batches[0] == ["first"]
    assert sorted(store.batches[1]) == sorted(others) and len(store.batches) == 2
    # every submitter got the id its own row was given
    assert all(store.rows[results[i] - 1] == i for i in others)
    assert gc.pending() == 0


def test_max_batch_bounds_one_transaction():
    store = Store()
    gc = GroupCommit(store, max_batch=3)
    items = [f"m{i}" for i in range(7)]
    behind_a_held_batch(gc, store, "x", items)
    assert [len(b) for b in store.batches] == [1, 3, 3, 1]
    assert sorted(store.rows) == sorted(["x", *items])


def test_a_failed_batch_fails_every_item_in_it_and_the_next_batch_still_runs():
    store = Store(fail_on="bad")
    gc = GroupCommit(store)
    out = behind_a_held_batch(gc, store, "x", ["bad", "ok"])
    assert isinstance(out["bad"], OSError) and isinstance(out["ok"], OSError)  # one transaction: both or neither
    assert store.rows == ["x"]
    assert gc.submit("after") == 2  # the group commit is not wedged
    assert gc.pending() == 0


def _try(gc, item):
    try:
        return gc.submit(item)
    except Exception as exc:
        return exc


@pytest.mark.parametrize("results", [[], [1, 2]], ids=["too-few", "too-many"])
def test_a_write_batch_that_miscounts_fails_loudly(results):
    gc = GroupCommit(lambda items: results)
    with pytest.raises(RuntimeError, match="results for 1 items"):
        gc.submit("a")


def test_the_window_waits_for_more_items_before_writing():
    store = Store()
    gc = GroupCommit(store, window=0.3)
    out = run_all(gc, ["a", "b", "c"])
    assert sorted(out.values()) == [1, 2, 3]
    assert len(store.batches) == 1
