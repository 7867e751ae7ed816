"""The Next.js example (examples/nextjs) in Chromium, against a real gunicorn server.

The app is built once with `next build` (`make nextjs-build`, a no-op when nothing changed)
and served with `next start`; the Flask server issues 5-second access tokens and lets the
Next.js origin in through CORS_ALLOWED_ORIGINS. Every user signs in through NextAuth's
credentials provider, which logs in against the Flask REST API.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import sqlite3
import subprocess
import uuid
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.app.conftest import PASSWORD, LiveServer, free_port, wait_for
from tests.support.live import live_fixture

pytestmark = pytest.mark.timeout(180)

ROOT = Path(__file__).resolve().parents[3]
NEXT_DIR = ROOT / "examples" / "nextjs"
ACCESS_TOKEN_SECONDS = 5
T = 15_000  # expect timeout (ms)
FRONTEND_KEY = secrets.token_urlsafe(32)  # shared by Flask and the Next.js server of the stack


class NextApp:
    """`next start` of the built example on a free loopback port."""

    def __init__(self, workdir: Path, flask_url: str, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = workdir / "next.log"
        env = {**os.environ, "NEXT_PUBLIC_SOCKET_URL": flask_url, "REALTIME_API_URL": flask_url,
               "FLASK_FRONTEND_KEY": FRONTEND_KEY,
               "NEXTAUTH_URL": self.url, "NEXTAUTH_SECRET": secrets.token_urlsafe(32),
               "NEXT_TELEMETRY_DISABLED": "1", "NODE_ENV": "production"}
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [str(NEXT_DIR / "node_modules/.bin/next"), "start", "--hostname", "127.0.0.1", "--port", str(port)],
            cwd=NEXT_DIR, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"next start exited: {self.log_path.read_text()[-2000:]}")
        try:
            return requests.get(self.url + "/signin", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def wait_ready(self, timeout: float = 60) -> None:
        if not wait_for(self.ready, timeout, interval=0.2):
            raise RuntimeError(f"next start not ready: {self.log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


@live_fixture(scope="module")
def stack(tmp_path_factory):
    """(Flask LiveServer, NextApp): the example wired to a real server with 5-second tokens."""
    subprocess.run(["make", "-s", "nextjs-build"], cwd=ROOT, check=True)
    workdir = tmp_path_factory.mktemp("nextjs")
    next_port = free_port()
    flask = LiveServer(workdir, {
        "FLASK_JWT_ACCESS_TOKEN_EXPIRES": str(ACCESS_TOKEN_SECONDS),
        "FLASK_CORS_ALLOWED_ORIGINS": json.dumps([f"http://127.0.0.1:{next_port}"]),
        "FLASK_FRONTEND_KEY": FRONTEND_KEY,
    })
    flask.migrate()
    flask.start()
    app = NextApp(workdir, flask.url, next_port)
    try:
        app.wait_ready()
        yield flask, app
    finally:
        app.stop()
        flask.stop()


@pytest.fixture
def contexts(browser: Browser):
    """Factory of fresh browser contexts (separate cookie jars: separate users)."""
    made: list[BrowserContext] = []

    def make() -> BrowserContext:
        ctx = browser.new_context()
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        ctx.close()


def new_user(flask: LiveServer, prefix: str) -> str:
    """A registered username (password: PASSWORD)."""
    return flask.register(f"{prefix}{uuid.uuid4().hex[:8]}")["username"]


class Tab:
    """One page of the example, with the errors it logged."""

    def __init__(self, ctx: BrowserContext, url: str) -> None:
        self.page: Page = ctx.new_page()
        self.errors: list[str] = []
        self.console: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.url = url
        self.status = self.page.get_by_test_id("connection-status")

    def sign_in(self, name: str) -> Tab:
        self.page.goto(self.url + "/signin")
        self.page.get_by_label("Username").fill(name)
        self.page.get_by_label("Password").fill(PASSWORD)
        self.page.get_by_role("button", name="Sign in").click()
        expect(self.status).to_have_text("connected", timeout=T)
        expect(self.page.get_by_test_id("username")).to_have_text(name)
        return self

    def open_home(self) -> Tab:
        self.page.goto(self.url + "/")
        expect(self.status).to_have_text("connected", timeout=T)
        return self

    def presence(self):
        return self.page.get_by_role("list", name="Here now")

    def messages(self):
        return self.page.get_by_role("list", name="Messages")

    def say(self, text: str) -> None:
        box = self.page.get_by_label("Message", exact=True)
        expect(box).to_be_enabled(timeout=T)
        box.fill(text)
        box.press("Enter")
        expect(box).to_have_value("", timeout=T)  # acked by the server

    def dm(self, other: str) -> None:
        self.page.get_by_label("Direct message to").fill(other)
        self.page.get_by_role("button", name="DM", exact=True).click()

    def number(self, test_id: str) -> int:
        return int(self.page.get_by_test_id(test_id).inner_text())


def test_two_users_sign_in_and_chat_in_rooms_and_dms(stack, contexts):
    flask, app = stack
    alice, bob = new_user(flask, "alice"), new_user(flask, "bob")
    a = Tab(contexts(), app.url).sign_in(alice)
    b = Tab(contexts(), app.url).sign_in(bob)

    # Both in the default room, each sees the other.
    for t in (a, b):
        expect(t.page.get_by_test_id("current-room")).to_have_text("lobby")
        expect(t.presence()).to_contain_text(alice, timeout=T)
        expect(t.presence()).to_contain_text(bob, timeout=T)

    a.say("hello from alice")
    expect(b.messages()).to_contain_text("hello from alice", timeout=T)
    b.say("hi alice")
    expect(a.messages()).to_contain_text("hi alice", timeout=T)

    # A DM: both sides build the same room name; a third user never sees it.
    room = "dm." + ".".join(sorted([alice, bob]))
    a.dm(bob)
    expect(a.page.get_by_test_id("current-room")).to_have_text(room, timeout=T)
    expect(a.presence()).to_contain_text(alice, timeout=T)
    b.dm(alice)
    expect(b.page.get_by_test_id("current-room")).to_have_text(room, timeout=T)
    expect(a.presence()).to_contain_text(bob, timeout=T)
    a.say("just between us")
    expect(b.messages()).to_contain_text("just between us", timeout=T)

    # A room joined from the form.
    b.page.get_by_label("Room name").fill("side-room")
    b.page.get_by_role("button", name="Join", exact=True).click()
    expect(b.page.get_by_test_id("current-room")).to_have_text("side-room", timeout=T)
    expect(b.presence()).to_have_text(bob, timeout=T)
    for t in (a, b):
        assert t.errors == [], t.errors
        assert not [m for m in t.console if m.startswith("error")], t.console


def test_socket_stays_connected_through_in_place_refreshes(stack, contexts):
    flask, app = stack
    t = Tab(contexts(), app.url).sign_in(new_user(flask, "long"))
    sid = t.page.get_by_test_id("sid").inner_text()
    assert sid and sid != "-"
    # 5-second tokens: 20 s connected takes at least four in-place refreshes.
    try:
        t.page.wait_for_function(
            """() => {
              const at = Number(document.querySelector('[data-testid=connects]').dataset.connectedAt);
              const refreshes = Number(document.querySelector('[data-testid=refreshes]').textContent);
              return at > 0 && Date.now() - at >= 20000 && refreshes >= 4;
            }""",
            timeout=45_000,
        )
    except Exception as e:
        panel = t.page.locator(".connection").inner_text()
        raise AssertionError(f"not 20 s connected with 4 refreshes: {panel!r}; console: {t.console[-20:]}") from e
    expect(t.status).to_have_text("connected")
    assert t.page.get_by_test_id("sid").inner_text() == sid  # the same socket all along
    assert t.number("connects") == 1
    assert t.number("retries") == 0
    # ... and it still works.
    t.say("still here")
    expect(t.messages()).to_contain_text("still here", timeout=T)
    assert t.errors == []


def test_sign_out_in_one_tab_stops_that_users_sockets(stack, contexts):
    flask, app = stack
    carol, dave = new_user(flask, "carol"), new_user(flask, "dave")
    browser_ctx = contexts()
    first = Tab(browser_ctx, app.url).sign_in(carol)
    second = Tab(browser_ctx, app.url).open_home()  # same browser: same NextAuth session
    watcher = Tab(contexts(), app.url).sign_in(dave)
    expect(watcher.presence()).to_contain_text(carol, timeout=T)

    first.page.get_by_role("button", name="Sign out").click()
    for t in (first, second):
        expect(t.status).to_have_text("signed out", timeout=T)
        expect(t.page.get_by_test_id("signed-out")).to_be_visible()
    # Every socket of carol's is gone: the server tells the room she left.
    expect(watcher.presence()).not_to_contain_text(carol, timeout=T)
    expect(watcher.presence()).to_contain_text(dave)
    expect(watcher.status).to_have_text("connected")


def pump_until(page: Page, predicate, timeout_ms: int = T) -> None:
    """Let Playwright dispatch its handlers (route holds) until `predicate()` holds."""
    for _ in range(timeout_ms // 50):
        if predicate():
            return
        page.wait_for_timeout(50)
    assert predicate(), "condition not reached in time"


def test_renewal_answering_after_a_revoked_sign_out_does_not_keep_the_session(stack, contexts):
    """The race behind a tab that stays "stopped: token_revoked": a session renewal sent before
    the backend session was revoked answers after the sign-out it caused and sets the NextAuth
    cookie again. The hook signs out once more."""
    flask, app = stack
    ctx = contexts()
    t = Tab(ctx, app.url).sign_in(new_user(flask, "ivan"))
    held: dict = {}

    def has_session_cookie() -> bool:
        return any("session-token" in c["name"] for c in ctx.cookies(app.url))

    def read_session() -> dict:
        return t.page.evaluate("() => fetch('/api/auth/session').then((r) => r.json())")

    def session_route(route) -> None:
        method = route.request.method
        if method == "POST" and "renewal" not in held:
            # The cookies this renewal was sent with: replayed when it is let through.
            held["renewal"] = (route, {c["name"]: c["value"] for c in ctx.cookies(app.url)})
        elif method == "GET" and "signing_out" in held and "reread" not in held:
            held["reread"] = route  # the session read that ends signOut()
        else:
            route.continue_()

    def signout_route(route) -> None:
        held["signing_out"] = True
        route.continue_()

    t.page.route("**/api/auth/session", session_route)
    t.page.route("**/api/auth/signout", signout_route)
    pump_until(t.page, lambda: "renewal" in held)  # the socket renews before every expiry
    renewal, cookies = held["renewal"]
    # The backend session ends elsewhere ("log out" on another device): the socket is kicked.
    token = read_session()["accessToken"]
    requests.post(f"{flask.url}/api/auth/logout", headers={"Authorization": f"Bearer {token}"},
                  timeout=10).raise_for_status()
    pump_until(t.page, lambda: "reread" in held)  # the hook signed out; the cookie is cleared
    assert not has_session_cookie()

    # The renewal now reaches Next.js with the old cookie; its answer sets the cookie again.
    answer = renewal.fetch(headers={**renewal.request.headers,
                                    "cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())})
    renewal.fulfill(response=answer)
    pump_until(t.page, has_session_cookie)
    held["reread"].continue_()

    expect(t.status).to_have_text("signed out", timeout=T)
    expect(t.page.get_by_test_id("signed-out")).to_be_visible()
    pump_until(t.page, lambda: not has_session_cookie())
    t.page.unroute_all()
    assert read_session() == {}


def test_another_user_signing_in_gets_a_new_socket(stack, contexts):
    flask, app = stack
    frank, grace, heidi = new_user(flask, "frank"), new_user(flask, "grace"), new_user(flask, "heidi")
    watcher = Tab(contexts(), app.url).sign_in(heidi)
    t = Tab(contexts(), app.url).sign_in(frank)
    expect(watcher.presence()).to_contain_text(frank, timeout=T)
    first_sid = t.page.get_by_test_id("sid").inner_text()

    t.sign_in(grace)  # same browser, no sign-out in between
    expect(t.page.get_by_test_id("sid")).not_to_have_text(first_sid, timeout=T)
    expect(watcher.presence()).to_contain_text(grace, timeout=T)
    expect(watcher.presence()).not_to_contain_text(frank, timeout=T)  # frank's socket is closed
    assert t.number("connects") == 1  # counted for grace's socket alone


def test_deleted_user_gets_a_terminal_error_not_a_reconnect_loop(stack, contexts):
    flask, app = stack
    name = new_user(flask, "erin")
    t = Tab(contexts(), app.url).sign_in(name)

    # The account is disabled (what deleting a user does to its tokens): the next renewal,
    # at most one token lifetime away, is refused with user_unknown.
    with sqlite3.connect(flask.db_uri.removeprefix("sqlite:///")) as db:
        db.execute("UPDATE users SET is_active = 0 WHERE username = ?", (name,))
    expect(t.status).to_have_text("stopped: user_unknown", timeout=3 * ACCESS_TOKEN_SECONDS * 1000)
    expect(t.page.get_by_test_id("session-ended")).to_contain_text("user_unknown")
    assert t.number("retries") == 0
    # Nothing tries again. A session refetch (what a focused tab does) is what could restart
    # a socket: make one happen, then watch for three first-retry delays (500 ms each at most).
    with t.page.expect_response("**/api/auth/session"):
        t.page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    t.page.wait_for_timeout(1500)
    expect(t.status).to_have_text("stopped: user_unknown")
    assert t.number("retries") == 0
    assert t.number("connects") == 1


def sign_in_from(ctx: BrowserContext, url: str, username: str, password: str) -> str:
    """A credentials sign-in through NextAuth's own endpoint; "ok" or the backend's error code."""
    csrf = ctx.request.get(url + "/api/auth/csrf").json()["csrfToken"]
    r = ctx.request.post(url + "/api/auth/callback/credentials", form={
        "username": username, "password": password, "csrfToken": csrf, "json": "true"}, max_redirects=0)
    location = (r.json() or {}).get("url", "")  # NextAuth answers {"url"} (401 with ?error= on failure)
    found = re.search(r"[?&]error=([a-z_]+)", location)
    return found.group(1) if found else "ok"


def test_failed_sign_ins_lock_out_neither_another_user_nor_another_address(stack, browser: Browser):
    flask, app = stack
    bob, alice = new_user(flask, "bob"), new_user(flask, "alice")
    at = {addr: browser.new_context(extra_http_headers={"X-Forwarded-For": addr})
          for addr in ("10.0.0.1", "10.0.0.2", "10.0.0.3")}
    try:
        attacker = at["10.0.0.1"]
        codes = [sign_in_from(attacker, app.url, bob, "wrong-password") for _ in range(12)]
        assert codes[0] == "invalid_credentials" and codes[-1] == "rate_limited"  # bob, from this address
        assert sign_in_from(at["10.0.0.2"], app.url, bob, PASSWORD) == "ok"  # bob elsewhere: fine
        assert sign_in_from(attacker, app.url, alice, PASSWORD) == "ok"  # another user: fine
        for i in range(12):  # past the per-address limit: this address only
            sign_in_from(attacker, app.url, f"nobody{i}", "wrong-password")
        assert sign_in_from(attacker, app.url, alice, PASSWORD) == "rate_limited"
        assert sign_in_from(at["10.0.0.3"], app.url, alice, PASSWORD) == "ok"
    finally:
        for ctx in at.values():
            ctx.close()


def test_pages_carry_a_content_security_policy(stack):
    flask, app = stack
    for path in ("/signin", "/"):
        r = requests.get(app.url + path, timeout=10, allow_redirects=False)
        csp = r.headers.get("Content-Security-Policy", "")
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp, (path, dict(r.headers))
        assert f"connect-src 'self' {flask.url} {flask.url.replace('http', 'ws')}" in csp
        assert r.headers.get("X-Frame-Options") == "DENY" and r.headers.get("X-Content-Type-Options") == "nosniff"


def test_an_incoming_dm_shows_up_live_with_an_unread_mark(stack, contexts):
    flask, app = stack
    alice, bob = new_user(flask, "alice"), new_user(flask, "bob")
    a = Tab(contexts(), app.url).sign_in(alice)
    b = Tab(contexts(), app.url).sign_in(bob)
    room = "dm." + ".".join(sorted([alice, bob]))
    a.dm(bob)
    expect(a.page.get_by_test_id("current-room")).to_have_text(room, timeout=T)
    a.say("are you there?")
    # Bob does nothing: the conversation appears in his list, marked unread, lobby still open.
    listed = b.page.get_by_role("list", name="Rooms").locator("li", has_text=room)
    expect(listed).to_have_attribute("data-unread", "true", timeout=T)
    expect(b.page.get_by_test_id("current-room")).to_have_text("lobby")
    listed.locator("button").first.click()
    expect(b.messages()).to_contain_text("are you there?", timeout=T)
    expect(listed).not_to_have_attribute("data-unread", "true")
    for t in (a, b):
        assert t.errors == [], t.errors


@pytest.mark.parametrize("path", ["/", "/some/page?x=1"])
def test_a_signed_out_visit_lands_on_the_sign_in_page(stack, contexts, path):
    _, app = stack
    page = contexts().new_page()
    page.goto(app.url + path)
    expect(page).to_have_url(re.compile(re.escape(app.url) + r"/signin\?callbackUrl="), timeout=T)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=T)
