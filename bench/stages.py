"""What each stage of an acked event costs on its own, in one process (no network, no generator).

    .venv/bin/python -m bench.stages            # eventlet (the default runtime)

Each row times one stage of the path a `whoami` event takes through the app under eventlet,
from the WebSocket read to the write, with the same classes the server runs (the hardened
eventlet WebSocket with read-ahead, Engine.IO and Socket.IO packets, the lean event context,
the frame writer). The sum is what the framework's layers cost at least; the saturation
figure of `make bench` divided into one core is what an event costs in the server, hub
wake-ups and collections included. docs/benchmarks.md (section 8) puts the two side by side.
"""

from __future__ import annotations

import eventlet

eventlet.monkey_patch()

import json  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import timeit  # noqa: E402
from collections.abc import Callable  # noqa: E402

import engineio.packet as eio_packet  # noqa: E402
import socketio.packet as sio_packet  # noqa: E402
from engineio.async_drivers import eventlet as driver  # noqa: E402
from flask import Flask  # noqa: E402

from flask_socketio_jwt.patches import context, leansocket, wsguard  # noqa: E402

EVENT = '4212["whoami",{}]'
ACK = [{"ok": True, "user": {"id": "17", "username": "alice"}, "expires_at": 1767225600}]


def per_call_us(fn: Callable[[], object], number: int) -> float:
    """Best of three timings, in µs per call."""
    return min(timeit.repeat(fn, number=number, repeat=3)) / number * 1e6


def client_frame(text: str) -> bytes:
    """A masked client text frame (zero mask: the bytes stay readable)."""
    data = text.encode()
    return bytes((0x81, 0x80 | len(data))) + b"\0\0\0\0" + data


def frame_read(batch: int = 500) -> float:
    """The hardened eventlet WebSocket reading one small frame (header, mask, payload)."""
    a, b = socket.socketpair()  # green sockets (monkey-patched above)
    ws = wsguard.hardened_class(driver.WebSocketWSGI).websocket_class(wsguard.ReadAhead(a), {})
    frames = client_frame("4" + EVENT) * batch

    def one_batch() -> None:
        b.sendall(frames)
        for _ in range(batch):
            ws.wait()

    try:
        return per_call_us(one_batch, 20) / batch
    finally:
        a.close()
        b.close()


def green_spawn(spawn: Callable[..., object]) -> float:
    """python-socketio's green thread per event: start one and let it run to its end."""
    def one() -> None:
        spawn(int)
        eventlet.sleep(0)

    return per_call_us(one, 20000) - per_call_us(lambda: eventlet.sleep(0), 20000)


def event_context() -> float:
    """The lean request context pushed and popped around the handler."""
    app = Flask("stages")
    environ = {"REQUEST_METHOD": "GET", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "PATH_INFO": "/socket.io/",
               "wsgi.url_scheme": "http", "HTTP_HOST": "127.0.0.1:8000", "QUERY_STRING": "EIO=4&transport=websocket"}

    def push_pop() -> None:
        with context.EventContext(app, environ):
            pass

    return per_call_us(push_pop, 20000)


def frame_write() -> float:
    """The ack's frame built and handed to the kernel without a writer (`send_now`)."""
    a, b = socket.socketpair()  # green sockets (monkey-patched above)
    ws = wsguard.hardened_class(driver.WebSocketWSGI).websocket_class(a, {})
    encoded = sio_packet.Packet(sio_packet.ACK, data=ACK, id=12).encode()

    def one() -> None:
        ws.send_now(leansocket.frame_of(eio_packet.Packet(eio_packet.MESSAGE, encoded)))

    def drain() -> None:
        for _ in range(200):
            one()
        while True:
            try:
                if not b.fd.recv(1 << 20, socket.MSG_DONTWAIT):
                    break
            except BlockingIOError:
                break

    try:
        return per_call_us(drain, 50) / 200
    finally:
        a.close()
        b.close()


class NullWebSocket:
    """A WebSocket whose kernel takes every frame at once: what is left is the dispatch."""

    raw_frames = True

    def send_now(self, frame: bytes) -> int:
        return len(frame)


def broadcast_dispatch(members: int = 1000, guarded: bool = True) -> float:
    """One room broadcast's Python work per recipient: python-socketio's manager down to each
    socket's direct write (the send system call left out), with the send-queue guard or without."""
    import flask_socketio
    from engineio.socket import Socket

    from flask_socketio_jwt.patches import backpressure, manager

    sio = flask_socketio.SocketIO(Flask(__name__), async_mode="eventlet",
                                  client_manager=manager.client_manager(None, "bench"))
    eio = sio.server.eio
    leansocket.install(eio)
    if guarded:
        backpressure.SendQueueGuard(sio, hub=None, limit=1000).install()  # type: ignore[arg-type]
    mgr = sio.server.manager
    for i in range(members):
        eio_sid = f"e{i}"
        eio.sockets[eio_sid] = sock = Socket(eio, eio_sid)
        sock._ws = NullWebSocket()
        sid = mgr.connect(eio_sid, "/")
        mgr.enter_room(sid, "/", "lobby")
    data = {"id": 1, "room": "lobby", "user": "alice", "text": "hello", "ts": 1767225600}
    return per_call_us(lambda: mgr.emit("message", data, "/", room="lobby"), 50) / members


def main() -> int:
    rows = [
        ("WebSocket frame read (eventlet, hardened, read-ahead)", frame_read()),
        ("Engine.IO packet decode", per_call_us(lambda: eio_packet.Packet(encoded_packet="4" + EVENT), 100000)),
        ("Socket.IO packet decode (JSON)", per_call_us(lambda: sio_packet.Packet(encoded_packet=EVENT), 100000)),
        ("green thread per event (spawn_n: patches/eventtask.py)", green_spawn(eventlet.spawn_n)),
        ("event context push and pop", event_context()),
        ("ack packet build and encode (JSON)",
         per_call_us(lambda: sio_packet.Packet(sio_packet.ACK, data=ACK, id=12).encode(), 100000)),
        ("frame build and direct write (send syscall)", frame_write()),
        ("(stock: a joinable GreenThread per event)", green_spawn(eventlet.spawn)),
        ("broadcast: per recipient, manager to direct write (no syscall)", broadcast_dispatch()),
        ("(the same without the send-queue guard)", broadcast_dispatch(guarded=False)),
        ("JSON alone: loads of the event, dumps of the ack",
         per_call_us(lambda: (json.loads('["whoami",{}]'), json.dumps(ACK, separators=(",", ":"))), 100000)),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'stage':<{width}}  µs per event")
    for name, us in rows:
        print(f"{name:<{width}}  {us:8.2f}")
    print(f"{'sum of the framework stages (last four rows excluded)':<{width}}  {sum(us for _, us in rows[:-4]):8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
