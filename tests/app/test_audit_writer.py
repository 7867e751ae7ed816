"""The audit writer alone: spill and replay, dedupe, bad rows, races, and a writer that never dies."""

from __future__ import annotations

import glob
import json
import sqlite3
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

import flask_socketio_jwt.core.audit as audit_mod
from extensions import db
from flask_socketio_jwt.core.audit import AuditLog, make_row
from flask_socketio_jwt.core.spill import SpillFile
from models import AuditEvent
from tests.app.conftest import wait_for


@pytest.fixture
def dbfile(tmp_path: Path) -> Path:
    """A SQLite file (WAL) holding the audit table."""
    path = tmp_path / "a.sqlite"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA journal_mode=WAL")
    AuditEvent.__table__.create(engine)
    engine.dispose()
    return path


def make_log(dbfile: Path, **kw) -> AuditLog:
    """An AuditLog on dbfile with no writer task (tests drive it by hand unless spawn is given)."""
    engine = sa.create_engine(f"sqlite:///{dbfile}")
    kw.setdefault("spill_path", str(dbfile.parent / "spill.jsonl"))
    return AuditLog(engine, AuditEvent.__table__, interval=0.02, **kw)


def stored(dbfile: Path) -> list[tuple]:
    """(uid, kind, detail) of every row in the file."""
    with sqlite3.connect(dbfile) as conn:
        return [(u, k, json.loads(d)) for u, k, d in conn.execute("SELECT uid, kind, detail FROM audit_events")]


def hold_lock(dbfile: Path) -> sqlite3.Connection:
    """Another process-like writer holding the database's write lock."""
    conn = sqlite3.connect(dbfile, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    return conn


def test_rows_survive_a_locked_database_via_memory_and_spill(dbfile):
    log = make_log(dbfile, memory_limit=5, batch_size=3)
    lock = hold_lock(dbfile)
    for i in range(12):
        log.enqueue("join", user_id=i, sid="s", room="r")
    assert log.depth() == 5 and log.stats["spilled"] == 7  # past the memory bound: on disk
    with pytest.raises(sqlite3.OperationalError):
        log.flush_once()
    assert log.depth() == 5 and log.health()["spill_pending"]
    lock.rollback()
    lock.close()
    assert log.flush(timeout=10)
    rows = stored(dbfile)
    assert sorted(int(r[2]["room"] == "r") for r in rows) == [1] * 12
    with sqlite3.connect(dbfile) as conn:
        assert sorted(u for (u,) in conn.execute("SELECT user_id FROM audit_events")) == list(range(12))
    assert log.stats["written"] == 12 and log.stats["failed"] == 0 and not log.spill.pending()


def test_replay_never_inserts_a_row_twice(dbfile):
    log = make_log(dbfile)
    rows = [make_row("leave", 1, "s", None, {"room": "r", "n": i}) for i in range(10)]
    log._write(rows[:6])  # committed, but the process "did not know" and spilled them all
    log.spill.append(rows)
    log.spill.append(rows[8:])
    assert log.flush()
    assert sorted(r[0] for r in stored(dbfile)) == sorted(r["uid"] for r in rows)
    assert log.stats["written"] == 10  # counts rows inserted, not rows attempted


def test_a_replay_file_left_by_a_crashed_process_is_replayed(dbfile):
    log = make_log(dbfile)
    rows = [make_row("message", 1, "s", None, {"room": "r", "message_id": i}) for i in range(4)]
    left = Path(log.spill_path + ".replay.99999.deadbeef")
    left.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert log.spill.pending()
    assert log.flush()
    assert len(stored(dbfile)) == 4 and not left.exists()


def test_unreadable_spill_lines_are_counted_and_kept_aside(dbfile, caplog):
    log = make_log(dbfile)
    good = make_row("join", 1, "s", None, {"room": "r"})
    Path(log.spill_path).write_text(json.dumps(good) + "\n" + '{"uid": "cut sho' + "\n" + "[1, 2]\n")
    assert log.flush()
    assert [r[0] for r in stored(dbfile)] == [good["uid"]]
    assert log.stats["failed"] == 2
    assert Path(log.spill.rejected_path).read_text().count("\n") == 2
    assert "unreadable lines" in caplog.text


def test_a_row_the_database_refuses_for_good_does_not_block_the_rest(dbfile, monkeypatch, caplog):
    real = audit_mod._sqlite_insert

    def picky(path, table, rows):
        if any(r["kind"] == "poison" for r in rows):
            raise sqlite3.IntegrityError("CHECK constraint failed")
        return real(path, table, rows)

    monkeypatch.setattr(audit_mod, "_sqlite_insert", picky)
    log = make_log(dbfile)
    for kind in ("join", "poison", "leave"):
        log.enqueue(kind, user_id=1)
    assert log.flush()
    assert sorted(r[1] for r in stored(dbfile)) == ["join", "leave"]
    assert log.stats["failed"] == 1 and log.stats["written"] == 2
    assert "refused by the database" in caplog.text
    assert json.loads(Path(log.spill.rejected_path).read_text())["kind"] == "poison"


def test_the_writer_task_survives_any_exception(dbfile, monkeypatch):
    real, calls = audit_mod._sqlite_insert, []

    def flaky(path, table, rows):
        calls.append(len(rows))
        if len(calls) <= 3:
            raise RuntimeError("something unexpected")
        return real(path, table, rows)

    monkeypatch.setattr(audit_mod, "_sqlite_insert", flaky)
    spawned: list[threading.Thread] = []

    def spawn(fn):
        t = threading.Thread(target=fn, daemon=True)
        spawned.append(t)
        t.start()

    log = make_log(dbfile, spawn=spawn)
    log.enqueue("join", user_id=1)
    assert wait_for(lambda: len(stored(dbfile)) == 1, timeout=10)
    assert log.stats["errors"] == 3 and log.state == "ok"
    log.enqueue("leave", user_id=1)
    assert wait_for(lambda: len(stored(dbfile)) == 2, timeout=5)
    assert spawned[0].is_alive()
    log.close()
    spawned[0].join(5)
    assert not spawned[0].is_alive()


def test_rows_after_close_go_to_disk_and_the_next_start_replays_them(dbfile):
    log = make_log(dbfile)
    log.enqueue("connect", user_id=1)
    log.close()
    log.enqueue("disconnect", user_id=1, reason="late")
    assert len(stored(dbfile)) == 1 and log.spill.pending()
    assert make_log(dbfile).flush()
    assert sorted(r[1] for r in stored(dbfile)) == ["connect", "disconnect"]


def test_close_spills_what_a_locked_database_cannot_take(dbfile):
    log = make_log(dbfile)
    lock = hold_lock(dbfile)
    for _ in range(3):
        log.enqueue("join", user_id=1)
    log.close(timeout=1.5)
    assert log.depth() == 0 and log.stats["spilled"] == 3
    lock.rollback()
    lock.close()
    assert make_log(dbfile).flush() and len(stored(dbfile)) == 3


def test_appends_racing_with_replays_lose_nothing(tmp_path):
    spill = SpillFile(str(tmp_path / "race.jsonl"))
    written: list[str] = []
    got: list[str] = []
    stop = threading.Event()

    def writer(n: int) -> None:
        for i in range(150):
            row = make_row("join", n, "s", None, {"i": i})
            spill.append([row])
            written.append(row["uid"])

    def replayer() -> None:
        while True:
            last = stop.is_set()
            for work in spill.claim():
                with spill.replaying(work) as content:
                    if content is not None:
                        got.extend(r["uid"] for r in content[0])
                        spill.done(work)
            if last:
                return

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    reader = threading.Thread(target=replayer)
    reader.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    stop.set()
    reader.join(30)
    assert sorted(got) == sorted(written) and len(written) == 600
    assert not spill.pending() and not glob.glob(str(tmp_path / "race.jsonl.replay*"))


def test_rows_are_bounded_and_json_safe():
    row = make_row("x" * 100, "not-a-number", "s" * 500, "a" * 500, {"when": time, "set": {1}})
    assert len(row["kind"]) == 32 and row["user_id"] is None
    assert len(row["sid"]) == 64 and len(row["remote_addr"]) == 64
    json.dumps(row)
    assert make_row("join", "12", None, None, {})["user_id"] == 12
    assert make_row("join", 10**30, None, None, {})["user_id"] is None


def test_prune_sees_rows_the_writer_inserted(app):
    """The writer's own timestamp format must compare correctly with prune's cutoff."""
    audit = app.extensions["flask-socketio-jwt:state"].audit
    old, new = make_row("login", 1, None, None, {}), make_row("login", 2, None, None, {})
    old["ts"] -= 100 * 86400
    audit._write([old, new])
    result = app.test_cli_runner().invoke(args=["prune"])
    assert result.exit_code == 0 and "1 audit rows" in result.output
    with app.app_context():
        assert list(db.session.scalars(sa.select(AuditEvent.user_id))) == [2]
