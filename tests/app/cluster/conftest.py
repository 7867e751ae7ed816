"""Cluster fixtures: one redis-server and one PostgreSQL per session, two gunicorn processes on them."""

from __future__ import annotations

import signal
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from tests.app.cluster.peers import Peer
from tests.app.conftest import LiveServer
from tests.support.live import live_fixture
from tests.support.services import Nginx, Postgres, RedisServer

HEARTBEAT_TTL = 3
SERVER_API_KEY = "cluster-key-" + uuid.uuid4().hex + uuid.uuid4().hex


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory) -> Iterator[RedisServer]:
    """A redis-server on a free loopback port for the whole session."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL 15 cluster on a free loopback port for the whole session."""
    pg = Postgres().start()
    yield pg
    pg.stop()


def cluster_env(redis_url: str, db_uri: str, **extra: str) -> dict[str, str]:
    """The environment every process of one cluster shares."""
    return {"FLASK_SOCKETIO_JWT_MESSAGE_QUEUE": redis_url, "FLASK_SQLALCHEMY_DATABASE_URI": db_uri,
            "FLASK_SOCKETIO_JWT_REGISTRY_HEARTBEAT_TTL": str(HEARTBEAT_TTL), "FLASK_TRUSTED_PROXIES": "1",
            "FLASK_SOCKETIO_JWT_MAX_CONNECTIONS_PER_USER": "3", "FLASK_SOCKETIO_JWT_AUTH_FAILURE_LIMIT": "[5, 60]",
            "FLASK_LOGIN_FAILURE_LIMIT_PER_USER": "[3, 300]", "FLASK_SOCKETIO_JWT_AUDIT_FLUSH_INTERVAL": "0.1",
            "FLASK_SOCKETIO_JWT_REVALIDATE_INTERVAL": "1",
            "FLASK_SERVER_API_KEYS": f'{{"cluster": "{SERVER_API_KEY}"}}',
            **extra}


class Cluster:
    """Processes sharing one Redis and one database."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir, self.env = workdir, env
        self.servers: list[LiveServer] = []

    def add(self) -> LiveServer:
        """Start one more process (gunicorn -k eventlet -w 1)."""
        wd = self.workdir / f"p{len(self.servers)}"
        wd.mkdir()
        server = LiveServer(wd, self.env)
        if not self.servers:
            server.migrate()
        self.servers.append(server.start())
        return server

    @staticmethod
    def kill(server: LiveServer) -> None:
        """SIGKILL a gunicorn worker (the process holding the sockets), then its master."""
        assert server.proc is not None
        for child in psutil.Process(server.proc.pid).children(recursive=True):
            child.send_signal(signal.SIGKILL)
            child.wait(10)
        server.stop(signal.SIGKILL)

    def stop(self) -> None:
        """Stop every process still running (quick shutdown: SIGINT)."""
        for server in self.servers:
            server.stop(signal.SIGINT, timeout=15)


@live_fixture(scope="session")
def cluster(tmp_path_factory, redis_server: RedisServer, postgres: Postgres) -> Iterator[Cluster]:
    """Two processes A and B on the session's Redis and PostgreSQL."""
    c = Cluster(tmp_path_factory.mktemp("cluster"), cluster_env(redis_server.url, postgres.create_db("cluster")))
    c.add()
    c.add()
    yield c
    c.stop()


@pytest.fixture(scope="session")
def nginx(tmp_path_factory, cluster: Cluster) -> Iterator[Nginx]:
    """nginx from deploy/nginx.conf.template in front of the cluster."""
    front = Nginx(tmp_path_factory.mktemp("nginx"), [f"127.0.0.1:{s.port}" for s in cluster.servers]).start()
    yield front
    front.stop()


@pytest.fixture
def peers() -> Iterator[Callable[..., Peer]]:
    """Factory for recording clients; all are closed at teardown."""
    made: list[Peer] = []

    def make(url: str, token: str | None = None, **kw) -> Peer:
        peer = Peer(url, token, **kw)
        made.append(peer)
        return peer

    yield make
    for peer in made:
        peer.close()


def name(prefix: str = "u") -> str:
    """A fresh username."""
    return prefix + uuid.uuid4().hex[:10]


@pytest.fixture(autouse=True)
def fresh_loopback_failures(redis_server: RedisServer) -> None:
    """Each test starts with no refused attempts counted against 127.0.0.1 (every client's address)."""
    redis_server.client().delete("realtime:fail:addr:127.0.0.1")
