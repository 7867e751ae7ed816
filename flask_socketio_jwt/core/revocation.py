"""What makes a revocation reach every socket: the claims it names, a watermark, a safety net.

- Sessions: a token's `ses` claim names its login session (the refresh token's jti), `iat_ms`
  its issue time in ms; a token without them is its own session, issued at the start of its
  `iat` second. A revocation names jtis (tokens or sessions) or a user, optionally "issued up
  to `before_ms`" (log out everywhere).
- The watermark: revocations this process received are numbered; a connect or refresh takes the
  number before verifying its token and, once registered, looks at what arrived since: a
  revocation that slipped between the check and the registration is caught there.
- The sweep: every local socket is checked again against the host's revocation answer each
  interval, so a revocation whose message was lost (Redis restarting, a missed message) still
  ends the socket.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from flask_socketio_jwt.core.registry import SocketInfo

log = logging.getLogger(__name__)


def session_of(claims: dict[str, Any]) -> str:
    """The login session a token belongs to: its `ses` claim, else its own jti."""
    ses = claims.get("ses")
    return ses if isinstance(ses, str) and ses else str(claims.get("jti", ""))


def issued_ms(claims: dict[str, Any]) -> int:
    """When a token was issued, in ms: `iat_ms` when it lies within the token's `iat` second, else
    the start of that second (an `iat_ms` in the future of `iat` must not outlive "log out everywhere")."""
    iat = claims.get("iat")
    start = int(iat) * 1000 if isinstance(iat, (int, float)) and not isinstance(iat, bool) else 0
    value = claims.get("iat_ms")
    if isinstance(value, int) and not isinstance(value, bool) and start <= value < start + 1000:
        return value
    return start


def names(message: dict[str, Any], info: SocketInfo) -> bool:
    """True when a revocation message names this socket's token, session or user."""
    user_id, before = message.get("user_id"), message.get("before_ms")
    if user_id and str(user_id) == info.user_id and (before is None or info.issued_ms <= int(before)):
        return True
    jtis = message.get("jtis") or ()
    return info.jti in jtis or bool(info.ses and info.ses in jtis)


class RecentRevocations:
    """Revocations received lately, numbered, for the verify-then-register window."""

    def __init__(self, maxlen: int = 4096, keep_seconds: float = 300.0) -> None:
        self._seq = itertools.count(1)
        self._last = 0
        self._recent: deque[tuple[int, float, dict[str, Any]]] = deque(maxlen=maxlen)
        self.keep_seconds = keep_seconds

    def mark(self) -> int:
        """The watermark to take before verifying a token."""
        return self._last

    def record(self, message: dict[str, Any]) -> None:
        """Remember a revocation this process received."""
        seq = next(self._seq)
        self._recent.append((seq, time.monotonic(), message))
        self._last = seq

    def since(self, mark: int, info: SocketInfo) -> bool:
        """True when a revocation received after `mark` names this socket."""
        for seq, _, message in reversed(self._recent):
            if seq <= mark:
                break
            if names(message, info):
                return True
        return False

    def prune(self) -> None:
        """Forget revocations older than any verify-register window."""
        cutoff = time.monotonic() - self.keep_seconds
        while self._recent and self._recent[0][1] < cutoff:
            self._recent.popleft()


# Given live sockets' records: the sids to kick, each alone (code `token_revoked`) or as (sid, code),
# e.g. `user_unknown` for a user who is gone or disabled.
Check = Callable[[list[SocketInfo]], Iterable["str | tuple[str, str]"]]


class Sweeper:
    """Re-checks every local socket each interval; kicks those `check` names (revoked, user gone)."""

    def __init__(self, *, local: Callable[[], list[SocketInfo]], kick: Callable[[str, str], bool],
                 sleep: Callable[[float], None], spawn: Callable[..., object], interval: float) -> None:
        self.local, self.kick = local, kick
        self.sleep, self.spawn = sleep, spawn
        self.interval = interval
        self.check: Check | None = None
        self.after: list[Callable[[], None]] = []  # housekeeping run after each sweep
        self.running = False

    def bind_runtime(self, sleep: Callable[[float], None], spawn: Callable[..., object]) -> None:
        """Run with the socket layer's async primitives (before it has started)."""
        self.sleep, self.spawn = sleep, spawn

    def start(self) -> None:
        """Start the background loop (once; not when there is no check or no interval)."""
        if self.running or self.check is None or self.interval <= 0:
            return
        self.running = True
        self.spawn(self._loop)

    def stop(self) -> None:
        """End the loop at its next wake-up."""
        self.running = False

    def _loop(self) -> None:
        while self.running:
            self.sleep(self.interval)
            if not self.running:
                break
            try:
                self.sweep()
            except Exception:  # noqa: BLE001 - a database blip must not end the safety net
                log.warning("revalidation sweep failed; retrying next interval", exc_info=True)

    def sweep(self, chunk: int = 200) -> int:
        """Check every local socket now; returns how many were kicked."""
        kicked = 0
        if self.check is not None:
            records = self.local()
            for i in range(0, len(records), chunk):
                for item in self.check(records[i:i + chunk]):
                    sid, code = item if isinstance(item, tuple) else (item, "token_revoked")
                    kicked += bool(self.kick(sid, code))
                self.sleep(0)  # let events run between chunks
        for task in self.after:
            task()
        return kicked
