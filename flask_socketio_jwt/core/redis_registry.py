"""RedisRegistry: presence, per-user caps and jtis shared by every process through Redis.

Each process keeps a ledger of what it added (see realtime/redis_scripts.py) and a heartbeat
key with a TTL. One background task per process refreshes the heartbeat, resynchronises the
ledger from the local socket records when Redis lost it (restart, or this process was swept
after a long pause), and sweeps processes whose heartbeat expired, publishing the presence
changes that removes. Local socket records stay the source of truth for this process.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any

import redis

from flask_socketio_jwt.core import redis_scripts as lua
from flask_socketio_jwt.core.errors import TooManyConnections
from flask_socketio_jwt.core.registry import PresenceChange, Registry, SocketInfo

log = logging.getLogger(__name__)


class RedisRegistry(Registry):
    """The scale-out registry: same contract as MemoryRegistry, state global across processes."""

    def __init__(self, client: redis.Redis, *, prefix: str = "realtime", ttl: float = 15.0,
                 spawn: Callable[..., object] | None = None,
                 sleep: Callable[[float], None] = time.sleep, proc_id: str | None = None) -> None:
        super().__init__()
        self.r, self.prefix, self.ttl = client, prefix, float(ttl)
        self.proc = proc_id or uuid.uuid4().hex[:16]
        self._spawn, self._sleep = spawn, sleep
        # The scripts build their keys from the prefix; naming one of them routes each call to the
        # node holding them all on a Redis Cluster (the prefix carries a hash tag there).
        route = [self._key("procs")]
        self._scripts = {name: partial(client.register_script(getattr(lua, name)), route)
                         for name in ("APPLY", "RESERVE", "SYNC", "SWEEP", "HEARTBEAT")}
        self._started = False
        self._start_lock = threading.Lock()
        self.running = False
        self.dirty = False
        self.on_start: list[Callable[[], None]] = []

    # -- reads ------------------------------------------------------------------------------
    def members(self, room: str) -> list[str]:
        self.start()
        try:
            counts = self.r.hgetall(self._key("room", room))
        except redis.RedisError:
            log.warning("registry: Redis unavailable; presence of %s from this process only", room)
            with self._lock:
                return sorted({s.username for s in self.local.values() if room in s.rooms})
        return sorted(u for u, n in counts.items() if int(n) > 0)

    def user_sockets(self, user_id: str) -> int:
        self.start()
        try:
            return max(int(self.r.hget(self._key("conn"), user_id) or 0), 0)
        except redis.RedisError:
            return len(self.local_sids(user_id=user_id))

    def online_users(self) -> dict[str, int]:
        self.start()
        try:  # the global hash behind the per-user cap
            return {k: n for k, v in self.r.hgetall(self._key("conn")).items() if (n := int(v)) > 0}
        except redis.RedisError:
            with self._lock:  # what this process knows while Redis is away
                counts: dict[str, int] = {}
                for s in self.local.values():
                    counts[s.user_id] = counts.get(s.user_id, 0) + 1
                return counts

    def user_jtis(self, user_id: str) -> set[str]:
        self.start()
        local = {s.jti for s in self.user_records(user_id)}
        try:
            counts = self.r.hgetall(self._key("jtis", user_id))
        except redis.RedisError:
            return local
        return local | {j for j, n in counts.items() if int(n) > 0}

    # -- writes (called under self._lock by Registry) -----------------------------------------
    def _reserve(self, info: SocketInfo, cap: int) -> None:
        self.start()
        try:
            admitted, registered = self._scripts["RESERVE"](
                args=[self.prefix, self.proc, info.user_id, info.jti, cap])
        except redis.RedisError:
            # Fail open during a Redis outage: the next sync counts this socket globally.
            log.warning("registry: Redis unavailable; admitting %s unchecked", info.sid)
            self.dirty = True
            return
        if not registered:
            self.dirty = True
        if not admitted:
            raise TooManyConnections()

    def _release(self, info: SocketInfo) -> None:
        self._apply([(f"c|{info.user_id}", -1), (f"j|{info.user_id}|{info.jti}", -1)])

    def _join(self, info: SocketInfo, room: str) -> PresenceChange | None:
        return self._one(room, self._apply([(f"r|{room}|{info.username}", 1)]))

    def _leave(self, info: SocketInfo, room: str) -> PresenceChange | None:
        return self._one(room, self._apply([(f"r|{room}|{info.username}", -1)]))

    def _token_changed(self, info: SocketInfo, old_jti: str) -> None:
        if old_jti != info.jti:
            self._apply([(f"j|{info.user_id}|{old_jti}", -1), (f"j|{info.user_id}|{info.jti}", 1)])

    def _apply(self, deltas: list[tuple[str, int]]) -> list[PresenceChange]:
        args: list[Any] = [self.prefix, self.proc]
        for field, delta in deltas:
            args += [field, delta]
        try:
            registered, raw = self._scripts["APPLY"](args=args)
        except redis.RedisError:
            log.warning("registry: Redis unavailable; will resync when it is back")
            self.dirty = True
            return []
        if not registered:
            self.dirty = True
        return _changes(raw)

    def _one(self, room: str, changes: list[PresenceChange]) -> PresenceChange | None:
        return next((c for c in changes if c.room == room), None)

    # -- liveness ---------------------------------------------------------------------------
    def start(self) -> None:
        """Register this process and start its heartbeat task (once, on first use)."""
        if self._started:
            return
        with self._start_lock:
            if self._started:
                return
            self._started = self.running = True
        for hook in self.on_start:
            hook()
        self.dirty = True
        self.tick()
        if self._spawn is not None:
            self._spawn(self._run)

    def tick(self) -> None:
        """One heartbeat: refresh, resync if needed, sweep dead processes."""
        try:
            if self.dirty or not self._scripts["HEARTBEAT"](args=[self.prefix, self.proc, self._ttl_ms()]):
                self.sync()
            self.sweep()
        except redis.RedisError as exc:
            self.dirty = True
            log.warning("registry heartbeat: Redis unavailable (%s)", type(exc).__name__)

    def sync(self) -> list[PresenceChange]:
        """Replace this process's ledger in Redis with its live sockets; publish what changed."""
        with self._lock:
            self.dirty = False
            args: list[Any] = [self.prefix, self.proc, self._ttl_ms()]
            for field, count in self.snapshot().items():
                args += [field, count]
            try:
                changes = _changes(self._scripts["SYNC"](args=args))
            except BaseException:
                self.dirty = True
                raise
        self._publish(changes)
        return changes

    def snapshot(self) -> Counter[str]:
        """This process's contributions, computed from its local socket records."""
        counts: Counter[str] = Counter()
        with self._lock:
            for s in self.local.values():
                counts[f"c|{s.user_id}"] += 1
                counts[f"j|{s.user_id}|{s.jti}"] += 1
                for room in s.rooms:
                    counts[f"r|{room}|{s.username}"] += 1
        return counts

    def sweep(self) -> list[PresenceChange]:
        """Remove the contributions of processes whose heartbeat expired; publish presence."""
        changes: list[PresenceChange] = []
        for proc in self.r.smembers(self._key("procs")):
            if proc == self.proc:
                continue
            raw = self._scripts["SWEEP"](args=[self.prefix, proc, 0])
            if raw is not None:
                log.warning("registry: swept dead process %s", proc)
                changes += _changes(raw)
        self._publish(changes)
        return changes

    def _run(self) -> None:
        beat = max(self.ttl / 3.0, 0.2)
        step = min(beat, 0.5)
        last = time.monotonic()
        while self.running:
            self._sleep(step)
            if not self.running:
                break
            if self.dirty or time.monotonic() - last >= beat:
                last = time.monotonic()
                try:
                    self.tick()
                except Exception:  # the heartbeat must outlive any one failure
                    self.dirty = True
                    log.exception("registry heartbeat failed")

    def close(self) -> None:
        """Stop the heartbeat and withdraw this process's contributions."""
        was_running, self.running = self.running, False
        if not was_running:
            return
        try:
            self._publish(_changes(self._scripts["SWEEP"](args=[self.prefix, self.proc, 1]) or []))
        except redis.RedisError:
            log.warning("registry: could not withdraw from Redis; peers sweep after the TTL")

    # -- helpers ----------------------------------------------------------------------------
    def _publish(self, changes: list[PresenceChange]) -> None:
        if changes and self.on_presence is not None:
            try:
                self.on_presence(changes)
            except Exception:
                log.exception("registry: publishing presence failed")

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def _ttl_ms(self) -> int:
        return int(self.ttl * 1000)


def _changes(raw: list | None) -> list[PresenceChange]:
    return [PresenceChange(room, sorted(members)) for room, members in (raw or [])]
