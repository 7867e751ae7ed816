"""Abuse against a real gunicorn + eventlet server: half-open sessions, origins, slow readers, floods.

The module ends by checking that the worker's memory stayed bounded and that every refusal
left its audit row.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections.abc import Iterator

import pytest
import requests
import socketio
import websocket

from tests.app.conftest import PASSWORD, wait_for
from tests.app.hostile_support import ALLOWED_ORIGIN, Ctx, assert_healthy_with_client, fresh_addr, start_ctx
from tests.app.rawsock import RawSocket
from tests.support.live import live_fixture


@live_fixture(scope="module")
def ctx(tmp_path_factory) -> Iterator[Ctx]:
    """One live server for the module (SOCKETIO_JWT_CONNECT_TIMEOUT=2, send queue 50, failures 5/min)."""
    yield from start_ctx(tmp_path_factory.mktemp("abuse"))


def test_half_open_session_is_closed_on_time(ctx: Ctx) -> None:
    addr = fresh_addr()
    raw = ctx.raw(addr)
    started = time.monotonic()
    try:
        assert raw.wait_closed(timeout=6)
        elapsed = time.monotonic() - started
    finally:
        raw.close()
    assert 1.5 <= elapsed <= 5.0, elapsed
    assert wait_for(lambda: any(r["sid"] == raw.sid and r["remote_addr"] == addr
                                for r in ctx.audit_rows("connect_timeout")), timeout=5)


def test_half_open_polling_session_is_closed_too(ctx: Ctx) -> None:
    url = ctx.server.url + "/socket.io/?EIO=4&transport=polling"
    opened = requests.get(url, timeout=5, headers={"X-Forwarded-For": fresh_addr()})
    sid = opened.text.split('"sid":"')[1].split('"')[0]
    assert wait_for(lambda: any(r["sid"] == sid for r in ctx.audit_rows("connect_timeout")), timeout=6)
    assert requests.get(url + "&sid=" + sid, timeout=5).status_code == 400  # the session is gone


def test_joined_session_is_not_timed_out(ctx: Ctx) -> None:
    raw = ctx.raw()
    try:
        assert raw.connect({"token": ctx.user["access"]})[0] == "ok"
        deadline = time.monotonic() + 3.0  # past the 2 s connect timeout
        n = 0
        while time.monotonic() < deadline:
            n += 1
            assert raw.call("whoami", ack_id=n)["ok"] is True
            time.sleep(0.25)
    finally:
        raw.close()
    assert not any(r["sid"] == raw.sid for r in ctx.audit_rows("connect_timeout"))


def test_foreign_origin_is_refused(ctx: Ctx) -> None:
    addr = fresh_addr()
    raw = ctx.raw(addr, origin="http://evil.example")
    try:
        answer, data = raw.connect({"token": ctx.user["access"]})
    finally:
        raw.close()
    assert answer == "error" and data["data"]["code"] == "origin_forbidden"
    assert wait_for(lambda: any(r["remote_addr"] == addr and r["detail"]["code"] == "origin_forbidden"
                                for r in ctx.audit_rows("connect_refused")), timeout=5)


@pytest.mark.parametrize("origin", [ALLOWED_ORIGIN, None, "same"])
def test_configured_same_or_no_origin_is_accepted(ctx: Ctx, origin: str | None) -> None:
    if origin == "same":
        origin = ctx.server.url
    raw = ctx.raw(origin=origin)
    try:
        assert raw.connect({"token": ctx.user["access"]})[0] == "ok"
    finally:
        raw.close()


def test_polling_cors_headers_only_for_allowed_origins(ctx: Ctx) -> None:
    url = ctx.server.url + "/socket.io/?EIO=4&transport=polling"
    good = requests.get(url, headers={"Origin": ALLOWED_ORIGIN}, timeout=5)
    bad = requests.get(url, headers={"Origin": "http://evil.example"}, timeout=5)
    assert good.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert "Access-Control-Allow-Origin" not in bad.headers
    pre = requests.options(url, headers={"Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "POST"},
                           timeout=5)
    assert pre.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert "POST" in pre.headers["Access-Control-Allow-Methods"]


def test_event_flood_is_limited_then_disconnected(ctx: Ctx) -> None:
    raw = ctx.raw()
    limited: list[dict] = []
    closed = threading.Event()

    def read_acks() -> None:
        # Acks are read while the flood is sent, so this client is a fast reader: what ends it must
        # be the rate limit, never the slow-consumer guard (which a loaded machine could trip first).
        while True:
            try:
                msg = raw.recv_packet(timeout=10)
            except (ConnectionError, websocket.WebSocketException, TimeoutError, OSError):
                break
            if msg in ("", "1") or msg.startswith("41"):
                break
            if msg.startswith("43"):
                ack = json.loads(msg[msg.index("["):])[0]
                if not ack["ok"]:
                    limited.append(ack)
        closed.set()

    try:
        assert raw.connect({"token": ctx.user["access"]})[0] == "ok"
        reader = threading.Thread(target=read_acks, daemon=True)
        reader.start()
        # Burst 400, then a kick once strikes reach 5 bursts: about 2400 events sent at once.
        for sent in range(1, 6001):
            if closed.is_set():
                break
            try:
                raw.send_raw(f'42{sent}["whoami"]')
            except (websocket.WebSocketException, OSError):
                break
        assert closed.wait(15)
    finally:
        raw.close()
    assert limited and limited[0]["error"]["code"] == "rate_limited"
    assert limited[0]["error"]["retry_after"] > 0
    assert wait_for(lambda: any(r["detail"].get("code") == "rate_limited" for r in ctx.audit_rows("kick")),
                    timeout=5)
    rows = [r for r in ctx.audit_rows("rate_limited") if r["sid"]]
    assert 1 <= len(rows) <= 3  # one row per episode, not one per refused event


def test_refused_connects_then_rate_limited(ctx: Ctx) -> None:
    addr = fresh_addr()
    codes = []
    for _ in range(7):
        raw = ctx.raw(addr)
        try:
            codes.append(raw.connect({"token": "not.a.token"})[1]["data"]["code"])
        finally:
            raw.close()
    assert codes[:5] == ["token_invalid"] * 5 and codes[5:] == ["rate_limited"] * 2
    raw = ctx.raw(addr)  # even a good token waits out the window
    try:
        answer, data = raw.connect({"token": ctx.user["access"]})
    finally:
        raw.close()
    assert data["data"]["code"] == "rate_limited" and data["data"]["retry_after"] > 0
    assert_healthy_with_client(ctx.server, ctx.user)  # other addresses are unaffected


def test_login_flood_gets_429(ctx: Ctx) -> None:
    addr = fresh_addr()
    statuses = []
    for _ in range(7):
        r = requests.post(ctx.server.url + "/api/auth/login", headers={"X-Forwarded-For": addr}, timeout=5,
                          json={"username": ctx.user["username"], "password": "wrong-password"})
        statuses.append(r.status_code)
    assert statuses[:5] == [401] * 5 and statuses[5:] == [429, 429]
    r = requests.post(ctx.server.url + "/api/auth/login", headers={"X-Forwarded-For": addr}, timeout=5,
                      json={"username": ctx.user["username"], "password": PASSWORD})
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
    assert any(r["remote_addr"] == addr and r["detail"].get("reason") == "rate_limited"
               for r in ctx.audit_rows("login_failed")) or wait_for(
        lambda: any(r["remote_addr"] == addr and r["detail"].get("reason") == "rate_limited"
                    for r in ctx.audit_rows("login_failed")), timeout=5)


def test_slow_reader_does_not_hurt_others(ctx: Ctx) -> None:
    slow = RawSocket(ctx.server.url, rcvbuf=4096, headers=[f"X-Forwarded-For: {fresh_addr()}"])
    sender = socketio.SimpleClient()
    try:
        assert slow.connect({"token": ctx.other["access"]})[0] == "ok"
        assert slow.call("join", {"room": "slowroom"})["ok"] is True
        sender.connect(ctx.server.url, auth={"token": ctx.user["access"]}, transports=["websocket"],
                       headers={"X-Forwarded-For": fresh_addr()}, wait_timeout=5)
        assert sender.call("join", {"room": "slowroom"}, timeout=5)["ok"] is True
        text = "\u20ac" * 2000  # about 12 KB on the wire (JSON escapes it)
        times: list[float] = []
        stop = threading.Event()

        def blind_pongs() -> None:  # keeps the ping timeout from rescuing us, as a hostile client would
            while not stop.wait(1.0):
                try:
                    slow.send_raw("3")
                except Exception:
                    return

        threading.Thread(target=blind_pongs, daemon=True).start()
        deadline = time.monotonic() + 60
        dropped = False
        for _ in range(3000):
            if time.monotonic() > deadline:
                break
            t = time.perf_counter()
            assert sender.call("message", {"room": "slowroom", "text": text}, timeout=10)["ok"] is True
            times.append(time.perf_counter() - t)
            if len(times) % 25 == 0 and any(r["detail"].get("code") == "slow_consumer"
                                            for r in ctx.audit_rows("kick")):
                dropped = True
                break
        stop.set()
    finally:
        sender.disconnect()
        slow.close()
    assert dropped, f"slow consumer not dropped after {len(times)} messages"
    assert statistics.median(times) < 0.2 and max(times) < 5.0, (statistics.median(times), max(times))
    assert wait_for(lambda: any(r["detail"].get("reason") for r in ctx.audit_rows("disconnect")), timeout=5)
    assert_healthy_with_client(ctx.server, ctx.user)


def test_zz_memory_bounded_and_refusals_audited(ctx: Ctx) -> None:
    """Runs last: the worker did not grow without bound and every refusal kind left its rows."""
    assert_healthy_with_client(ctx.server, ctx.user)
    growth = ctx.rss() - ctx.rss_start
    assert growth < 150 * 1024 * 1024, f"worker grew by {growth / 1e6:.1f} MB"
    for kind in ("connect_refused", "connect_timeout", "kick", "rate_limited", "login_failed"):
        assert ctx.audit_rows(kind), kind
    codes = {r["detail"].get("code") for r in ctx.audit_rows("connect_refused")}
    assert {"origin_forbidden", "token_invalid", "rate_limited"} <= codes
