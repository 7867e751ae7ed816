"""The authenticated namespace: thin on_<event> methods; every rule lives in realtime/."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from flask import current_app, request
from flask_socketio import ConnectionRefusedError, Namespace

from extensions import db
from realtime import rooms, tokens
from realtime.errors import AppError, InvalidPayload, NotJoined, OriginForbidden, auth_error
from realtime.payloads import check_shape
from realtime.state import get_state
from sockets.context import handle_event

log = logging.getLogger(__name__)

EVENTS = frozenset({"whoami", "join", "leave", "message", "presence", "refresh"})
# Names python-socketio uses for its own lifecycle; a client event with one of them is refused.
RESERVED = frozenset({"connect", "disconnect", "connect_error"})


def _fail(exc: AppError) -> dict:
    return {"ok": False, "error": exc.to_dict()}


def handshake_token(auth: Any) -> str | None:
    """The token from the auth payload, else from `Authorization: Bearer`; never the query string."""
    if auth is not None:
        if not isinstance(auth, dict) or not isinstance(auth.get("token"), str):
            raise auth_error("auth_required")
        return auth["token"]
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
    return origin == f"{request.scheme}://{request.host}"


class RealtimeNamespace(Namespace):
    """Every event passes one guard (auth, expiry, rate limit) before its handler."""

    def on_connect(self, auth: Any = None) -> None:
        state, sid, addr = get_state(), request.sid, request.remote_addr
        user_id = None
        try:
            state.hub.check_address(addr)
            if not origin_allowed():
                raise OriginForbidden()
            mark = state.hub.mark()  # a revocation arriving from here on is caught by admit()
            ident = tokens.verify(handshake_token(auth), state.tokens, "access")
            user_id = ident.user_id
            session = state.hub.admit(sid, ident, addr, mark)
        except AppError as exc:
            state.hub.refused(exc.code, sid=sid, remote_addr=addr, user_id=user_id)
            raise ConnectionRefusedError(exc.code, exc.to_dict()) from None
        # Also in the Socket.IO session, for apps that read it with `server.get_session(sid)`.
        # (The Flask-SocketIO test client has no Engine.IO session to store it in.)
        with contextlib.suppress(KeyError):
            self.socketio.server.save_session(sid, {"identity": session["user"], "jti": ident.jti,
                                                    "expires_at": ident.exp}, namespace=self.namespace)
        self.emit("session", session, room=sid)

    def on_disconnect(self, reason: Any = None) -> None:
        get_state().hub.forget(request.sid, str(reason or "client disconnect"))

    def trigger_event(self, event: str, *args: Any) -> Any:
        handler = getattr(self, "on_" + event) if self._lifecycle(event, args) else self._dispatch
        return handle_event(self.socketio, handler, event, self.namespace, *args)

    def _lifecycle(self, event: str, args: tuple) -> bool:
        """True only for python-socketio's own connect/disconnect, never a client event so named.

        A client can send an event called `connect` or `disconnect`; python-socketio passes it
        here like its own. Its own connect carries the handshake's WSGI environ object itself
        (a client can send JSON, never that object); its own disconnect runs once the socket is
        no longer counted as connected.
        """
        if event not in RESERVED or not args:
            return False
        server, sid = self.socketio.server, args[0]
        if event == "connect":
            return len(args) >= 2 and args[1] is not None and args[1] is server.get_environ(sid, self.namespace)
        if event == "disconnect":
            return not server.manager.is_connected(sid, self.namespace)
        return False

    def _dispatch(self, *data: Any) -> dict:
        event = request.event["message"]
        hub = get_state().hub
        hub.metrics.event(event)
        try:
            info = hub.guard(request.sid)
            if event in RESERVED:
                raise InvalidPayload(f"{event!r} is a reserved event name.")
            if event not in EVENTS:
                raise InvalidPayload(f"Unknown event {str(event)[:64]!r}.")
            if len(data) > 1:
                raise InvalidPayload("Send one payload object.")
            payload = data[0] if data else None
            check_shape(payload)
            return getattr(self, "on_" + event)(info, payload)
        except AppError as exc:
            return _fail(exc)
        except Exception:
            log.exception("socket handler %r failed", event)
            db.session.rollback()
            state = get_state()
            state.audit.enqueue("error", sid=request.sid, remote_addr=request.remote_addr,
                                event=str(event)[:64])
            return _fail(AppError())

    # -- events (each gets the guarded socket record and the payload) ------------------------
    def on_whoami(self, info, payload: Any) -> dict:
        return {"ok": True, "user": {"id": info.user_id, "username": info.username},
                "expires_at": info.exp}

    def on_join(self, info, payload: Any) -> dict:
        room = rooms.room_name(payload)
        since = rooms.since_id(payload)
        rooms.check_access(room, info.username)
        state, cfg = get_state(), current_app.config
        history, truncated = rooms.history(room, since, int(cfg["HISTORY_LIMIT"]), int(cfg["HISTORY_MAX"]))
        state.hub.transport.enter_room(info.sid, room)
        change = state.registry.join(info.sid, room)
        if change:
            state.hub.publish_presence([change])
        state.audit.enqueue("join", user_id=info.user_id, sid=info.sid, remote_addr=info.remote_addr, room=room)
        return {"ok": True, "room": room, "members": state.registry.members(room),
                "history": history, "truncated": truncated}

    def on_leave(self, info, payload: Any) -> dict:
        room = rooms.room_name(payload)
        if room not in info.rooms:
            raise NotJoined()
        state = get_state()
        state.hub.transport.leave_room(info.sid, room)
        change = state.registry.leave(info.sid, room)
        if change:
            state.hub.publish_presence([change])
        state.audit.enqueue("leave", user_id=info.user_id, sid=info.sid, remote_addr=info.remote_addr, room=room)
        return {"ok": True}

    def on_message(self, info, payload: Any) -> dict:
        room = rooms.room_name(payload)
        text = rooms.message_text(payload)
        if room not in info.rooms:
            raise NotJoined()
        state = get_state()
        msg = rooms.store_message(room, info.user_id, info.username, text)
        state.hub.transport.broadcast("message", msg, room)
        state.audit.enqueue("message", user_id=info.user_id, sid=info.sid, remote_addr=info.remote_addr,
                            room=room, message_id=msg["id"])
        return {"ok": True, "id": msg["id"]}

    def on_presence(self, info, payload: Any) -> dict:
        room = rooms.room_name(payload)
        rooms.check_access(room, info.username)
        return {"ok": True, "room": room, "members": get_state().registry.members(room)}

    def on_refresh(self, info, payload: Any) -> dict:
        if not isinstance(payload, dict) or set(payload) != {"token"} or not isinstance(payload["token"], str):
            raise InvalidPayload("Send {\"token\": \"<access token>\"}.")
        state = get_state()
        try:
            mark = state.hub.mark()
            ident = tokens.verify(payload["token"], state.tokens, "access")
            return state.hub.refreshed(info.sid, ident, mark)
        except AppError as exc:
            state.hub.refresh_refused(info.sid, exc.code)
            raise
