"""The Socket.IO Admin UI, read-only, for admins: python-socketio's `instrument()` plus what it lacks here.

`ADMIN_UI_ENABLED` turns it on: the UI (vendored by scripts/vendor.sh) is served at
/admin/socketio/ and connects to the `/admin` namespace with an admin's access token as its
password. What this module adds around `instrument()`:

- production mode, read-only: development mode would send every handshake header (the
  `Authorization` header included) and every event's arguments to the admin;
- engine.io hooks kept: `instrument()` re-registers the engine.io connect and disconnect
  handlers with its own, which call the server's originals directly and so would drop every
  wrapper installed before (the connect timeout, the send-queue guard...). Its handlers are
  pointed at the chain that was in place instead;
- the live sockets and rooms: production mode sends neither, so the registry's own changes
  (connect, join, leave, disconnect) are sent here, redacted to what an operator needs: the
  socket and user ids, the username, the address and the app's room names;
- the admin's token keeps being checked: admin sockets get `auth_expired` at its `exp` and
  `auth_revoked` when it is revoked, as user sockets do; every admin connect is audited.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Flask
from socketio import PubSubManager
from socketio.exceptions import ConnectionRefusedError

from flask_socketio_jwt import Forbidden, SocketInfo, SocketJWTError, State, auth_error, get_state
from realtime import tokens

log = logging.getLogger(__name__)

NAMESPACE = "/admin"
USER_NAMESPACE = "/"


@dataclass(frozen=True)
class AdminSocket:
    """Who an admin socket runs as: its user, its token's jti and session, its expiry and issue time."""

    sid: str
    user_id: str
    jti: str
    ses: str
    exp: int
    issued_ms: int

    @property
    def names(self) -> frozenset[str]:
        """The token's jti and its session: a revocation naming either kicks the socket."""
        return frozenset({self.jti, self.ses} - {""})


def _now() -> str:
    return datetime.now(UTC).isoformat()


class AdminView:
    """The instrumented server plus the admin sockets' identities, expiry and revocation."""

    def __init__(self, app: Flask, socketio: Any, state: State) -> None:
        self.app, self.socketio, self.state = app, socketio, state
        self.sio = socketio.server
        self.admins: dict[str, AdminSocket] = {}
        self.instrumented: Any = None
        # With a message queue, admins on other processes may be watching this one's sockets.
        self._queued = isinstance(self.sio.manager, PubSubManager)

    # -- installation ------------------------------------------------------------------------
    def install(self) -> AdminView:
        """Instrument the server (production mode, read-only) and re-attach everything around it."""
        from engineio.socket import Socket

        eio = self.sio.eio
        chain = eio.handlers["connect"], eio.handlers["disconnect"]
        patched = {name: Socket.__dict__.get(name) for name in _SOCKET_PATCHES}
        first = not getattr(Socket, "_realtime_admin_instrumented", False)
        self.instrumented = self.sio.instrument(auth=self._refuse_all, mode="production", read_only=True,
                                                namespace=NAMESPACE)
        # instrument() registered handlers that end in `self.sio._handle_eio_connect(...)`: make
        # that name (on this server object only) the chain we had, so no earlier hook is lost.
        self.sio._handle_eio_connect, self.sio._handle_eio_disconnect = chain
        if first:
            Socket._realtime_admin_instrumented = True
        else:
            # Its class-level patches (packet counters) save the current method under one shared
            # name: a second instrument() in a process (another app) would make them call
            # themselves. Keep the first set.
            for name, value in patched.items():
                setattr(Socket, name, value)
        self.sio.on("connect", self._connect, namespace=NAMESPACE)
        self.sio.on("disconnect", self._disconnect, namespace=NAMESPACE)
        self._watch_registry()
        self._watch_bus()
        self.state.hub.sweeper.after.append(self.sweep)
        return self

    def sweep(self) -> int:
        """Kick admin sockets whose token is revoked, whose user is gone or disabled, or no longer an
        admin: the same revalidation as user sockets (a lost revocation message included), plus the role."""
        admins = list(self.admins.values())
        if not admins:
            return 0
        with self.app.app_context():
            found = tokens.find_revoked(admins, admins=True)
        for sid, code in found:
            self._kick(sid, code, "auth_revoked")
        return len(found)

    # -- admin sockets -------------------------------------------------------------------------
    @staticmethod
    def _refuse_all(_client_auth: Any) -> bool:
        """instrument()'s own auth check: never passes, as `_connect` replaces its connect handler."""
        return False

    def _connect(self, sid: str, environ: dict, auth: Any = None) -> bool:
        """Admit an admin's access token (instrument()'s handler would only compare static credentials)."""
        addr = environ.get("REMOTE_ADDR")
        try:
            with self.app.app_context():
                self.state.hub.check_address(addr)
                if not _origin_ok(environ, self.app.config["CORS_ALLOWED_ORIGINS"]):
                    raise SocketJWTError("This origin may not open a socket.", code="origin_forbidden", status=403)
                ident = tokens.verify(_token(auth), "access")
                if not ident.is_admin:
                    raise Forbidden("Admins only.")
        except SocketJWTError as exc:
            if exc.code not in ("rate_limited", "origin_forbidden"):
                self.state.hub.auth_failures.hit(addr or "?")
            self.state.audit.enqueue("admin_ui_refused", sid=sid, remote_addr=addr, code=exc.code)
            raise ConnectionRefusedError(exc.code, exc.to_dict()) from None
        self.admins[sid] = AdminSocket(sid, ident.user_id, ident.jti, ident.ses, ident.exp, ident.issued_ms)
        self.state.hub.sweeper.start()  # admin sockets are revalidated with the user sockets
        self.state.audit.enqueue("admin_ui_connect", user_id=ident.user_id, sid=sid, remote_addr=addr)
        self.socketio.start_background_task(self._expire_later, sid, ident.exp)
        self.socketio.start_background_task(self._welcome, sid)
        return True

    def _disconnect(self, sid: str, *_reason: Any) -> None:
        self.admins.pop(sid, None)

    def _expire_later(self, sid: str, exp: int) -> None:
        """Disconnect an admin socket at its token's exp (one task per admin socket: they are few)."""
        while sid in self.admins and self.admins[sid].exp == exp:
            left = exp + self.state.hub.leeway - time.time()
            if left <= 0:
                self._kick(sid, "token_expired", "auth_expired")
                return
            self.socketio.sleep(min(left, 30.0))

    def _kick(self, sid: str, code: str, event: str) -> None:
        if self.admins.pop(sid, None) is None:
            return
        self.sio.emit(event, {"code": code}, to=sid, namespace=NAMESPACE, ignore_queue=True)
        self.sio.disconnect(sid, namespace=NAMESPACE, ignore_queue=True)

    def _welcome(self, sid: str) -> None:
        """The UI's `config`, then this process's live sockets."""
        self.socketio.sleep(0.1)  # as instrument() does: the client has its handlers by then
        # No feature flags at all: nothing to emit, join, leave or disconnect (read-only), and not
        # "AGGREGATED_EVENTS", which makes the UI hide its Sockets and Rooms pages.
        self.sio.emit("config", {"supportedFeatures": []}, to=sid, namespace=NAMESPACE)
        sockets = [self._serialize(info) for info in list(self.state.registry.local.values())]
        self.sio.emit("all_sockets", sockets, to=sid, namespace=NAMESPACE)

    # -- the live feed -------------------------------------------------------------------------
    def _serialize(self, info: SocketInfo) -> dict:
        """A socket as the UI shows it; no headers, no query string, no token."""
        eio_sid = self.sio.manager.eio_sid_from_sid(info.sid, USER_NAMESPACE)
        sock = self.sio.eio.sockets.get(eio_sid) if eio_sid else None
        return {
            "id": info.sid, "clientId": eio_sid or "", "nsp": USER_NAMESPACE,
            "transport": "websocket" if sock is not None and sock.upgraded else "polling",
            "data": {"user_id": info.user_id, "username": info.username, "expires_at": info.exp},
            "handshake": {"address": info.remote_addr or "", "headers": {}, "query": {}, "secure": False,
                          "url": "/socket.io/", "issued": int(info.connected_at * 1000),
                          "time": datetime.fromtimestamp(info.connected_at, UTC).isoformat()},
            "rooms": [info.sid, *sorted(info.rooms)],
        }

    def _watched(self) -> bool:
        """Whether anyone may be watching: an admin here, or a queue to admins on other processes."""
        return bool(self.admins) or self._queued

    def _feed(self, event: str, *args: Any) -> None:
        try:
            self.sio.emit(event, args, namespace=NAMESPACE)
        except Exception:  # the admin view must never break a user's connect or join
            log.exception("admin view: %s not sent", event)

    def _watch_registry(self) -> None:
        """Report the registry's changes (these calls are what connect, join, leave and disconnect do)."""
        registry = self.state.registry
        add, remove, join, leave = registry.add, registry.remove, registry.join, registry.leave

        def on_add(info: SocketInfo, cap: int) -> None:
            add(info, cap)
            if self._watched():
                self._feed("socket_connected", self._serialize(info), _now())

        def on_remove(sid: str) -> Any:
            info, changes = remove(sid)
            if info is not None and self._watched():
                self._feed("socket_disconnected", USER_NAMESPACE, sid, "disconnect", _now())
            return info, changes

        def on_join(sid: str, room: str) -> Any:
            change = join(sid, room)
            if self._watched():
                self._feed("room_joined", USER_NAMESPACE, room, sid, _now())
            return change

        def on_leave(sid: str, room: str) -> Any:
            change = leave(sid, room)
            if self._watched():
                self._feed("room_left", USER_NAMESPACE, room, sid, _now())
            return change

        registry.add, registry.remove, registry.join, registry.leave = on_add, on_remove, on_join, on_leave

    def _watch_bus(self) -> None:
        """Revocations kick admin sockets too (the hub only knows user sockets)."""
        bus = self.state.hub.bus
        previous = bus.handler

        def handler(message: dict) -> None:
            if previous is not None:
                previous(message)
            if message.get("op") == "revoke":
                names = set(message.get("jtis") or ())
                user_id, before = message.get("user_id"), message.get("before_ms")
                for sid, admin in list(self.admins.items()):
                    everywhere = user_id is not None and admin.user_id == str(user_id) and (
                        before is None or admin.issued_ms <= before)
                    if everywhere or admin.names & names:
                        self._kick(sid, "token_revoked", "auth_revoked")

        bus.handler = handler


# Class attributes instrument() replaces on engine.io's Socket (its packet counters).
_SOCKET_PATCHES = ("handle_post_request", "_websocket_handler", "_InstrumentedServer__handle_post_request",
                   "_InstrumentedServer__websocket_handler")


def _token(auth: Any) -> str:
    """The access token the UI sends: its password field (or a `token` field)."""
    if isinstance(auth, dict):
        value = auth.get("password") or auth.get("token")
        if isinstance(value, str) and value:
            return value
    raise auth_error("auth_required")


def _origin_ok(environ: dict, allowed: list[str]) -> bool:
    origin = environ.get("HTTP_ORIGIN")
    if not origin or "*" in allowed or origin in allowed:
        return True
    return origin == f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST', '')}"


def init_app(app: Flask) -> AdminView | None:
    """Install the admin view when `ADMIN_UI_ENABLED`; call after `sockets.init_app(app)`."""
    if not app.config.get("ADMIN_UI_ENABLED"):
        return None
    from blueprints import admin_ui
    from extensions import socketio

    view = AdminView(app, socketio, get_state(app)).install()
    app.extensions["admin_ui"] = view
    app.register_blueprint(admin_ui.bp, url_prefix="/admin/socketio")
    return view
