"""The token check in front of every handler of every protected namespace, whatever its kind.

python-socketio hands every connect, disconnect and client event of every namespace to one
method of its server, `_trigger_event`, which then finds the handler: a Flask-SocketIO function
(`@socketio.on`, `@socketio.event`, `on_event`, the catch-all `"*"`), a class-based namespace, or
nothing at all. The gate sits in that one place, so no handler kind, registration order or
missing handler can go around it:

- connect: the token is checked before any handler of the host runs (also when the namespace
  has none); then the host's connect handler runs with flask-jwt-extended's accessors set, and
  returning False or raising `ConnectionRefusedError` refuses the socket as in Flask-SocketIO;
- every client event: an unknown socket, a token past `exp` or a spent rate limit answers the
  contract's error ack and no handler runs; `refresh` swaps the token in place;
- disconnect: the host's handler runs with the socket's identity readable, and the extension
  forgets the socket whatever that handler does.

Flask-SocketIO runs each handler in a request context through `SocketIO._handle_event`; the
gate wraps that too, to set the accessors (`get_jwt()`, `current_user`, ...) and to send a
handler's exception to the host's `on_error` handler or, without one, answer `internal_error`.
Both are private methods: `install` checks they exist and refuses to start otherwise.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from flask import current_app, g, request
from flask_socketio import SocketIO
from socketio.exceptions import ConnectionRefusedError

from flask_socketio_jwt import handshake
from flask_socketio_jwt.core import outage
from flask_socketio_jwt.core.errors import InvalidPayload, SocketJWTError
from flask_socketio_jwt.core.registry import SocketInfo
from flask_socketio_jwt.core.state import get_state
from flask_socketio_jwt.core.tokens import Verified, verify

log = logging.getLogger(__name__)

GATE_ATTR = "_socketio_jwt_gate"
# (sid, "connect" | "disconnect") while the gate runs the host's handler for it in its own context.
_inside: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar("socketio_jwt_inside",
                                                                                  default=None)


def fail(exc: SocketJWTError) -> dict[str, Any]:
    """The contract's error ack."""
    return {"ok": False, "error": exc.to_dict()}


def expose(info: SocketInfo) -> None:
    """Make flask-jwt-extended's accessors (get_jwt, current_user, ...) show the socket's current token."""
    g.__dict__.update(_jwt_extended_jwt=info.claims, _jwt_extended_jwt_header=info.header,  # one proxy lookup
                      _jwt_extended_jwt_user={"loaded_user": info.user}, _jwt_extended_jwt_location="socketio",
                      _socketio_jwt_socket=info)


def current_socket() -> SocketInfo | None:
    """The record of the socket whose handler runs now (None outside a protected handler)."""
    info: SocketInfo | None = g.get("_socketio_jwt_socket")
    return info


def verify_token(token: object, token_type: str = "access") -> Verified:
    """Every check the host's `@jwt_required()` runs on a token (needs an app context); raises AuthError.

    The host's algorithms and keys, `SOCKETIO_JWT_MAX_TOKEN_BYTES` and
    `SOCKETIO_JWT_REQUIRED_CLAIMS`, the token type, then its blocklist, verification and user
    loaders, in flask-jwt-extended's order. For the host's own entry points that are not an HTTP
    request (a namespace with a handshake of its own, a job).
    """
    cfg = current_app.config
    return verify(token, max_bytes=int(cfg["SOCKETIO_JWT_MAX_TOKEN_BYTES"]),
                  required=tuple(cfg["SOCKETIO_JWT_REQUIRED_CLAIMS"]), token_type=token_type,
                  decoder=get_state().decoder)


def refusal(exc: SocketJWTError) -> ConnectionRefusedError:
    """The refused connect Socket.IO sends for a contract error: `connect_error` with {code, message}."""
    return ConnectionRefusedError(exc.code, exc.to_dict())


@contextlib.contextmanager
def _inside_host_handler(sid: str, event: str) -> Iterator[None]:
    """Mark the host's connect or disconnect handler as running in the gate's own request context."""
    token = _inside.set((sid, event))
    try:
        yield
    finally:
        _inside.reset(token)


def _wrapper(fn: Callable[..., Any], base: Callable[..., Any]) -> Callable[..., Any]:
    wrapped = functools.partial(fn)
    setattr(wrapped, GATE_ATTR, base)
    return wrapped


def _unwrapped(fn: Callable[..., Any]) -> Callable[..., Any]:
    base: Callable[..., Any] = getattr(fn, GATE_ATTR, fn)
    return base


class Gate:
    """Puts every handler of one SocketIO server's protected namespaces behind the token check."""

    def __init__(self, socketio: SocketIO, public: Iterable[str] = ()) -> None:
        self.socketio = socketio
        self.public = frozenset(public)
        self.server = socketio.server
        missing = [f"{type(obj).__name__}.{name}" for obj, name in
                   ((self.server, "_trigger_event"), (self.server, "not_handled"), (socketio, "_handle_event"))
                   if not hasattr(obj, name)]
        if missing:
            raise RuntimeError("flask_socketio_jwt cannot put its token check in front of every handler on the "
                               f"installed Flask-SocketIO/python-socketio (missing: {', '.join(missing)}); "
                               "install a version the package supports")
        # What runs without the gate: python-socketio's dispatch and Flask-SocketIO's handler runner
        # (or patches/context.py's leaner one), never an earlier gate's wrappers.
        self.base_trigger: Callable[..., Any] = _unwrapped(self.server._trigger_event)
        self.base_handle: Callable[..., Any] = _unwrapped(socketio._handle_event)

    # -- installation ---------------------------------------------------------------------------
    def install(self) -> Gate:
        """Put the gate in front of the server's dispatch and Flask-SocketIO's handler runner."""
        self.server._trigger_event = _wrapper(self.trigger, self.base_trigger)
        self.socketio._handle_event = _wrapper(self.handle_event, self.base_handle)  # type: ignore[method-assign]
        return self

    def rebase(self) -> None:
        """Keep the gate in front of the handler runner after a patch replaced the runner."""
        self.base_handle = _unwrapped(self.socketio._handle_event)
        self.socketio._handle_event = _wrapper(self.handle_event, self.base_handle)  # type: ignore[method-assign]

    # -- python-socketio's dispatch -------------------------------------------------------------
    def trigger(self, event: str, namespace: str, *args: Any) -> Any:
        """python-socketio's `_trigger_event`, behind the gate for every protected namespace."""
        if namespace in self.public:
            return self.base_trigger(event, namespace, *args)
        if event == "connect" or event == "disconnect":
            if not self._own(event, namespace, args):
                # A client's event named like Socket.IO's own never reaches a connect or disconnect handler.
                return fail(InvalidPayload(f"Unknown event {event!r}."))
            if event == "disconnect":
                return self._disconnect(namespace, *args)
            sid, environ = args[0], args[1]
            auth = args[2] if len(args) > 2 else None
            gate = functools.partial(self._connect, namespace, sid, environ)
            return self.base_handle(gate, "connect", namespace, sid, environ, auth)
        environ = self.server.get_environ(args[0], namespace)
        if environ is None:
            return None  # a socket python-socketio no longer knows: nothing runs (as in Flask-SocketIO)
        hub = get_state(environ["flask.app"]).hub
        hub.metrics.event(event)
        try:
            hub.guard(args[0])
        except SocketJWTError as exc:
            return fail(exc)
        if event == "refresh":
            return self.base_handle(functools.partial(self._refresh, args[0]), event, namespace, *args)
        return self.base_trigger(event, namespace, *args)

    def _own(self, event: str, namespace: str, args: tuple[Any, ...]) -> bool:
        """True for python-socketio's own connect/disconnect, False for a client event of that name."""
        sid = args[0] if args else None
        if event == "connect":
            # python-socketio passes the handshake's WSGI environ object itself; a client's event
            # carries JSON, which can never be that object.
            return len(args) >= 2 and args[1] is not None and args[1] is self.server.get_environ(sid, namespace)
        # python-socketio runs its own disconnect once the socket no longer counts as connected; a
        # client's event of that name arrives on a connected socket.
        return not self.server.manager.is_connected(sid, namespace)

    # -- Flask-SocketIO's handler runner --------------------------------------------------------
    def handle_event(self, handler: Callable[..., Any], message: str, namespace: str, sid: str, *args: Any) -> Any:
        """Flask-SocketIO's `_handle_event`: the accessors set and errors routed for a protected namespace."""
        if message in ("connect", "disconnect") and _inside.get() == (sid, message):
            # The host's connect or disconnect handler, called from inside the gate's own request
            # context (accessors already set there): run it in that context, not in a second one.
            return self._in_context(handler, message, namespace, *args)
        if namespace in self.public or message in ("connect", "disconnect"):
            return self.base_handle(handler, message, namespace, sid, *args)
        run = functools.partial(self._run, handler, message, namespace, sid)
        return self.base_handle(run, message, namespace, sid, *args)

    def _in_context(self, handler: Callable[..., Any], message: str, namespace: str, *args: Any) -> Any:
        # What Flask-SocketIO's `_handle_event` does once its context is pushed.
        try:
            if message == "connect":
                auth = args[1] if len(args) > 1 else None
                try:
                    return handler(auth)
                except TypeError:
                    return handler()
            return handler(*args)
        except ConnectionRefusedError:
            raise
        except Exception as exc:
            sio = self.socketio
            err_handler = sio.exception_handlers.get(namespace, sio.default_exception_handler)
            if err_handler is None:
                raise
            return err_handler(exc)

    def _run(self, handler: Callable[..., Any], message: str, namespace: str, sid: str, *args: Any) -> Any:
        state = get_state()
        info = state.registry.get(sid)
        if info is None:  # forgotten between the guard and here (kicked): no handler runs
            return fail(SocketJWTError(code="auth_required", message="Authenticate first."))
        expose(info)
        try:
            return handler(*args)
        except SocketJWTError as exc:
            return fail(exc)
        except ConnectionRefusedError:
            raise
        except Exception:
            sio = self.socketio
            if sio.exception_handlers.get(namespace, sio.default_exception_handler) is not None:
                raise  # Flask-SocketIO sends it to the host's on_error handler; its return value is the ack
            event = str(args[0] if message == "*" and args else message)[:64]
            log.exception("socket handler %r failed", event)
            state.audit.enqueue("error", sid=sid, remote_addr=info.remote_addr, event=event)
            return fail(SocketJWTError())

    # -- connect ----------------------------------------------------------------------------------
    def _connect(self, namespace: str, sid: str, environ: dict[str, Any], auth: Any = None) -> Any:
        """Inside the connect's request context: the token checks, then the host's connect handler."""
        state = get_state()
        hub, addr = state.hub, request.remote_addr
        user_id = None
        try:
            hub.check_address(addr)
            handshake.check_origin()
            mark = hub.mark()  # a revocation arriving from here on is caught by admit()
            ident = verify_token(handshake.handshake_token(auth))
            user_id = ident.identity
            extra = state.session_user(ident.user) if state.session_user and ident.user is not None else {}
            session = hub.admit(sid, ident, addr, user={**extra, "id": ident.identity}, namespace=namespace,
                                mark=mark)
        except SocketJWTError as exc:
            hub.refused(exc.code, sid=sid, remote_addr=addr, user_id=user_id)
            raise refusal(exc) from None
        except Exception as exc:
            if outage.is_outage(exc):
                # Database or Redis down: refuse at once with a retryable code, never leave the
                # client's CONNECT unanswered.
                log.warning("socket connect refused: %s unavailable", type(exc).__name__)
                raise refusal(outage.refuse_connect(state, sid=sid, remote_addr=addr, user_id=user_id)) from None
            log.exception("socket connect failed")
            hub.refused(SocketJWTError.code, sid=sid, remote_addr=addr, user_id=user_id)
            raise refusal(SocketJWTError()) from None
        info = state.registry.get(sid)
        if info is None:  # revoked while being admitted
            return False
        expose(info)
        try:
            accepted = self._host_connect(namespace, sid, environ, auth)
        except ConnectionRefusedError:
            hub.withdraw(sid, "app_refused")
            raise
        except Exception:
            log.exception("the app's connect handler for %s failed", namespace)
            hub.withdraw(sid, SocketJWTError.code)
            raise refusal(SocketJWTError()) from None
        if accepted is False:
            hub.withdraw(sid, "app_refused")
            return False
        hub.confirm(info)
        # Also in the Socket.IO session, for apps that read it with `server.get_session(sid)`.
        # (The Flask-SocketIO test client has no Engine.IO session to store it in.)
        with contextlib.suppress(KeyError):
            self.server.save_session(sid, {"identity": session["user"], "jti": ident.jti,
                                           "expires_at": ident.exp}, namespace=namespace)
        self.socketio.emit("session", session, to=sid, namespace=namespace)
        return accepted

    def _host_connect(self, namespace: str, sid: str, environ: dict[str, Any], auth: Any) -> Any:
        # python-socketio's two connect signatures: with the auth argument, then without it.
        with _inside_host_handler(sid, "connect"):
            try:
                result = self.base_trigger("connect", namespace, sid, environ, auth)
            except TypeError as exc:
                try:
                    result = self.base_trigger("connect", namespace, sid, environ)
                except TypeError:
                    raise exc from None
        return None if result is self.server.not_handled else result

    # -- disconnect -------------------------------------------------------------------------------
    def _disconnect(self, namespace: str, sid: str, *rest: Any) -> Any:
        """The host's disconnect handler with the identity readable; the socket is forgotten whatever it does."""
        reason = rest[0] if rest else None
        why = str(reason or "client disconnect")
        environ = self.server.get_environ(sid, namespace)
        if environ is None:
            return None
        state = get_state(environ["flask.app"])
        try:
            info = state.registry.get(sid)
            if info is None:  # never admitted: no handler of the host may run
                return None
            return self.base_handle(functools.partial(self._host_disconnect, namespace, info, rest),
                                    "disconnect", namespace, sid, *rest)
        except Exception:
            log.exception("the app's disconnect handler for %s failed", namespace)
            return None
        finally:
            state.hub.forget(sid, why)

    def _host_disconnect(self, namespace: str, info: SocketInfo, rest: tuple[Any, ...], *_args: Any) -> Any:
        expose(info)
        with _inside_host_handler(info.sid, "disconnect"):
            return self.base_trigger("disconnect", namespace, info.sid, *rest)

    # -- the contract's own event ------------------------------------------------------------------
    def _refresh(self, sid: str, *data: Any) -> dict[str, Any]:
        """Swap the socket's token in place: same checks as connect, same identity."""
        payload = data[0] if len(data) == 1 else None
        if not isinstance(payload, dict) or set(payload) != {"token"} or not isinstance(payload["token"], str):
            return fail(InvalidPayload("Send {\"token\": \"<access token>\"}."))
        state = get_state()
        try:
            mark = state.hub.mark()
            ident = verify_token(payload["token"])
            ack = state.hub.refreshed(sid, ident, mark)
        except SocketJWTError as exc:
            state.hub.refresh_refused(sid, exc.code)
            return fail(exc)
        return ack
