"""Configuration: contract defaults, persisted secrets and start-up validation."""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import tempfile
from pathlib import Path

from flask import Flask

DEFAULTS: dict = {
    "JWT_ACCESS_TOKEN_EXPIRES": 900,
    "JWT_REFRESH_TOKEN_EXPIRES": 2592000,
    "JWT_ALGORITHM": "HS256",
    # For RS256/ES256: paths to PEM files; the secret key is then unused.
    "JWT_PRIVATE_KEY_FILE": None,
    "JWT_PUBLIC_KEY_FILE": None,
    "JWT_DECODE_LEEWAY": 0,
    "JWT_AUDIENCE": None,
    "JWT_ISSUER": None,
    "JWT_TOKEN_LOCATION": ["headers"],
    "SOCKETIO_JWT_MAX_TOKEN_BYTES": 8192,
    # The contract's required claims, as the token was sent (flask_socketio_jwt checks them).
    "SOCKETIO_JWT_REQUIRED_CLAIMS": ["exp", "iat", "sub", "jti", "type"],
    # False: every patch on a library's internals is off (docs/patches.md).
    "SOCKETIO_JWT_PATCHES": True,
    "SOCKETIO_JWT_MESSAGE_QUEUE": None,
    "SOCKETIO_JWT_CHANNEL": "flask-socketio",
    "SOCKETIO_JWT_ASYNC_MODE": "eventlet",
    "CORS_ALLOWED_ORIGINS": [],
    "SOCKETIO_JWT_CONNECT_TIMEOUT": 10,
    "SOCKETIO_JWT_RATE_LIMIT": [20, 40],
    "SOCKETIO_JWT_ABUSE_DISCONNECT": 5,
    # Successful connects per user (refill per second, burst): reconnect loops cost a token check
    # and an audit row each, so they are limited like events.
    "SOCKETIO_JWT_CONNECT_RATE_LIMIT": [2, 20],
    "SOCKETIO_JWT_AUTH_FAILURE_LIMIT": [20, 60],
    "LOGIN_FAILURE_LIMIT_PER_USER": [10, 300],
    "REGISTER_LIMIT": [20, 3600],  # registrations per remote address: count per seconds
    "SOCKETIO_JWT_MAX_MESSAGE_BYTES": 65536,
    "SOCKETIO_JWT_MAX_SEND_QUEUE": 1000,  # packets waiting for one slow client before it is dropped
    "SOCKETIO_JWT_MAX_CONNECTIONS_PER_USER": 10,
    # Every live socket's token is checked against the database again this often (seconds; 0:
    # never): the safety net that kicks a revoked socket whose revocation message never arrived.
    "SOCKETIO_JWT_REVALIDATE_INTERVAL": 15,
    "SOCKETIO_JWT_WEBSOCKET_COMPRESSION": False,
    "SOCKET_PING_INTERVAL": 25,
    "SOCKET_PING_TIMEOUT": 20,
    # flask_socketio_jwt/patches/leansocket.py: one parked green thread per idle WebSocket instead of three.
    "SOCKETIO_JWT_LEAN_ENGINEIO": True,
    "TRUSTED_PROXIES": 0,
    # A key shared with a server-side frontend (the Next.js example): requests carrying it may name
    # the browser's address in X-Client-Address (realtime/frontend.py). None: never.
    "FRONTEND_KEY": None,
    "SOCKETIO_JWT_AUDIT_ENABLED": True,
    "AUDIT_RETENTION_DAYS": 90,
    "SOCKETIO_JWT_AUDIT_BATCH_SIZE": 500,
    "SOCKETIO_JWT_AUDIT_FLUSH_INTERVAL": 0.2,
    "SOCKETIO_JWT_AUDIT_MEMORY_LIMIT": 50000,
    "SOCKETIO_JWT_AUDIT_SPILL_FILE": None,
    "PASSWORD_HASH_METHOD": "scrypt",
    "HISTORY_LIMIT": 50,
    "HISTORY_MAX": 500,
    # Group commit of messages (realtime/batch.py): how long a batch waits for more messages after its
    # one yield (0: no wait), and the most messages one transaction inserts.
    "MESSAGE_BATCH_WINDOW_MS": 0,
    "MESSAGE_BATCH_MAX": 500,
    "SOCKETIO_JWT_REGISTRY_HEARTBEAT_TTL": 15,
    # flask_socketio_jwt/core/gctune.py: freeze the heap this often (0: leave the collector alone) and run a
    # full collection this often.
    "SOCKETIO_JWT_GC_FREEZE_INTERVAL": 1.0,
    "SOCKETIO_JWT_GC_COLLECT_INTERVAL": 3600.0,
    "SOCKETIO_JWT_GC_COLLECT_GROWTH": 0.25,
    "SOCKETIO_JWT_GC_YOUNG_INTERVAL": 0.02,
    "MAX_CONTENT_LENGTH": 1024 * 1024,
    # GET /metrics: open when neither is set; else a matching bearer token or a listed network.
    "METRICS_TOKEN": None,
    "METRICS_ALLOWED_NETWORKS": [],
    # The server API (blueprints/server_api.py): name -> key or "sha256:<hex>"; calls per caller.
    "SERVER_API_KEYS": {},
    "SERVER_API_RATE_LIMIT": [20, 40],
    # The Socket.IO Admin UI at /admin/socketio/ (sockets/admin.py), for admins' access tokens.
    "ADMIN_UI_ENABLED": False,
    "SQLALCHEMY_ENGINE_OPTIONS": {},
}

MIN_SECRET_BYTES = 32


def load_secret(instance: Path, name: str) -> str:
    """A random secret kept in the instance folder (mode 0600), made on first start.

    Processes that start together agree on one value: the read-modify-write runs under an
    exclusive lock, and each writer uses a temporary file of its own.
    """
    ensure_private_dir(instance)
    path = instance / "secrets.json"
    lock_fd = os.open(instance / "secrets.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        data: dict = json.loads(path.read_text() or "{}") if path.exists() else {}
        if name not in data:
            data[name] = secrets.token_urlsafe(48)
            fd, tmp = tempfile.mkstemp(dir=instance, prefix=".secrets-", suffix=".tmp")  # mode 0600
            with os.fdopen(fd, "w") as fh:
                json.dump(data, fh)
            os.replace(tmp, path)
        os.chmod(path, 0o600)
        return data[name]
    finally:
        os.close(lock_fd)  # releases the lock


def ensure_private_dir(path: Path) -> None:
    """Create a folder only its owner can enter (it holds keys, password hashes and DMs)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def ensure_private_file(path: Path) -> None:
    """Create a file readable by its owner only, or narrow an existing one to that."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    os.chmod(path, 0o600)


def apply_defaults(app: Flask) -> None:
    """Fill every missing key with its default (for apps that reuse a blueprint or the namespace)."""
    for key, value in DEFAULTS.items():
        if app.config.get(key) is None:
            app.config[key] = value
    if app.config["SOCKETIO_JWT_AUDIT_SPILL_FILE"] is None:
        app.config["SOCKETIO_JWT_AUDIT_SPILL_FILE"] = str(Path(app.instance_path) / "audit-spill.jsonl")


def configure(app: Flask, overrides: dict | None) -> None:
    """Defaults, then FLASK_* environment variables, then the test mapping; then validate."""
    for key, value in DEFAULTS.items():
        if app.config.get(key) is None:  # Flask predefines some keys (MAX_CONTENT_LENGTH) as None
            app.config[key] = value
    default_db = Path(app.instance_path) / "realtime.sqlite"
    app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + str(default_db)
    app.config.from_prefixed_env()
    if overrides:
        app.config.update(overrides)
    # One list of allowed origins for this app's REST API and its sockets (the extension's key).
    app.config.setdefault("SOCKETIO_JWT_CORS_ALLOWED_ORIGINS", app.config["CORS_ALLOWED_ORIGINS"])
    instance = Path(app.instance_path)
    if app.config["SQLALCHEMY_DATABASE_URI"] == "sqlite:///" + str(default_db):
        # SQLite creates its -wal and -shm files with the database file's mode.
        ensure_private_dir(instance)
        ensure_private_file(default_db)
    for key in ("SECRET_KEY", "JWT_SECRET_KEY"):
        if not app.config.get(key):
            app.config[key] = load_secret(instance, key)
    _load_key_files(app)
    _engine_defaults(app.config)
    validate(app.config)
    apply_defaults(app)


# Server databases (PostgreSQL): each greenlet running a handler or REST request holds one pooled
# connection while it works, and the audit writer one more; see docs/scaling.md for the sizing.
SERVER_DB_POOL = {"pool_size": 10, "max_overflow": 20, "pool_timeout": 10, "pool_pre_ping": True,
                  "pool_recycle": 1800,
                  # A database host that drops packets must not hold a socket connect for minutes.
                  "connect_args": {"connect_timeout": 5}}


def _engine_defaults(cfg: dict) -> None:
    """Pool defaults for a server database unless SQLALCHEMY_ENGINE_OPTIONS names its own."""
    if str(cfg["SQLALCHEMY_DATABASE_URI"]).startswith("sqlite") or cfg["SQLALCHEMY_ENGINE_OPTIONS"]:
        return
    cfg["SQLALCHEMY_ENGINE_OPTIONS"] = dict(SERVER_DB_POOL)


def _load_key_files(app: Flask) -> None:
    alg = app.config["JWT_ALGORITHM"]
    if alg.startswith(("RS", "ES", "PS", "Ed")):
        app.config["JWT_PRIVATE_KEY"] = Path(app.config["JWT_PRIVATE_KEY_FILE"]).read_text()
        app.config["JWT_PUBLIC_KEY"] = Path(app.config["JWT_PUBLIC_KEY_FILE"]).read_text()


def validate(cfg: dict) -> None:
    """Refuse to start on settings that would make the app unsafe."""
    if cfg["JWT_ALGORITHM"] not in {"HS256", "HS384", "HS512", "RS256", "ES256"}:
        raise RuntimeError(f"JWT_ALGORITHM {cfg['JWT_ALGORITHM']!r} is not supported")
    if cfg["JWT_ALGORITHM"].startswith("HS") and len(str(cfg["JWT_SECRET_KEY"]).encode()) < MIN_SECRET_BYTES:
        raise RuntimeError(f"JWT_SECRET_KEY must be at least {MIN_SECRET_BYTES} bytes")
    if not 0 <= float(cfg["JWT_DECODE_LEEWAY"]) <= 30:
        raise RuntimeError("JWT_DECODE_LEEWAY must be between 0 and 30 seconds")
    for key in ("SOCKETIO_JWT_RATE_LIMIT", "SOCKETIO_JWT_CONNECT_RATE_LIMIT", "SOCKETIO_JWT_AUTH_FAILURE_LIMIT"):
        value = cfg[key]
        if not (isinstance(value, (list, tuple)) and len(value) == 2 and all(float(v) > 0 for v in value)):
            raise RuntimeError(f"{key} must be a pair of positive numbers")
    for key in ("SOCKETIO_JWT_CONNECT_TIMEOUT", "SOCKETIO_JWT_MAX_MESSAGE_BYTES", "SOCKETIO_JWT_MAX_SEND_QUEUE"):
        if not float(cfg[key]) > 0:
            raise RuntimeError(f"{key} must be positive")
    origins = cfg["CORS_ALLOWED_ORIGINS"]
    if isinstance(origins, str):
        cfg["CORS_ALLOWED_ORIGINS"] = [origins]
    if cfg["SOCKETIO_JWT_ASYNC_MODE"] not in {"eventlet", "gevent", "threading"}:
        raise RuntimeError("SOCKETIO_JWT_ASYNC_MODE must be eventlet, gevent or threading")
