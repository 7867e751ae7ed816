"""The demo page in Chromium: DMs reach their recipient, unknown users and stopped sessions are clear."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.app.browser.test_demo import PASSWORD, T, Tab, username

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def tab(new_context, base_url):
    """Factory: a fresh desktop-size page in its own browser context; no console errors allowed."""
    tabs: list[Tab] = []

    def make() -> Tab:
        t = Tab(new_context(viewport={"width": 1280, "height": 800}), base_url)
        tabs.append(t)
        return t

    yield make
    for t in tabs:
        t.assert_clean()


def dm(t: Tab, other: str) -> None:
    box = t.page.get_by_placeholder("username for a DM")
    box.fill(other)
    box.press("Enter")


def test_recipient_is_told_of_a_dm_without_opening_it(tab):
    alice, bob = username("alice"), username("bob")
    a = tab().register(alice)
    b = tab().register(bob)
    room = "dm." + ".".join(sorted([alice, bob]))
    dm(a, bob)
    expect(a.page.locator("#current-room")).to_have_text(room, timeout=T)
    # bob did nothing, yet the conversation is listed, marked as new, and bob stays where he was.
    listed = b.page.locator(f'#rooms button[data-room="{room}"]')
    expect(listed).to_be_visible(timeout=T)
    expect(listed).to_have_class("room unread", timeout=T)
    expect(b.page.locator("#current-room")).to_have_text("lobby")
    a.say("psst, bob")
    listed.click()
    expect(b.page.locator("#current-room")).to_have_text(room, timeout=T)
    expect(b.page.locator("#messages")).to_contain_text("psst, bob", timeout=T)
    expect(listed).to_have_class("room active")
    b.say("hi alice")
    expect(a.page.locator("#messages")).to_contain_text("hi alice", timeout=T)


def test_dm_to_a_user_that_does_not_exist_is_refused(tab):
    a = tab().register(username("alice"))
    ghost = username("ghost")
    dm(a, ghost)
    expect(a.page.locator("#room-error")).to_have_text(f"No user is called {ghost}.", timeout=T)
    expect(a.page.locator("#rooms button[data-room^='dm.']")).to_have_count(0)
    expect(a.page.locator("#current-room")).to_have_text("lobby")
    # The next attempt clears the message.
    a.page.get_by_placeholder("room name").fill("elsewhere")
    a.page.get_by_placeholder("room name").press("Enter")
    expect(a.page.locator("#current-room")).to_have_text("elsewhere", timeout=T)
    expect(a.page.locator("#room-error")).to_have_text("")


def test_server_side_stop_leaves_no_stale_chat(tab):
    name = username("carol")
    a = tab().register(name)
    b = tab().login(name)
    a.page.get_by_role("button", name="Log out everywhere").click()
    expect(b.status).to_have_text("stopped: token_revoked", timeout=T)
    page = b.page
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    expect(page.locator("#auth-error")).to_contain_text("token_revoked")
    # Nothing of the ended session can be used: no chat, no session buttons.
    expect(page.locator("#chat-panel")).to_be_hidden()
    for button in ("Join", "DM", "Leave", "Log out", "Log out everywhere"):
        expect(page.get_by_role("button", name=button, exact=True)).to_have_count(0)
    for sel in ("#join", "#dm", "#leave", "#logout", "#logout-all"):
        expect(page.locator(sel)).to_be_disabled()
    # A new login starts clean and works.
    b.login(name)
    expect(page.locator("#messages")).not_to_contain_text("stopped")
    for sel in ("#join", "#dm", "#logout", "#logout-all"):
        expect(page.locator(sel)).to_be_enabled()
    page.get_by_role("button", name="Log out", exact=True).click()
    expect(b.status).to_have_text("logged out", timeout=T)


def test_phone_room_error_shows_next_to_the_input_and_clears_on_login(new_context, base_url):
    ctx = new_context(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    t = Tab(ctx, base_url)
    name = username("m")
    t.register(name)
    page = t.page
    room_input = page.get_by_placeholder("room name")
    room_input.fill("no spaces allowed")
    room_input.press("Enter")
    error = page.locator("#room-error")
    expect(error).to_contain_text("Room names are", timeout=T)
    expect(error).to_be_visible()
    box, err = room_input.bounding_box(), error.bounding_box()
    assert box and err
    gap = err["y"] - (box["y"] + box["height"])
    assert 0 <= gap < 120, f"the error is {gap:.0f}px below the room input"
    assert err["x"] >= 0 and err["x"] + err["width"] <= 375
    # Log out and in again: the old error is gone.
    page.get_by_role("button", name="Log out", exact=True).click()
    expect(t.status).to_have_text("logged out", timeout=T)
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.locator("#login").click()
    expect(t.status).to_have_text("connected", timeout=T)
    expect(error).to_have_text("")
    expect(error).to_be_hidden()
    t.assert_clean()
