"""The demo page and static/js/realtime.js in Chromium, against a real server.

The server (see conftest.py) issues 3-second access tokens, so every test here also runs
through several in-place token refreshes.
"""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import BrowserContext, Page, expect

pytestmark = pytest.mark.timeout(120)

PASSWORD = "correct-horse-battery"
XSS_PAYLOADS = ["<img src=x onerror=window.__xss=1>", "<script>window.__xss=1</script>"]
T = 10_000  # default expect timeout (ms)


def username(prefix: str = "u") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


class Tab:
    """One demo page plus the console errors and page errors it produced."""

    def __init__(self, context: BrowserContext, base_url: str):
        self.page: Page = context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(f"console: {m.text}"))
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.goto(base_url + "/")
        self.status = self.page.locator("#status")

    def enter(self, name: str, button: str) -> None:
        self.page.get_by_label("Username").fill(name)
        self.page.get_by_label("Password").fill(PASSWORD)
        self.page.locator(button).click()
        expect(self.status).to_have_text("connected", timeout=T)
        # joined `lobby` by default
        expect(self.page.locator("#current-room")).to_have_text("lobby", timeout=T)
        expect(self.page.locator("#presence")).to_contain_text(name, timeout=T)

    def register(self, name: str) -> Tab:
        self.enter(name, "#register")
        return self

    def login(self, name: str) -> Tab:
        self.enter(name, "#login")
        return self

    def say(self, text: str) -> None:
        box = self.page.locator("#message-input")
        expect(box).to_be_enabled(timeout=T)
        box.fill(text)
        box.press("Enter")
        expect(box).to_have_value("", timeout=T)

    def status_history(self) -> list[str]:
        return self.page.evaluate("window.__demo.statusHistory.slice()")

    def assert_clean(self) -> None:
        assert self.errors == [], self.errors


@pytest.fixture
def tab(new_context, base_url):
    """Factory: a fresh page in its own browser context (own memory, own tokens)."""
    tabs: list[Tab] = []

    def make() -> Tab:
        t = Tab(new_context(viewport={"width": 1280, "height": 800}), base_url)
        tabs.append(t)
        return t

    yield make
    for t in tabs:
        t.assert_clean()


def test_page_serves_its_own_assets(tab):
    t = tab()
    expect(t.page).to_have_title("Real-time demo")
    expect(t.page.get_by_role("button", name="Log in")).to_be_visible()
    expect(t.page.get_by_role("button", name="Register")).to_be_visible()
    expect(t.status).to_have_text("logged out")


def test_two_users_chat_and_see_each_other(tab, tmp_path):
    alice, bob = username("alice"), username("bob")
    a = tab().register(alice)
    b = tab().register(bob)

    # presence: each page lists both users in lobby
    expect(a.page.locator("#presence")).to_contain_text(bob, timeout=T)
    expect(b.page.locator("#presence")).to_contain_text(alice, timeout=T)

    a.say("hello from alice")
    expect(b.page.locator("#messages")).to_contain_text("hello from alice", timeout=T)
    b.say("hi alice, bob here")
    expect(a.page.locator("#messages")).to_contain_text("hi alice, bob here", timeout=T)
    expect(a.page.locator("#messages .message.mine")).to_contain_text("hello from alice")

    # a direct-message room, named after both users sorted
    dm = "dm." + ".".join(sorted([alice, bob]))
    for me, other in ((a, bob), (b, alice)):
        me.page.get_by_placeholder("username for a DM").fill(other)
        me.page.get_by_placeholder("username for a DM").press("Enter")
        expect(me.page.locator("#current-room")).to_have_text(dm, timeout=T)
    expect(a.page.locator("#presence")).to_contain_text(bob, timeout=T)
    a.say("just between us")
    expect(b.page.locator("#messages")).to_contain_text("just between us", timeout=T)
    expect(b.page.locator("#messages")).not_to_contain_text("hello from alice")

    # back to lobby: its messages are still there
    a.page.locator('#rooms button[data-room="lobby"]').click()
    expect(a.page.locator("#messages")).to_contain_text("hi alice, bob here")
    expect(a.page.locator("#log")).to_contain_text("session")

    # The page renders (docs/demo.png itself comes from `make screenshots`, never from a test).
    shot = tmp_path / "demo.png"
    a.page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes().startswith(b"\x89PNG")

    # leaving a room updates the other member's presence
    b.page.locator('#rooms button[data-room="lobby"]').click()
    b.page.get_by_role("button", name="Leave").click()
    expect(a.page.locator("#presence")).not_to_contain_text(bob, timeout=T)


def test_stays_connected_through_token_refreshes(tab):
    t = tab().register(username("rf"))
    expect(t.page.locator("#token-ttl")).to_have_text(re.compile(r"^[0-3]s$"), timeout=T)

    # 3-second tokens: let several lifetimes pass (the one fixed wait in this file).
    t.page.wait_for_timeout(10_000)

    expect(t.status).to_have_text(re.compile(r"^(connected|refreshing)$"))
    expect(t.status).to_have_text("connected", timeout=T)
    history = t.status_history()
    assert not [s for s in history if s.startswith("stopped")], history
    # refreshed in place: no reconnect, one session, several refreshes in the log
    assert "reconnecting" not in history, history
    assert t.page.locator("#log .log-session").count() == 1
    assert t.page.locator("#log .log-refreshed").count() >= 2
    # still usable after the refreshes
    t.say("still here after refreshes")
    expect(t.page.locator("#messages")).to_contain_text("still here after refreshes", timeout=T)


def test_logout_everywhere_kicks_other_page_which_stops(tab):
    name = username("carol")
    a = tab().register(name)
    b = tab().login(name)  # same user, logged in separately: its own tokens

    # Plain "Log out" revokes only that page's token: the other page stays connected.
    a.page.get_by_role("button", name="Log out", exact=True).click()
    expect(a.status).to_have_text("logged out", timeout=T)
    expect(a.page.get_by_role("button", name="Log in")).to_be_visible()
    a.login(name)

    # "Log out everywhere" kicks every socket of the user, b's included.
    a.page.get_by_role("button", name="Log out everywhere").click()
    expect(a.status).to_have_text("logged out", timeout=T)
    expect(b.status).to_have_text("stopped: token_revoked", timeout=T)
    expect(b.page.locator("#log")).to_contain_text("auth_revoked")
    b_history = b.status_history()
    assert not [s for s in b_history if s.startswith("stopped")][:-1], b_history  # never stopped before

    # ... and it does not retry: still stopped after more than a backoff delay.
    b.page.wait_for_timeout(2500)
    expect(b.status).to_have_text("stopped: token_revoked")
    after = b.status_history()
    assert after[-1] == "stopped: token_revoked"
    assert after[b_history.index("stopped: token_revoked") :] == ["stopped: token_revoked"], after
    expect(b.page.get_by_role("button", name="Log in")).to_be_visible()


def test_untrusted_text_is_rendered_as_text(tab):
    a = tab().register(username("xss"))
    b = tab().register(username("obs"))
    for payload in XSS_PAYLOADS:
        a.say(payload)
    for t in (a, b):
        messages = t.page.locator("#messages")
        for payload in XSS_PAYLOADS:
            expect(messages).to_contain_text(payload, timeout=T)
        assert messages.locator("img, script").count() == 0
        assert t.page.evaluate("typeof window.__xss") == "undefined"
        # the event log renders payloads as text too
        assert t.page.locator("#log img, #log script").count() == 0


def test_usable_at_phone_width(new_context, base_url):
    ctx = new_context(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    t = Tab(ctx, base_url)
    t.register(username("m"))
    t.say("from a phone")
    expect(t.page.locator("#messages")).to_contain_text("from a phone", timeout=T)
    # nothing wider than the viewport
    overflow = t.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"page is {overflow}px wider than the phone screen"
    t.assert_clean()


FITS = """() => {
  const input = document.querySelector('#message-input');
  const style = getComputedStyle(input);
  const ctx = document.createElement('canvas').getContext('2d');
  ctx.font = style.font;
  const room = input.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  return ctx.measureText(input.placeholder).width <= room;
}"""


@pytest.mark.parametrize(("width", "height"), [(390, 844), (1280, 800)])
def test_the_conversation_comes_first_on_a_phone(new_context, base_url, tmp_path, width, height):
    ctx = new_context(viewport={"width": width, "height": height}, is_mobile=width < 760, has_touch=width < 760)
    t = Tab(ctx, base_url)
    t.register(username("p"))
    t.page.screenshot(path=str(tmp_path / f"demo-{width}.png"), full_page=True)
    composer = t.page.locator("#message-form").bounding_box()
    conversation = t.page.locator(".conversation").bounding_box()
    sidebar = t.page.locator(".sidebar").bounding_box()
    assert composer and conversation and sidebar
    assert composer["y"] + composer["height"] <= height, f"the composer ends at {composer} on a {height}px screen"
    assert t.page.evaluate(FITS), "the composer's placeholder is cut off"
    if width < 760:
        assert conversation["y"] < sidebar["y"]  # the conversation first; rooms and presence below it
    else:
        assert sidebar["x"] < conversation["x"] and abs(sidebar["y"] - conversation["y"]) < 2  # side by side
    assert (tmp_path / f"demo-{width}.png").stat().st_size > 0
    t.assert_clean()
