"""A recording Socket.IO client for the cluster tests: every event kept, waited on with timeouts."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import requests
import socketio


class Peer:
    """One python-socketio client; records every server event and its disconnect."""

    def __init__(self, url: str, token: str | None = None, *, headers: dict | None = None,
                 transports: tuple[str, ...] = ("websocket",)) -> None:
        self.url, self.token, self.headers, self.transports = url, token, headers or {}, list(transports)
        self.sio = socketio.Client(reconnection=False)
        self.events: list[tuple[str, Any]] = []
        self.error: Any = None
        self.disconnected = threading.Event()
        self._cond = threading.Condition()
        self.sio.on("*", self._record)
        self.sio.on("connect_error", self._on_error)
        self.sio.on("disconnect", self._on_disconnect)

    def _record(self, event: str, data: Any = None) -> None:
        with self._cond:
            self.events.append((event, data))
            self._cond.notify_all()

    def _on_error(self, data: Any = None) -> None:
        self.error = data

    def _on_disconnect(self, reason: Any = None) -> None:
        self.disconnected.set()

    def connect(self) -> Peer:
        """Connect and wait for the `session` event; raises on refusal."""
        auth = {"token": self.token} if self.token is not None else None
        try:
            self.sio.connect(self.url, auth=auth, headers=self.headers, transports=self.transports,
                             wait_timeout=5)
        except socketio.exceptions.ConnectionError as exc:
            raise AssertionError(f"connect refused: {self.error}") from exc
        self.session = self.wait("session")
        return self

    def refused(self) -> str:
        """Try to connect; the refusal code (fails if the connection was accepted)."""
        auth = {"token": self.token} if self.token is not None else None
        try:
            self.sio.connect(self.url, auth=auth, headers=self.headers, transports=self.transports,
                             wait_timeout=5)
        except socketio.exceptions.ConnectionError:
            # The Python client passes the whole {"message": code, "data": {"code", "message"}}.
            err = self.error
            assert isinstance(err, dict) and err["message"] == err["data"]["code"], err
            return err["message"]
        self.sio.disconnect()
        raise AssertionError("connection was accepted")

    def call(self, event: str, data: Any = None, timeout: float = 5) -> Any:
        """Emit with an ack and return the ack."""
        return self.sio.call(event, data, timeout=timeout)

    def mark(self) -> int:
        """A position in the event record: `wait(..., since=mark)` looks only at later events."""
        with self._cond:
            return len(self.events)

    def wait(self, event: str, pred: Callable[[Any], bool] = lambda d: True, timeout: float = 5,
             since: int = 0) -> Any:
        """The first recorded `event` (after `since`) whose payload satisfies pred; waits up to timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for name, data in self.events[since:]:
                    if name == event and pred(data):
                        return data
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {event!r} within {timeout}s; got {self.events[-10:]}")
                self._cond.wait(left)

    def close(self) -> None:
        """Disconnect if connected."""
        if self.sio.connected:
            self.sio.disconnect()


def register(base: str, username: str, password: str = "correct horse battery",
             headers: dict | None = None) -> dict:
    """Register (if new) and log in over HTTP; {"id", "username", "access", "refresh"}."""
    r = requests.post(base + "/api/auth/register", json={"username": username, "password": password}, timeout=10)
    assert r.status_code in (201, 409), r.text
    r = requests.post(base + "/api/auth/login", json={"username": username, "password": password},
                      headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()
    me = requests.get(base + "/api/auth/me", headers={"Authorization": "Bearer " + body["access_token"]}, timeout=10)
    return {"id": me.json()["id"], "username": username, "access": body["access_token"],
            "refresh": body["refresh_token"]}


def local_sockets(base: str) -> int:
    """How many sockets a process holds (its /healthz)."""
    return int(requests.get(base + "/healthz", timeout=5).json()["sockets"])
