"""The audit log's spill file: rows the database could not take yet, kept on disk for replay.

Several processes (gunicorn workers) may share one spill path. Appends and the claim of the
file for replay take an exclusive `flock` on `<path>.lock`, so no append can land in a file
that is already being replayed. A claimed file is renamed to a unique `<path>.replay.*` name and
held with its own `flock` while it is replayed; one left behind by a crashed process (its lock
died with it) is picked up by the next replay. Lines that cannot be parsed (a write cut short by
a crash) go to `<path>.rejected`, never silently away.
"""

from __future__ import annotations

import fcntl
import glob
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from flask_socketio_jwt.runtime.green import run_blocking


class SpillFile:
    """Append-only JSONL spill with cross-process safe claim and replay."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock_path = path + ".lock"
        self.rejected_path = path + ".rejected"

    def append(self, rows: list[dict]) -> None:
        """Durably append rows (fsync); raises OSError when the file cannot be written."""
        text = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows)
        run_blocking(self._append_locked, text)

    def reject(self, lines: list[str]) -> None:
        """Keep rows or raw lines the database refused for good, for a human to look at."""
        run_blocking(_append, self.rejected_path, "".join(line.rstrip("\n") + "\n" for line in lines))

    def pending(self) -> bool:
        """True when rows wait on disk (the active file or any claimed replay file)."""
        try:
            if os.path.getsize(self.path) > 0:
                return True
        except OSError:
            pass
        return bool(glob.glob(glob.escape(self.path) + ".replay*"))

    def claim(self) -> list[str]:
        """Move the active file aside for replay; returns every replay file, oldest first."""
        return run_blocking(self._claim_locked)

    @contextmanager
    def replaying(self, work: str) -> Iterator[tuple[list[dict], list[str]] | None]:
        """Lock a replay file and yield (rows, bad lines); None when another process holds it.

        The caller deletes the file with `done(work)` once every row is in the database.
        """
        try:
            fd = os.open(work, os.O_RDONLY)
        except FileNotFoundError:
            yield None
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield None
                return
            try:  # someone may have finished and unlinked it between our open and our lock
                if os.stat(work).st_ino != os.fstat(fd).st_ino:
                    yield None
                    return
            except FileNotFoundError:
                yield None
                return
            yield run_blocking(_parse, fd)
        finally:
            os.close(fd)

    @staticmethod
    def done(work: str) -> None:
        """Delete a fully replayed file."""
        try:
            os.remove(work)
        except FileNotFoundError:
            pass

    # -- under the spill lock (run in a worker thread) ---------------------------------------
    @contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self.lock_path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _append_locked(self, text: str) -> None:
        with self._locked():
            _append(self.path, text)

    def _claim_locked(self) -> list[str]:
        with self._locked():
            try:
                if os.path.getsize(self.path) > 0:
                    work = f"{self.path}.replay.{os.getpid()}.{uuid.uuid4().hex[:8]}"
                    os.replace(self.path, work)
            except FileNotFoundError:
                pass
        files = glob.glob(glob.escape(self.path) + ".replay*")
        return sorted(files, key=_mtime)


def _mtime(path: str) -> float:
    try:
        return os.path.getmtime(path)
    except OSError:
        return 0.0


def _append(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def _parse(fd: int) -> tuple[list[dict], list[str]]:
    """Rows of a JSONL file, plus the lines that are not a valid row."""
    with os.fdopen(os.dup(fd), encoding="utf-8", errors="replace") as fh:
        rows, bad = [], []
        for line in fh:
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                bad.append(line)
                continue
            if isinstance(row, dict) and isinstance(row.get("uid"), str) and isinstance(row.get("kind"), str) \
                    and isinstance(row.get("ts"), (int, float)):
                rows.append(row)
            else:
                bad.append(line)
        return rows, bad
