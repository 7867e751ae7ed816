"""The audit log: handlers enqueue, one background writer per process inserts in batches.

The writer never loses a row silently: while the database is unavailable it keeps rows in a
bounded memory buffer, spills the rest to an append-only JSONL file (realtime/spill.py), retries
with backoff and replays the file once the database is back. Each row carries a unique `uid`,
so a replay after a commit whose acknowledgement was lost cannot insert a row twice. A row the
database refuses for good (not a transient error) is counted, logged and kept in
`<spill>.rejected`; it never blocks the rows behind it.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import sqlite3
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from flask_socketio_jwt.core.spill import SpillFile
from flask_socketio_jwt.runtime.green import run_blocking

log = logging.getLogger(__name__)

KINDS = frozenset({
    "login", "login_failed", "logout", "connect", "connect_refused", "disconnect", "refresh", "refresh_refused",
    "kick", "join", "leave", "message", "rate_limited", "connect_timeout", "error",
    # The server API and the admin view (docs/server-api.md).
    "server_publish", "server_emit", "server_disconnect", "server_read", "server_refused",
    "admin_ui_connect", "admin_ui_refused",
    # The app's `flask user disable|enable` (docs/audit.md).
    "user_disabled", "user_enabled",
})
MAX_BACKOFF = 2.0


class AuditLog:
    """Queue plus batching writer; `enqueue` never blocks the event loop and never raises."""

    def __init__(self, engine: sa.Engine | None, table: sa.Table | None, *, spill_path: str,
                 batch_size: int = 500, interval: float = 0.2, memory_limit: int = 50000,
                 sleep: Callable[[float], None] = time.sleep,
                 spawn: Callable[..., object] | None = None, enabled: bool = True) -> None:
        self.engine, self.table = engine, table
        self.spill = SpillFile(spill_path)
        self.batch_size, self.interval, self.memory_limit = max(1, batch_size), interval, memory_limit
        self.enabled = enabled
        self._sleep, self._spawn = sleep, spawn
        self._queue: deque[dict] = deque()
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._started = self._closed = False
        self.running = False
        self.stats: dict[str, Any] = {"written": 0, "spilled": 0, "replayed": 0, "failed": 0,
                                      "errors": 0, "last_error": None, "last_write": None, "lag": 0.0}
        self.kinds: Counter[str] = Counter()
        self.state = "idle"
        self._sqlite_path = _sqlite_file(engine) if engine is not None else None


    @property
    def spill_path(self) -> str:
        """Where rows wait while the database is down."""
        return self.spill.path

    def bind_runtime(self, sleep: Callable[[float], None], spawn: Callable[..., object]) -> None:
        """Use these async primitives for the writer task."""
        self._sleep, self._spawn = sleep, spawn

    # -- producer side ------------------------------------------------------------------
    def enqueue(self, kind: str, *, user_id: Any = None, sid: str | None = None,
                remote_addr: str | None = None, **detail: Any) -> None:
        """Record one event; cheap and safe to call from any handler."""
        if not self.enabled:
            return
        try:
            row = make_row(kind, user_id, sid, remote_addr, detail)
        except Exception:  # never let auditing break the caller
            log.exception("audit: could not build a %s row", str(kind)[:32])
            return
        with self._lock:
            self.kinds[row["kind"]] += 1
            queued = not self._closed and len(self._queue) < self.memory_limit
            if queued:
                self._queue.append(row)
        if not self._started:
            self.start()
        if not queued:
            # Past the memory bound (or after shutdown) rows go straight to the spill file.
            self._spill([row])

    def depth(self) -> int:
        """Rows waiting in memory."""
        return len(self._queue)

    def lag(self) -> float:
        """Seconds the oldest row waiting in memory has waited (0 when none)."""
        try:
            return max(0.0, time.time() - self._queue[0]["ts"])
        except IndexError:
            return 0.0

    # -- writer side ----------------------------------------------------------------------
    def start(self) -> None:
        """Start the writer task (once per process) and flush on interpreter exit."""
        with self._lock:
            if self._started or not self.enabled or self._closed:
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
                try:
                    self._note_error(exc)
                    self._sleep(backoff)
                except Exception:  # the writer must outlive anything, even a failing logger
                    pass
                backoff = min(max(backoff, 0.05) * 2, MAX_BACKOFF)

    def flush_once(self) -> int:
        """Write one batch: spilled rows first (oldest), then the memory queue."""
        with self._flush_lock:
            if self.spill.pending():
                replayed = self._replay_spill()
                if replayed:
                    return replayed
            with self._lock:
                batch = [self._queue.popleft() for _ in range(min(self.batch_size, len(self._queue)))]
            if not batch:
                return 0
            try:
                self._write(batch)
            except Exception:
                self._requeue(batch)
                raise
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
            if not self._queue and not self.spill.pending():
                return True
            self._sleep(0.05)
        return False

    def close(self, timeout: float = 3.0) -> None:
        """Final flush at shutdown; what cannot be written now is spilled for the next start."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self.running = False
        if not self.enabled:
            return
        if not self.flush(timeout=timeout):
            with self._lock:
                rest = list(self._queue)
                self._queue.clear()
            if rest:
                self._spill(rest)
                log.warning("audit: %d rows spilled at shutdown for replay", len(rest))

    def health(self) -> dict:
        """The writer's state (queue, spill file, lag, counts), e.g. for a health endpoint."""
        return {"state": self.state, "queue": self.depth(), "spill_pending": self.spill.pending(),
                "lag": round(self.lag(), 3), "written": self.stats["written"],
                "spilled": self.stats["spilled"], "failed": self.stats["failed"],
                "last_error": self.stats["last_error"]}

    # -- internals ------------------------------------------------------------------------
    def _requeue(self, batch: list[dict]) -> None:
        """Put a batch that failed back in front; what no longer fits in memory is spilled."""
        with self._lock:
            self._queue.extendleft(reversed(batch))
            overflow = len(self._queue) - self.memory_limit
            spill = [self._queue.pop() for _ in range(max(overflow, 0))][::-1]
        if spill:
            self._spill(spill)

    def _write(self, rows: list[dict]) -> None:
        """Insert rows; on a permanent error retry one by one and reject only the bad rows."""
        try:
            written = self._insert(rows)
        except Exception as exc:
            if not _permanent(exc):
                raise
            written = 0
            for row in rows:
                try:
                    written += self._insert([row])
                except Exception as row_exc:
                    if not _permanent(row_exc):
                        raise
                    self._reject([row], row_exc)
        self._wrote(rows, written)

    def _reject(self, rows: list[dict], exc: BaseException | None) -> None:
        """A row the database refuses for good: count it, log it (kind and uid only), keep it aside."""
        self.stats["failed"] += len(rows)
        for row in rows:
            log.error("audit: row %s (%s) refused by the database: %s", row.get("uid"), row.get("kind"),
                      type(exc).__name__ if exc else "unreadable")
        try:
            self.spill.reject([json.dumps(r, separators=(",", ":"), default=str) for r in rows])
        except OSError:
            log.error("audit: cannot write %s", self.spill.rejected_path)

    def _note_error(self, exc: Exception) -> None:
        self.state = "error"
        self.stats["errors"] += 1
        self.stats["last_error"] = type(exc).__name__
        log.warning("audit writer: database unavailable (%s); %d rows queued",
                    type(exc).__name__, self.depth())

    def _wrote(self, batch: list[dict], written: int) -> None:
        now = time.time()
        self.stats["written"] += written
        self.stats["last_write"] = now
        self.stats["lag"] = now - min(r["ts"] for r in batch)
        self.state = "ok"

    def _insert(self, rows: list[dict]) -> int:
        """Insert rows, skipping uids already present; returns how many were new."""
        assert self.engine is not None and self.table is not None  # only called while enabled
        if self._sqlite_path is not None:
            return run_blocking(_sqlite_insert, self._sqlite_path, self.table.name, rows)
        values = [{**r, "ts": datetime.fromtimestamp(r["ts"], UTC)} for r in rows]
        stmt = _insert_ignore(self.engine, self.table)
        with self.engine.begin() as conn:
            if stmt is None:  # a dialect without INSERT ... ON CONFLICT: skip duplicates by hand
                have = set(conn.scalars(sa.select(self.table.c.uid).where(
                    self.table.c.uid.in_([r["uid"] for r in rows]))))
                values = [v for v in values if v["uid"] not in have]
                if values:
                    conn.execute(sa.insert(self.table), values)
                return len(values)
            if engine_returns(self.engine):
                return len(conn.execute(stmt.returning(self.table.c.uid), values).all())
            result = conn.execute(stmt, values)
        count = result.rowcount
        return count if isinstance(count, int) and count >= 0 else len(rows)

    def _spill(self, rows: list[dict]) -> None:
        try:
            self.spill.append(rows)
            self.stats["spilled"] += len(rows)
        except OSError as exc:
            # The one path where a row truly cannot be kept: count it and say so loudly.
            self.stats["failed"] += len(rows)
            log.error("audit: %d rows lost: cannot write spill file %s (%s)", len(rows), self.spill.path,
                      type(exc).__name__)

    def _replay_spill(self) -> int:
        """Replay spilled rows (oldest file first); raises while the database is down."""
        total = 0
        for work in self.spill.claim():
            with self.spill.replaying(work) as content:
                if content is None:  # another process is replaying it
                    continue
                rows, bad = content
                if bad:
                    self.stats["failed"] += len(bad)
                    log.error("audit: %d unreadable lines in %s moved to %s", len(bad), work,
                              self.spill.rejected_path)
                    self.spill.reject(bad)
                for i in range(0, len(rows), self.batch_size):
                    self._write([_from_spill(r) for r in rows[i:i + self.batch_size]])
                self.spill.done(work)
            self.stats["replayed"] += len(rows)
            total += len(rows) + len(bad)
        return total


def make_row(kind: str, user_id: Any, sid: Any, remote_addr: Any, detail: dict) -> dict:
    """A row ready to insert: bounded strings and a JSON-safe detail."""
    if not all(type(v) in _PLAIN for v in detail.values()):  # the common case skips the round trip
        try:
            detail = json.loads(json.dumps(detail, default=str))
        except (TypeError, ValueError):
            detail = {"unserializable": True}
    if user_id is not None and _int_or_none(user_id) is None:  # a host whose identities are not integers
        detail = {**detail, "identity": str(user_id)[:64]}
    return {"uid": new_uid(), "ts": time.time(), "kind": str(kind)[:32],
            "user_id": _int_or_none(user_id), "sid": _str_or_none(sid), "remote_addr": _str_or_none(remote_addr),
            "detail": detail}


_PLAIN = frozenset({str, int, float, bool, type(None)})


def new_uid() -> str:
    """32 hex digits, unique: the time in nanoseconds, then 64 random bits.

    Time first, so each new row lands at the end of the uid index instead of at a random page:
    measured on SQLite with 240,000 rows, a batch insert costs 7.5 µs a row against 32.6 µs with a
    fully random uid.
    """
    return f"{time.time_ns():016x}{os.urandom(8).hex()}"


def _from_spill(row: dict) -> dict:
    return {"uid": row["uid"], "ts": float(row["ts"]), "kind": str(row["kind"])[:32],
            "user_id": _int_or_none(row.get("user_id")), "sid": _str_or_none(row.get("sid")),
            "remote_addr": _str_or_none(row.get("remote_addr")),
            "detail": row.get("detail") if isinstance(row.get("detail"), dict) else {}}


def _permanent(exc: BaseException) -> bool:
    """True for errors a retry cannot fix (the row itself is bad), False for an unavailable database."""
    if isinstance(exc, (sqlite3.IntegrityError, sqlite3.DataError, sqlite3.InterfaceError,
                        sa.exc.IntegrityError, sa.exc.DataError, TypeError, ValueError)):
        return True
    return isinstance(exc, sa.exc.StatementError) and not isinstance(exc, sa.exc.DBAPIError)


def _int_or_none(value: Any) -> int | None:
    try:
        number = None if value is None else int(value)
    except (TypeError, ValueError):
        return None
    return number if number is None or -2**63 <= number < 2**63 else None


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)[:64]


def _sqlite_file(engine: sa.Engine) -> str | None:
    url = engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return url.database


def _sqlite_insert(path: str, table: str, rows: list[dict]) -> int:
    """One transaction on a private connection (run in a worker thread); returns rows inserted."""
    conn = sqlite3.connect(path, timeout=1.0)
    try:
        conn.execute("PRAGMA journal_mode=WAL")  # a no-op once the file is in WAL mode
        conn.execute("PRAGMA synchronous=NORMAL")  # as the app's engine: durable in WAL mode but for power loss
        with conn:
            cur = conn.executemany(
                f"INSERT OR IGNORE INTO {table} (uid, ts, kind, user_id, sid, remote_addr, detail) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(r["uid"], datetime.fromtimestamp(r["ts"], UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
                  r["kind"], r["user_id"], r["sid"], r["remote_addr"], json.dumps(r["detail"]))
                 for r in rows])
            return cur.rowcount
    finally:
        conn.close()


def engine_returns(engine: sa.Engine) -> bool:
    """True when the dialect can report which rows an executemany INSERT ... RETURNING inserted."""
    return engine.dialect.name == "postgresql" and bool(getattr(engine.dialect, "use_insertmanyvalues", False))


def _insert_ignore(engine: sa.Engine, table: sa.Table) -> Any:
    """An INSERT that skips rows whose uid exists, or None when the dialect has none."""
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert

        return insert(table).on_conflict_do_nothing(index_elements=["uid"])
    if engine.dialect.name == "sqlite":
        return sa.insert(table).prefix_with("OR IGNORE")
    return None
