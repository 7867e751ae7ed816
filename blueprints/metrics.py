"""GET /metrics: Prometheus text format, this process's sockets, events and audit writer."""

from __future__ import annotations

import hmac
import ipaddress

from flask import Blueprint, Response, current_app
from flask.blueprints import BlueprintSetupState

from blueprints.common import bearer_token, remote_addr
from flask_socketio_jwt import AuthError, Forbidden, get_state
from realtime import metrics as core_metrics

bp = Blueprint("metrics", __name__)


@bp.record_once
def _install(setup: BlueprintSetupState) -> None:
    """Build the app's metrics when the blueprint is registered (after the socket layer)."""
    app = setup.app
    app.extensions["metrics"] = core_metrics.install(get_state(app), app.extensions.get("message_batch"))
    # Parsed once, so a bad entry stops the app at start-up rather than on the first scrape.
    app.extensions["metrics_networks"] = parse_networks(app.config.get("METRICS_ALLOWED_NETWORKS"))


def parse_networks(value: object) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """`METRICS_ALLOWED_NETWORKS` (a list of addresses or CIDR blocks) as networks."""
    if not value:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise RuntimeError("METRICS_ALLOWED_NETWORKS must be a list of addresses or CIDR blocks")
    try:
        return [ipaddress.ip_network(str(v), strict=False) for v in value]
    except ValueError as exc:
        raise RuntimeError(f"METRICS_ALLOWED_NETWORKS: {exc}") from None


def _address_allowed(networks: list) -> bool:
    try:
        addr = ipaddress.ip_address(remote_addr() or "")
    except ValueError:
        return False
    return any(addr in net for net in networks)


def check_access() -> None:
    """Open unless METRICS_TOKEN or METRICS_ALLOWED_NETWORKS is set; then one of them must admit the caller."""
    token = current_app.config.get("METRICS_TOKEN")
    networks = current_app.extensions.get("metrics_networks") or []
    if not token and not networks:
        return
    sent = bearer_token()
    if token and sent is not None:
        if hmac.compare_digest(sent.encode(), str(token).encode()):
            return
        raise AuthError("The metrics token is not valid.", code="token_invalid")
    if networks and _address_allowed(networks):
        return
    if token:
        raise AuthError("Send the metrics token as `Authorization: Bearer <METRICS_TOKEN>`.",
                        code="auth_required")
    raise Forbidden("This address may not read the metrics.")


@bp.get("/metrics")
def metrics() -> Response:
    """The app's metrics in the Prometheus text exposition format."""
    check_access()
    body, content_type = current_app.extensions["metrics"].render()
    return Response(body, content_type=content_type)
