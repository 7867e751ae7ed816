"""Registrations per remote address (REGISTER_LIMIT): 429 `rate_limited` with retry_after, audited."""

from __future__ import annotations

import sqlalchemy as sa

from extensions import db
from flask_socketio_jwt import get_state
from models import AuditEvent, User
from tests.app.conftest import PASSWORD, built_app


def register(client, name: str, addr: str):
    return client.post("/api/auth/register", json={"username": name, "password": PASSWORD},
                       environ_base={"REMOTE_ADDR": addr})


def test_register_limit_per_address(tmp_path):
    with built_app(tmp_path, REGISTER_LIMIT=[3, 600]) as application:
        client = application.test_client()
        assert [register(client, f"user{i}", "198.51.100.7").status_code for i in range(2)] == [201, 201]
        assert register(client, "user0", "198.51.100.7").status_code == 409  # a taken name counts too
        r = register(client, "user3", "198.51.100.7")
        assert r.status_code == 429
        err = r.get_json()["error"]
        assert err["code"] == "rate_limited" and 0 < err["retry_after"] <= 600 and err["message"]
        # Another address is not affected; the refused name was never created.
        assert register(client, "user4", "203.0.113.5").status_code == 201
        with application.app_context():
            names = set(db.session.scalars(sa.select(User.username)))
            assert names == {"user0", "user1", "user4"}
            get_state(application).audit.flush()
            rows = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.kind == "rate_limited")).all()
            assert [(r.remote_addr, r.detail) for r in rows] == [("198.51.100.7", {"scope": "register"})]


def test_register_limit_window_ends(tmp_path):
    with built_app(tmp_path, REGISTER_LIMIT=[1, 600]) as application:
        client = application.test_client()
        assert register(client, "first", "192.0.2.1").status_code == 201
        assert register(client, "second", "192.0.2.1").status_code == 429
        counter = application.extensions["realtime:register_limit"]
        counter._hits["192.0.2.1"] = (counter._hits["192.0.2.1"][0] - 601, 1)  # the window has passed
        assert register(client, "second", "192.0.2.1").status_code == 201
