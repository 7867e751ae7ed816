"""The published contract: GET /api/openapi.json, GET /api/asyncapi.json, and /api/docs to read both."""

from __future__ import annotations

from functools import cache

from flask import Blueprint, Response, jsonify, make_response, render_template, request

from realtime import apidocs

bp = Blueprint("apidocs", __name__)

# Same policy as the demo page: own scripts and styles only, nothing from elsewhere.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


@cache
def _documents() -> tuple[dict, dict]:
    return apidocs.openapi(), apidocs.asyncapi()


@bp.get("/api/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3.1 document of every REST route."""
    return jsonify(_documents()[0])


@bp.get("/api/asyncapi.json")
def asyncapi() -> Response:
    """The AsyncAPI 3.0 document of the Socket.IO namespace, its server being the one asked."""
    doc = dict(_documents()[1])
    server = {**doc["servers"]["app"], "host": request.host, "protocol": "wss" if request.is_secure else "ws"}
    doc["servers"] = {"app": server}
    return jsonify(doc)


@bp.get("/api/docs")
def page() -> Response:
    """Both documents, rendered in the browser by static/js/apidocs.js."""
    response = make_response(render_template("docs/api.html"))
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
