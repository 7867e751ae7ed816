"""Demo page: ``GET /`` serves a small chat client built on ``static/js/realtime.js``.

Register it with ``app.register_blueprint(pages.bp)`` (no url_prefix). The template is
``templates/pages/index.html`` in the app's template folder; the scripts and styles are in
the app's static folder (``static/js/``, ``static/css/``; ``static/vendor/`` is filled by
``scripts/vendor.sh``).
"""

from __future__ import annotations

from flask import Blueprint, make_response, render_template

bp = Blueprint("pages", __name__)

# The page runs only its own same-origin scripts: no inline script, no eval, no CDN.
# 'self' in connect-src covers the same-origin ws:// and wss:// Socket.IO transport.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


@bp.get("/")
def index():
    """The demo page (log in, chat, presence, event log)."""
    response = make_response(render_template("pages/index.html"))
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers["Cache-Control"] = "no-store"
    return response
