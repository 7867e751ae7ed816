"""The REST API fuzzed against its own /api/openapi.json with schemathesis, in process.

A real app on a real (SQLite) database, logged-in users, the app's default rate limits (so the
429s they answer must be documented too): for generated valid and invalid requests to every
operation, no 5xx, and every status, content type and body is the documented one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from flask_jwt_extended import create_access_token, create_refresh_token
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from extensions import db
from realtime.apidocs import REST_ROUTES
from tests.app.conftest import built_app

SERVER_KEY = "fuzz-key-" + "k" * 40
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance, negative_data_rejection]
# Users get ids far from the small ones the fuzzer likes, so a generated kick never hits them.
ADMIN_ID, USER_ID = 10**15 + 1, 10**15 + 2
EXAMPLES = 25


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    """An app with a server key, an admin and a user, and the app's default limits."""
    from config import DEFAULTS

    with built_app(tmp_path_factory.mktemp("fuzz"), SERVER_API_KEYS={"fuzz": SERVER_KEY},
                   REGISTER_LIMIT=DEFAULTS["REGISTER_LIMIT"]) as app:  # the test setup lifts this one
        from models import User

        with app.app_context():
            db.session.add_all([User(id=ADMIN_ID, username="fuzzadmin", password_hash="!", is_admin=True),
                                User(id=USER_ID, username="fuzzuser", password_hash="!")])
            db.session.commit()
        yield app


@pytest.fixture(scope="module")
def api_schema(fuzz_app):
    """The app's own OpenAPI document, loaded through the app."""
    return schemathesis.openapi.from_wsgi("/api/openapi.json", fuzz_app)


def credentials(app, path: str) -> dict:
    """The Authorization header an operation needs, minted fresh (a kick or logout may revoke older ones)."""
    with app.app_context():
        if path.startswith("/api/server/"):
            return {"Authorization": "Bearer " + SERVER_KEY}
        if path == "/api/audit":
            return {"Authorization": "Bearer " + create_access_token(identity=str(ADMIN_ID))}
        if path == "/api/auth/refresh":
            return {"Authorization": "Bearer " + create_refresh_token(identity=str(USER_ID))}
        if path in ("/api/auth/me", "/api/auth/logout"):
            return {"Authorization": "Bearer " + create_access_token(identity=str(USER_ID))}
    return {}


# One test per documented operation and mode (schemathesis' own pytest plugin predates pytest 9).
# Negative cases need something to break: parameters or a body.
CASES = [(route, mode) for route, op in sorted(REST_ROUTES.items()) for mode in GenerationMode
         if mode == GenerationMode.POSITIVE or op.get("parameters") or op.get("requestBody")]


@pytest.mark.parametrize(("route", "mode"), CASES, ids=[f"{r[1].upper()} {r[0]} {m}" for r, m in CASES])
def test_rest_api_conforms_to_openapi(route, mode, api_schema, fuzz_app) -> None:
    path, method = route
    operation = api_schema[path][method]
    headers = {}

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case) -> None:
        headers.update(credentials(fuzz_app, path))
        case.call_and_validate(headers=headers, checks=checks_for(case, bool(headers)))

    run()


def checks_for(case, replaces_headers: bool) -> list:
    """Every check, but a case whose broken part was its headers is not expected to be refused when
    the test sends valid credentials in their place: its request is then a valid one."""
    meta = case.meta
    header = meta.components.get(ParameterLocation.HEADER) if meta is not None else None
    if replaces_headers and header is not None and header.mode.is_negative:
        return [c for c in CHECKS if c is not negative_data_rejection]
    return CHECKS


def test_every_route_is_documented(app) -> None:
    from realtime.apidocs import REST_ROUTES

    served = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ("static", "pages.index", "apidocs.page") or rule.rule.startswith("/admin/"):
            continue  # pages, not API routes
        path = rule.rule.replace("<", "{").replace(">", "}")
        served |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert served == set(REST_ROUTES)


def test_documents_are_served(client) -> None:
    doc = client.get("/api/openapi.json").get_json()
    assert doc["openapi"] == "3.1.0" and "/api/server/rooms/{room}/messages" in doc["paths"]
    assert client.get("/api/asyncapi.json").get_json()["asyncapi"] == "3.0.0"
    page = client.get("/api/docs")
    assert page.status_code == 200 and b"apidocs.js" in page.data
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]


def test_docs_page_assets_are_local() -> None:
    root = Path(__file__).resolve().parents[2]
    for asset in ("templates/docs/api.html", "static/js/apidocs.js", "static/css/apidocs.css"):
        text = (root / asset).read_text()
        assert "http://" not in text and "https://" not in text, asset


def test_asyncapi_names_the_server_asked(client) -> None:
    server = client.get("/api/asyncapi.json", base_url="https://rt.example:8443").get_json()["servers"]["app"]
    assert server["host"] == "rt.example:8443" and server["protocol"] == "wss"


def test_admin_view_is_off_by_default(client) -> None:
    r = client.get("/admin/socketio/")
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found"
