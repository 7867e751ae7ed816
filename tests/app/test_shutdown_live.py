"""WebSocket closes against a real gunicorn + eventlet worker: a prompt SIGTERM exit, a quiet log."""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from collections import Counter
from pathlib import Path

import pytest
import requests

from tests.app.conftest import LiveServer, wait_for
from tests.support.sio import Recorder

GRACEFUL_TIMEOUT = 30  # high on purpose: a worker that waits it out fails the test by far

ENV = {"FLASK_JWT_ACCESS_TOKEN_EXPIRES": "600", "FLASK_SOCKETIO_JWT_MAX_CONNECTIONS_PER_USER": "100"}


def audit_rows(db: Path, sids: set[str]) -> list[dict]:
    """The audit rows of these sids, straight from the server's SQLite file."""
    conn = sqlite3.connect(db, timeout=10)
    conn.row_factory = sqlite3.Row
    try:
        rows = [dict(r) for r in conn.execute("SELECT kind, sid, detail FROM audit_events")]
    finally:
        conn.close()
    return [r for r in rows if r["sid"] in sids]


def connected(server: LiveServer, token: str, n: int) -> list[Recorder]:
    """n WebSocket clients, each in session and joined to a room."""
    clients = []
    for _ in range(n):
        c = Recorder(server.url)
        assert c.connect(token)
        assert c.call("join", {"room": "shutdown"})["ok"]
        clients.append(c)
    return clients


def test_sigterm_with_websockets_open_exits_promptly_and_loses_no_row(live_server_factory):
    server = live_server_factory(ENV, graceful_timeout=GRACEFUL_TIMEOUT)
    try:
        u = server.register()
        clients = connected(server, u["access"], 6)
        sids = {c.events["session"][0]["sid"] for c in clients}
        assert clients[0].call("message", {"room": "shutdown", "text": "last words"})["ok"]
        assert server.proc is not None
        t0 = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        server.proc.wait(GRACEFUL_TIMEOUT + 10)
        took = time.monotonic() - t0
        for c in clients:
            assert c.disconnected.wait(5), "the server did not close every WebSocket"
    finally:
        server.stop()
        for c in clients:
            c.close()
    log = server.log_text()
    # The worker ended by itself (a SIGKILL at the graceful timeout prints no "Worker exiting").
    assert "Worker exiting" in log, log[-2000:]
    assert took < GRACEFUL_TIMEOUT / 4, f"took {took:.1f} s with a {GRACEFUL_TIMEOUT} s graceful timeout"
    assert server.proc.returncode == 0
    rows = audit_rows(server.workdir / "live.sqlite", sids)
    kinds = Counter(r["kind"] for r in rows)
    assert kinds == Counter({"connect": 6, "join": 6, "message": 1, "disconnect": 6}), kinds
    assert {json.loads(r["detail"])["reason"] for r in rows if r["kind"] == "disconnect"} == {"server_shutdown"}


@pytest.mark.parametrize("lean", ["true", "false"])
def test_websocket_closes_leave_no_shutdown_error_in_the_log(live_server_factory, lean):
    server = live_server_factory({**ENV, "FLASK_SOCKETIO_JWT_LEAN_ENGINEIO": lean})
    try:
        u = server.register()
        # Closed by the client (a close frame), then by the server (logout kicks the socket).
        for c in connected(server, u["access"], 3):
            c.close()
            assert c.disconnected.wait(5)
        kicked = connected(server, u["access"], 2)
        r = requests.post(server.url + "/api/auth/logout", headers={"Authorization": "Bearer " + u["access"]})
        assert r.status_code == 200
        for c in kicked:
            assert c.disconnected.wait(5)
            c.close()
        # The server has recorded every disconnect, so every close has run.
        db = server.workdir / "live.sqlite"
        assert wait_for(lambda: Counter(r["kind"] for r in audit_rows(db, _sids(db)))["disconnect"] == 5,
                        timeout=10)
        log = server.log_text()
    finally:
        server.stop()
    assert "shutdown error" not in log and "Bad file descriptor" not in log, log[-2000:]


def _sids(db: Path) -> set[str]:
    conn = sqlite3.connect(db, timeout=10)
    try:
        return {r[0] for r in conn.execute("SELECT sid FROM audit_events WHERE sid IS NOT NULL")}
    finally:
        conn.close()
