"""Restricting GET /metrics: a bearer token (METRICS_TOKEN) and/or trusted networks."""

from __future__ import annotations

import pytest

from tests.app.conftest import built_app

TOKEN = "scrape-" + "k" * 40


def get(client, token: str | None = None, addr: str = "127.0.0.1", **headers: str):
    """GET /metrics from an address, with an optional bearer token."""
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return client.get("/metrics", headers=headers, environ_base={"REMOTE_ADDR": addr})


def code(resp) -> str:
    return resp.get_json()["error"]["code"]


def test_open_by_default(app, client):
    r = get(client, addr="203.0.113.9")
    assert r.status_code == 200 and b"realtime_sockets" in r.data


def test_token_required_when_configured(tmp_path):
    with built_app(tmp_path, METRICS_TOKEN=TOKEN) as application:
        client = application.test_client()
        r = get(client)
        assert r.status_code == 401 and code(r) == "auth_required"
        r = get(client, "wrong-" + TOKEN)
        assert r.status_code == 401 and code(r) == "token_invalid"
        assert b"realtime_" not in r.data
        r = get(client, TOKEN)
        assert r.status_code == 200 and b"realtime_sockets" in r.data


def test_trusted_networks(tmp_path):
    with built_app(tmp_path, METRICS_ALLOWED_NETWORKS=["10.0.0.0/8", "::1"]) as application:
        client = application.test_client()
        assert get(client, addr="10.1.2.3").status_code == 200
        assert get(client, addr="::1").status_code == 200
        r = get(client, addr="192.0.2.7")
        assert r.status_code == 403 and code(r) == "forbidden"


def test_token_or_network_and_the_proxy_address(tmp_path):
    with built_app(tmp_path, METRICS_TOKEN=TOKEN, METRICS_ALLOWED_NETWORKS=["10.0.0.0/8"],
                   TRUSTED_PROXIES=1) as application:
        client = application.test_client()
        # Behind one trusted proxy the client is the address it forwarded, not the proxy's.
        assert get(client, addr="127.0.0.1", **{"X-Forwarded-For": "10.9.9.9"}).status_code == 200
        assert get(client, addr="10.0.0.1", **{"X-Forwarded-For": "198.51.100.1"}).status_code == 401
        assert get(client, TOKEN, addr="127.0.0.1", **{"X-Forwarded-For": "198.51.100.1"}).status_code == 200
        # A token that is sent must be the right one, even from a trusted network.
        assert get(client, "nope", addr="127.0.0.1", **{"X-Forwarded-For": "10.9.9.9"}).status_code == 401


def test_bad_network_stops_the_app(tmp_path):
    with pytest.raises(RuntimeError, match="METRICS_ALLOWED_NETWORKS"):
        with built_app(tmp_path, METRICS_ALLOWED_NETWORKS=["not-a-network"]):
            pass
