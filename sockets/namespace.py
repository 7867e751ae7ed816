"""This app's namespace: rooms, presence, history and dms on the package's AuthNamespace."""

from __future__ import annotations

from typing import Any

from flask import current_app

from extensions import db
from flask_socketio_jwt import AuthNamespace, NotJoined, get_state
from realtime import rooms
from sockets import dm


class RealtimeNamespace(AuthNamespace):
    """Thin on_<event> methods: the core guards, admits and broadcasts; realtime/rooms keeps the rules."""

    def on_connect(self, auth: Any = None) -> None:
        """Every socket of a user in one room: a dm notice reaches the peer's sockets on every process."""
        info = self.socket_info()
        self.enter_room(info.sid, dm.user_room(info.user_id))

    def failed(self, event: str, exc: BaseException) -> None:
        """End the failed handler's transaction."""
        db.session.rollback()

    # -- events (each gets the payload; the guarded socket record is self.socket_info()) ------
    def on_whoami(self, payload: Any) -> dict:
        info = self.socket_info()
        return {"ok": True, "user": {"id": info.user_id, "username": info.username},
                "expires_at": info.exp}

    def on_join(self, payload: Any) -> dict:
        info = self.socket_info()
        room = rooms.room_name(payload)
        since = rooms.since_id(payload)
        rooms.check_access(room, info.username)
        peer = dm.peer(room, info.username) if dm.is_dm(room) else None
        state, cfg = get_state(), current_app.config
        # Join first, then read the history: with several processes the join subscribes this
        # process to the room, so every message committed after the read is delivered live (one
        # committed in between arrives both ways; clients keep messages by id).
        was_in = room in info.rooms
        first = state.hub.join(info, room)
        try:
            history, truncated = rooms.history(room, since, int(cfg["HISTORY_LIMIT"]), int(cfg["HISTORY_MAX"]))
        except Exception:
            if not was_in:
                state.hub.leave(info, room)
            raise
        if first and peer is not None:  # the user's first socket in the dm
            dm.notify(self.socketio, self.namespace, room, info.username, peer[0])
        return {"ok": True, "room": room, "members": state.hub.members(room),
                "history": history, "truncated": truncated}

    def on_leave(self, payload: Any) -> dict:
        info = self.socket_info()
        room = rooms.room_name(payload)
        if room not in info.rooms:
            raise NotJoined()
        get_state().hub.leave(info, room)
        return {"ok": True}

    def on_message(self, payload: Any) -> dict:
        info = self.socket_info()
        room = rooms.room_name(payload)
        text = rooms.message_text(payload)
        if room not in info.rooms:
            raise NotJoined()
        msg = rooms.store_message(room, info.user_id, info.username, text)
        get_state().hub.post(info, room, "message", msg, message_id=msg["id"])
        if dm.is_dm(room):
            dm.notify(self.socketio, self.namespace, room, info.username, dm.peer(room, info.username)[0])
        return {"ok": True, "id": msg["id"]}

    def on_presence(self, payload: Any) -> dict:
        info = self.socket_info()
        room = rooms.room_name(payload)
        rooms.check_access(room, info.username)
        return {"ok": True, "room": room, "members": get_state().hub.members(room)}


# The client events this namespace answers (the contract documents each one).
# `refresh` is the extension's own, on every protected namespace.
EVENTS = frozenset(name[3:] for name in dir(RealtimeNamespace)
                   if name.startswith("on_") and name not in ("on_connect", "on_disconnect")) | {"refresh"}
