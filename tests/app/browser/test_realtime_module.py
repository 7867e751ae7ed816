"""static/js/realtime.js on its own, in Chromium, against the real server.

Each test loads the demo page (for its origin and CSP) and drives createSocket() from
page.evaluate(), with tokens obtained over REST.
"""

from __future__ import annotations

import time
import uuid

import pytest
import requests
from playwright.sync_api import Page

pytestmark = pytest.mark.timeout(90)

PASSWORD = "correct-horse-battery"
T = 10_000

START = """
async ({token, refreshed, path, backoff}) => {
  const m = await import("/static/js/realtime.js");
  window.__m = m;
  window.__token = token;
  window.__states = [];
  window.__events = [];
  window.__refreshCalls = 0;
  window.__rt = m.createSocket({
    path: path || "/socket.io",
    getToken: () => window.__token,
    refreshToken: async () => {
      window.__refreshCalls += 1;
      if (window.__offline) throw new Error("offline");  // no code: a network error
      if (window.__refreshTok) {  // the real REST refresh
        const r = await fetch("/api/auth/refresh", {method: "POST", body: "{}",
          headers: {"Content-Type": "application/json", Authorization: `Bearer ${window.__refreshTok}`}});
        window.__token = (await r.json()).access_token;
        return window.__token;
      }
      if (refreshed === null) {
        const e = new Error("refresh refused"); e.code = "token_revoked"; throw e;
      }
      window.__token = refreshed;
      return refreshed;
    },
    onStatus: (s) => window.__states.push(m.formatStatus(s)),
    onEvent: (name, payload) => window.__events.push(
      name === "connect_error" ? `connect_error:${payload.code}:${payload.message}` : name),
    backoff: backoff || {initialMs: 100, maxMs: 400},
    connectTimeoutMs: 5000,
  });
}
"""


def login(base_url: str) -> dict:
    name = f"mod{uuid.uuid4().hex[:8]}"
    r = requests.post(f"{base_url}/api/auth/register", json={"username": name, "password": PASSWORD}, timeout=10)
    assert r.status_code == 201, r.text
    r = requests.post(f"{base_url}/api/auth/login", json={"username": name, "password": PASSWORD}, timeout=10)
    assert r.status_code == 200, r.text
    return {"username": name, **r.json()}


def fresh_access(base_url: str, refresh_token: str) -> str:
    r = requests.post(
        f"{base_url}/api/auth/refresh", json={}, headers={"Authorization": f"Bearer {refresh_token}"}, timeout=10
    )
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


@pytest.fixture
def page(new_context, base_url) -> Page:
    p = new_context(bypass_csp=True).new_page()  # wait_for_function evaluates strings
    p.goto(base_url + "/")
    yield p
    p.evaluate("window.__rt && window.__rt.close()")


def start(page: Page, token, refreshed=None, path=None, backoff=None) -> None:
    page.evaluate(START, {"token": token, "refreshed": refreshed, "path": path, "backoff": backoff})


def wait_state(page: Page, text: str, timeout: int = T) -> None:
    try:
        page.wait_for_function("(t) => window.__states.includes(t)", arg=text, timeout=timeout)
    except Exception as e:
        seen = page.evaluate("[window.__states, window.__events]")
        raise AssertionError(f"status {text!r} not reached; statuses, events: {seen}") from e


def wait_event(page: Page, name: str, count: int = 1, timeout: int = T) -> None:
    try:
        page.wait_for_function(
            "([n, c]) => window.__events.filter((e) => e === n).length >= c", arg=[name, count], timeout=timeout
        )
    except Exception as e:
        seen = page.evaluate("[window.__states, window.__events]")
        raise AssertionError(f"event {name!r} x{count} not seen; statuses, events: {seen}") from e


def states(page: Page) -> list[str]:
    return page.evaluate("window.__states.slice()")


def test_connects_and_acks(page, base_url):
    creds = login(base_url)
    start(page, creds["access_token"], fresh_access(base_url, creds["refresh_token"]))
    wait_state(page, "connected")
    ack = page.evaluate("window.__rt.emitWithAck('whoami', undefined, 5000)")
    assert ack["ok"] is True and ack["user"]["username"] == creds["username"]
    ack = page.evaluate("window.__rt.emitWithAck('join', {room: 'lobby'}, 5000)")
    assert ack["ok"] is True and creds["username"] in ack["members"]
    assert page.evaluate("window.__rt.status.state") == "connected"
    assert isinstance(page.evaluate("window.__rt.expiresAt"), (int, float))
    assert page.evaluate("window.__events.includes('session')")


def test_expired_token_is_refreshed_before_reconnecting(page, base_url):
    creds = login(base_url)
    expired = creds["access_token"]
    time.sleep(4.2)  # a 3-second token must run out
    fresh = fresh_access(base_url, creds["refresh_token"])
    start(page, expired, fresh)
    wait_state(page, "connected")
    assert page.evaluate("window.__refreshCalls") >= 1
    assert not [s for s in states(page) if s.startswith("stopped")]


@pytest.mark.parametrize(
    "kind, code",
    [("garbage", "token_invalid"), ("empty", "auth_required"), ("refresh", "wrong_token_type")],
)
def test_terminal_refusals_stop_without_retrying(page, base_url, kind, code):
    creds = login(base_url)
    token = {"garbage": "not.a.jwt", "empty": "", "refresh": creds["refresh_token"]}[kind]
    start(page, token, "unused")
    wait_state(page, f"stopped: {code}")
    page.wait_for_timeout(800)  # several backoff periods: nothing may happen
    seen = states(page)
    assert seen[-1] == f"stopped: {code}", seen
    assert "reconnecting" not in seen, seen
    assert page.evaluate("window.__refreshCalls") == 0


def test_auth_expired_kick_refreshes_then_reconnects(page, base_url):
    creds = login(base_url)
    page.evaluate("window.__offline = true")
    start(page, creds["access_token"], fresh_access(base_url, creds["refresh_token"]))
    wait_state(page, "connected")
    # Refreshes fail until the token runs out: the server kicks with auth_expired.
    wait_event(page, "auth_expired")
    assert not [s for s in states(page) if s.startswith("stopped")]
    page.evaluate("(t) => { window.__refreshTok = t; window.__offline = false; }", creds["refresh_token"])
    wait_event(page, "session", 2)
    page.wait_for_function("window.__rt.status.state === 'connected'", timeout=T)
    assert "refreshing" in states(page)


def test_revoked_refresh_stops_with_its_code(page, base_url):
    creds = login(base_url)
    expired = creds["access_token"]
    time.sleep(4.2)
    start(page, expired, None)  # refreshToken() rejects with code token_revoked
    wait_state(page, "stopped: token_revoked")
    assert "connected" not in states(page)


def test_network_errors_back_off_and_close_stops_everything(page, base_url):
    creds = login(base_url)
    start(page, creds["access_token"], None, path="/no-such-socket-path/", backoff={"initialMs": 50, "maxMs": 200})
    page.wait_for_function(
        "window.__states.filter((s) => s === 'reconnecting').length >= 3", timeout=T
    )
    assert not [s for s in states(page) if s.startswith("stopped")]
    page.evaluate("window.__rt.close()")
    n = len(states(page))
    assert states(page)[-1] == "stopped: closed"
    page.wait_for_timeout(600)
    assert len(states(page)) == n, states(page)  # every timer cleared


def test_backoff_grows_with_jitter_and_caps(page):
    delays = page.evaluate(
        """async () => {
          const m = await import("/static/js/realtime.js");
          const o = {initialMs: 100, maxMs: 1000, factor: 2, jitter: 0.5};
          return [1, 2, 3, 4, 5, 10].map((a) => [m.backoffDelay(a, o, () => 0), m.backoffDelay(a, o, () => 1)]);
        }"""
    )
    assert delays == [[100, 50], [200, 100], [400, 200], [800, 400], [1000, 500], [1000, 500]]
