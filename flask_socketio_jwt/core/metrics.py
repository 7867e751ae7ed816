"""The counting hooks the hub calls; an app installs its own (Prometheus, StatsD, ...)."""

from __future__ import annotations

from typing import Any


class NullMetrics:
    """The hooks as no-ops: what a hub uses when no metrics are installed."""

    def connected(self) -> None:
        """A socket was admitted."""

    def refused(self, code: str) -> None:
        """A connect was refused with this code."""

    def disconnected(self) -> None:
        """An admitted socket is gone."""

    def event(self, name: Any) -> None:
        """A client event arrived."""


NULL_METRICS = NullMetrics()
