"""GET /metrics: Prometheus text format, this process's sockets, events and audit writer."""

from __future__ import annotations

from flask import Blueprint, Response, current_app
from flask.blueprints import BlueprintSetupState

from flask_socketio_jwt.core.state import get_state
from realtime import metrics as core_metrics

bp = Blueprint("metrics", __name__)


@bp.record_once
def _install(setup: BlueprintSetupState) -> None:
    """Build the app's metrics when the blueprint is registered (after the socket layer)."""
    app = setup.app
    app.extensions["metrics"] = core_metrics.install(get_state(app))


@bp.get("/metrics")
def metrics() -> Response:
    """The app's metrics in the Prometheus text exposition format."""
    body, content_type = current_app.extensions["metrics"].render()
    return Response(body, content_type=content_type)
