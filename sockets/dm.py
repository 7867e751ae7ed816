"""Direct messages: the peer is told that a dm room has something for them.

Every authenticated socket also sits in a Socket.IO room of its own user (`user:<id>`; the colon
keeps it apart from socket ids and from user-named rooms), so the server can reach all of a
user's sockets, on every process, without knowing their sids. When a dm room is first joined by
one of its users (that user's first socket in it) and whenever it gets a message, the other user's
sockets receive `dm` `{"room", "from"}`. The pair a dm room belongs to comes from
`rooms.dm_pair`, so the naming rule stays in one place.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import sqlalchemy as sa
from flask import current_app

from extensions import db
from flask_socketio_jwt import Forbidden
from models import User
from realtime import rooms

_PEERS_MAX = 4096  # (room, me) -> (peer id, name), per app: ids belong to one database


def user_room(user_id: str) -> str:
    """The Socket.IO room holding every socket of one user."""
    return f"user:{user_id}"


def is_dm(room: str) -> bool:
    """True for a dm room name."""
    return room.startswith("dm.")


def peer(room: str, me: str) -> tuple[str, str]:
    """(user id, username) of the other user of a dm room that `rooms.check_access` let me into."""
    cache: OrderedDict[tuple[str, str], tuple[str, str]] = current_app.extensions.setdefault(
        "dm_peers", OrderedDict())
    key = (room, me)
    hit = cache.get(key)
    if hit is not None:
        return hit
    pair = rooms.dm_pair(room)  # the one naming rule, in rooms.py
    row = None
    if pair is not None and me in pair:
        other = pair[1] if pair[0] == me else pair[0]
        row = db.session.execute(sa.select(User.id, User.username).where(User.username == other)).first()
        db.session.rollback()  # end the read transaction: SQLite readers must not pin the WAL
    if row is None:  # the user was removed since the access check
        raise Forbidden("This dm room is for its two users only.")
    found = (str(row[0]), row[1])
    cache[key] = found
    if len(cache) > _PEERS_MAX:
        cache.popitem(last=False)
    return found


def notify(socketio: Any, namespace: str, room: str, sender: str, peer_id: str) -> None:
    """Tell every socket of the peer that this dm room has something for them."""
    socketio.emit("dm", {"room": room, "from": sender}, to=user_room(peer_id), namespace=namespace)
