"""A Socket.IO client manager on Redis whose cost grows with deliveries, not with processes.

python-socketio's `RedisManager` publishes every emit on one channel that every process reads,
decodes and matches, whether or not it holds a member of the room. This manager keeps the same
messages (the `PubSubManager` format: emits, acks across processes, disconnects, remote
`enter_room`/`leave_room`, `close_room`) and routes each to the processes that need it:

- an emit to a room, and `close_room`, on the room's channel: a process subscribes to it while
  it has at least one local member of the room and unsubscribes when the last one leaves;
- an emit to one socket, an ack, a disconnect or a room change of one socket, on the channel of
  the process that holds the socket (its id starts with that process's tag);
- a namespace-wide emit, or an emit to several rooms at once, on one channel every process reads.

On Redis 7 these are sharded channels (SSUBSCRIBE/SPUBLISH): on a Redis Cluster each lives on
the node owning its slot. `enter_room` returns once the process's subscription to the room is
confirmed, so a host that enters a room and then reads its history misses nothing in between.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections import deque
from typing import Any

import socketio

from flask_socketio_jwt.core.redis_topology import Topology, client_for, probe
from flask_socketio_jwt.core.subscriber import Subscriber

log = logging.getLogger(__name__)

TAG_LEN = 12
_SID = re.compile(r"[0-9a-f]{12}\.[A-Za-z0-9_-]{20}")


class RoomChannelManager(socketio.PubSubManager):  # type: ignore[misc]
    """Room-scoped Redis pub/sub (see the module docstring).

    :param url: the Redis URL (a single server or any node of a cluster).
    :param channel: the prefix of every channel; the same on every process.
    :param sharded: SSUBSCRIBE/SPUBLISH (Redis 7+); None asks the server.
    :param redis_options: more keyword arguments for the Redis clients.
    """

    name = "redis-rooms"

    def __init__(self, url: str = "redis://localhost:6379/0", channel: str = "flask-socketio",
                 write_only: bool = False, logger: Any = None, json: Any = None, sharded: bool | None = None,
                 redis_options: dict[str, Any] | None = None) -> None:
        super().__init__(channel=channel, write_only=write_only, logger=logger, json=json)
        self.host_id = uuid.uuid4().hex[:TAG_LEN]  # also the first characters of every sid made here
        self._own = f'"host_id": "{self.host_id}"'.encode()
        self.redis_url = url
        self.redis_options = redis_options or {}
        self._sharded_setting = sharded
        self.topology: Topology | None = None
        self.client: Any = None
        self.subscriber: Subscriber | None = None
        self._outbox: deque[tuple[str, str]] = deque()
        self._wake = threading.Event()  # green under eventlet and gevent
        self._sharded = True
        self._publishing = False
        self._writer: Any = None  # the publishing connection (CLIENT REPLY OFF), a single Redis only

    # -- set-up ------------------------------------------------------------------------------------
    def initialize(self) -> None:
        """Connect (the server's start); the subscriber runs as the manager's background task."""
        self._connect()
        super().initialize()  # starts _thread unless write_only

    def _connect(self) -> None:
        if self.client is not None:
            return
        self.topology = probe(self.redis_url)
        sharded = self.topology.sharded if self._sharded_setting is None else self._sharded_setting
        self.client = client_for(self.redis_url, self.topology, socket_connect_timeout=2, **self.redis_options)
        cluster = self.client if self.topology.cluster else None
        self.subscriber = Subscriber(self.redis_url, cluster=cluster, sharded=sharded, on_data=self._on_data,
                                     spawn=self._spawn)
        self._sharded = sharded
        self._spublish = self.client.spublish if sharded else self.client.publish
        if not self.write_only:
            self.subscriber.want(self._all_channel(), wait=False)
            self.subscriber.want(self._host_channel(self.host_id), wait=False)
        log.info("room pub/sub on %s Redis %s (%s pub/sub)", "a cluster of" if cluster else "one",
                 ".".join(map(str, self.topology.version)), "sharded" if sharded else "classic")

    def _spawn(self, fn: Any, *args: Any) -> Any:
        return self.server.start_background_task(fn, *args)

    def _thread(self) -> None:
        assert self.subscriber is not None
        self._spawn(self._publisher)
        self.subscriber.run()

    # -- channels ------------------------------------------------------------------------------------
    def _all_channel(self) -> str:
        return f"{self.channel}#all"

    def _host_channel(self, host: str) -> str:
        return f"{self.channel}#h#{host}"

    def _room_channel(self, namespace: str, room: Any) -> str:
        return f"{self.channel}#r#{namespace}#{room}"

    @staticmethod
    def owner(sid: Any) -> str | None:
        """The tag of the process holding a socket id made by this manager, else None."""
        return sid[:TAG_LEN] if isinstance(sid, str) and _SID.fullmatch(sid) else None

    def _route(self, data: dict) -> str:
        method = data.get("method")
        if method == "emit":
            room = data.get("room")
            if room is None or isinstance(room, (list, tuple)):
                return self._all_channel()
            host = self.owner(room)
            return self._host_channel(host) if host else self._room_channel(data.get("namespace") or "/", room)
        if method == "callback":
            return self._host_channel(str(data.get("host_id")))
        if method in ("disconnect", "enter_room", "leave_room"):
            host = self.owner(data.get("sid"))
            return self._host_channel(host) if host else self._all_channel()
        if method == "close_room":
            return self._room_channel(data.get("namespace") or "/", data.get("room"))
        return self._all_channel()

    # -- publish and receive -----------------------------------------------------------------------
    def _publish(self, data: dict) -> None:
        """Queue a message for its channel; the publisher task sends the queue in pipelined batches."""
        if self.client is None:
            self._connect()
        method = data.get("method")
        target = data.get("room") if method == "emit" else data.get("sid")
        if method in ("emit", "disconnect", "enter_room", "leave_room") and self.owner(target) == self.host_id:
            return  # one socket of this process: already handled here
        item = (self._route(data), self.json.dumps(data))
        if not self._publishing:  # a write-only emitter, or before the server started: send now
            self._send([item])
            return
        self._outbox.append(item)
        if len(self._outbox) == 1:
            self._wake.set()

    def _publisher(self) -> None:
        """Send queued messages in order: one pipelined round trip per batch (what queued meanwhile)."""
        self._publishing = True
        while True:
            self._wake.wait()
            self._wake.clear()
            while self._outbox:
                batch = [self._outbox.popleft() for _ in range(min(len(self._outbox), 256))]
                for attempt in (1, 2):
                    try:
                        self._send(batch)
                        break
                    except Exception as exc:  # noqa: BLE001 - as python-socketio's RedisManager: retry once
                        if attempt == 2:
                            log.error("room pub/sub: cannot publish (%s): %d messages dropped",
                                      type(exc).__name__, len(batch))
                        else:
                            time.sleep(0.05)

    def _send(self, batch: list[tuple[str, str]]) -> None:
        if self.topology is not None and self.topology.cluster:
            for channel, payload in batch:  # a cluster routes each channel to its own node
                self._spublish(channel, payload)
            return
        command = "SPUBLISH" if self._sharded else "PUBLISH"
        packed = [(command, channel, payload) for channel, payload in batch]
        for attempt in (1, 2):
            conn = self._writer
            try:
                if conn is None:
                    conn = self._writer = self.client.connection_pool.make_connection()
                    conn.connect()
                    # Publishes need no answer: the server sends none on this connection, so a
                    # publish costs one write and never waits for a round trip.
                    conn.send_command("CLIENT", "REPLY", "OFF")
                conn.send_packed_command(conn.pack_commands(packed), check_health=False)
                return
            except Exception:
                self._writer = None
                if conn is not None:
                    conn.disconnect()
                if attempt == 2:
                    raise

    def _on_data(self, raw: bytes | str) -> None:
        if isinstance(raw, bytes) and self._own in raw and b'"method": "callback"' not in raw:
            return  # our own publish coming back from a room we share (a JSON string cannot hold the marker)
        try:
            data = self.json.loads(raw)
        except ValueError:
            return
        if not isinstance(data, dict) or "method" not in data:
            return
        try:
            method = data["method"]
            if method == "callback":
                self._handle_callback(data)
            elif data.get("host_id") != self.host_id:
                handler = {"emit": self._handle_emit, "disconnect": self._handle_disconnect,
                           "enter_room": self._handle_enter_room, "leave_room": self._handle_leave_room,
                           "close_room": self._handle_close_room}.get(method)
                if handler is not None:
                    handler(data)
        except Exception:
            log.exception("room pub/sub: handling a %s message failed", str(data.get("method"))[:32])

    # -- membership drives the subscriptions ---------------------------------------------------------
    def pre_connect(self, eio_sid: str, namespace: str) -> Any:
        """python-socketio's pre_connect, with this process's tag leading the new socket id."""
        generate = self.server.eio.generate_id
        self.server.eio.generate_id = lambda: f"{self.host_id}.{generate()}"
        try:
            return super().pre_connect(eio_sid, namespace)
        finally:
            del self.server.eio.generate_id

    def basic_enter_room(self, sid: str, namespace: str, room: Any, eio_sid: str | None = None) -> None:
        first = room is not None and room != sid and not self.rooms.get(namespace, {}).get(room)
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        if first and self.subscriber is not None:
            self.subscriber.want(self._room_channel(namespace, room))

    def basic_leave_room(self, sid: str, namespace: str, room: Any) -> None:
        super().basic_leave_room(sid, namespace, room)
        if room is not None and room != sid and room not in self.rooms.get(namespace, {}) \
                and self.subscriber is not None:
            self.subscriber.drop(self._room_channel(namespace, room))

    def basic_close_room(self, room: Any, namespace: str) -> None:
        super().basic_close_room(room, namespace)
        if self.subscriber is not None:
            self.subscriber.drop(self._room_channel(namespace, room))
