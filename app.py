"""The application factory."""

from __future__ import annotations

import logging

from flask import Flask, request
from sqlalchemy import event
from werkzeug.middleware.proxy_fix import ProxyFix

import config
import sockets
from blueprints import apidocs, audit, auth, health, metrics, pages, server_api
from blueprints.common import register_error_handlers
from extensions import db, jwt, migrate
from realtime import dbwrite, rooms
from realtime.frontend import FrontendAddress
from sockets import admin


def create_app(config_overrides: dict | None = None) -> Flask:
    """Build the app: config, extensions, blueprints, the socket namespace and the CLI."""
    app = Flask(__name__, instance_relative_config=True)
    config.configure(app, config_overrides)
    _jwt_config(app)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(app.root_path) + "/migrations")
    jwt.init_app(app)
    _sqlite_pragmas(app)
    sockets.init_app(app)
    rooms.init_app(app)
    if app.config.get("FRONTEND_KEY"):  # the Next.js example's server passes each browser's address
        app.wsgi_app = FrontendAddress(app.wsgi_app, app.config["FRONTEND_KEY"])  # type: ignore[method-assign]
    if app.config["TRUSTED_PROXIES"]:
        n = int(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    auth.init_app(app)
    app.register_blueprint(audit.bp, url_prefix="/api/audit")
    app.register_blueprint(health.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(metrics.bp)
    server_api.init_app(app)
    app.register_blueprint(apidocs.bp)
    admin.init_app(app)  # the Socket.IO Admin UI, when ADMIN_UI_ENABLED
    register_error_handlers(app)
    _cors(app)
    _static_headers(app)
    from cli import register_cli

    register_cli(app)
    logging.getLogger("realtime").setLevel(logging.INFO)
    logging.getLogger("flask_socketio_jwt").setLevel(logging.INFO)
    return app


def _jwt_config(app: Flask) -> None:
    cfg = app.config
    cfg.setdefault("JWT_DECODE_ALGORITHMS", [cfg["JWT_ALGORITHM"]])
    if cfg.get("JWT_AUDIENCE"):
        cfg.setdefault("JWT_ENCODE_AUDIENCE", cfg["JWT_AUDIENCE"])
        cfg.setdefault("JWT_DECODE_AUDIENCE", cfg["JWT_AUDIENCE"])
    if cfg.get("JWT_ISSUER"):
        cfg.setdefault("JWT_ENCODE_ISSUER", cfg["JWT_ISSUER"])
        cfg.setdefault("JWT_DECODE_ISSUER", cfg["JWT_ISSUER"])


def _sqlite_pragmas(app: Flask) -> None:
    """WAL and a busy timeout: SQLite allows one writer, readers must not block it."""
    with app.app_context():
        engine = db.engine
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={dbwrite.SQLITE_BUSY_MS}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()


def _static_headers(app: Flask) -> None:
    """Static files never sniffed or framed; the vendored admin UI's pages get its own policy."""
    from blueprints.admin_ui import CONTENT_SECURITY_POLICY as ADMIN_CSP

    default_csp = "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

    @app.after_request
    def _headers(resp):
        if request.endpoint == "static":
            admin = request.path.startswith(app.static_url_path + "/vendor/admin-ui/")
            resp.headers.setdefault("Content-Security-Policy", ADMIN_CSP if admin else default_csp)
            resp.headers.setdefault("X-Content-Type-Options", "nosniff")
            resp.headers.setdefault("Referrer-Policy", "no-referrer")
        return resp


def _cors(app: Flask) -> None:
    """CORS headers on the API for the configured origins only (default: same origin)."""
    @app.after_request
    def _headers(resp):
        origin = request.headers.get("Origin")
        allowed = app.config["CORS_ALLOWED_ORIGINS"]
        if origin and request.path.startswith("/api/") and (origin in allowed or "*" in allowed):
            resp.headers["Access-Control-Allow-Origin"] = origin
            resp.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
            resp.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
            resp.headers["Vary"] = "Origin"
        return resp
