"""Rate limits: token buckets for socket events, failure counters for logins and connects."""

from __future__ import annotations

import threading
import time


class TokenBucket:
    """Refills `rate` tokens a second up to `burst`; each event takes one.

    `strikes` measures sustained abuse: each refused event adds one, and strikes drain at
    `rate` a second (the refill rate). A client that honours `retry_after` never builds them
    up; one that keeps sending k times faster than allowed gains about (k - 1) * rate a second.
    """

    __slots__ = ("rate", "burst", "tokens", "stamp", "strikes", "limited")

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = float(rate), float(burst)
        self.tokens, self.stamp = float(burst), time.monotonic()
        self.strikes = 0.0
        self.limited = False  # inside a rate-limit episode: from a refusal until the bucket is full again

    def is_full(self, now: float | None = None) -> bool:
        """True when the bucket has refilled to its burst (nothing left to remember)."""
        now = time.monotonic() if now is None else now
        return self.tokens + max(0.0, now - self.stamp) * self.rate >= self.burst

    def take(self, now: float | None = None) -> float:
        """Take a token: 0.0 when allowed, else the seconds until one is available."""
        now = time.monotonic() if now is None else now
        elapsed = max(0.0, now - self.stamp)
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
        self.strikes = max(0.0, self.strikes - elapsed * self.rate)
        self.stamp = now
        if self.tokens >= self.burst:
            self.limited = False
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        self.strikes += 1.0
        self.limited = True
        return (1.0 - self.tokens) / self.rate


class FailureCounter:
    """Counts failures per key in a fixed window; blocks a key once it reaches the limit."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = int(limit), float(window)
        self._hits: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def retry_after(self, key: str, now: float | None = None) -> float:
        """0.0 if key may try again, else the seconds until its window ends."""
        now = time.time() if now is None else now
        with self._lock:
            start, count = self._hits.get(key, (now, 0))
            if now - start >= self.window:
                self._hits.pop(key, None)
                return 0.0
            return (start + self.window - now) if count >= self.limit else 0.0

    def hit(self, key: str, now: float | None = None) -> int:
        """Record a failure; returns the count in the current window."""
        now = time.time() if now is None else now
        with self._lock:
            start, count = self._hits.get(key, (now, 0))
            if now - start >= self.window:
                start, count = now, 0
            self._hits[key] = (start, count + 1)
            if len(self._hits) > 100_000:  # bound memory under a spray of addresses
                cutoff = now - self.window
                self._hits = {k: v for k, v in self._hits.items() if v[0] > cutoff}
            return count + 1

    def reset(self, key: str) -> None:
        """Forget a key's failures (after a success)."""
        with self._lock:
            self._hits.pop(key, None)
