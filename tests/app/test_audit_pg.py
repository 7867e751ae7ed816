"""The audit writer's PostgreSQL path (psycopg 3): inserts, dedupe on replay, bad rows, an outage."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from flask_socketio_jwt.core.audit import AuditLog, make_row
from models import AuditEvent
from tests.app.conftest import free_port


class PgCluster:
    """A throwaway PostgreSQL cluster on loopback (initdb refuses root: it runs as postgres)."""

    def __init__(self, root: Path) -> None:
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        assert bins, "PostgreSQL is not installed: run `make sysdeps`"
        self.bin, self.root, self.port = bins[-1], root, free_port()
        self.data = root / "data"
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *args: str) -> None:
        cmd = [f"{self.bin}/{args[0]}", *args[1:]]
        if os.geteuid() == 0:
            cmd = ["su", "postgres", "-c", " ".join(cmd)]
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)

    def init(self) -> None:
        """Create the cluster."""
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        self._as_postgres("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust")

    def start(self) -> None:
        """Start it and wait until it accepts connections."""
        opts = f"'-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1'"
        # -l: the server must not inherit our pipes, or waiting for pg_ctl never ends.
        self._as_postgres("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-o", opts,
                          "-w", "start")

    def stop(self) -> None:
        """Stop it at once."""
        self._as_postgres("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")


@pytest.fixture(scope="module")
def pg() -> Iterator[PgCluster]:
    """A running cluster with the audit table (outside pytest's tmp: postgres must reach it)."""
    base = Path(tempfile.mkdtemp(prefix="audit-pg-"))
    base.chmod(0o755)
    cluster = PgCluster(base / "pg")
    try:
        cluster.init()
        cluster.start()
        engine = sa.create_engine(cluster.url)
        AuditEvent.__table__.create(engine)
        engine.dispose()
        yield cluster
        cluster.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def count(engine: sa.Engine) -> int:
    """Rows in audit_events."""
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM audit_events")).scalar_one()


@pytest.fixture
def log(pg, tmp_path) -> Iterator[AuditLog]:
    """An AuditLog on an emptied table, driven by hand."""
    engine = sa.create_engine(pg.url, pool_pre_ping=True)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_events"))
    yield AuditLog(engine, AuditEvent.__table__, spill_path=str(tmp_path / "spill.jsonl"), interval=0.02)
    engine.dispose()


def test_pg_insert_and_replay_dedupe(log):
    for i in range(1200):
        log.enqueue("join", user_id=i, sid="s", remote_addr="127.0.0.1", room="r")
    assert log.flush()
    assert count(log.engine) == 1200 and log.stats["written"] == 1200
    rows = [make_row("leave", 1, "s", None, {"i": i}) for i in range(10)]
    log._write(rows[:5])
    log.spill.append(rows)
    assert log.flush()
    assert count(log.engine) == 1210 and log.stats["written"] == 1210  # counts inserted rows only
    with log.engine.connect() as conn:
        ts, detail = conn.execute(sa.text("SELECT ts, detail FROM audit_events WHERE kind = 'join' LIMIT 1")).one()
    assert ts.tzinfo is not None and detail == {"room": "r"}


def test_pg_bad_row_is_rejected_alone(log):
    log.enqueue("join", user_id=1)
    bad = make_row("join", 2, "nul\x00byte", None, {})  # PostgreSQL text cannot hold NUL: a DataError
    log._queue.append(bad)
    log.enqueue("leave", user_id=3)
    assert log.flush()
    assert count(log.engine) == 2 and log.stats["failed"] == 1
    assert bad["uid"] in Path(log.spill.rejected_path).read_text()


def test_pg_outage_loses_nothing(pg, log):
    log.enqueue("connect", user_id=1)
    assert log.flush()
    pg.stop()
    try:
        for i in range(50):
            log.enqueue("join", user_id=i)
        with pytest.raises(sa.exc.OperationalError):
            log.flush_once()
        assert log.depth() == 50
        log.close(timeout=0.5)  # shutdown while the database is down: rows go to disk
        assert log.stats["spilled"] == 50 and log.depth() == 0
    finally:
        pg.start()
    again = AuditLog(log.engine, AuditEvent.__table__, spill_path=log.spill_path, interval=0.02)
    assert again.flush(timeout=20)
    assert count(log.engine) == 51
