"""A recording python-socketio client for tests against a real server."""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any

import socketio


class Recorder:
    """A socketio.Client that keeps every event it receives and lets tests wait for them."""

    def __init__(self, url: str, namespace: str = "/") -> None:
        self.url, self.namespace = url, namespace
        self.client = socketio.Client(reconnection=False)
        self.events: dict[str, list] = defaultdict(list)
        self._cond = threading.Condition()
        self.connect_error: Any = None
        self.disconnected = threading.Event()
        self.client.on("*", self._any, namespace=namespace)
        self.client.on("connect_error", self._connect_error, namespace=namespace)
        self.client.on("disconnect", self._disconnect, namespace=namespace)

    def _any(self, event: str, *args: Any) -> None:
        with self._cond:
            self.events[event].append(args[0] if args else None)
            self._cond.notify_all()

    def _connect_error(self, data: Any = None) -> None:
        with self._cond:
            self.connect_error = data
            self._cond.notify_all()

    def _disconnect(self, *args: Any) -> None:
        self.disconnected.set()

    def connect(self, token: str | None = None, *, auth: Any = "__token__", headers: dict | None = None,
                url: str | None = None, wait: bool = True) -> bool:
        """Connect over WebSocket; True on success, False if refused (see connect_error)."""
        payload = {"token": token} if auth == "__token__" else auth
        try:
            self.client.connect(url or self.url, auth=payload, headers=headers or {},
                                transports=["websocket"], wait_timeout=10, namespaces=[self.namespace])
        except socketio.exceptions.ConnectionError:
            return False
        if wait:
            self.wait("session")
        return True

    def wait(self, event: str, count: int = 1, timeout: float = 5.0) -> list:
        """Block until `count` events of this name arrived; returns them."""
        with self._cond:
            ok = self._cond.wait_for(lambda: len(self.events[event]) >= count, timeout)
        assert ok, f"timed out waiting for {count} {event!r} (got {dict(self.events)})"
        return self.events[event]

    def call(self, event: str, data: Any = None, timeout: float = 5.0) -> Any:
        """Emit with an ack and return the ack."""
        if data is None:
            return self.client.call(event, timeout=timeout, namespace=self.namespace)
        return self.client.call(event, data, timeout=timeout, namespace=self.namespace)

    def close(self) -> None:
        """Disconnect, including an Engine.IO session left by a refused connect."""
        self.client.disconnect()
        if self.client.eio.state != "disconnected":
            self.client.eio.disconnect()
