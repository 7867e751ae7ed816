"""Shared pieces of the live hostile-client tests: a server with small limits, raw sockets, audit reads."""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jwt as pyjwt
import psutil
import requests
import socketio

from tests.app.conftest import PASSWORD, SECRET, LiveServer
from tests.app.rawsock import RawSocket

ALLOWED_ORIGIN = "http://allowed.example"
_addr = itertools.count(1)


def fresh_addr() -> str:
    """A distinct client address (the server trusts one proxy hop), so failure counters stay apart."""
    n = next(_addr)
    return f"10.77.{n // 250}.{n % 250 + 1}"


@dataclass
class Ctx:
    """A live server, one user on it, and the worker process."""

    server: LiveServer
    user: dict
    other: dict
    worker: psutil.Process
    rss_start: int

    def mint(self, **kw: Any) -> str:
        """A token for the main user, with any claim or header changed."""
        return self.server.mint(self.user["id"], **kw)

    def signed(self, claims: dict, headers: dict | None = None) -> str:
        """Exactly these claims, signed with the server's key."""
        return pyjwt.encode(claims, SECRET, algorithm="HS256", headers=headers)

    def revoked_token(self) -> str:
        """A fresh access token of the main user that was then logged out."""
        r = requests.post(self.server.url + "/api/auth/login", timeout=5,
                          json={"username": self.user["username"], "password": PASSWORD})
        token = r.json()["access_token"]
        out = requests.post(self.server.url + "/api/auth/logout", headers={"Authorization": "Bearer " + token},
                            timeout=5)
        assert out.status_code == 200, out.text
        return token

    def rss(self) -> int:
        """The worker's resident memory in bytes."""
        return self.worker.memory_info().rss

    def raw(self, addr: str | None = None, **kw: Any) -> RawSocket:
        """A raw WebSocket from its own address."""
        headers = [f"X-Forwarded-For: {addr or fresh_addr()}"] + kw.pop("headers", [])
        return RawSocket(self.server.url, headers=headers, **kw)

    def db(self) -> sqlite3.Connection:
        """The server's SQLite database."""
        return sqlite3.connect(self.server.db_uri.removeprefix("sqlite:///"))

    def audit_rows(self, kind: str) -> list[dict]:
        """Audit rows of one kind (details decoded)."""
        with self.db() as con:
            rows = con.execute("SELECT sid, remote_addr, detail FROM audit_events WHERE kind = ?", (kind,))
            return [{"sid": s, "remote_addr": a, "detail": json.loads(d or "{}")} for s, a, d in rows]


ENV = {
    "FLASK_SOCKETIO_JWT_CONNECT_TIMEOUT": "2",
    "FLASK_CORS_ALLOWED_ORIGINS": json.dumps([ALLOWED_ORIGIN]),
    "FLASK_SOCKETIO_JWT_MAX_SEND_QUEUE": "50",
    "FLASK_SOCKETIO_JWT_RATE_LIMIT": "[200, 400]",
    "FLASK_SOCKETIO_JWT_CONNECT_RATE_LIMIT": "[200, 400]",
    "FLASK_SOCKETIO_JWT_AUTH_FAILURE_LIMIT": "[5, 60]",
    "FLASK_TRUSTED_PROXIES": "1",
    "FLASK_SOCKETIO_JWT_AUDIT_FLUSH_INTERVAL": "0.05",
}


def start_ctx(workdir: Any) -> Iterator[Ctx]:
    """Run one server with short timeouts and small limits; yields its Ctx, stops it after."""
    server = LiveServer(workdir, ENV)
    server.migrate()
    server.start()
    try:
        worker = psutil.Process(server.proc.pid).children()[0]
        user, other = server.register(), server.register()
        assert_healthy_with_client(server, user)  # warm up before measuring memory
        yield Ctx(server, user, other, worker, worker.memory_info().rss)
    finally:
        server.stop()


def assert_healthy_with_client(server: LiveServer, user: dict) -> None:
    """GET /healthz is 200 and a normal Socket.IO client can connect and get an ack."""
    assert requests.get(server.url + "/healthz", timeout=5).status_code == 200
    client = socketio.SimpleClient()
    client.connect(server.url, auth={"token": user["access"]}, transports=["websocket"],
                   headers={"X-Forwarded-For": fresh_addr()}, wait_timeout=5)
    try:
        assert client.call("whoami", timeout=5)["ok"] is True
    finally:
        client.disconnect()


