"""python-socketio's client manager with a per-socket room index: disconnects stop scanning every room.

python-socketio (5.x) keeps `rooms[namespace][room] = bidict(sid -> eio_sid)` and nothing that
maps a socket to its rooms, so `basic_disconnect` copies the namespace's whole room table and
tests every room for the socket, and `get_rooms` scans it too. Every socket has a room named
after its sid, so with N sockets connected each disconnect is O(N): at 10,000 sockets about a
millisecond of event-loop time per disconnect, and a mass reconnect (a deploy, a network blip)
of 10,000 sockets costs seconds of blocked loop. The mixin keeps the reverse index beside the
same table (so emits, broadcasts and the Redis queue work unchanged) and makes a disconnect
cost what the socket's own rooms cost.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import socketio

from flask_socketio_jwt.patches import has

# Written for python-socketio 5.18.1 (5.17 has no `pending_connect`).
WRITTEN_FOR = {"python-socketio": ("5.18", "5.19")}


class RoomIndexMixin:
    """Keeps {(namespace, sid): rooms} current beside python-socketio's room table."""

    rooms: dict
    callbacks: dict
    pending_connect: dict
    pending_disconnect: dict

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # dict as an ordered set: get_rooms keeps the order the socket joined in
        self.sid_rooms: dict[tuple[str, str], dict[Any, None]] = {}

    def basic_enter_room(self, sid: str, namespace: str, room: Any, eio_sid: str | None = None) -> None:
        """Enter a room, and remember it for the socket."""
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)  # type: ignore[misc]
        self.sid_rooms.setdefault((namespace, sid), {})[room] = None

    def basic_leave_room(self, sid: str, namespace: str, room: Any) -> None:
        """Leave a room, and forget it for the socket."""
        super().basic_leave_room(sid, namespace, room)  # type: ignore[misc]
        joined = self.sid_rooms.get((namespace, sid))
        if joined is not None:
            joined.pop(room, None)
            if not joined:
                del self.sid_rooms[(namespace, sid)]

    def basic_disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        """python-socketio's disconnect bookkeeping, leaving only the socket's own rooms."""
        if namespace not in self.rooms:
            return
        for room in list(self.sid_rooms.get((namespace, sid), ())):
            self.basic_leave_room(sid, namespace, room)
        self.sid_rooms.pop((namespace, sid), None)
        self.callbacks.pop(sid, None)
        for pending in (self.pending_connect, self.pending_disconnect):
            sids = pending.get(namespace)
            if sids is not None and sid in sids:
                sids.remove(sid)
                if not sids:
                    del pending[namespace]

    def get_rooms(self, sid: str, namespace: str) -> list:
        """The rooms a socket is in (its sid room included, as python-socketio answers)."""
        return [room for room in self.sid_rooms.get((namespace, sid), ()) if room is not None]


@cache
def indexed(base: type) -> type:
    """`base` (a python-socketio manager class) with the room index mixed in."""
    return type(f"Indexed{base.__name__}", (RoomIndexMixin, base), {})


def missing(_target: Any = None) -> list[str]:
    """The internals the room index needs that python-socketio's Manager does not have."""
    return (has(socketio.Manager, "basic_enter_room", "basic_leave_room", "basic_disconnect", "get_rooms")
            + has(socketio.Manager(), "rooms", "callbacks", "pending_connect", "pending_disconnect"))


def client_manager(message_queue: str | None, channel: str, indexed_rooms: bool = True, kind: str = "rooms",
                   sharded: bool | None = None) -> Any:
    """The client manager for these settings: in-process, or Redis pub/sub across processes.

    kind "rooms": room-scoped channels (room_manager.py); "broadcast": python-socketio's
    RedisManager (one channel every process reads).
    """
    def cls(base: type) -> type:
        return indexed(base) if indexed_rooms else base

    if not message_queue:
        return cls(socketio.Manager)()
    if message_queue.startswith(("redis://", "rediss://")):
        if kind == "broadcast":
            return cls(socketio.RedisManager)(message_queue, channel=channel)
        from flask_socketio_jwt.room_manager import RoomChannelManager

        return cls(RoomChannelManager)(message_queue, channel=channel, sharded=sharded)
    raise ValueError("SOCKETIO_JWT_MESSAGE_QUEUE must be a redis:// or rediss:// URL")
