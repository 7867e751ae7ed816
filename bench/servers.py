"""The peer servers: what each peer is, how it starts, and how the app peers get their users.

A peer is named `kind` or `kind@/path/to/checkout` (the same peer run from another checkout, for
A/B runs against older code). Every server runs pinned to the server CPU, in its own session, and
is measured through its worker process (the gunicorn worker, or Node itself).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import jwt
import psutil

from bench import config
from bench.config import GEVENT_BIN, NODE_PEER, PY, ROOT, free_port, pinned
from tests.support.gunicorn import gunicorn_command

PEER_INFO = {
    "flask-min": dict(label="(a) Flask-SocketIO, no auth", short="(a) flask-min", event="echo"),
    "node": dict(label="(b) Node socket.io 4.8 + jsonwebtoken", short="(b) node", event="echo"),
    "app-audit-on": dict(label="(c) this app, audit on", short="(c) app audit on", event="whoami"),
    "app-audit-off": dict(label="(c) this app, audit off", short="(c) app audit off", event="whoami"),
    "app-gevent": dict(label="(c) this app on gevent, audit on", short="(c) app gevent", event="whoami"),
    "flask-min-gevent": dict(label="(a) Flask-SocketIO on gevent, no auth", short="(a) flask-min gevent",
                             event="echo"),
}
# The app under each runtime; every other Python peer runs on eventlet.
AUDITED = ("app-audit-on", "app-gevent")
# Enough for the idle phase's 10,000 sockets with room to spare: gunicorn's default (1000) would
# turn the benchmark into a measure of its connection limit.
WORKER_CONNECTIONS = 20000


def runtime(peer: str) -> str:
    """The gunicorn worker class a peer runs under."""
    return "gevent" if kind(peer) in ("app-gevent", "flask-min-gevent") else "eventlet"


def kind(peer: str) -> str:
    """The peer's name without a checkout: `app-audit-on@/tmp/old` is `app-audit-on`."""
    return peer.partition("@")[0]


def slug(peer: str) -> str:
    """The peer's name as a file name (a checkout path has slashes)."""
    return peer.replace("/", "_")


def root_of(peer: str) -> Path:
    """The checkout a peer runs from: this one, or the one after `@` (A/B against other code)."""
    return Path(peer.partition("@")[2] or ROOT)


def bin_dir(peer: str) -> Path:
    """The venv bin folder holding the peer's gunicorn and flask."""
    return GEVENT_BIN if runtime(peer) == "gevent" else PY.parent


def app_available() -> bool:
    """Whether this tree holds the demo app (a copy of the package alone benchmarks only (a) and (b))."""
    return (ROOT / "app.py").exists() or (ROOT / "app" / "__init__.py").exists()


class Server:
    """One peer server process pinned to the server CPU."""

    def __init__(self, peer: str, workdir: Path, secret: str, db_url: str | None = None):
        self.peer = peer
        self.db_url = db_url
        self.workdir = workdir
        self.secret = secret
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.measured: psutil.Process | None = None
        self.lag_file = workdir / f"lag-{slug(peer)}-{self.port}.txt"
        self.log_file = workdir / f"server-{slug(peer)}-{self.port}.log"

    def env(self) -> dict:
        """The server's environment: the lag probe's file, the JWT secret, and the app's settings for app peers."""
        e = dict(os.environ)
        e["BENCH_LAG_FILE"] = str(self.lag_file)
        e["BENCH_JWT_SECRET"] = self.secret
        e["PYTHONPATH"] = str(root_of(self.peer))
        e["PORT"] = str(self.port)
        e["BENCH_ASYNC_MODE"] = runtime(self.peer)
        if self.peer.startswith("app-"):
            e.update(app_env(self.workdir, self.secret, audit=kind(self.peer) in AUDITED, peer=self.peer,
                             db_url=self.db_url))
        return e

    def cmd(self) -> list[str]:
        """The server's command line (before pinning): one gunicorn worker for the Python peers, node for (b)."""
        if self.peer == "node":
            return ["node", str(NODE_PEER)]
        if kind(self.peer) in ("flask-min", "flask-min-gevent"):
            app_spec = "bench.peers.flask_min.app:app"
        elif self.peer.startswith("app-"):
            app_spec = "bench.peers.app_wsgi:app"
        else:
            raise ValueError(self.peer)
        # The same command line the tests start their servers with; warnings only, since every
        # access line would cost the worker time inside the measurement.
        return gunicorn_command(bin_dir(self.peer), runtime(self.peer), self.port, app_spec,
                                worker_connections=WORKER_CONNECTIONS, log_level="warning")

    def start(self) -> None:
        """Start the server, wait until it listens, and find the process to measure."""
        self.lag_file.write_text("")
        out = open(self.log_file, "ab")
        self.proc = subprocess.Popen(pinned(config.SERVER_CPU, self.cmd()), cwd=root_of(self.peer),
                                     env=self.env(), stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.peer} exited: {self.log_file.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"{self.peer} did not listen")
        master = psutil.Process(self.proc.pid)
        if self.peer == "node":
            self.measured = master
        else:
            # The gunicorn master only supervises; the worker serves every socket.
            for _ in range(100):
                kids = master.children()
                if kids:
                    self.measured = kids[0]
                    break
                time.sleep(0.1)
            else:
                raise RuntimeError("no gunicorn worker")
        time.sleep(0.5)

    def cpu(self) -> float:
        """CPU seconds (user + system) the measured process has used so far."""
        t = self.measured.cpu_times()
        return t.user + t.system

    def rss(self) -> int:
        """The measured process's resident memory, in bytes."""
        return self.measured.memory_info().rss

    def lag_samples(self, t0_ms: float, t1_ms: float) -> list:
        """[second, worst pause ms] for each logged second that ends inside [t0, t1].

        A second that runs past the window's end is left out: the generator closes
        its sockets right after the window, and that mass disconnect is not the
        phase being measured."""
        out = []
        for line in self.lag_file.read_text().splitlines():
            try:
                sec, ms = line.split()
                sec, ms = int(sec), float(ms)
            except ValueError:
                continue
            if t0_ms / 1000 - 1 < sec and sec + 1 <= t1_ms / 1000:
                out.append([sec, ms])
        return out

    def stop(self) -> None:
        """Stop the server and everything in its process group."""
        if not self.proc or self.proc.poll() is not None:
            return
        # Quick shutdown, then the whole process group (gunicorn master and worker):
        # a benchmark server has nothing to save, and every second counts.
        try:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()


LEGACY_KEYS = {"FLASK_SOCKETIO_JWT_ASYNC_MODE": "FLASK_SOCKETIO_ASYNC_MODE",
               "FLASK_SOCKETIO_JWT_MAX_CONNECTIONS_PER_USER": "FLASK_SOCKET_MAX_CONNECTIONS_PER_USER",
               "FLASK_SOCKETIO_JWT_RATE_LIMIT": "FLASK_SOCKET_RATE_LIMIT",
               "FLASK_SOCKETIO_JWT_CONNECT_RATE_LIMIT": "FLASK_SOCKET_CONNECT_RATE_LIMIT",
               "FLASK_SOCKETIO_JWT_AUTH_FAILURE_LIMIT": "FLASK_AUTH_FAILURE_LIMIT",
               "FLASK_SOCKETIO_JWT_AUDIT_ENABLED": "FLASK_AUDIT_ENABLED"}


def app_env(workdir: Path, secret: str, audit: bool, peer: str = "app-audit-on", db_url: str | None = None) -> dict:
    """The app's settings for a benchmark peer: SQLite in the workdir unless `db_url` is given."""
    db = workdir / f"{slug(peer)}.sqlite"
    env = {
        "FLASK_SOCKETIO_JWT_ASYNC_MODE": json.dumps(runtime(peer)),
        "FLASK_SQLALCHEMY_DATABASE_URI": json.dumps(db_url or f"sqlite:///{db}"),
        "FLASK_JWT_SECRET_KEY": json.dumps(secret),
        "FLASK_SECRET_KEY": json.dumps(secret + "-s"),
        # Limits out of the way: the benchmark measures the work, not the app's refusals.
        "FLASK_SOCKETIO_JWT_MAX_CONNECTIONS_PER_USER": "100000",
        "FLASK_SOCKETIO_JWT_RATE_LIMIT": "[100000, 100000]",
        "FLASK_SOCKETIO_JWT_CONNECT_RATE_LIMIT": "[100000, 100000]",
        "FLASK_SOCKETIO_JWT_AUTH_FAILURE_LIMIT": "[100000, 60]",
        "FLASK_REGISTER_LIMIT": "[100000, 3600]",
        "FLASK_SOCKETIO_JWT_AUDIT_ENABLED": "true" if audit else "false",
        "FLASK_CORS_ALLOWED_ORIGINS": '["*"]',
    }
    # Checkouts from before the SOCKETIO_JWT_ config prefix read the old names (bench.ab compares
    # against them side by side); the current app ignores these.
    env.update({legacy: env[key] for key, legacy in LEGACY_KEYS.items()})
    return env


def mint_tokens(secret: str, user_ids: list[str], n: int, ttl: int = 7200) -> list[str]:
    """`n` access tokens for the given users in turn (minted before a run, so the generator signs nothing)."""
    now = int(time.time())
    return [jwt.encode({"sub": user_ids[i % len(user_ids)], "iat": now, "nbf": now, "exp": now + ttl,
                        "jti": str(uuid.uuid4()), "type": "access", "fresh": False},
                       secret, algorithm="HS256") for i in range(n)]


def http_json(url: str, payload: dict) -> tuple[int, dict]:
    """POST `payload` as JSON; (status, decoded body), error statuses included."""
    req = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def setup_app(peer: str, workdir: Path, secret: str, conf: dict, db_url: str | None = None) -> list[str]:
    """Create the schema and register users; return their ids."""
    env = dict(os.environ)
    env.update(app_env(workdir, secret, audit=kind(peer) in AUDITED, peer=peer, db_url=db_url))
    r = subprocess.run([str(bin_dir(peer) / "flask"), "--app", "app", "db", "upgrade"], cwd=root_of(peer), env=env,
                       capture_output=True, text=True, timeout=120)
    if r.returncode:
        raise RuntimeError(f"db upgrade failed: {r.stdout[-1000:]} {r.stderr[-2000:]}")
    ids = []
    with Server(peer, workdir, secret, db_url) as srv:
        base = f"http://127.0.0.1:{srv.port}"
        for i in range(conf["users"]):
            name = f"bench{i:03d}"
            st, body = http_json(base + "/api/auth/register", {"username": name, "password": "bench-password-1"})
            if st != 201:
                raise RuntimeError(f"register {name}: {st} {body}")
            ids.append(str(body["id"]))
    return ids
