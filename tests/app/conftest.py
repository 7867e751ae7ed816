"""Fixtures of the demo app's tests: app, client, tokens, socket_client, and real gunicorn servers (WORKER).

Shared helpers that import nothing of the app live in tests/support (tests/package uses them too).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt as pyjwt
import pytest
import requests

from tests.support import gunicorn
from tests.support.common import (
    PATCHES_ENV,
    PATCHES_OFF,
    ROOT,
    RUNTIMES,
    WORKER,
    free_port,
    wait_for,  # noqa: F401 - the tests take it from here
)
from tests.support.live import (
    live_fixture,
    pytest_collection_modifyitems,  # noqa: F401 - the hooks that set the live marker
    pytest_runtest_protocol,  # noqa: F401
)

sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from extensions import db, socketio  # noqa: E402
from flask_socketio_jwt import get_state  # noqa: E402

PASSWORD = "correct horse battery"
SECRET = "test-secret-" + "x" * 60


@contextlib.contextmanager
def built_app(tmp_path: Path, **overrides: Any) -> Iterator:
    """An app on a fresh SQLite file (threading async mode), torn down afterwards."""
    application = create_app({
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'test.sqlite'}",
        "SECRET_KEY": "s" * 40,
        "JWT_SECRET_KEY": SECRET,
        "SOCKETIO_JWT_ASYNC_MODE": "threading",
        "SOCKETIO_JWT_AUDIT_SPILL_FILE": str(tmp_path / "spill.jsonl"),
        "SOCKETIO_JWT_AUDIT_FLUSH_INTERVAL": 0.05,
        # A cheap hash keeps the suite fast; the scrypt default is tested on the live server.
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        "SOCKETIO_JWT_GC_FREEZE_INTERVAL": 0,  # the test process's collector stays untouched (test_gctune tests it)
        "REGISTER_LIMIT": [100000, 3600],  # tests register many users; test_register_limit tests it
        "SOCKETIO_JWT_PATCHES": not PATCHES_OFF,
        **overrides,
    })
    with application.app_context():
        db.create_all()
    try:
        yield application
    finally:
        state = get_state(application)
        state.audit.close()
        state.hub.close()
        with application.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(tmp_path: Path):
    """The app the Flask and Flask-SocketIO test clients talk to."""
    with built_app(tmp_path) as application:
        yield application


@pytest.fixture
def fast_events(app):
    """Lift the per-socket event rate limit for tests that send many events."""
    get_state(app).hub.event_rate = (10_000, 10_000)


@pytest.fixture
def client(app):
    return app.test_client()


class Tokens:
    """Makes users and tokens, good and bad, for one app."""

    def __init__(self, app, client) -> None:
        self.app, self.client = app, client

    def user(self, username: str | None = None, password: str = PASSWORD, *, admin: bool = False) -> dict:
        """Register a user and log in; returns {"id", "username", "access", "refresh"}."""
        username = username or "u" + uuid.uuid4().hex[:10]
        r = self.client.post("/api/auth/register", json={"username": username, "password": password})
        assert r.status_code == 201, r.get_json()
        uid = r.get_json()["id"]
        if admin:
            from models import User

            with self.app.app_context():
                db.session.get(User, int(uid)).is_admin = True
                db.session.commit()
        r = self.client.post("/api/auth/login", json={"username": username, "password": password})
        assert r.status_code == 200, r.get_json()
        body = r.get_json()
        return {"id": uid, "username": username, "access": body["access_token"],
                "refresh": body["refresh_token"]}

    def mint(self, sub: str, *, key: str = SECRET, alg: str = "HS256", drop: tuple = (),
             headers: dict | None = None, **claims: Any) -> str:
        """A hand-made token: any claim can be changed or dropped."""
        now = int(time.time())
        payload = {"sub": sub, "iat": now, "nbf": now, "exp": now + 300, "jti": uuid.uuid4().hex,
                   "type": "access", "fresh": False, **claims}
        for name in drop:
            payload.pop(name, None)
        return pyjwt.encode(payload, key, algorithm=alg, headers=headers)


@pytest.fixture
def tokens(app, client) -> Tokens:
    return Tokens(app, client)


@contextlib.contextmanager
def socket_clients(app) -> Iterator:
    """Factory for Flask-SocketIO test clients of one app; all are disconnected afterwards."""
    made = []

    def make(token: str | None = None, *, auth: Any = "__token__", headers: dict | None = None):
        payload = {"token": token} if auth == "__token__" else auth
        c = socketio.test_client(app, auth=payload, headers=headers)
        made.append(c)
        return c

    try:
        yield make
    finally:
        for c in made:
            if c.is_connected():
                c.disconnect()


@pytest.fixture
def socket_client(app):
    """Test clients of the `app` fixture."""
    with socket_clients(app) as make:
        yield make


# -- real servers --------------------------------------------------------------------------

class LiveServer:
    """A real `gunicorn -k $WORKER` process on loopback (eventlet unless WORKER says gevent)."""

    def __init__(self, workdir: Path, env: dict[str, str] | None = None, port: int | None = None,
                 graceful_timeout: int = 10, worker: str | None = None) -> None:
        self.workdir = workdir
        self.graceful_timeout = graceful_timeout
        self.worker = worker or WORKER
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db_uri = f"sqlite:///{workdir / 'live.sqlite'}"
        self.bin, runtime_env = RUNTIMES[self.worker]
        self.env = {**os.environ, **runtime_env, "FLASK_SQLALCHEMY_DATABASE_URI": self.db_uri,
                    "FLASK_JWT_SECRET_KEY": SECRET, "FLASK_SECRET_KEY": "s" * 40,
                    "FLASK_SOCKETIO_JWT_AUDIT_SPILL_FILE": str(workdir / "spill.jsonl"),
                    # Live tests register many users from 127.0.0.1; test_register_limit tests the limit.
                    "FLASK_REGISTER_LIMIT": "[100000, 3600]",
                    "PYTHONUNBUFFERED": "1", **PATCHES_ENV, **(env or {})}
        self.log_path = workdir / f"server-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    def migrate(self) -> None:
        """Build the schema with the real migrations."""
        subprocess.run([str(self.bin / "flask"), "--app", "app", "db", "upgrade"], cwd=ROOT,
                       env=self.env, check=True, capture_output=True)

    def create_admin(self, username: str, password: str = PASSWORD) -> None:
        """An admin account, made with this runtime's own `flask create-user` (before or while serving)."""
        subprocess.run([str(self.bin / "flask"), "--app", "app", "create-user", username, "--admin",
                        "--password-stdin"], cwd=ROOT, env=self.env, input=password + "\n", check=True,
                       capture_output=True, text=True)

    def start(self) -> LiveServer:
        """Start gunicorn and wait for /healthz."""
        cmd = gunicorn.gunicorn_command(self.bin, self.worker, self.port, "wsgi:app", worker_connections=2000,
                                        graceful_timeout=self.graceful_timeout)
        self.proc = gunicorn.spawn(cmd, cwd=ROOT, env=self.env, log_path=self.log_path)
        gunicorn.wait_ready(self.proc, gunicorn.http_ok(self.url + "/healthz"), timeout=30, log_path=self.log_path)
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int | None:
        """Stop the server (SIGTERM by default), wait for it and reap its worker; safe to call twice."""
        return gunicorn.stop(self.proc, sig, timeout) if self.proc else None

    def register(self, username: str | None = None, password: str = PASSWORD) -> dict:
        """Register and log in over HTTP; returns {"id", "username", "access", "refresh"}."""
        username = username or "u" + uuid.uuid4().hex[:10]
        r = requests.post(self.url + "/api/auth/register", json={"username": username, "password": password})
        assert r.status_code in (201, 409), r.text
        r = requests.post(self.url + "/api/auth/login", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        body = r.json()
        me = requests.get(self.url + "/api/auth/me", headers={"Authorization": "Bearer " + body["access_token"]})
        return {"id": me.json()["id"], "username": username, "access": body["access_token"],
                "refresh": body["refresh_token"]}

    def mint(self, sub: str, **claims: Any) -> str:
        """A token signed with the server's key."""
        return Tokens.mint(None, sub, **claims)  # type: ignore[arg-type]

    def log_text(self) -> str:
        """What the server printed so far."""
        return self.log_path.read_text(errors="replace")


@live_fixture(scope="module")
def live_server(tmp_path_factory) -> Iterator[LiveServer]:
    """A real gunicorn server for a test module; 3-second access tokens."""
    server = LiveServer(tmp_path_factory.mktemp("live"), {"FLASK_JWT_ACCESS_TOKEN_EXPIRES": "3"})
    server.migrate()
    server.start()
    yield server
    server.stop()


@live_fixture
def live_server_factory(tmp_path_factory) -> Iterator[Callable[..., LiveServer]]:
    """Real servers of one test: `make(env, workdir=..., migrate=True, start=True, **LiveServer options)`.

    Each one gets a fresh folder unless `workdir` names one (a second server on the same database);
    every server made is stopped at teardown.
    """
    made: list[LiveServer] = []

    def make(env: dict[str, str] | None = None, *, workdir: Path | None = None, migrate: bool = True,
             start: bool = True, **options: Any) -> LiveServer:
        server = LiveServer(workdir or tmp_path_factory.mktemp("live"), env, **options)
        made.append(server)
        if migrate:
            server.migrate()
        return server.start() if start else server

    yield make
    for server in made:
        server.stop()


@pytest.fixture
def clients(live_server):
    """Factory for recording python-socketio clients of the live server; all closed at teardown."""
    from tests.support.sio import Recorder

    made: list = []

    def make(url: str | None = None):
        r = Recorder(url or live_server.url)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()
