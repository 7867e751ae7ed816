"""Group commit (realtime/batch.py) with real threads: batching, results, failures, hand-off."""

from __future__ import annotations

import threading
import time

import pytest

from realtime.batch import GroupCommit


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


def test_items_arriving_during_a_commit_share_the_next_one_and_each_gets_its_own_result():
    store = Store()
    gc = GroupCommit(store)
    store.gate.clear()  # the first batch stays in flight while 20 more items arrive
    first = threading.Thread(target=gc.submit, args=("first",))
    first.start()
    assert store.entered.wait(5)
    others = [f"m{i}" for i in range(20)]
    results: dict = {}
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, gc.submit(i))) for i in others]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 5
    while gc.pending() < 21 and time.monotonic() < deadline:  # 20 waiting plus the one in flight
        time.sleep(0.01)
    assert gc.pending() == 21
    store.gate.set()
    first.join(5)
    for t in threads:
        t.join(5)
    assert store.batches[0] == ["first"]
    assert sorted(store.batches[1]) == sorted(others) and len(store.batches) == 2
    # every submitter got the id its own row was given
    assert {store.rows[results[i] - 1] for i in others} == set(others)
    assert all(store.rows[results[i] - 1] == i for i in others)
    assert gc.pending() == 0


def test_max_batch_bounds_one_transaction():
    store = Store()
    gc = GroupCommit(store, max_batch=3)
    store.gate.clear()
    holder = threading.Thread(target=gc.submit, args=("x",))
    holder.start()
    assert store.entered.wait(5)
    items = [f"m{i}" for i in range(7)]
    threads = [threading.Thread(target=gc.submit, args=(i,)) for i in items]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 5
    while gc.pending() < 8 and time.monotonic() < deadline:
        time.sleep(0.01)
    store.gate.set()
    holder.join(5)
    for t in threads:
        t.join(5)
    assert [len(b) for b in store.batches] == [1, 3, 3, 1]
    assert sorted(store.rows) == sorted(["x", *items])


def test_a_failed_batch_fails_every_item_in_it_and_the_next_batch_still_runs():
    store = Store(fail_on="bad")
    gc = GroupCommit(store)
    store.gate.clear()
    holder = threading.Thread(target=gc.submit, args=("x",))
    holder.start()
    assert store.entered.wait(5)
    out: dict = {}
    threads = [threading.Thread(target=lambda i=i: out.__setitem__(i, _try(gc, i))) for i in ("bad", "ok")]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 5
    while gc.pending() < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    store.gate.set()
    holder.join(5)
    for t in threads:
        t.join(5)
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
