"""Telling a dependency outage (database or Redis down) from a bug, and refusing a connect for it."""

from __future__ import annotations

import sqlite3
from typing import Any

import sqlalchemy as sa

from flask_socketio_jwt.core.errors import Unavailable

# Raised when the database or Redis cannot be reached or answer in time. SQLAlchemy wraps what it
# runs; the connect check runs on a raw DBAPI connection, whose own errors arrive unwrapped.
_OUTAGE: tuple[type[BaseException], ...] = (
    sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError, sqlite3.OperationalError,
    ConnectionError, TimeoutError,
)
try:  # Redis and psycopg are the host's choice (extras): known when installed
    import redis

    _OUTAGE += (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
except ImportError:  # pragma: no cover
    pass
try:
    import psycopg

    _OUTAGE += (psycopg.OperationalError, psycopg.InterfaceError)
except ImportError:  # pragma: no cover
    pass

MESSAGE = "The service is briefly unavailable; try again shortly."


def is_outage(exc: BaseException) -> bool:
    """True when exc means a dependency is down or too slow now (retryable), not a bad request."""
    return isinstance(exc, _OUTAGE)


def unavailable() -> Unavailable:
    """The retryable refusal a client gets while a dependency is down."""
    return Unavailable(MESSAGE)


def refuse_connect(state: Any, *, sid: str | None, remote_addr: str | None, user_id: Any = None) -> Unavailable:
    """Count and audit a connect refused for an outage; returns the error to send.

    Not counted against the address (`SOCKETIO_JWT_AUTH_FAILURE_LIMIT`): the client did nothing wrong, and the
    counter may live in the Redis that is down. The audit row waits in memory or in the spill file.
    """
    state.hub.metrics.refused("unavailable")
    state.audit.enqueue("connect_refused", user_id=user_id, sid=sid, remote_addr=remote_addr,
                        code="unavailable")
    return unavailable()
