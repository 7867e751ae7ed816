"""Group commit: messages that arrive together are inserted in one transaction.

A handler that stores a message hands the row to `GroupCommit.submit` and blocks (its own green
thread only) until the row is committed. The first row that finds no batch in flight leads: it
yields once, so that every handler already woken by the same read of the sockets adds its row,
waits out the configured window (none by default), then inserts the batch with one statement and
commits once. Rows that arrive while a batch is in flight form the next batch, which the first of
them leads as soon as the previous commit ends. So a lone message costs one yield, and under load
one commit serves every message that arrived during the previous one.

Every submitter gets its own row back (or the batch's exception) only after the commit: the ack
and the broadcast that follow it can never carry a row the database does not hold.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from flask_socketio_jwt import eventlet_patched, gevent_patched

T = TypeVar("T")
R = TypeVar("R")


def _event_factory() -> Callable[[], tuple[Callable[[], object], Callable[[], object]]]:
    """(set, wait) of a one-shot event: the runtime's own, lighter than a patched threading.Event."""
    if eventlet_patched():
        from eventlet.event import Event as EventletEvent

        def eventlet_pair() -> tuple[Callable[[], object], Callable[[], object]]:
            e = EventletEvent()
            return e.send, e.wait

        return eventlet_pair
    if gevent_patched():
        from gevent.event import Event as GeventEvent

        def gevent_pair() -> tuple[Callable[[], object], Callable[[], object]]:
            e = GeventEvent()
            return e.set, e.wait

        return gevent_pair

    def thread_pair() -> tuple[Callable[[], object], Callable[[], object]]:
        e = threading.Event()
        return e.set, e.wait

    return thread_pair


class _Waiter(Generic[T, R]):
    __slots__ = ("item", "wake", "wait", "lead", "result", "error")

    def __init__(self, item: T, event: Callable[[], tuple[Callable[[], object], Callable[[], object]]]) -> None:
        self.item = item
        self.wake, self.wait = event()  # each is called at most once
        self.lead = False
        self.result: R | None = None
        self.error: BaseException | None = None


class GroupCommit(Generic[T, R]):
    """Serialises `write_batch` calls and gives each one every item submitted meanwhile.

    `write_batch(items)` must commit all items or none and return one result per item, in order.
    `window` (seconds) is how long a leader waits for more items after its yield; `max_batch`
    bounds one transaction.
    """

    def __init__(self, write_batch: Callable[[Sequence[T]], Sequence[R]], *, window: float = 0.0,
                 max_batch: int = 500, sleep: Callable[[float], None] = time.sleep) -> None:
        self.write_batch = write_batch
        self.window = max(0.0, window)
        self.max_batch = max(1, max_batch)
        self._sleep = sleep
        self._event = _event_factory()
        self._lock = threading.Lock()
        self._pending: list[_Waiter[T, R]] = []
        self._busy = False
        self._in_flight = 0
        self.batches = 0
        self.items = 0

    def pending(self) -> int:
        """Items waiting for a commit (the batch being written included)."""
        return len(self._pending) + self._in_flight

    def submit(self, item: T) -> R:
        """Store one item with whatever else arrives meanwhile; returns its result after the commit."""
        me: _Waiter[T, R] = _Waiter(item, self._event)
        with self._lock:
            self._pending.append(me)
            lead = not self._busy
            self._busy = True
        if not lead:
            me.wait()
            if not me.lead:
                return self._outcome(me)
        self._lead(me)
        return self._outcome(me)

    def _lead(self, me: _Waiter[T, R]) -> None:
        batch: list[_Waiter[T, R]] = []
        try:
            self._sleep(self.window)  # at least one yield: let the handlers woken with us add their rows
            with self._lock:
                batch = self._pending[:self.max_batch]
                del self._pending[:self.max_batch]
                self._in_flight = len(batch)
            results = self.write_batch([w.item for w in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"write_batch returned {len(results)} results for {len(batch)} items")
        except BaseException as exc:  # every submitter of the batch gets the same failure
            if not batch:  # the leader itself was stopped before it took the batch: drop its row only
                with self._lock:
                    if me in self._pending:
                        self._pending.remove(me)
                batch = [me]
            for w in batch:
                w.error = exc
        else:
            for w, r in zip(batch, results, strict=True):
                w.result = r
            self.batches += 1
            self.items += len(batch)
        with self._lock:  # hand the lead to the oldest row that arrived meanwhile, or go idle
            self._in_flight = 0
            nxt = self._pending[0] if self._pending else None
            if nxt is None:
                self._busy = False
            else:
                nxt.lead = True
        for w in batch:
            if w is not me:  # the leader is running already (and a promoted one was woken once)
                w.wake()
        if nxt is not None:
            nxt.wake()

    @staticmethod
    def _outcome(w: _Waiter[T, R]) -> R:
        if w.error is not None:
            raise w.error
        return w.result  # type: ignore[return-value]
