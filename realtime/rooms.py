"""Rooms: names, dm rules, payload validation, message storage and history queries."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from flask import Flask, current_app

from extensions import db
from flask_socketio_jwt import Forbidden, InvalidPayload
from models import Message, User
from realtime import dbwrite
from realtime.batch import GroupCommit

ROOM_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
MAX_TEXT = 2000
# C0 controls except \t \n \r, DEL, and lone UTF-16 surrogates (not encodable as UTF-8).
_BAD_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def room_name(payload: Any) -> str:
    """The validated `room` of an event payload."""
    if not isinstance(payload, dict):
        raise InvalidPayload("The payload must be an object.")
    room = payload.get("room")
    if not isinstance(room, str) or not ROOM_RE.fullmatch(room):
        raise InvalidPayload("`room` must be 1-64 characters of A-Z a-z 0-9 _ . -")
    return room


def since_id(payload: dict) -> int | None:
    """The optional `since_id` of a join payload."""
    value = payload.get("since_id")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise InvalidPayload("`since_id` must be a non-negative integer.")
    return value


def message_text(payload: dict) -> str:
    """The validated `text` of a message payload, verbatim."""
    text = payload.get("text")
    if not isinstance(text, str) or not 1 <= len(text) <= MAX_TEXT:
        raise InvalidPayload(f"`text` must be a string of 1-{MAX_TEXT} characters.")
    if _BAD_TEXT.search(text):
        raise InvalidPayload("`text` may not contain NUL, control characters other than tab and "
                             "newline, or unpaired surrogates.")
    return text


def dm_room(a: str, b: str) -> str:
    """The dm room name of two users."""
    x, y = sorted((a, b))
    return f"dm.{x}.{y}"


def dm_pair(room: str) -> tuple[str, str] | None:
    """The one pair of registered users a dm room name names, or None.

    Usernames may contain dots, so `dm.al.bo.sm` could be read as (al, bo.sm) or (al.bo, sm).
    A split counts only if both halves are registered usernames, spelled exactly as stored,
    in sorted order; a name with no such split, or with more than one, belongs to nobody.
    """
    rest = room[3:]
    splits = [(rest[:i], rest[i + 1:]) for i, ch in enumerate(rest)
              if ch == "." and rest[:i] and rest[i + 1:] and rest[:i] <= rest[i + 1:]]
    if not splits:
        return None
    names = {half for pair in splits for half in pair}
    known = set(db.session.scalars(sa.select(User.username).where(User.username.in_(names))))
    db.session.rollback()  # end the read transaction: SQLite readers must not pin the WAL
    pairs = [p for p in splits if p[0] in known and p[1] in known]
    return pairs[0] if len(pairs) == 1 else None


def check_access(room: str, username: str) -> None:
    """Raise Forbidden unless the room is public or a dm room of exactly this user and one other."""
    if not room.startswith("dm."):
        return
    pair = dm_pair(room)
    if pair is None or username not in pair:
        raise Forbidden("This dm room is for its two users only.")


class NewMessage(NamedTuple):
    room: str
    user_id: int
    username: str
    text: str


def init_app(app: Flask) -> None:
    """The app's group commit for messages (realtime/batch.py): MESSAGE_BATCH_WINDOW_MS, MESSAGE_BATCH_MAX."""
    app.extensions["message_batch"] = GroupCommit(
        _insert_messages, window=float(app.config["MESSAGE_BATCH_WINDOW_MS"]) / 1000,
        max_batch=int(app.config["MESSAGE_BATCH_MAX"]))


def store_message(room: str, user_id: str, username: str, text: str) -> dict:
    """Commit a message (with whatever other messages arrive meanwhile) and return it as the wire shows it."""
    batch: GroupCommit[NewMessage, dict] = current_app.extensions["message_batch"]
    return batch.submit(NewMessage(room, int(user_id), username, text))


_INSERT = sa.insert(Message.__table__).returning(Message.__table__.c.id, sort_by_parameter_order=True)


def _insert_messages(rows: Sequence[NewMessage]) -> list[dict]:
    """One INSERT ... RETURNING id for the whole batch, one commit; the rows as the wire shows them."""
    now = datetime.now(UTC)
    params = [{"room": r.room, "user_id": r.user_id, "username": r.username, "text": r.text, "created_at": now}
              for r in rows]

    def unit() -> list[int]:
        with db.engine.begin() as conn:
            return list(conn.execute(_INSERT, params).scalars())

    ids = dbwrite.write(unit)
    ts = now.timestamp()
    return [{"id": i, "room": r.room, "user": r.username, "text": r.text, "ts": ts}
            for i, r in zip(ids, rows, strict=True)]


def history(room: str, after: int | None, limit: int, cap: int) -> tuple[list[dict], bool]:
    """Last `limit` messages, or all after `after` up to `cap`; returns (messages, truncated)."""
    q = sa.select(Message).where(Message.room == room)
    if after is None:
        rows = db.session.scalars(q.order_by(Message.id.desc()).limit(limit)).all()
        rows.reverse()
        truncated = False
    else:
        rows = db.session.scalars(q.where(Message.id > after).order_by(Message.id).limit(cap + 1)).all()
        # The oldest `cap` after `after`: a client that sees `truncated` joins again with
        # since_id set to the last id it got, and so pages forward without a gap.
        truncated = len(rows) > cap
        rows = rows[:cap]
    db.session.rollback()  # end the read transaction: SQLite readers must not pin the WAL
    return [m.to_wire() for m in rows], truncated
