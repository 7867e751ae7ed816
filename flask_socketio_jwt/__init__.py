"""flask_socketio_jwt: authenticated Socket.IO for flask-jwt-extended apps.

Whatever the host's `@jwt_required()` accepts, a socket accepts; whatever it refuses, a socket
refuses with a contract code; and an open socket stays held to its token (expiry, in-place
refresh, revocation on every process).

Public API: the names below, and the modules `flask_socketio_jwt.testing` (the test helper) and
`flask_socketio_jwt.gunicorn` (worker hooks). Everything else is internal and may change in any
release.
"""

from flask_socketio_jwt.core.audit import KINDS as AUDIT_KINDS
from flask_socketio_jwt.core.errors import (
    AuthError,
    Conflict,
    Forbidden,
    InvalidPayload,
    NotFound,
    NotJoined,
    OriginForbidden,
    RateLimited,
    SocketJWTError,
    TooManyConnections,
    Unavailable,
    auth_error,
)
from flask_socketio_jwt.core.limits import FailureCounter, TokenBucket
from flask_socketio_jwt.core.metrics import NullMetrics
from flask_socketio_jwt.core.outage import is_outage
from flask_socketio_jwt.core.registry import SocketInfo
from flask_socketio_jwt.core.revocation import issued_ms, session_of
from flask_socketio_jwt.core.state import State, get_state
from flask_socketio_jwt.core.tokens import Verified
from flask_socketio_jwt.extension import SocketJWT
from flask_socketio_jwt.gate import verify_token
from flask_socketio_jwt.namespace import AuthNamespace
from flask_socketio_jwt.runtime import eventlet_patched, gevent_patched, monkey_patch, run_blocking
from flask_socketio_jwt.tables import audit_table
from flask_socketio_jwt.testing import SocketTestClient, access_token, socket_client

__version__ = "0.2.0"


def __getattr__(name: str) -> object:
    # RoomChannelManager needs redis (the [redis] extra): imported only when asked for.
    if name == "RoomChannelManager":
        from flask_socketio_jwt.room_manager import RoomChannelManager

        return RoomChannelManager
    raise AttributeError(f"module 'flask_socketio_jwt' has no attribute {name!r}")


__all__ = [
    "AUDIT_KINDS",
    "AuthError",
    "AuthNamespace",
    "Conflict",
    "FailureCounter",
    "Forbidden",
    "InvalidPayload",
    "NotFound",
    "NotJoined",
    "NullMetrics",
    "OriginForbidden",
    "RateLimited",
    "RoomChannelManager",
    "SocketInfo",
    "SocketJWT",
    "SocketJWTError",
    "SocketTestClient",
    "State",
    "TokenBucket",
    "TooManyConnections",
    "Unavailable",
    "Verified",
    "access_token",
    "audit_table",
    "auth_error",
    "eventlet_patched",
    "gevent_patched",
    "get_state",
    "is_outage",
    "issued_ms",
    "monkey_patch",
    "run_blocking",
    "session_of",
    "socket_client",
    "verify_token",
]
