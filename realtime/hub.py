"""The live-connection lifecycle: admit, expire, refresh, revoke, forget.

The hub knows nothing of Socket.IO: the namespace registers a Transport (emit, disconnect,
rooms) and a revocation Bus carries kicks to whichever process holds the socket.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from realtime.audit import AuditLog
from realtime.errors import RateLimited, auth_error
from realtime.expiry import ExpiryScheduler
from realtime.gctune import GcTuner
from realtime.limits import FailureCounter, TokenBucket
from realtime.metrics import NULL_METRICS
from realtime.registry import PresenceChange, Registry, SocketInfo
from realtime.tokens import Identity

log = logging.getLogger(__name__)


class Transport(Protocol):
    """What the hub needs from the socket layer."""

    def emit(self, event: str, data: Any, to: str) -> None: ...
    def broadcast(self, event: str, data: Any, room: str) -> None: ...
    def disconnect(self, sid: str) -> None: ...
    def enter_room(self, sid: str, room: str) -> None: ...
    def leave_room(self, sid: str, room: str) -> None: ...


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


class Hub:
    """Connection lifecycle shared by the socket namespace and the REST blueprints."""

    metrics = NULL_METRICS  # realtime.metrics.install() sets the app's counters

    def __init__(self, *, registry: Registry, audit: AuditLog, bus: Any,
                 sleep: Callable[[float], None], spawn: Callable[..., object],
                 max_per_user: int, event_rate: tuple[float, float], abuse_disconnect: int,
                 auth_failures: FailureCounter, leeway: float = 0.0,
                 connect_rate: tuple[float, float] = (2.0, 20.0)) -> None:
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
        self.bus.handler = self._on_bus
        self.gc_tuner: GcTuner | None = None
        # Revocations seen lately, numbered: a connect or refresh verified before one of them
        # arrived, and registered after, is caught by comparing with the mark taken before verify.
        self._seq = itertools.count(1)
        self._last_seq = 0
        self._recent: deque[tuple[int, float, dict]] = deque(maxlen=4096)
        self._sleep, self._spawn = sleep, spawn
        self.sweeper: Callable[[list[SocketInfo]], list[str]] | None = None
        self.sweep_interval = 0.0
        self._sweeping = False

    # -- admission --------------------------------------------------------------------------
    def check_address(self, remote_addr: str | None) -> None:
        """Refuse an address that has failed too often (`AUTH_FAILURE_LIMIT`)."""
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

    def bind_runtime(self, sleep: Callable[[float], None], spawn: Callable[..., object]) -> None:
        """Run the sweep with the socket layer's async primitives (before it has started)."""
        self._sleep, self._spawn = sleep, spawn

    def mark(self) -> int:
        """A revocation watermark; take it before verifying a token, pass it to admit/refreshed."""
        return self._last_seq

    def admit(self, sid: str, ident: Identity, remote_addr: str | None, mark: int | None = None) -> dict:
        """Register an authenticated socket and schedule its expiry; returns the session payload."""
        info = SocketInfo(sid=sid, user_id=ident.user_id, username=ident.username, jti=ident.jti,
                          exp=ident.exp, remote_addr=remote_addr, ses=ident.ses, issued_ms=ident.issued_ms)
        # Event budgets outlive sockets, so reconnecting refills nothing; connects have their own.
        retry = self.bucket(ident.user_id, self._connect_buckets, self.connect_rate).take()
        if retry:
            raise RateLimited(retry)
        self.registry.add(info, self.max_per_user)
        if mark is not None and self._revoked_since(mark, info):
            self.registry.remove(sid)
            raise auth_error("token_revoked")
        if self.gc_tuner is not None:
            self.gc_tuner.start()  # only a serving process with sockets needs it
        if self.sweeper is not None:
            self.start_sweep()
        self.expiry.schedule(sid, ident.exp)
        self.metrics.connected()
        self.audit.enqueue("connect", user_id=ident.user_id, sid=sid, remote_addr=remote_addr)
        return {"user": ident.public(), "sid": sid, "expires_at": ident.exp}

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

    def _rate_limited(self, info: SocketInfo, bucket: TokenBucket, *, first: bool) -> None:
        """One audit row per episode; a kick (audited) once strikes reach SOCKET_ABUSE_DISCONNECT bursts."""
        if first:
            self.audit.enqueue("rate_limited", user_id=info.user_id, sid=info.sid,
                               remote_addr=info.remote_addr, scope="event")
        if bucket.strikes >= self.abuse_disconnect * max(1.0, float(self.event_rate[1])):
            self.kick(info.sid, "rate_limited", event=None)

    # -- token lifecycle -------------------------------------------------------------------
    def refreshed(self, sid: str, ident: Identity, mark: int | None = None) -> dict:
        """Swap a live socket's token in place; the caller verified it."""
        info = self.registry.get(sid)
        if info is None:
            raise auth_error("auth_required")
        if ident.user_id != info.user_id:
            raise auth_error("identity_mismatch")
        candidate = SocketInfo(sid=sid, user_id=ident.user_id, username=ident.username, jti=ident.jti,
                               exp=ident.exp, ses=ident.ses, issued_ms=ident.issued_ms)
        if mark is not None and self._revoked_since(mark, candidate):
            raise auth_error("token_revoked")
        self.registry.update_token(sid, ident.jti, ident.exp, ident.ses, ident.issued_ms)
        self.expiry.schedule(sid, ident.exp)
        self.audit.enqueue("refresh", user_id=info.user_id, sid=sid, remote_addr=info.remote_addr)
        return {"ok": True, "expires_at": ident.exp}

    def refresh_refused(self, sid: str, code: str) -> None:
        """Audit a refused in-place refresh and count it against the address, like a refused connect."""
        info = self.registry.get(sid)
        addr = info.remote_addr if info else None
        if code not in ("rate_limited", "invalid_payload"):
            self.auth_failures.hit(addr or "?")
        self.audit.enqueue("refresh_refused", user_id=info.user_id if info else None, sid=sid,
                           remote_addr=addr, code=code)

    def revoke(self, *, jtis: list[str] | None = None, user_id: str | None = None,
               before_ms: int | None = None) -> None:
        """Kick every socket on these jtis or sessions (or of this user, issued at or before
        `before_ms` when given), on whichever process holds it."""
        self.bus.publish({"op": "revoke", "jtis": list(jtis or []), "user_id": user_id, "before_ms": before_ms})

    def _on_bus(self, message: dict) -> None:
        if message.get("op") != "revoke":
            return
        seq = next(self._seq)
        self._recent.append((seq, time.monotonic(), message))
        self._last_seq = seq
        user_id, before = message.get("user_id"), message.get("before_ms")
        sids = set(self.registry.local_sids(user_id=str(user_id), before_ms=before)) if user_id else set()
        for jti in message.get("jtis", []):
            sids.update(self.registry.local_sids(jti=jti))
        for sid in sids:
            self.kick(sid, "token_revoked", event="auth_revoked")

    def _revoked_since(self, mark: int, info: SocketInfo) -> bool:
        """True when a revocation that arrived after `mark` names this socket's token, session or user."""
        for seq, _, message in reversed(self._recent):
            if seq <= mark:
                break
            user_id, before = message.get("user_id"), message.get("before_ms")
            if user_id and str(user_id) == info.user_id and (before is None or info.issued_ms <= before):
                return True
            names = message.get("jtis") or ()
            if info.jti in names or (info.ses and info.ses in names):
                return True
        return False

    # -- the safety net behind the bus ---------------------------------------------------------
    def start_sweep(self) -> None:
        """Start the revalidation sweep (once): every local socket re-checked each interval."""
        if self._sweeping or self.sweep_interval <= 0 or self.sweeper is None:
            return
        self._sweeping = True
        self._spawn(self._sweep_loop)

    def _sweep_loop(self) -> None:
        while self._sweeping:
            self._sleep(self.sweep_interval)
            if not self._sweeping:
                break
            try:
                self.sweep()
            except Exception:  # noqa: BLE001 - a database blip must not end the safety net
                log.warning("revalidation sweep failed; retrying next interval", exc_info=True)

    def sweep(self, chunk: int = 200) -> int:
        """Re-check every local socket's token against the database; kick the revoked. Returns kicks."""
        if self.sweeper is None:
            return 0
        kicked = 0
        records = list(self.registry.local.values())
        for i in range(0, len(records), chunk):
            for sid in self.sweeper(records[i:i + chunk]):
                if self.registry.get(sid) is not None:
                    self.kick(sid, "token_revoked", event="auth_revoked")
                    kicked += 1
            self._sleep(0)  # let events run between chunks
        for user_id in {u for d in (self._buckets, self._connect_buckets) for u, b in d.items() if b.is_full()}:
            self._drop_full_bucket(user_id)
        cutoff = time.monotonic() - 300
        while self._recent and self._recent[0][1] < cutoff:
            self._recent.popleft()
        return kicked

    def _on_expire(self, sid: str) -> None:
        info = self.registry.get(sid)
        if info is not None and time.time() >= info.exp + self.leeway:
            self.kick(sid, "token_expired", event="auth_expired")

    def kick(self, sid: str, code: str, event: str | None) -> None:
        """Tell a local socket why (if event), then disconnect it; audited as `kick`."""
        info = self.registry.get(sid)
        if info is None or self.transport is None:
            return
        self.audit.enqueue("kick", user_id=info.user_id, sid=sid, remote_addr=info.remote_addr, code=code)
        if event:
            self.transport.emit(event, {"code": code}, sid)
        self.transport.disconnect(sid)
        # A transport that did not call back into forget() still must not leave the socket registered.
        self.forget(sid, f"kicked: {code}")

    # -- rooms and presence ----------------------------------------------------------------
    def publish_presence(self, changes: list[PresenceChange]) -> None:
        """Emit `presence` to each room whose set of users changed."""
        if self.transport is None:
            return
        for change in changes:
            self.transport.broadcast("presence", {"room": change.room, "members": change.members}, change.room)

    def close(self) -> None:
        """Stop background work (tests, shutdown)."""
        self._sweeping = False
        self.expiry.stop()
        if self.gc_tuner is not None:
            self.gc_tuner.stop()
        self.bus.close()
        self.registry.close()
