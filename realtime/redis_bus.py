"""Cross-process pieces on Redis: the revocation bus and the shared failure counters.

Both carry JSON only. Both degrade to this process alone while Redis is unreachable, and
recover by themselves once it is back.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable

import redis

from realtime import redis_scripts as lua
from realtime.limits import FailureCounter

log = logging.getLogger(__name__)


class RedisBus:
    """Publish/subscribe on its own channel so a revocation reaches every process."""

    def __init__(self, client: redis.Redis, channel: str, *, spawn: Callable[..., object] | None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.r, self.channel = client, channel
        self._spawn, self._sleep = spawn, sleep
        self.handler: Callable[[dict], None] | None = None
        self.running = False
        self.subscribed = False
        self._pending: deque[str] = deque(maxlen=10000)
        self.origin = uuid.uuid4().hex  # this process; its own messages come back and are skipped

    def start(self) -> None:
        """Start the listener task (once)."""
        if self.running or self._spawn is None:
            return
        self.running = True
        self._spawn(self._listen)

    def publish(self, message: dict) -> None:
        """Act on a message here at once, then send it to every other process through Redis.

        This process never waits for its own message to come back: right after Redis returns,
        the publish succeeds before any listener (ours included) has subscribed again. While
        ours has not, the message is also kept and sent again once it has; the revalidation
        sweep finds whatever another process still missed.
        """
        data = json.dumps({**message, "origin": self.origin}, separators=(",", ":"))
        self._deliver(data, local=True)
        try:
            self.r.publish(self.channel, data)
            if not self.subscribed:
                self._pending.append(data)
        except redis.RedisError:
            log.warning("bus: Redis unavailable; delivered locally, queued for peers")
            self._pending.append(data)

    def _listen(self) -> None:
        backoff = 0.2
        while self.running:
            pubsub = self.r.pubsub()
            try:
                pubsub.subscribe(self.channel)
                while self.running:
                    msg = pubsub.get_message(timeout=1.0)
                    if not msg:
                        continue
                    if msg["type"] == "subscribe":  # confirmed: from now on nothing is missed
                        self.subscribed, backoff = True, 0.2
                        self._flush_pending()
                    elif msg["type"] == "message":
                        self._deliver(msg["data"])
            except Exception as exc:  # noqa: BLE001 - the listener must outlive any failure
                self.subscribed = False
                log.warning("bus: Redis unavailable (%s); retrying in %.1fs", type(exc).__name__, backoff)
                self._sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                try:
                    pubsub.close()
                except Exception:  # noqa: BLE001 - closing a broken connection
                    pass

    def _flush_pending(self) -> None:
        while self._pending:
            self.r.publish(self.channel, self._pending[0])
            self._pending.popleft()

    def _deliver(self, data: str | bytes, *, local: bool = False) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            log.warning("bus: dropped a message that is not JSON")
            return
        if not local and isinstance(message, dict) and message.get("origin") == self.origin:
            return  # acted on when it was published
        if isinstance(message, dict) and self.handler is not None:
            try:
                self.handler(message)
            except Exception:
                log.exception("bus handler failed")

    def close(self) -> None:
        """Stop the listener."""
        self.running = False


class RedisFailureCounter:
    """FailureCounter's interface with the counts in Redis, so every process sees them."""

    def __init__(self, client: redis.Redis, name: str, limit: int, window: float, prefix: str = "realtime") -> None:
        self.r, self.name, self.prefix = client, name, prefix
        self.limit, self.window = int(limit), float(window)
        self._hit = client.register_script(lua.HIT)
        self._fallback = FailureCounter(limit, window)

    def _key(self, key: str) -> str:
        return f"{self.prefix}:fail:{self.name}:{key}"

    def retry_after(self, key: str, now: float | None = None) -> float:
        """0.0 if key may try again, else the seconds until its window ends (Redis clock)."""
        try:
            with self.r.pipeline(transaction=True) as pipe:
                count, ttl_ms = pipe.get(self._key(key)).pttl(self._key(key)).execute()
        except redis.RedisError:
            return self._fallback.retry_after(key, now)
        if count is None or int(count) < self.limit:
            return 0.0
        return max(int(ttl_ms), 1) / 1000.0

    def hit(self, key: str, now: float | None = None) -> int:
        """Record a failure; returns the count in the current window."""
        try:
            return int(self._hit(keys=[self._key(key)], args=[int(self.window * 1000)]))
        except redis.RedisError:
            return self._fallback.hit(key, now)

    def reset(self, key: str) -> None:
        """Forget a key's failures (after a success)."""
        self._fallback.reset(key)
        try:
            self.r.delete(self._key(key))
        except redis.RedisError:
            pass
