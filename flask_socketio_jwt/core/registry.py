"""Who is connected: sockets by sid, user and jti; presence by room; the per-user cap.

`Registry` is the interface handlers use. `MemoryRegistry` is the embedded default; the Redis
implementation (scale-out) keeps the same contract, so handlers never ask which one they have.
Local socket records (what this process must kick or expire) always live in process memory.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask_socketio_jwt.core.errors import TooManyConnections


@dataclass(slots=True)
class SocketInfo:
    """One live socket on this process."""

    sid: str
    user_id: str
    username: str
    jti: str
    exp: int
    remote_addr: str | None = None
    # The login session (refresh token's jti) and issue time in ms, for session and "everywhere" kicks.
    ses: str = ""
    issued_ms: int = 0
    connected_at: float = field(default_factory=time.time)
    # Immutable and shared while empty: most sockets never join a room (an empty set is 216 bytes).
    rooms: frozenset[str] = frozenset()
    namespace: str = "/"
    # The current token as flask-jwt-extended's accessors show it in handlers, and the host's user.
    claims: dict[str, Any] = field(default_factory=dict)
    header: dict[str, Any] = field(default_factory=dict)
    user: Any = None


@dataclass(frozen=True)
class PresenceChange:
    """A room whose set of users changed, with its members now."""

    room: str
    members: list[str]


class Registry:
    """Interface: local socket records plus the shared state (presence, per-user counts)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.local: dict[str, SocketInfo] = {}
        # user id -> that user's local records: disconnects and per-user lookups stay O(1) with
        # thousands of sockets (a scan of `local` per disconnect dominated a reconnect storm).
        self.by_user: dict[str, dict[str, SocketInfo]] = {}
        # Called with presence changes a backend finds on its own (a swept dead process).
        self.on_presence: Callable[[list[PresenceChange]], None] | None = None

    # -- local records (always in-process) -------------------------------------------------
    def get(self, sid: str) -> SocketInfo | None:
        """The local socket record for sid, if any."""
        return self.local.get(sid)

    def local_sids(self, *, user_id: str | None = None, jti: str | None = None) -> list[str]:
        """Local sids of a user or of a token (revocations match sockets with `revocation.names`)."""
        with self._lock:
            if jti is None:
                return list(self.by_user.get(user_id, ())) if user_id is not None else []
            return [s.sid for s in self.local.values()
                    if s.jti == jti or (user_id is not None and s.user_id == user_id)]

    def user_records(self, user_id: str) -> list[SocketInfo]:
        """This process's records of a user's sockets."""
        with self._lock:
            return list(self.by_user.get(user_id, {}).values())

    def update_token(self, sid: str, jti: str, exp: int, ses: str = "", issued_ms: int = 0) -> None:
        """Record the token a socket now runs on (after an in-place refresh)."""
        with self._lock:
            info = self.local.get(sid)
            if info is not None:
                old = info.jti
                info.jti, info.exp, info.ses, info.issued_ms = jti, exp, ses, issued_ms
                self._token_changed(info, old)

    def add(self, info: SocketInfo, cap: int) -> None:
        """Register a socket; raises TooManyConnections past the per-user cap."""
        with self._lock:
            self._reserve(info, cap)
            self.local[info.sid] = info
            self.by_user.setdefault(info.user_id, {})[info.sid] = info

    def remove(self, sid: str) -> tuple[SocketInfo | None, list[PresenceChange]]:
        """Forget a socket on any disconnect path; returns it and the presence it changed."""
        with self._lock:
            info = self.local.pop(sid, None)
            if info is None:
                return None, []
            mine = self.by_user.get(info.user_id)
            if mine is not None:
                mine.pop(sid, None)
                if not mine:
                    del self.by_user[info.user_id]
            changes = [c for room in sorted(info.rooms) if (c := self._leave(info, room))]
            info.rooms = frozenset()
            self._release(info)
            return info, changes

    def join(self, sid: str, room: str) -> PresenceChange | None:
        """Put a socket in a room; a PresenceChange when its user is new there."""
        with self._lock:
            info = self.local[sid]
            if room in info.rooms:
                return None
            info.rooms = info.rooms | {room}
            return self._join(info, room)

    def leave(self, sid: str, room: str) -> PresenceChange | None:
        """Take a socket out of a room; a PresenceChange when its user is gone from it."""
        with self._lock:
            info = self.local.get(sid)
            if info is None or room not in info.rooms:
                return None
            info.rooms = info.rooms - {room}
            return self._leave(info, room)

    # -- shared state: implemented by each backend ---------------------------------------
    def members(self, room: str) -> list[str]:
        """Usernames present in a room, sorted, each once."""
        raise NotImplementedError

    def user_sockets(self, user_id: str) -> int:
        """How many live sockets a user holds, on every process."""
        raise NotImplementedError

    def user_jtis(self, user_id: str) -> set[str]:
        """The jtis a user's live sockets run on, on every process."""
        raise NotImplementedError

    def online_users(self) -> dict[str, int]:
        """user id -> live sockets, on every process."""
        raise NotImplementedError

    def _reserve(self, info: SocketInfo, cap: int) -> None:
        raise NotImplementedError

    def _release(self, info: SocketInfo) -> None:
        raise NotImplementedError

    def _join(self, info: SocketInfo, room: str) -> PresenceChange | None:
        raise NotImplementedError

    def _leave(self, info: SocketInfo, room: str) -> PresenceChange | None:
        raise NotImplementedError

    def _token_changed(self, info: SocketInfo, old_jti: str) -> None:
        """Hook for backends that index jtis globally."""

    def close(self) -> None:
        """Release backend resources."""


class MemoryRegistry(Registry):
    """The embedded default: everything in this process."""

    def __init__(self) -> None:
        super().__init__()
        self._presence: dict[str, dict[str, int]] = {}
        self._per_user: dict[str, int] = {}

    def members(self, room: str) -> list[str]:
        with self._lock:
            return sorted(self._presence.get(room, {}))

    def user_sockets(self, user_id: str) -> int:
        return self._per_user.get(user_id, 0)

    def online_users(self) -> dict[str, int]:
        with self._lock:
            return dict(self._per_user)

    def user_jtis(self, user_id: str) -> set[str]:
        return {s.jti for s in self.user_records(user_id)}

    def _reserve(self, info: SocketInfo, cap: int) -> None:
        count = self._per_user.get(info.user_id, 0)
        if count >= cap:
            raise TooManyConnections()
        self._per_user[info.user_id] = count + 1

    def _release(self, info: SocketInfo) -> None:
        count = self._per_user.get(info.user_id, 0) - 1
        if count > 0:
            self._per_user[info.user_id] = count
        else:
            self._per_user.pop(info.user_id, None)

    def _join(self, info: SocketInfo, room: str) -> PresenceChange | None:
        users = self._presence.setdefault(room, {})
        users[info.username] = users.get(info.username, 0) + 1
        if users[info.username] == 1:
            return PresenceChange(room, sorted(users))
        return None

    def _leave(self, info: SocketInfo, room: str) -> PresenceChange | None:
        users = self._presence.get(room, {})
        count = users.get(info.username, 0) - 1
        if count > 0:
            users[info.username] = count
            return None
        users.pop(info.username, None)
        if not users:
            self._presence.pop(room, None)
        return PresenceChange(room, sorted(users))
