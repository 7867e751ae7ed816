"""The demo page: its import map resolves the client package's bare names, allowed by its hash only."""

from __future__ import annotations

import base64
import hashlib
import json
import re


def test_import_map_resolves_bare_names_to_vendored_files_and_only_it_may_run_inline(client):
    r = client.get("/")
    html = r.get_data(as_text=True)
    found = re.search(r'<script type="importmap">(.*?)</script>', html, re.S)
    assert found, html[:500]
    text = found.group(1)
    assert json.loads(text) == {"imports": {
        "socket.io-client": "/static/vendor/socket.io.esm.min.js",
        "flask-realtime-client": "/static/vendor/flask-realtime-client/index.js"}}
    digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
    csp = r.headers["Content-Security-Policy"]
    script_src = next(d for d in csp.split("; ") if d.startswith("script-src"))
    assert script_src == f"script-src 'self' 'sha256-{digest}'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    # One inline script on the page: the import map.
    assert len(re.findall(r"<script(?![^>]*\bsrc=)", html)) == 1
