"""create_app picks the Redis backends from SOCKETIO_JWT_MESSAGE_QUEUE and pool defaults for PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from app import create_app
from config import SERVER_DB_POOL
from flask_socketio_jwt.core.redis_bus import RedisBus, RedisFailureCounter
from flask_socketio_jwt.core.redis_registry import RedisRegistry
from flask_socketio_jwt.core.registry import MemoryRegistry
from tests.app.conftest import SECRET


def _app(tmp_path: Path, **cfg):
    return create_app({"TESTING": True, "SECRET_KEY": "s" * 40, "JWT_SECRET_KEY": SECRET,
                       "SOCKETIO_JWT_ASYNC_MODE": "threading", "SOCKETIO_JWT_AUDIT_SPILL_FILE": str(tmp_path / "spill"),
                       "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'db.sqlite'}", **cfg})


def test_message_queue_selects_redis_backends(tmp_path: Path, redis_server) -> None:
    app = _app(tmp_path, SOCKETIO_JWT_MESSAGE_QUEUE=redis_server.url, SOCKETIO_JWT_REGISTRY_HEARTBEAT_TTL=4)
    state = app.extensions["flask-socketio-jwt:state"]
    try:
        assert isinstance(state.registry, RedisRegistry) and state.registry.ttl == 4
        assert isinstance(state.hub.bus, RedisBus) and state.hub.bus.channel == "flask-socketio-revoke"
        assert isinstance(state.hub.auth_failures, RedisFailureCounter)
        assert isinstance(app.extensions["realtime:login_limit"], RedisFailureCounter)
        # Registrations per address are counted in Redis too: every process shares the limit.
        limit = app.extensions["realtime:register_limit"]
        assert isinstance(limit, RedisFailureCounter) and (limit.limit, limit.window) == (20, 3600)
        assert state.registry.on_presence == state.hub.publish_presence
        assert not state.registry.running  # nothing registers in Redis before the first socket
    finally:
        state.hub.close()
        state.audit.close()


def test_default_stays_embedded(tmp_path: Path) -> None:
    app = _app(tmp_path)
    state = app.extensions["flask-socketio-jwt:state"]
    assert isinstance(state.registry, MemoryRegistry)
    limit = app.extensions["realtime:register_limit"]
    assert (limit.limit, limit.window) == (20, 3600)  # the default
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"] == {}
    state.audit.close()


def test_postgres_gets_pool_defaults_unless_configured(tmp_path: Path, postgres) -> None:
    uri = f"postgresql+psycopg://postgres@127.0.0.1:{postgres.port}/postgres"
    app = _app(tmp_path, SQLALCHEMY_DATABASE_URI=uri)
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"] == SERVER_DB_POOL
    app.extensions["flask-socketio-jwt:state"].audit.close()
    own = {"pool_size": 3}
    app = _app(tmp_path, SQLALCHEMY_DATABASE_URI=uri, SQLALCHEMY_ENGINE_OPTIONS=own)
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"] == own
    app.extensions["flask-socketio-jwt:state"].audit.close()
