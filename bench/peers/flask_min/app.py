"""Peer (a): a minimal Flask-SocketIO app with no auth.

Served exactly like the app under test:
    gunicorn -k eventlet -w 1 --worker-connections 20000 bench.peers.flask_min.app:app
(BENCH_ASYNC_MODE=gevent and `-k gevent` for the gevent runtime.)
Events: echo (acks its payload), whoami, join {room}, message {room, text}
(broadcast to the room as {id, room, user, text, ts}).
"""

import itertools
import os
import time

from flask import Flask
from flask_socketio import SocketIO, emit, join_room

from bench.lagprobe import start_lag_probe

app = Flask(__name__)


def _client_manager():
    """BENCH_MESSAGE_QUEUE: several processes on Redis, with the room-scoped manager or
    (BENCH_MANAGER=broadcast) python-socketio's RedisManager; unset: one process."""
    url = os.environ.get("BENCH_MESSAGE_QUEUE")
    if not url:
        return None
    if os.environ.get("BENCH_MANAGER") == "broadcast":
        import socketio as python_socketio

        return python_socketio.RedisManager(url, channel="bench")
    from flask_socketio_jwt import RoomChannelManager

    return RoomChannelManager(url, channel="bench")


socketio = SocketIO(app, async_mode=os.environ.get("BENCH_ASYNC_MODE", "eventlet"), client_manager=_client_manager())  # same-origin only; the generator sends no Origin
_ids = itertools.count(1)


@socketio.on("connect")
def on_connect(auth=None):
    emit("session", {"user": {"id": "0", "username": "anon"}, "sid": None, "expires_at": None})


@socketio.on("echo")
def on_echo(data=None):
    return data


@socketio.on("whoami")
def on_whoami():
    return {"ok": True, "user": {"id": "0", "username": "anon"}, "expires_at": None}


@socketio.on("join")
def on_join(data):
    join_room(data["room"])
    return {"ok": True, "room": data["room"]}


@socketio.on("message")
def on_message(data):
    mid = next(_ids)
    socketio.emit(
        "message",
        {"id": mid, "room": data["room"], "user": "anon", "text": data["text"], "ts": time.time()},
        to=data["room"],
    )
    return {"ok": True, "id": mid}


start_lag_probe(os.environ.get("BENCH_LAG_FILE"))
