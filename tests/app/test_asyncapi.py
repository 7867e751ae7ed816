"""asyncapi.json: valid for the AsyncAPI CLI, and it describes what the namespace really sends.

The CLI comes from tools/asyncapi (npm ci there: `scripts/tools.sh`, run by `make test`).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from realtime.apidocs import SOCKET_EVENTS, asyncapi
from tests.app import contract_check as check

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / "tools/asyncapi/node_modules/.bin/asyncapi"


def validate(doc: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    """Run `asyncapi validate` on a document, offline and writing only under tmp_path."""
    if not CLI.exists():
        raise RuntimeError(f"{CLI} is missing: run scripts/tools.sh (make test does)")
    target = tmp_path / "asyncapi.json"
    target.write_text(json.dumps(doc))
    metrics = tmp_path / "analytics.json"  # the CLI's telemetry, off: it would phone home
    metrics.write_text(json.dumps({"analyticsEnabled": "false", "infoMessageShown": "true", "userID": "test"}))
    env = {**os.environ, "HOME": str(tmp_path), "ASYNCAPI_METRICS_CONFIG_PATH": str(metrics), "CI": "true",
           "SUPPRESS_NO_CONFIG_WARNING": "1", "NODE_ENV": "production"}
    return subprocess.run([str(CLI), "validate", str(target), "--fail-severity", "warn"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)


def test_served_document_passes_the_asyncapi_cli(client, tmp_path) -> None:
    doc = client.get("/api/asyncapi.json").get_json()
    result = validate(doc, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is valid" in result.stdout


def test_the_cli_check_is_live(tmp_path) -> None:
    broken = asyncapi()
    broken["operations"]["join"]["action"] = "publish"  # AsyncAPI 2 wording: invalid in 3.0
    result = validate(broken, tmp_path)
    assert result.returncode != 0, result.stdout


def test_every_event_of_the_namespace_is_documented() -> None:
    from sockets.namespace import EVENTS

    received = {name for name, (action, *_rest) in SOCKET_EVENTS.items() if action == "receive"}
    assert received == EVENTS | {"connect"}
    for name in EVENTS:  # every client event is answered: its operation has a reply
        assert "reply" in asyncapi()["operations"][name]


def test_the_checker_refuses_what_the_document_does_not_allow() -> None:
    with pytest.raises(AssertionError):
        check.event("session", {"user": {"id": "1"}, "sid": "x", "expires_at": 1})
    with pytest.raises(AssertionError):
        check.ack("join", {"ok": True, "room": "a"})
    check.ack("join", {"ok": False, "error": {"code": "forbidden", "message": "no"}})
