"""AuthNamespace: connect, one guard before every event, refresh; every rule lives in the core."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

from flask import current_app, g, request
from flask_socketio import ConnectionRefusedError, Namespace

from flask_socketio_jwt.core import outage
from flask_socketio_jwt.core.errors import InvalidPayload, OriginForbidden, SocketJWTError, auth_error
from flask_socketio_jwt.core.payloads import check_shape
from flask_socketio_jwt.core.registry import SocketInfo
from flask_socketio_jwt.core.state import get_state
from flask_socketio_jwt.core.tokens import Verified, verify

log = logging.getLogger(__name__)

# Client events named like Socket.IO's own never reach a handler.
RESERVED_EVENTS = frozenset({"connect", "disconnect", "connect_error", "disconnecting", "newListener",
                             "removeListener"})


def _fail(exc: SocketJWTError) -> dict[str, Any]:
    return {"ok": False, "error": exc.to_dict()}


def handshake_token(auth: Any) -> str | None:
    """The token from the auth payload, else from `Authorization: Bearer`; never the query string."""
    if auth is not None:
        if not isinstance(auth, dict) or not isinstance(auth.get("token"), str):
            raise auth_error("auth_required")
        token: str = auth["token"]
        return token
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    raise auth_error("auth_required")


def origin_allowed() -> bool:
    """Same origin, a configured origin, or no Origin header (not a browser)."""
    origin = request.headers.get("Origin")
    if not origin:
        return True
    allowed = current_app.config["CORS_ALLOWED_ORIGINS"]
    if "*" in allowed or origin in allowed:
        return True
    return bool(origin == f"{request.scheme}://{request.host}")


def verify_token(token: object) -> Verified:
    """Verify an access token on the host's JWTManager with this app's extension settings."""
    cfg = current_app.config
    return verify(token, max_bytes=int(cfg["JWT_MAX_TOKEN_BYTES"]),
                  required=tuple(cfg["SOCKETIO_JWT_REQUIRED_CLAIMS"]), decoder=get_state().decoder)


def expose(info: SocketInfo) -> None:
    """Make flask-jwt-extended's accessors (get_jwt, current_user, ...) show the socket's current token."""
    g.__dict__.update(_jwt_extended_jwt=info.claims, _jwt_extended_jwt_header=info.header,  # one proxy lookup
                      _jwt_extended_jwt_user={"loaded_user": info.user}, _jwt_extended_jwt_location="socketio",
                      _socketio_jwt_socket=info)


class AuthNamespace(Namespace):
    """A namespace whose every event runs for an authenticated, unexpired, rate-limited socket.

    Subclasses add `on_<event>(self, payload)` handlers; the return value is the ack. Override
    `connected()` and `disconnected(reason)` (not `on_connect`/`on_disconnect`) for own work.
    """

    def trigger_event(self, event: str, *args: Any) -> Any:
        """Route Socket.IO's connect and disconnect to the lifecycle, every client event to the guard."""
        handler: Callable[..., Any]
        if event == "connect" and self._own_connect(args):
            handler = self._on_connect
        elif event == "disconnect" and self._own_disconnect(args[0]):
            handler = self._on_disconnect
        else:
            handler = self._dispatch
        # Flask-SocketIO's own Namespace runs handlers this way (a request context per event).
        return self.socketio._handle_event(handler, event, self.namespace, *args)

    def _own_connect(self, args: tuple[Any, ...]) -> bool:
        # python-socketio's own connect passes the handshake's WSGI environ object itself; a client
        # event named `connect` carries JSON, which can never be that object.
        server = self.socketio.server
        return len(args) >= 2 and args[1] is not None and args[1] is server.get_environ(args[0], self.namespace)

    def _own_disconnect(self, sid: str) -> bool:
        # python-socketio runs its own disconnect once the socket no longer counts as connected;
        # a client's event of that name arrives on a connected socket.
        return not self.socketio.server.manager.is_connected(sid, self.namespace)

    # -- hooks for subclasses -----------------------------------------------------------------
    def connected(self) -> None:
        """Called once the socket is admitted and `session` was sent; accessors work here."""

    def disconnected(self, reason: str) -> None:
        """Called when an admitted socket goes, before the core forgets it; accessors work here."""

    def failed(self, event: str, exc: BaseException) -> None:
        """Called when a handler raised something else than a SocketJWTError (the ack is internal_error)."""

    def socket_info(self) -> SocketInfo:
        """The record of the socket whose event runs now."""
        info: SocketInfo = g._socketio_jwt_socket
        return info

    # -- lifecycle ----------------------------------------------------------------------------
    def _on_connect(self, auth: Any = None) -> None:
        state, sid, addr = get_state(), request.sid, request.remote_addr  # type: ignore[attr-defined]
        user_id = None
        try:
            state.hub.check_address(addr)
            if not origin_allowed():
                raise OriginForbidden()
            mark = state.hub.mark()  # a revocation arriving from here on is caught by admit()
            ident = verify_token(handshake_token(auth))
            user_id = ident.identity
            extra = state.session_user(ident.user) if state.session_user and ident.user is not None else {}
            session = state.hub.admit(sid, ident, addr, user={**extra, "id": ident.identity},
                                      namespace=self.namespace, mark=mark)
        except SocketJWTError as exc:
            state.hub.refused(exc.code, sid=sid, remote_addr=addr, user_id=user_id)
            raise ConnectionRefusedError(exc.code, exc.to_dict()) from None
        except Exception as exc:
            if outage.is_outage(exc):
                # Database or Redis down: refuse at once with a retryable code, never leave the
                # client's CONNECT unanswered.
                log.warning("socket connect refused: %s unavailable", type(exc).__name__)
                down = outage.refuse_connect(state, sid=sid, remote_addr=addr, user_id=user_id)
                raise ConnectionRefusedError(down.code, down.to_dict()) from None
            log.exception("socket connect failed")
            err = SocketJWTError()
            state.hub.refused(err.code, sid=sid, remote_addr=addr, user_id=user_id)
            raise ConnectionRefusedError(err.code, err.to_dict()) from None
        # Also in the Socket.IO session, for apps that read it with `server.get_session(sid)`.
        # (The Flask-SocketIO test client has no Engine.IO session to store it in.)
        with contextlib.suppress(KeyError):
            self.socketio.server.save_session(sid, {"identity": session["user"], "jti": ident.jti,
                                                    "expires_at": ident.exp}, namespace=self.namespace)
        self.emit("session", session, room=sid)
        info = state.registry.get(sid)
        if info is not None:
            expose(info)
            self.connected()

    def _on_disconnect(self, reason: Any = None) -> None:
        state, sid = get_state(), request.sid  # type: ignore[attr-defined]
        info = state.registry.get(sid)
        why = str(reason or "client disconnect")
        if info is not None:
            expose(info)
            try:
                self.disconnected(why)
            except Exception:  # the core must forget the socket whatever the subclass did
                log.exception("disconnected() hook failed")
        state.hub.forget(sid, why)

    def _dispatch(self, *data: Any) -> Any:
        event = request.event["message"]  # type: ignore[attr-defined]
        hub = get_state().hub
        hub.metrics.event(event)
        try:
            info = hub.guard(request.sid)  # type: ignore[attr-defined]
            handler = self._handler(event)
            if len(data) > 1:
                raise InvalidPayload("Send one payload object.")
            payload = data[0] if data else None
            check_shape(payload)
            expose(info)
            return handler(payload)
        except SocketJWTError as exc:
            return _fail(exc)
        except Exception as exc:
            log.exception("socket handler %r failed", event)
            with contextlib.suppress(Exception):
                self.failed(str(event)[:64], exc)
            state = get_state()
            state.audit.enqueue("error", sid=request.sid, remote_addr=request.remote_addr,  # type: ignore[attr-defined]
                                event=str(event)[:64])
            return _fail(SocketJWTError())

    def _handler(self, event: Any) -> Any:
        if not isinstance(event, str) or event in RESERVED_EVENTS or not event.isidentifier():
            raise InvalidPayload(f"Unknown event {str(event)[:64]!r}.")
        handler = getattr(self, "on_" + event, None)
        if handler is None:
            raise InvalidPayload(f"Unknown event {str(event)[:64]!r}.")
        return handler

    # -- the contract's own event ---------------------------------------------------------------
    def on_refresh(self, payload: Any) -> dict[str, Any]:
        """Swap the socket's token in place: same checks as connect, same identity."""
        if not isinstance(payload, dict) or set(payload) != {"token"} or not isinstance(payload["token"], str):
            raise InvalidPayload("Send {\"token\": \"<access token>\"}.")
        state, sid = get_state(), request.sid  # type: ignore[attr-defined]
        try:
            mark = state.hub.mark()
            ident = verify_token(payload["token"])
            ack = state.hub.refreshed(sid, ident, mark)
        except SocketJWTError as exc:
            state.hub.refresh_refused(sid, exc.code)
            raise
        info = state.registry.get(request.sid)  # type: ignore[attr-defined]
        if info is not None:
            expose(info)
        return ack
