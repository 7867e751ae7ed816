"""A socket connect while PostgreSQL is down: refused at once with `unavailable`, audited, then admitted."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import requests

from tests.app.conftest import PASSWORD, LiveServer, wait_for
from tests.support.live import live_fixture
from tests.support.services import Postgres
from tests.support.sio import Recorder


@live_fixture
def pg_server(tmp_path) -> Iterator[tuple[Postgres, LiveServer]]:
    """A gunicorn + eventlet server on its own PostgreSQL cluster."""
    pg = Postgres().start()
    try:
        server = LiveServer(tmp_path, {"FLASK_SQLALCHEMY_DATABASE_URI": pg.create_db("outage"),
                                       "FLASK_JWT_ACCESS_TOKEN_EXPIRES": "600",
                                       "FLASK_SOCKETIO_JWT_AUDIT_FLUSH_INTERVAL": "0.05"})
        server.migrate()
        server.start()
        try:
            yield pg, server
        finally:
            server.stop()
    finally:
        pg.stop()


def refused_rows(pg: Postgres) -> list[tuple]:
    """The audit rows of connects refused as `unavailable`."""
    with psycopg.connect(pg.dsn("outage")) as conn:
        return conn.execute("SELECT kind, sid, detail FROM audit_events WHERE kind = 'connect_refused' "
                            "AND detail->>'code' = 'unavailable'").fetchall()


def test_connect_while_the_database_is_down_is_refused_at_once_with_a_retryable_code(pg_server):
    pg, server = pg_server
    u = server.register()
    pg.pause()
    try:
        assert requests.get(server.url + "/healthz", timeout=10).status_code == 503
        for _ in range(3):  # the first attempt meets pooled connections the outage broke, later ones none
            c = Recorder(server.url)
            t0 = time.monotonic()
            assert not c.connect(u["access"])
            took = time.monotonic() - t0
            c.close()
            # Socket.IO's connect_error: `message` is the code, `data` is {code, message}.
            assert c.connect_error["message"] == "unavailable", c.connect_error
            data = c.connect_error["data"]
            assert set(data) == {"code", "message"} and data["code"] == "unavailable" and data["message"]
            assert took < 3, f"the refusal took {took:.1f} s"
        metrics = requests.get(server.url + "/metrics", timeout=10).text
        assert 'realtime_socket_refusals_total{code="unavailable"} 3.0' in metrics, metrics
        # REST answers the same retryable code (documented as 503 on every route that needs the database).
        r = requests.post(server.url + "/api/auth/login", json={"username": u["username"], "password": PASSWORD},
                          timeout=20)
        assert r.status_code == 503 and r.json()["error"]["code"] == "unavailable", r.text
        assert r.headers["Retry-After"] == "1"
    finally:
        pg.resume()
    # Retryable: the same token is admitted once the database is back ...
    c = Recorder(server.url)
    try:
        assert c.connect(u["access"]), c.connect_error
        assert c.call("whoami")["ok"]
    finally:
        c.close()
    # ... and the refusals, spilled while it was down, reach the audit table.
    assert wait_for(lambda: len(refused_rows(pg)) == 3, timeout=20), refused_rows(pg)
    assert "Traceback" not in server.log_text(), server.log_text()[-3000:]
