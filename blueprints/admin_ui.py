"""The Socket.IO Admin UI's files at /admin/socketio/ (vendored into static/vendor/admin-ui by scripts/vendor.sh).

The page itself is public, like any login page: what it shows comes over the `/admin` namespace,
which admits an admin's access token only (sockets/admin.py).
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, current_app, send_from_directory

from flask_socketio_jwt import NotFound

bp = Blueprint("admin_ui", __name__)

# Vuetify writes its theme into a <style> element at run time, hence 'unsafe-inline' for styles only.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                           "font-src 'self' data:; img-src 'self' data:; connect-src 'self'; object-src 'none'; "
                           "base-uri 'none'; frame-ancestors 'none'")


def _root() -> Path:
    return Path(current_app.static_folder or "static") / "vendor" / "admin-ui"


@bp.get("/")
@bp.get("/<path:filename>")
def files(filename: str = "index.html") -> Response:
    """The UI's vendored files; index.html for the root."""
    root = _root()
    if not (root / "index.html").is_file():
        raise NotFound("The admin UI is not vendored: run scripts/vendor.sh.")
    response = send_from_directory(root, filename, max_age=0 if filename == "index.html" else 3600)
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
