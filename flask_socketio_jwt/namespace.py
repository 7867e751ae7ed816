"""AuthNamespace: a class-based namespace with strict event dispatch; the token check is the gate's."""

from __future__ import annotations

import contextlib
import functools
from typing import Any

from flask_socketio import Namespace

from flask_socketio_jwt.core.errors import InvalidPayload, SocketJWTError, auth_error
from flask_socketio_jwt.core.payloads import check_shape
from flask_socketio_jwt.core.registry import SocketInfo
from flask_socketio_jwt.gate import current_socket, fail

# Client events named like Socket.IO's own never reach a handler.
RESERVED_EVENTS = frozenset({"connect", "disconnect", "connect_error", "disconnecting", "newListener",
                             "removeListener"})


class AuthNamespace(Namespace):
    """A class-based namespace with one payload per event and an `invalid_payload` ack for unknown events.

    Every namespace of a `SocketIO` that `SocketJWT.init_app` ran on is behind the token check,
    whatever serves it; this class adds what a strict JSON API wants on top. Subclasses add
    `on_<event>(self, payload)` handlers whose return value is the ack, and may define
    `on_connect(self, auth)` (runs after the token passed every check; return False or raise
    `ConnectionRefusedError` to refuse) and `on_disconnect(self, reason)` (runs with the identity
    still readable), as on any Flask-SocketIO namespace.
    """

    def trigger_event(self, event: str, *args: Any) -> Any:
        """Connect and disconnect as Flask-SocketIO does; every client event through `_dispatch` checks."""
        if event in ("connect", "disconnect"):
            return super().trigger_event(event, *args)
        sid, data = args[0], args[1:]
        try:
            handler = self._handler(event)
            if len(data) > 1:
                raise InvalidPayload("Send one payload object.")
            payload = data[0] if data else None
            check_shape(payload)
        except InvalidPayload as exc:
            return fail(exc)
        return self.socketio._handle_event(functools.partial(self._call, handler, event), event, self.namespace,
                                           sid, payload)

    def _call(self, handler: Any, event: str, payload: Any) -> Any:
        try:
            return handler(payload)
        except SocketJWTError:
            raise  # the contract's own answers (the gate turns them into the error ack)
        except Exception as exc:
            with contextlib.suppress(Exception):
                self.failed(event, exc)
            raise

    def _handler(self, event: Any) -> Any:
        if not isinstance(event, str) or event in RESERVED_EVENTS or not event.isidentifier():
            raise InvalidPayload(f"Unknown event {str(event)[:64]!r}.")
        handler = getattr(self, "on_" + event, None)
        if handler is None:
            raise InvalidPayload(f"Unknown event {str(event)[:64]!r}.")
        return handler

    # -- hooks for subclasses -----------------------------------------------------------------
    def failed(self, event: str, exc: BaseException) -> None:
        """Called when a handler raised something else than a SocketJWTError (roll back your session here)."""

    def socket_info(self) -> SocketInfo:
        """The record of the socket whose event runs now."""
        info = current_socket()
        if info is None:
            raise auth_error("auth_required")
        return info
