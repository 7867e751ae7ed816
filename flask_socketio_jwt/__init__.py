"""flask_socketio_jwt: authenticated Socket.IO namespaces for flask-jwt-extended apps.

Whatever the host's `@jwt_required()` accepts, a socket accepts; whatever it refuses, a socket
refuses with a contract code; and an open socket stays held to its token (expiry, in-place
refresh, revocation on every process).
"""

from flask_socketio_jwt.core.errors import AuthError, InvalidPayload, RateLimited, SocketJWTError
from flask_socketio_jwt.core.registry import SocketInfo
from flask_socketio_jwt.extension import SocketJWT
from flask_socketio_jwt.namespace import AuthNamespace
from flask_socketio_jwt.tables import audit_table
from flask_socketio_jwt.testing import SocketTestClient, access_token, socket_client

__all__ = [
    "AuthError",
    "AuthNamespace",
    "InvalidPayload",
    "RateLimited",
    "SocketInfo",
    "SocketJWT",
    "SocketJWTError",
    "SocketTestClient",
    "access_token",
    "audit_table",
    "socket_client",
]
