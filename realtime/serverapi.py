"""What the server API does, on top of the hub, registry and rooms: the one adapter it calls.

Keys: `SERVER_API_KEYS` maps a name to a key, or to `sha256:<hex>` of one (so the config need
not hold the key itself); a list is named `key0`, `key1`... Only digests are kept in memory and a
presented key is compared with every digest in constant time. Keys and digests are never logged.

Cross-process: a message goes out through Socket.IO's queue like a user's; events for one user and
kicks travel on the hub's bus, and each process delivers to the sockets it holds.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from extensions import db
from flask_socketio_jwt import NotFound, SocketJWTError, State, TokenBucket
from models import User
from realtime import dbwrite, rooms, tokens

SERVER_USERNAME = "@server"  # never a valid username (no `@`), so no user can pose as it
MIN_KEY_CHARS = 32
EMIT_OP = "server_emit"


class PayloadTooLarge(SocketJWTError):
    code, status, message = "payload_too_large", 413, "The payload is too large."


@dataclass
class Caller:
    """Who called: a named key, or an admin user."""

    kind: str  # "key" or "admin"
    name: str  # the key's name or the admin's user id

    def label(self) -> str:
        """How audit rows name the caller (never the key)."""
        return f"{self.kind}:{self.name}"


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def parse_keys(raw: Any) -> dict[str, bytes]:
    """SERVER_API_KEYS as name -> sha256 digest; RuntimeError on a weak or malformed entry."""
    if not raw:
        return {}
    items = raw.items() if isinstance(raw, dict) else ((f"key{i}", v) for i, v in enumerate(raw))
    keys: dict[str, bytes] = {}
    for name, value in items:
        if not isinstance(value, str) or not isinstance(name, str) or not name:
            raise RuntimeError("SERVER_API_KEYS entries must be non-empty strings")
        if value.startswith("sha256:"):
            try:
                digest = bytes.fromhex(value[7:])
            except ValueError:
                digest = b""
            if len(digest) != 32:
                raise RuntimeError(f"SERVER_API_KEYS[{name!r}]: sha256: needs 64 hex digits")
            keys[name] = digest
        else:
            if len(value) < MIN_KEY_CHARS:
                raise RuntimeError(f"SERVER_API_KEYS[{name!r}] must be at least {MIN_KEY_CHARS} characters")
            keys[name] = _digest(value)
    return keys


# A user id as the path gives it: ASCII digits without a leading zero (`01`, `١` and `²` are not ids).
USER_ID = re.compile(r"[1-9][0-9]{0,17}")


@dataclass
class ServerApi:
    """Per-app state of the server API: key digests, per-caller buckets, the sender's user id."""

    state: State
    keys: dict[str, bytes]
    rate: tuple[float, float]
    max_event_bytes: int
    history_limit: int
    history_max: int
    revoke_for: int  # seconds a revocation must outlive: the longest token lifetime
    sender_id: int | None = None
    buckets: dict[str, TokenBucket] = field(default_factory=dict)

    # -- callers -----------------------------------------------------------------------------
    def key_name(self, presented: str) -> str | None:
        """The name of the key presented, or None; compares with every key, in constant time each."""
        candidate = _digest(presented)
        found = None
        for name, digest in self.keys.items():
            if hmac.compare_digest(candidate, digest) and found is None:
                found = name
        return found

    def take(self, caller: Caller) -> tuple[float, bool]:
        """(0.0 when the caller may call now, else the seconds to wait; True on an episode's first refusal)."""
        bucket = self.buckets.get(caller.label())
        if bucket is None:
            bucket = self.buckets[caller.label()] = TokenBucket(*self.rate)
        episode_open = bucket.limited
        retry = bucket.take()
        return retry, bool(retry) and not episode_open

    # -- operations ----------------------------------------------------------------------------
    def publish(self, room: str, text: str) -> dict:
        """Store a message from `@server` in a room's history, then broadcast it on every process."""
        msg = rooms.store_message(room, str(self._sender()), SERVER_USERNAME, text)
        self._transport().broadcast("message", msg, room)
        return msg

    def emit(self, user_id: str, event: str, data: Any) -> int:
        """Send `server_event` to every socket of a user, wherever it lives; returns their count."""
        self._user(user_id)
        encoded = json.dumps(data, separators=(",", ":"), allow_nan=False)
        if len(encoded.encode()) > self.max_event_bytes:
            raise PayloadTooLarge(f"`data` is over {self.max_event_bytes} bytes encoded.")
        self.state.hub.bus.publish({"op": EMIT_OP, "user_id": user_id,
                                    "payload": {"event": event, "data": data, "ts": time.time()}})
        return self.state.registry.user_sockets(user_id)

    def disconnect(self, user_id: str, jti: str | None, revoke: bool) -> list[str]:
        """Kick a user's sockets (or one token's) with `auth_revoked`; revoke the token(s) first if asked."""
        uid = self._user(user_id)
        live = self.state.registry.user_jtis(user_id)
        if jti and jti not in live:
            # Only a token this user holds on a live socket: a jti of someone else's never
            # reaches the blocklist or the kick under this user's name.
            raise NotFound("This user has no live socket on that token.")
        jtis = [jti] if jti else sorted(live)
        # Every token issued up to this millisecond (the unit "log out everywhere" uses).
        before = time.time_ns() // 1_000_000
        if revoke:
            far = int(time.time()) + self.revoke_for

            def unit() -> None:
                row = db.session.get(User, uid)
                if jti is None and row is not None:
                    row.tokens_valid_after = before  # tokens it holds offline die too
                for one in jtis:
                    tokens.revoke(one, uid, far)
                db.session.commit()

            # Committed before the kick, so a kicked client that reconnects is refused.
            dbwrite.write(unit)
        if jti:
            self.state.hub.revoke(jtis=jtis)
        else:
            self.state.hub.revoke(jtis=jtis, user_id=user_id, before_ms=before)
        return jtis

    def presence(self, room: str) -> list[str]:
        """Usernames in a room, on every process."""
        return self.state.registry.members(room)

    def history(self, room: str, since: int | None, limit: int | None) -> tuple[list[dict], bool]:
        """The last `limit` messages, or those after `since` (at most HISTORY_MAX)."""
        cap = min(limit or self.history_max, self.history_max)
        return rooms.history(room, since, min(limit or self.history_limit, self.history_max), cap)

    def online(self, after: int, limit: int) -> tuple[list[dict], str | None]:
        """Users with live sockets on any process, by id: a page after `after`, and the next cursor."""
        counts = sorted((int(uid), n) for uid, n in online_counts(self.state.registry).items()
                        if n > 0 and str(uid).isdigit() and int(uid) > after)
        page, more = counts[:limit], len(counts) > limit
        names = {}
        if page:
            rows = db.session.execute(sa.select(User.id, User.username).where(User.id.in_([i for i, _ in page])))
            names = dict(rows.all())
            db.session.rollback()  # end the read transaction (SQLite readers must not pin the WAL)
        users = [{"id": str(i), "username": names[i], "sockets": n} for i, n in page if i in names]
        return users, (str(page[-1][0]) if more else None)

    # -- helpers ---------------------------------------------------------------------------------
    def _transport(self) -> Any:
        transport = self.state.hub.transport
        if transport is None:
            raise SocketJWTError("The socket layer is not running.")
        return transport

    def _user(self, user_id: str) -> int:
        """The id of an existing user (not `@server`), or NotFound."""
        row = None
        if USER_ID.fullmatch(user_id):  # ASCII digits, no leading zero: one spelling per user
            row = db.session.execute(sa.select(User.id, User.username).where(User.id == int(user_id))).first()
            db.session.rollback()  # end the read transaction
        if row is None or row[1] == SERVER_USERNAME:
            raise NotFound("No such user.")
        return int(row[0])

    def _sender(self) -> int:
        """The id of the `@server` user row that server messages name (created once, inactive)."""
        if self.sender_id is None:
            found = db.session.scalar(sa.select(User.id).where(User.username == SERVER_USERNAME))
            db.session.rollback()
            if found is None:
                def unit() -> int:
                    # Inactive and with no usable password hash: it can never log in or connect.
                    row = User(username=SERVER_USERNAME, password_hash="!", is_active=False)
                    db.session.add(row)
                    db.session.commit()
                    return row.id

                try:
                    found = dbwrite.write(unit)
                except sa.exc.IntegrityError:  # another process created it first
                    found = db.session.scalar(sa.select(User.id).where(User.username == SERVER_USERNAME))
                    db.session.rollback()
            self.sender_id = found
        return self.sender_id

    # -- the bus: deliver events for a user on this process ------------------------------------
    def on_bus(self, message: dict) -> bool:
        """Deliver a server event to this process's sockets of its user; False for other messages."""
        if message.get("op") != EMIT_OP:
            return False
        transport = self.state.hub.transport
        if transport is None:
            return True
        registry = self.state.registry
        for sid in registry.local_sids(user_id=str(message.get("user_id"))):
            info = registry.get(sid)
            if info is None:
                continue
            # This process holds the socket: emit here, not through the queue to every process.
            transport.socketio.server.emit("server_event", message.get("payload"), to=sid,
                                           namespace=info.namespace, ignore_queue=True)
        return True


def online_counts(registry: Any) -> dict[str, int]:
    """user id -> live sockets, on every process (the registry's per-user cap counts)."""
    return registry.online_users()


def _seconds(value: Any) -> int:
    return int(value.total_seconds()) if hasattr(value, "total_seconds") else int(value)


def install(state: State, cfg: dict) -> ServerApi:
    """Build the server API for an app and chain its bus handler after the hub's."""
    api = ServerApi(state=state, keys=parse_keys(cfg.get("SERVER_API_KEYS")),
                    rate=tuple(cfg["SERVER_API_RATE_LIMIT"]),  # type: ignore[arg-type]
                    max_event_bytes=int(cfg["SOCKETIO_JWT_MAX_MESSAGE_BYTES"]),
                    history_limit=int(cfg["HISTORY_LIMIT"]), history_max=int(cfg["HISTORY_MAX"]),
                    revoke_for=_seconds(cfg["JWT_REFRESH_TOKEN_EXPIRES"]))
    previous = state.hub.bus.handler

    def handler(message: dict) -> None:
        if not api.on_bus(message) and previous is not None:
            previous(message)

    state.hub.bus.handler = handler
    return api

