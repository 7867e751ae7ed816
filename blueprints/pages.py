"""Demo page: ``GET /`` serves a small chat client built on ``static/js/realtime.js``.

Register it with ``app.register_blueprint(pages.bp)`` (no url_prefix). The template is
``templates/pages/index.html`` in the app's template folder; the scripts and styles are in
the app's static folder (``static/js/``, ``static/css/``; ``static/vendor/`` is filled by
``scripts/vendor.sh``).
"""

from __future__ import annotations

import base64
import hashlib
import json

from flask import Blueprint, make_response, render_template, url_for

bp = Blueprint("pages", __name__)

# The page runs only its own same-origin scripts and its import map (allowed by its hash): no
# other inline script, no eval, no CDN. 'self' in connect-src covers the same-origin ws:// and
# wss:// Socket.IO transport.
CSP_TEMPLATE = (
    "default-src 'self'",
    "script-src 'self' {script_src}",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
)



def import_map() -> str:
    """The page's import map: the bare names the client package uses, resolved to vendored files."""
    return json.dumps({"imports": {
        "socket.io-client": url_for("static", filename="vendor/socket.io.esm.min.js"),
        "flask-realtime-client": url_for("static", filename="vendor/flask-realtime-client/index.js"),
    }}, separators=(",", ":"))


def script_hash(text: str) -> str:
    """The CSP source that allows exactly this inline script (the import map) and nothing else."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def content_security_policy(script_src: str) -> str:
    """The page's policy; script_src lists what may run beside same-origin files."""
    return "; ".join(CSP_TEMPLATE).format(script_src=script_src)


@bp.get("/")
def index():
    """The demo page (log in, chat, presence, event log)."""
    imports = import_map()
    response = make_response(render_template("pages/index.html", import_map=imports))
    response.headers.setdefault("Content-Security-Policy", content_security_policy(script_hash(imports)))
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers["Cache-Control"] = "no-store"
    return response
