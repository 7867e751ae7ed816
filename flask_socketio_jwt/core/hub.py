"""The live-connection lifecycle: admit, expire, refresh, revoke, forget.

The hub knows nothing of Socket.IO: the namespace registers a Transport (emit, disconnect,
rooms) and a revocation Bus carries kicks to whichever process holds the socket.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from flask_socketio_jwt.core.audit import AuditLog
from flask_socketio_jwt.core.errors import RateLimited, auth_error
from flask_socketio_jwt.core.expiry import ExpiryScheduler
from flask_socketio_jwt.core.gctune import GcTuner
from flask_socketio_jwt.core.limits import FailureCounter, TokenBucket
from flask_socketio_jwt.core.metrics import NULL_METRICS
from flask_socketio_jwt.core.registry import PresenceChange, Registry, SocketInfo
from flask_socketio_jwt.core.revocation import RecentRevocations, Sweeper, issued_ms, names, session_of
from flask_socketio_jwt.core.tokens import Verified

log = logging.getLogger(__name__)


class Transport(Protocol):
    """What the hub needs from the socket layer."""

    def emit(self, event: str, data: Any, to: str, namespace: str = "/") -> None: ...
    def broadcast(self, event: str, data: Any, room: str, namespace: str = "/") -> None: ...
    def disconnect(self, sid: str, namespace: str = "/") -> None: ...
    def enter_room(self, sid: str, room: str, namespace: str = "/") -> None: ...
    def leave_room(self, sid: str, room: str, namespace: str = "/") -> None: ...
    def close_session(self, eio_sid: str, abort: bool) -> None: ...


class LocalBus:
    """Delivers revocations in this process only (the embedded default)."""

    def __init__(self) -> None:
        self.handler: Callable[[dict], None] | None = None

    def publish(self, message: dict) -> None:
        """Deliver a revocation to every process (here: this one)."""
        if self.handler is not None:
            self.handler(message)

    def close(self) -> None:
        """Nothing to release."""


# Why a revocation ends a socket, as `auth_revoked` tells the client.
REVOKE_CODES = frozenset({"token_revoked", "user_unknown"})


class Hub:
    """The live-connection lifecycle of one app: admit, guard, refresh, revoke, kick, rooms and presence."""

    metrics = NULL_METRICS  # realtime.metrics.install() sets the app's counters

    def __init__(self, *, registry: Registry, audit: AuditLog, bus: Any,
                 sleep: Callable[[float], None], spawn: Callable[..., object],
                 max_per_user: int, event_rate: tuple[float, float], abuse_disconnect: int,
                 auth_failures: FailureCounter, leeway: float = 0.0,
                 connect_rate: tuple[float, float] = (2.0, 20.0), sweep_interval: float = 0.0) -> None:
        self.registry, self.audit, self.bus = registry, audit, bus
        self.max_per_user = max_per_user
        self.event_rate = event_rate
        self.abuse_disconnect = abuse_disconnect
        self.auth_failures = auth_failures
        self.leeway = leeway
        self.transport: Transport | None = None
        self.expiry = ExpiryScheduler(self._on_expire, sleep=sleep, spawn=spawn, leeway=leeway)
        # One event budget per user, whatever its sockets and reconnects; one connect budget too.
        self._buckets: dict[str, TokenBucket] = {}
        self._connect_buckets: dict[str, TokenBucket] = {}
        self.connect_rate = connect_rate
        self.revocations = RecentRevocations()
        self.sweeper = Sweeper(local=lambda: list(self.registry.local.values()), kick=self._sweep_kick,
                               sleep=sleep, spawn=spawn, interval=sweep_interval)
        self.sweeper.after += [self.revocations.prune, self._drop_full_buckets]
        self.bus.handler = self._on_bus
        self.gc_tuner: GcTuner | None = None
        # Namespaces that admitted a socket: presence is broadcast to the room in each of them.
        self.namespaces: set[str] = set()

    # -- admission --------------------------------------------------------------------------
    def check_address(self, remote_addr: str | None) -> None:
        """Refuse an address that has failed too often (`SOCKETIO_JWT_AUTH_FAILURE_LIMIT`)."""
        retry = self.auth_failures.retry_after(remote_addr or "?")
        if retry:
            raise RateLimited(retry)

    def refused(self, code: str, *, sid: str | None, remote_addr: str | None,
                user_id: Any = None) -> None:
        """Count and audit a refused connect."""
        if code not in ("rate_limited", "too_many_connections", "origin_forbidden"):
            self.auth_failures.hit(remote_addr or "?")
        self.metrics.refused(code)
        self.audit.enqueue("connect_refused", user_id=user_id, sid=sid, remote_addr=remote_addr, code=code)

    def mark(self) -> int:
        """A revocation watermark: take it before verifying a token, pass it to admit/refreshed."""
        return self.revocations.mark()

    def admit(self, sid: str, ident: Verified, remote_addr: str | None, *, user: dict[str, Any],
              namespace: str = "/", mark: int | None = None) -> dict[str, Any]:
        """Register an authenticated socket and schedule its expiry; returns the session payload."""
        info = SocketInfo(sid=sid, user_id=ident.identity, username=str(user.get("username", ident.identity)),
                          jti=ident.jti, exp=ident.exp, remote_addr=remote_addr, namespace=namespace,
                          claims=ident.claims, header=ident.header, user=ident.user,
                          ses=session_of(ident.claims), issued_ms=issued_ms(ident.claims))
        # Event budgets outlive sockets, so reconnecting refills nothing; connects have their own.
        retry = self.bucket(ident.identity, self._connect_buckets, self.connect_rate).take()
        if retry:
            raise RateLimited(retry)
        self.registry.add(info, self.max_per_user)
        if mark is not None and self.revocations.since(mark, info):
            self.registry.remove(sid)
            raise auth_error("token_revoked")
        self.namespaces.add(namespace)
        if self.gc_tuner is not None:
            self.gc_tuner.start()  # only a serving process with sockets needs it
        self.sweeper.start()
        self.expiry.schedule(sid, ident.exp)
        return {"user": user, "sid": sid, "expires_at": ident.exp}

    def confirm(self, info: SocketInfo) -> None:
        """The app's own connect handler accepted an admitted socket: count and audit the connect."""
        self.metrics.connected()
        self.audit.enqueue("connect", user_id=info.user_id, sid=info.sid, remote_addr=info.remote_addr)

    def withdraw(self, sid: str, code: str) -> None:
        """The app's own connect handler refused an admitted socket: forget it, audit the refusal."""
        self.expiry.cancel(sid)
        info, changes = self.registry.remove(sid)
        if info is None:
            return
        self.publish_presence(changes)
        self.metrics.refused(code)
        self.audit.enqueue("connect_refused", user_id=info.user_id, sid=sid, remote_addr=info.remote_addr,
                           code=code)

    def forget(self, sid: str, reason: str) -> None:
        """Clean every trace of a socket; runs on every disconnect path."""
        self.expiry.cancel(sid)
        info, changes = self.registry.remove(sid)
        if info is None:
            return
        self._drop_full_bucket(info.user_id)
        self.metrics.disconnected()
        self.publish_presence(changes)
        self.audit.enqueue("disconnect", user_id=info.user_id, sid=sid, remote_addr=info.remote_addr,
                           reason=reason, seconds=round(time.time() - info.connected_at, 3))

    # -- per-event guard -------------------------------------------------------------------
    def guard(self, sid: str) -> SocketInfo:
        """The socket's record if it may run an event now; raises the contract error if not."""
        info = self.registry.get(sid)
        if info is None:
            raise auth_error("auth_required")
        if time.time() >= info.exp + self.leeway:
            # The timer may not have fired yet; the event must never reach a handler anyway.
            self.expiry.schedule(sid, 0)
            raise auth_error("token_expired")
        bucket = self.bucket(info.user_id)
        episode_open = bucket.limited
        retry = bucket.take()
        if retry:
            self._rate_limited(info, bucket, first=not episode_open)
            raise RateLimited(retry)
        return info

    def bucket(self, user_id: str, buckets: dict[str, TokenBucket] | None = None,
               rate: tuple[float, float] | None = None) -> TokenBucket:
        """The user's event budget, or another per-user budget (made full on first use)."""
        buckets = self._buckets if buckets is None else buckets
        bucket = buckets.get(user_id)
        if bucket is None:
            bucket = buckets[user_id] = TokenBucket(*(rate or self.event_rate))
        return bucket

    def _drop_full_bucket(self, user_id: str) -> None:
        """Forget a user's budgets once they are full again and the user has no socket here."""
        if self.registry.local_sids(user_id=user_id):
            return
        for buckets in (self._buckets, self._connect_buckets):
            bucket = buckets.get(user_id)
            if bucket is not None and bucket.is_full():
                del buckets[user_id]

    def _drop_full_buckets(self) -> None:
        for user_id in {u for d in (self._buckets, self._connect_buckets) for u, b in d.items() if b.is_full()}:
            self._drop_full_bucket(user_id)

    def _rate_limited(self, info: SocketInfo, bucket: TokenBucket, *, first: bool) -> None:
        """One audit row per episode; a kick (audited) once strikes reach SOCKETIO_JWT_ABUSE_DISCONNECT bursts."""
        if first:
            self.audit.enqueue("rate_limited", user_id=info.user_id, sid=info.sid,
                               remote_addr=info.remote_addr, scope="event")
        if bucket.strikes >= self.abuse_disconnect * max(1.0, float(self.event_rate[1])):
            self.kick(info.sid, "rate_limited", event=None)

    # -- token lifecycle -------------------------------------------------------------------
    def refreshed(self, sid: str, ident: Verified, mark: int | None = None) -> dict[str, Any]:
        """Swap a live socket's token in place; the caller verified it (after taking `mark`)."""
        info = self.registry.get(sid)
        if info is None:
            raise auth_error("auth_required")
        if ident.identity != info.user_id:
            raise auth_error("identity_mismatch")
        ses, issued = session_of(ident.claims), issued_ms(ident.claims)
        candidate = SocketInfo(sid=sid, user_id=info.user_id, username=info.username, jti=ident.jti,
                               exp=ident.exp, ses=ses, issued_ms=issued)
        if mark is not None and self.revocations.since(mark, candidate):
            raise auth_error("token_revoked")
        self.registry.update_token(sid, ident.jti, ident.exp, ses, issued)
        info.claims, info.header, info.user = ident.claims, ident.header, ident.user
        self.expiry.schedule(sid, ident.exp)
        self.audit.enqueue("refresh", user_id=info.user_id, sid=sid, remote_addr=info.remote_addr)
        return {"ok": True, "expires_at": ident.exp}

    def refresh_refused(self, sid: str, code: str) -> None:
        """Audit a refused in-place refresh and count it against the address, like a refused connect."""
        info = self.registry.get(sid)
        addr = info.remote_addr if info else None
        if code not in ("rate_limited", "invalid_payload", "unavailable"):
            self.auth_failures.hit(addr or "?")
        self.audit.enqueue("refresh_refused", user_id=info.user_id if info else None, sid=sid,
                           remote_addr=addr, code=code)

    def revoke(self, *, jtis: list[str] | None = None, user_id: str | None = None,
               before_ms: int | None = None, code: str = "token_revoked") -> None:
        """Kick every socket on these jtis or sessions (or of this user, issued at or before
        `before_ms` when given), on whichever process holds it; `code` says why (`auth_revoked`)."""
        message = {"op": "revoke", "jtis": list(jtis or []), "user_id": user_id, "before_ms": before_ms}
        if code != "token_revoked":
            message["code"] = code
        self.bus.publish(message)

    def _on_bus(self, message: dict) -> None:
        if message.get("op") != "revoke":
            return
        self.revocations.record(message)
        code = message.get("code")
        code = code if code in REVOKE_CODES else "token_revoked"
        for info in list(self.registry.local.values()):
            if names(message, info):
                self.kick(info.sid, code, event="auth_revoked")

    def _sweep_kick(self, sid: str, code: str) -> bool:
        if self.registry.get(sid) is None:
            return False
        self.kick(sid, code, event="auth_revoked")
        return True

    def _on_expire(self, sid: str) -> None:
        info = self.registry.get(sid)
        if info is not None and time.time() >= info.exp + self.leeway:
            self.kick(sid, "token_expired", event="auth_expired")

    def kick(self, sid: str | None, code: str, event: str | None = None, *, eio_sid: str | None = None,
             abort: bool = False, **detail: Any) -> None:
        """Every kick: one `kick` audit row, the event telling the socket why (if any), one disconnect.

        A socket of the namespace is disconnected through Socket.IO; a session below it (`eio_sid`:
        a protocol violation or a slow consumer, known to no namespace yet) is closed at Engine.IO.
        """
        info = self.registry.get(sid) if sid else None
        if self.transport is None or (info is None and eio_sid is None):
            return
        self.audit.enqueue("kick", user_id=info.user_id if info else None, sid=sid or eio_sid,
                           remote_addr=info.remote_addr if info else None, code=code, **detail)
        if eio_sid is not None:
            # Closing the Engine.IO session runs the namespace's disconnect, which forgets the socket.
            self.transport.close_session(eio_sid, abort)
            return
        assert info is not None
        if event:
            self.transport.emit(event, {"code": code}, info.sid, info.namespace)
        self.transport.disconnect(info.sid, info.namespace)
        # A transport that did not call back into forget() still must not leave the socket registered.
        self.forget(info.sid, f"kicked: {code}")

    # -- rooms and presence ----------------------------------------------------------------
    def join(self, info: SocketInfo, room: str, **detail: Any) -> bool:
        """Put a socket in a room: Socket.IO room, presence (announced if it changed), audit row.

        Returns True when the socket's user is new in the room (its first socket there).
        """
        assert self.transport is not None
        self.transport.enter_room(info.sid, room, info.namespace)
        change = self.registry.join(info.sid, room)
        if change:
            self.publish_presence([change])
        self.audit.enqueue("join", user_id=info.user_id, sid=info.sid, remote_addr=info.remote_addr, room=room,
                           **detail)
        return change is not None

    def leave(self, info: SocketInfo, room: str) -> None:
        """Take a socket out of a room: Socket.IO room, presence (announced if it changed), audit row."""
        assert self.transport is not None
        self.transport.leave_room(info.sid, room, info.namespace)
        change = self.registry.leave(info.sid, room)
        if change:
            self.publish_presence([change])
        self.audit.enqueue("leave", user_id=info.user_id, sid=info.sid, remote_addr=info.remote_addr, room=room)

    def post(self, info: SocketInfo, room: str, event: str, data: Any, **detail: Any) -> None:
        """Broadcast an event to a room the socket is in (every process), audited under the event's name."""
        assert self.transport is not None
        self.transport.broadcast(event, data, room, info.namespace)
        self.audit.enqueue(event, user_id=info.user_id, sid=info.sid, remote_addr=info.remote_addr, room=room,
                           **detail)

    def members(self, room: str) -> list[str]:
        """Usernames present in a room, on every process."""
        return self.registry.members(room)

    def publish_presence(self, changes: list[PresenceChange]) -> None:
        """Emit `presence` to each room whose set of users changed."""
        if self.transport is None:
            return
        for change in changes:
            for namespace in sorted(self.namespaces) or ["/"]:
                self.transport.broadcast("presence", {"room": change.room, "members": change.members},
                                         change.room, namespace)

    def close(self) -> None:
        """Stop background work (tests, shutdown)."""
        self.sweeper.stop()
        self.expiry.stop()
        if self.gc_tuner is not None:
            self.gc_tuner.stop()
        self.bus.close()
        self.registry.close()
