"""Prometheus metrics, one CollectorRegistry per app (several apps may share a process).

The hub and the namespace call the small counting hooks (`connected`, `refused`, `disconnected`,
`event`); gauges (live sockets, the audit writer) are read at scrape time. Label values come
from fixed sets only, so a client cannot grow the label space, and no label ever holds a token,
a username or message text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from flask_socketio_jwt import NullMetrics

EVENTS = frozenset({"whoami", "join", "leave", "message", "presence", "refresh"})
REFUSAL_CODES = frozenset({"auth_required", "token_invalid", "token_expired", "token_revoked",
                           "wrong_token_type", "user_unknown", "origin_forbidden", "rate_limited",
                           "too_many_connections", "unavailable", "internal_error"})


class Metrics(NullMetrics):
    """The app's metrics and its own registry."""

    def __init__(self, audit: Any, live_sockets: Callable[[], int], batch: Any = None) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.connects = Counter("realtime_socket_connects", "Sockets admitted.", registry=r)
        self.refusals = Counter("realtime_socket_refusals", "Socket connects refused, by code.", ["code"], registry=r)
        self.disconnects = Counter("realtime_socket_disconnects", "Admitted sockets gone.", registry=r)
        self.events = Counter("realtime_socket_events", "Client events received, by event.", ["event"], registry=r)
        self._event_children: dict[str, Any] = {}
        r.register(_CoreCollector(audit, live_sockets, batch))

    def connected(self) -> None:
        self.connects.inc()

    def refused(self, code: str) -> None:
        self.refusals.labels(code if code in REFUSAL_CODES else "other").inc()

    def disconnected(self) -> None:
        self.disconnects.inc()

    def event(self, name: Any) -> None:
        key = name if name in EVENTS else "unknown"
        child = self._event_children.get(key)
        if child is None:  # prometheus_client's labels() costs a lock and a tuple per call
            child = self._event_children[key] = self.events.labels(key)
        child.inc()

    def render(self) -> tuple[bytes, str]:
        """The Prometheus text exposition and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _CoreCollector(Collector):
    """Values read at scrape time from the registry and the audit writer."""

    def __init__(self, audit: Any, live_sockets: Callable[[], int], batch: Any = None) -> None:
        self.audit, self.live_sockets, self.batch = audit, live_sockets, batch

    def collect(self) -> Iterator[Any]:
        a = self.audit
        yield GaugeMetricFamily("realtime_sockets_live", "Sockets connected to this process.",
                                value=self.live_sockets())
        kinds = CounterMetricFamily("realtime_audit_rows_enqueued", "Audit rows recorded, by kind.",
                                    labels=["kind"])
        for kind, count in sorted(a.kinds.items()):
            kinds.add_metric([kind], count)
        yield kinds
        for name, key, doc in (
                ("written", "written", "Audit rows inserted into the database."),
                ("spilled", "spilled", "Audit rows written to the spill file while the database was unavailable."),
                ("replayed", "replayed", "Spilled audit rows replayed into the database."),
                ("failed", "failed", "Audit rows that could not be written anywhere or were refused for good.")):
            yield CounterMetricFamily(f"realtime_audit_rows_{name}", doc, value=a.stats[key])
        yield CounterMetricFamily("realtime_audit_write_errors", "Failed audit write attempts (retried).",
                                  value=a.stats["errors"])
        yield GaugeMetricFamily("realtime_audit_queue_depth", "Audit rows waiting in memory.", value=a.depth())
        yield GaugeMetricFamily("realtime_audit_writer_lag_seconds",
                                "Age of the oldest audit row waiting in memory.", value=a.lag())
        yield GaugeMetricFamily("realtime_audit_last_batch_lag_seconds",
                                "Age of the oldest row of the last batch when it was written.", value=a.stats["lag"])
        yield GaugeMetricFamily("realtime_audit_spill_pending", "1 while spilled rows wait for replay.",
                                value=1 if a.spill.pending() else 0)
        yield GaugeMetricFamily("realtime_audit_writer_ok", "0 while the audit writer cannot reach the database.",
                                value=0 if a.state == "error" else 1)
        if self.batch is not None:  # the group commit of messages (realtime/batch.py)
            b = self.batch
            yield CounterMetricFamily("realtime_message_batches", "Message transactions committed.", value=b.batches)
            yield CounterMetricFamily("realtime_messages_committed", "Messages committed.", value=b.items)
            yield GaugeMetricFamily("realtime_messages_pending", "Messages waiting for their transaction's commit.",
                                    value=b.pending())


def install(state: Any, batch: Any = None) -> Metrics:
    """Make an app's Metrics from its core State (and message group commit) and hook them into its hub."""
    metrics = Metrics(state.audit, lambda: len(state.registry.local), batch)
    state.hub.metrics = metrics
    return metrics
