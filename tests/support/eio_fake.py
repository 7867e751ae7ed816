"""An in-process engine.io server on eventlet green threads, with fake WebSockets.

Requests go through engine.io's own `handle_request`, so connects, polling, upgrades, pings and
closes run the real engine.io code (stock or lean); only the WebSocket object is fake. The
process is not monkey-patched: everything here waits with `eventlet.sleep`, never `time.sleep`.
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable
from typing import Any

import engineio
import eventlet
import greenlet
from eventlet.queue import Queue

from flask_socketio_jwt.patches import leansocket


def green_wait(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Let green threads run until the condition holds or the timeout passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        eventlet.sleep(0.002)
    return bool(predicate())


def live_greenlets() -> set:
    """Every greenlet that has started and not finished (parked or running)."""
    return {g for g in gc.get_objects() if isinstance(g, greenlet.greenlet) and g and not g.dead}


class FakeWebSocket:
    """The three calls engine.io's WebSocket handler makes: wait, send, close."""

    def __init__(self) -> None:
        self.inbox: Queue = Queue()  # client -> server; None means the client closed
        self.sent: list[str] = []
        self.closed = False
        self.stall: eventlet.Event | None = None  # while set, send() blocks like a full socket buffer
        self.yield_on_send = False

    def wait(self) -> Any:
        return self.inbox.get()

    def send(self, data: str) -> None:
        if self.stall is not None:
            self.stall.wait()
        if self.yield_on_send:
            eventlet.sleep(0)  # sendall yields to other green threads
        if self.closed:
            raise OSError("closed")
        self.sent.append(data)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.inbox.put(None)  # the client answers the close frame; wait() returns None

    def packets(self, kind: str) -> list[str]:
        """Sent packets of one Engine.IO type, without the type digit."""
        return [p[1:] for p in self.sent if p[:1] == kind]


class FakeRawWebSocket(FakeWebSocket):
    """A WebSocket that also takes whole frames (`raw_frames`), with a kernel buffer of `room` bytes.

    `send_now` writes what fits in `room` (None: everything) without blocking; `send_frame` waits
    while `stall` is set, like sendall. Text frames are decoded back into `sent`.
    """

    raw_frames = True

    def __init__(self) -> None:
        super().__init__()
        self.wire = bytearray()
        self.room: int | None = None
        self.direct = 0  # frames or parts of frames written by send_now

    def _take(self, data: bytes) -> None:
        self.wire += data
        while len(self.wire) >= 2:
            n, at = self.wire[1] & 0x7F, 2
            if n == 126:
                n, at = int.from_bytes(self.wire[2:4], "big"), 4
            elif n == 127:
                n, at = int.from_bytes(self.wire[2:10], "big"), 10
            if len(self.wire) < at + n:
                return
            assert self.wire[0] == 0x81, self.wire[:2]
            self.sent.append(bytes(self.wire[at:at + n]).decode())
            del self.wire[:at + n]

    def send_now(self, frame: bytes) -> int | None:
        if self.closed or self.stall is not None:
            return None
        n = len(frame) if self.room is None else min(self.room, len(frame))
        if self.room is not None:
            self.room -= n
        self.direct += 1
        self._take(frame[:n])
        return n

    def send_frame(self, frame: bytes) -> None:
        if self.stall is not None:
            self.stall.wait()
        if self.closed:
            raise OSError("closed")
        self._take(frame)


class FakeWebSocketApp:
    """Stands in for engine.io's eventlet WebSocketWSGI: runs the handler on the environ's fake socket."""

    def __init__(self, handler: Callable[[Any], Any], server: Any) -> None:
        self.handler = handler

    def __call__(self, environ: dict, start_response: Any) -> Any:
        return self.handler(environ["fake.ws"])


class Client:
    """One engine.io session as the test sees it."""

    def __init__(self, server: Server, sid: str, ws: FakeWebSocket | None, task: Any) -> None:
        self.server, self.sid, self.ws, self.task = server, sid, ws, task

    @property
    def sock(self) -> Any:
        return self.server.eio.sockets.get(self.sid)

    def send(self, data: str) -> None:
        """A client -> server WebSocket message."""
        assert self.ws is not None
        self.ws.inbox.put(data)

    def poll(self) -> str:
        """One long-polling GET; returns the body."""
        return self.server.request("GET", f"transport=polling&sid={self.sid}")

    def post(self, body: str) -> str:
        """One polling POST."""
        return self.server.request("POST", f"transport=polling&sid={self.sid}", body)

    def upgrade(self, during: Callable[[], None] | None = None) -> None:
        """The polling -> WebSocket probe/upgrade exchange, with a poll pending as a browser has."""
        self.ws = ws = FakeWebSocket()
        pending = eventlet.spawn(self.poll)
        self.task = eventlet.spawn(self.server.eio.handle_request, self.server.environ(
            "GET", f"transport=websocket&sid={self.sid}", ws=ws), start_response)
        ws.inbox.put("2probe")
        assert green_wait(lambda: "3probe" in ws.sent), ws.sent
        assert pending.wait() == "6"  # the pending poll ends with a NOOP
        if during is not None:
            during()
        ws.inbox.put("5")
        assert green_wait(lambda: self.sock is not None and self.sock.upgraded)


def start_response(status: str, headers: list, exc_info: Any = None) -> None:
    return None


class Server:
    """An engine.io server (eventlet mode) whose WebSockets are fake; records what the app sees."""

    def __init__(self, lean: bool, ping_interval: float = 5, ping_timeout: float = 5) -> None:
        self.eio = engineio.Server(async_mode="eventlet", ping_interval=ping_interval,
                                   ping_timeout=ping_timeout)
        self.eio._async = {**self.eio._async, "websocket": FakeWebSocketApp}
        self.lean = leansocket.install(self.eio, lean)
        self.messages: list[tuple[str, Any]] = []
        self.disconnects: list[tuple[str, Any]] = []
        self.eio.on("connect", lambda sid, environ: True)
        self.eio.on("message", lambda sid, data: self.messages.append((sid, data)))
        self.eio.on("disconnect", lambda sid, reason: self.disconnects.append((sid, reason)))
        self.clients: list[Client] = []

    @staticmethod
    def environ(method: str, query: str, body: str = "", ws: FakeWebSocket | None = None) -> dict:
        """A WSGI environ for /engine.io/ (a WebSocket upgrade when ws is given)."""
        env: dict[str, Any] = {"REQUEST_METHOD": method, "QUERY_STRING": "EIO=4&" + query,
                               "CONTENT_LENGTH": str(len(body.encode())), "wsgi.input": _Body(body)}
        if ws is not None:
            env.update(HTTP_UPGRADE="websocket", HTTP_CONNECTION="Upgrade", **{"fake.ws": ws})
        return env

    def request(self, method: str, query: str, body: str = "") -> str:
        """One HTTP request through engine.io; returns the body."""
        out = self.eio.handle_request(self.environ(method, query, body), start_response)
        return b"".join(out).decode()

    def open_ws(self, raw: bool = False) -> Client:
        """A session that starts on the WebSocket transport (raw: one that takes whole frames)."""
        ws = FakeRawWebSocket() if raw else FakeWebSocket()
        task = eventlet.spawn(self.eio.handle_request, self.environ("GET", "transport=websocket", ws=ws),
                              start_response)
        assert green_wait(lambda: bool(ws.sent)), "no OPEN packet"
        client = Client(self, json.loads(ws.sent[0][1:])["sid"], ws, task)
        self.clients.append(client)
        return client

    def open_polling(self) -> Client:
        """A session that starts on long-polling."""
        body = self.request("GET", "transport=polling")
        assert body.startswith("0{"), body
        client = Client(self, json.loads(body[1:])["sid"], None, None)
        self.clients.append(client)
        return client

    def close(self) -> None:
        """Close every session and stop the service task."""
        for c in self.clients:
            if c.ws is not None and not c.ws.closed:
                c.ws.inbox.put(None)
        for c in self.clients:
            if c.task is not None:
                with eventlet.Timeout(5, False):  # a failed test must not hang the teardown
                    c.task.wait()
        self.eio.shutdown()


class _Body:
    def __init__(self, body: str) -> None:
        self.data = body.encode()

    def read(self, n: int = -1) -> bytes:
        return self.data
