"""Subscribe this process to exactly the channels it needs, each on the Redis node that owns it.

With Redis 7 sharded pub/sub (SSUBSCRIBE/SPUBLISH) a channel lives on the node that owns its hash
slot, so on a Redis Cluster a message costs only that node and the processes subscribed to it.
The subscriber keeps one pub/sub connection per node it needs and one reader per connection.

Any failure (a node down, a failover, a slot moved away with its channels) ends the whole
generation: every connection is closed, the cluster's slot map is read again, and every channel
still wanted is subscribed afresh on its current owner. Messages published in between are lost
to this process, as they are with any Redis pub/sub; the durable history is what recovers them.
Redis before 7 has no sharded pub/sub: then every channel is a classic SUBSCRIBE on one connection.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import redis
from redis.cluster import RedisCluster

log = logging.getLogger(__name__)

MAIN = "main"  # the node key of a single Redis (and of classic pub/sub)


class _Node:
    """One pub/sub connection and the channels subscribed on it."""

    def __init__(self, client: redis.Redis, sharded: bool) -> None:
        self.client = client
        self.pubsub = client.pubsub()
        self.sharded = sharded
        self.channels: set[str] = set()
        # Our own (un)subscribe commands not yet confirmed: a confirmation that arrives after the
        # channel was dropped and wanted again must neither wake a waiter early nor look like the
        # server dropping it.
        self.awaiting: Counter[str] = Counter()
        self.leaving: Counter[str] = Counter()

    def subscribe(self, channels: list[str]) -> None:
        self.awaiting.update(channels)
        if not self.sharded:
            if channels:
                self.pubsub.subscribe(*channels)
        else:
            for channel in channels:  # one SSUBSCRIBE may name channels of one hash slot only
                self.pubsub.ssubscribe(channel)
        self.channels.update(channels)

    def unsubscribe(self, channel: str) -> None:
        self.channels.discard(channel)
        self.leaving[channel] += 1
        (self.pubsub.sunsubscribe if self.sharded else self.pubsub.unsubscribe)(channel)

    def close(self) -> None:
        for closing in (self.pubsub.close, self.client.close):
            try:
                closing()
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass


class Subscriber:
    """The channels this process wants, kept subscribed across restarts and failovers.

    `on_data(data)` runs on a reader for every message on a wanted channel. `want` returns once
    the subscription is confirmed (or after `confirm_timeout`), so a caller that subscribes and
    then reads durable state misses nothing published after that read.
    """

    def __init__(self, url: str, *, cluster: RedisCluster | None, sharded: bool,
                 on_data: Callable[[bytes | str], None], spawn: Callable[..., object],
                 sleep: Callable[[float], None] = time.sleep, confirm_timeout: float = 2.0) -> None:
        self.url, self.cluster, self.sharded = url, cluster, sharded
        self.on_data = on_data
        self._spawn, self._sleep = spawn, sleep
        self.confirm_timeout = confirm_timeout
        self.wanted: set[str] = set()
        self._nodes: dict[str, _Node] = {}
        self._confirmed: dict[str, threading.Event] = {}
        self._lock = threading.RLock()
        self._failed = threading.Event()
        self._reader = threading.local()
        self.running = False
        self.generation = 0

    # -- the channels -------------------------------------------------------------------------
    def want(self, channel: str, wait: bool = True) -> None:
        """Subscribe to a channel (if not yet) and wait for Redis to confirm it."""
        with self._lock:
            if channel in self.wanted:
                return
            self.wanted.add(channel)
            event = self._confirmed.setdefault(channel, threading.Event())
            node = self._node_for(channel) if self.running and not self._failed.is_set() else None
            if node is not None:
                try:
                    node.subscribe([channel])
                except Exception as exc:  # noqa: BLE001 - the next generation subscribes it
                    self._fail(exc)
        if wait and not getattr(self._reader, "active", False) and self.running:
            event.wait(self.confirm_timeout)

    def drop(self, channel: str) -> None:
        """Unsubscribe from a channel nobody here needs any more."""
        with self._lock:
            if channel not in self.wanted:
                return
            self.wanted.discard(channel)
            self._confirmed.pop(channel, None)
            for node in self._nodes.values():
                if channel in node.channels:
                    try:
                        node.unsubscribe(channel)
                    except Exception as exc:  # noqa: BLE001 - a dead connection drops it anyway
                        self._fail(exc)

    # -- generations ----------------------------------------------------------------------------
    def run(self) -> None:
        """Keep every wanted channel subscribed until `close` (runs as the manager's background task)."""
        self.running = True
        backoff = 0.2
        while self.running:
            started = time.monotonic()
            try:
                self._connect()
                self._failed.wait()
            except Exception as exc:  # noqa: BLE001 - Redis down or the slot map in flux: retry
                log.warning("pub/sub: cannot subscribe (%s); retrying in %.1fs", type(exc).__name__, backoff)
            self._teardown()
            if not self.running:
                break
            backoff = 0.2 if time.monotonic() - started > 10 else min(backoff * 2, 5.0)
            self._sleep(backoff)

    def close(self) -> None:
        """Stop every reader and close every connection."""
        self.running = False
        self._failed.set()

    def _connect(self) -> None:
        with self._lock:
            self.generation += 1
            self._failed.clear()
            if self.cluster is not None and self.sharded:
                self.cluster.nodes_manager.initialize()  # the slot map as it is now (after a failover)
            groups: dict[str, list[str]] = {}
            for channel in self.wanted:
                groups.setdefault(self._owner(channel), []).append(channel)
            for key, channels in groups.items():
                self._open(key).subscribe(channels)
            if MAIN not in self._nodes and self.cluster is None:
                self._open(MAIN)
            for node in list(self._nodes.values()):
                self._spawn(self._read, node, self.generation)

    def _teardown(self) -> None:
        with self._lock:
            nodes, self._nodes = self._nodes, {}
            for event in self._confirmed.values():
                event.clear()
        for node in nodes.values():
            node.close()

    def _fail(self, exc: BaseException) -> None:
        if not self._failed.is_set():
            log.warning("pub/sub: connection lost (%s); subscribing again", type(exc).__name__)
        self._failed.set()

    def _owner(self, channel: str) -> str:
        if self.cluster is None or not self.sharded:
            return MAIN
        node = self.cluster.nodes_manager.get_node_from_slot(self.cluster.keyslot(channel))
        return f"{node.host}:{node.port}"

    def _open(self, key: str) -> _Node:
        node = self._nodes.get(key)
        if node is None:
            options: dict[str, Any] = {"socket_connect_timeout": 2, "health_check_interval": 0}
            if key == MAIN:
                client = redis.Redis.from_url(self.url, **options)
            else:
                host, _, port = key.rpartition(":")
                kwargs = redis.connection.parse_url(self.url)
                kwargs.pop("db", None)
                client = redis.Redis(**{**kwargs, **options, "host": host, "port": int(port)})
            node = self._nodes[key] = _Node(client, self.sharded)
        return node

    def _node_for(self, channel: str) -> _Node | None:
        key = self._owner(channel)
        node = self._nodes.get(key)
        if node is None:  # a node with no channel yet: connect and start its reader
            node = self._open(key)
            self._spawn(self._read, node, self.generation)
        return node

    def _read(self, node: _Node, generation: int) -> None:
        self._reader.active = True
        message_types = ("smessage", "message")
        confirm_types = ("ssubscribe", "subscribe")
        try:
            while self.running and generation == self.generation and not self._failed.is_set():
                msg = node.pubsub.get_message(timeout=1.0)
                if not msg:
                    continue
                kind = msg["type"]
                if kind in message_types:
                    try:
                        self.on_data(msg["data"])
                    except Exception:
                        log.exception("pub/sub: handling a message failed")
                    continue
                channel = msg["channel"]
                channel = channel.decode() if isinstance(channel, bytes) else channel
                with self._lock:
                    if kind in confirm_types:
                        node.awaiting[channel] -= 1
                        event = self._confirmed.get(channel)
                        if node.awaiting[channel] <= 0 and event is not None:
                            del node.awaiting[channel]
                            event.set()
                    elif kind in ("sunsubscribe", "unsubscribe"):
                        if node.leaving[channel] > 0:
                            node.leaving[channel] -= 1  # our own
                        elif channel in self.wanted and channel in node.channels:
                            # Redis dropped a channel we still want (its slot moved to another node).
                            self._fail(RuntimeError(f"{kind} by the server"))
        except Exception as exc:  # noqa: BLE001 - ends this generation; run() starts the next
            if generation == self.generation:
                self._fail(exc)
