"""The audit log: handlers enqueue, one background writer per process inserts in batches.

The writer never loses a row silently: while the database is unavailable it keeps rows in a
bounded memory buffer, spills the rest to an append-only JSONL file, retries with backoff and
replays the file once the database is back. Each row carries a unique `uid`, so a replay after
a commit whose acknowledgement was lost cannot insert a row twice.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from realtime.green import run_blocking

log = logging.getLogger(__name__)

KINDS = frozenset({
    "login", "login_failed", "logout", "connect", "connect_refused", "disconnect", "refresh",
    "kick", "join", "leave", "message", "rate_limited", "connect_timeout", "error",
})


class AuditLog:
    """Queue plus batching writer; `enqueue` never blocks and never raises."""

    def __init__(self, engine: sa.Engine, table: sa.Table, *, spill_path: str,
                 batch_size: int = 500, interval: float = 0.2, memory_limit: int = 50000,
                 sleep: Callable[[float], None] = time.sleep,
                 spawn: Callable[..., object] | None = None, enabled: bool = True) -> None:
        self.engine, self.table = engine, table
        self.spill_path = spill_path
        self.batch_size, self.interval, self.memory_limit = batch_size, interval, memory_limit
        self.enabled = enabled
        self._sleep, self._spawn = sleep, spawn
        self._queue: deque[dict] = deque()
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._started = False
        self.running = False
        self.stats = {"enqueued": 0, "written": 0, "spilled": 0, "replayed": 0, "failed": 0,
                      "errors": 0, "last_error": None, "last_write": None, "lag": 0.0}
        self.state = "idle"
        self._sqlite_path = _sqlite_file(engine)

    def bind_runtime(self, sleep: Callable[[float], None], spawn: Callable[..., object]) -> None:
        """Use these async primitives for the writer task."""
        self._sleep, self._spawn = sleep, spawn

    # -- producer side ------------------------------------------------------------------
    def enqueue(self, kind: str, *, user_id: Any = None, sid: str | None = None,
                remote_addr: str | None = None, **detail: Any) -> None:
        """Record one event; cheap and safe to call from any handler."""
        if not self.enabled:
            return
        row = {"uid": uuid.uuid4().hex, "ts": time.time(), "kind": kind,
               "user_id": _int_or_none(user_id), "sid": sid,
               "remote_addr": remote_addr, "detail": detail}
        self.stats["enqueued"] += 1
        if not self._started:
            self.start()
        with self._lock:
            if len(self._queue) < self.memory_limit:
                self._queue.append(row)
                return
        # Past the memory bound rows go straight to the spill file, never dropped.
        self._spill([row])

    def depth(self) -> int:
        """Rows waiting in memory."""
        return len(self._queue)

    # -- writer side ----------------------------------------------------------------------
    def start(self) -> None:
        """Start the writer task (once per process) and flush on interpreter exit."""
        if self._started or not self.enabled:
            return
        self._started = self.running = True
        atexit.register(self.close)
        if self._spawn is not None:
            self._spawn(self._run)

    def _run(self) -> None:
        backoff = self.interval
        while self.running:
            try:
                wrote = self.flush_once()
                backoff = self.interval
                if wrote < self.batch_size:
                    self._sleep(self.interval)
            except Exception as exc:  # the database is down: keep rows, back off, retry
                self._note_error(exc)
                self._sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    def flush_once(self) -> int:
        """Write one batch: spilled rows first (oldest), then the memory queue."""
        with self._flush_lock:
            if self._spill_pending():
                return self._replay_spill()
            with self._lock:
                batch = [self._queue.popleft() for _ in range(min(self.batch_size, len(self._queue)))]
            if not batch:
                self.state = "ok" if self.state != "error" else self.state
                return 0
            try:
                self._insert(batch)
            except Exception:
                with self._lock:
                    self._queue.extendleft(reversed(batch))
                    overflow = len(self._queue) - self.memory_limit
                    spill = [self._queue.pop() for _ in range(max(overflow, 0))][::-1]
                if spill:
                    self._spill(spill)
                raise
            self._wrote(batch)
            return len(batch)

    def flush(self, timeout: float = 10.0) -> bool:
        """Write everything queued now; True when nothing is left (used by tests and shutdown)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                while self.flush_once():
                    pass
            except Exception as exc:
                self._note_error(exc)
                self._sleep(0.05)
                continue
            if not self._queue and not self._spill_pending():
                return True
        return False

    def close(self) -> None:
        """Final flush at shutdown; what cannot be written now is spilled for the next start."""
        self.running = False
        if not self.enabled:
            return
        if not self.flush(timeout=3.0):
            with self._lock:
                rest = list(self._queue)
                self._queue.clear()
            if rest:
                self._spill(rest)
                log.warning("audit: %d rows spilled at shutdown for replay", len(rest))

    def health(self) -> dict:
        """The writer's state for /healthz."""
        return {"state": self.state, "queue": self.depth(), "spill_pending": self._spill_pending(),
                "written": self.stats["written"], "last_error": self.stats["last_error"]}

    # -- internals ------------------------------------------------------------------------
    def _note_error(self, exc: Exception) -> None:
        self.state = "error"
        self.stats["errors"] += 1
        self.stats["last_error"] = type(exc).__name__
        log.warning("audit writer: database unavailable (%s); %d rows queued",
                    type(exc).__name__, self.depth())

    def _wrote(self, batch: list[dict]) -> None:
        now = time.time()
        self.stats["written"] += len(batch)
        self.stats["last_write"] = now
        self.stats["lag"] = now - batch[0]["ts"]
        self.state = "ok"

    def _insert(self, rows: list[dict]) -> None:
        if self._sqlite_path is not None:
            run_blocking(_sqlite_insert, self._sqlite_path, self.table.name, rows)
            return
        values = [{**r, "ts": datetime.fromtimestamp(r["ts"], UTC)} for r in rows]
        stmt = _insert_ignore(self.engine, self.table)
        with self.engine.begin() as conn:
            conn.execute(stmt, values)

    def _spill(self, rows: list[dict]) -> None:
        lines = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows)
        try:
            run_blocking(_append, self.spill_path, lines)
            self.stats["spilled"] += len(rows)
        except OSError:
            # The one path where a row truly cannot be kept: count it and say so loudly.
            self.stats["failed"] += len(rows)
            log.error("audit: %d rows lost: cannot write spill file %s", len(rows), self.spill_path)

    def _spill_pending(self) -> bool:
        if os.path.exists(self.spill_path + ".replay"):
            return True
        try:
            return os.path.getsize(self.spill_path) > 0
        except OSError:
            return False

    def _replay_spill(self) -> int:
        # Rename first so rows spilled while we replay go to a fresh file, never truncated.
        work = self.spill_path + ".replay"
        if not os.path.exists(work):
            os.replace(self.spill_path, work)
        with open(work, encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh if line.strip()]
        for i in range(0, len(rows), self.batch_size):
            self._insert(rows[i:i + self.batch_size])
        os.remove(work)
        self.stats["replayed"] += len(rows)
        if rows:
            self._wrote(rows)
        return len(rows) or 1


def _int_or_none(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _sqlite_file(engine: sa.Engine) -> str | None:
    url = engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return url.database


def _sqlite_insert(path: str, table: str, rows: list[dict]) -> None:
    conn = sqlite3.connect(path, timeout=1.0)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        with conn:
            conn.executemany(
                f"INSERT OR IGNORE INTO {table} (uid, ts, kind, user_id, sid, remote_addr, detail) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(r["uid"], datetime.fromtimestamp(r["ts"], UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
                  r["kind"], r["user_id"], r["sid"], r["remote_addr"], json.dumps(r["detail"]))
                 for r in rows])
    finally:
        conn.close()


def _insert_ignore(engine: sa.Engine, table: sa.Table) -> Any:
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert

        return insert(table).on_conflict_do_nothing(index_elements=["uid"])
    return sa.insert(table).prefix_with("OR IGNORE") if engine.dialect.name == "sqlite" else sa.insert(table)


def _append(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
