"""The Socket.IO Admin UI in Chromium: an admin signs in with an access token and sees live sockets and
rooms; a user's token is refused. Everything the page loads comes from the server itself."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from tests.app.conftest import PASSWORD, LiveServer
from tests.support.common import ROOT as REPO_ROOT
from tests.support.live import live_fixture
from tests.support.sio import Recorder

pytestmark = pytest.mark.timeout(120)
T = 10_000


@live_fixture(scope="module")
def admin_server(tmp_path_factory, vendored_client) -> Iterator[LiveServer]:
    """A real server with the admin view on and an admin named `root`."""
    if not (REPO_ROOT / "static/vendor/admin-ui/index.html").exists():
        subprocess.run(["bash", str(REPO_ROOT / "scripts/vendor.sh")], check=True, cwd=REPO_ROOT)
    srv = LiveServer(tmp_path_factory.mktemp("adminui"), {"FLASK_ADMIN_UI_ENABLED": "true"})
    srv.migrate()
    srv.create_admin("root")
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def member(admin_server) -> Iterator[tuple[dict, Recorder, str]]:
    """A user with a live socket in a fresh room."""
    user = admin_server.register()
    room = "ops-" + uuid.uuid4().hex[:6]
    sock = Recorder(admin_server.url)
    assert sock.connect(user["access"])
    assert sock.call("join", {"room": room})["ok"]
    yield user, sock, room
    sock.close()


def open_ui(browser: Browser, server: LiveServer, username: str, token: str) -> tuple[Page, list[str]]:
    """A fresh page on the UI, signed in with the given token; returns it and its problems."""
    page = browser.new_context().new_page()
    problems: list[str] = []
    host = urlsplit(server.url).netloc
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.on("request", lambda r: urlsplit(r.url).netloc not in (host, "") and problems.append(f"off-site: {r.url}"))
    page.on("console", lambda m: "Content Security Policy" in m.text and problems.append(m.text))
    page.goto(server.url + "/admin/socketio/")
    page.get_by_label("Server URL").fill(server.url)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(token)
    page.get_by_role("button", name="Connect").click()
    return page, problems


def test_admin_sees_live_sockets_and_rooms(browser: Browser, admin_server, member) -> None:
    user, sock, room = member
    token = requests.post(admin_server.url + "/api/auth/login", json={"username": "root", "password": PASSWORD},
                          timeout=10).json()["access_token"]
    page, problems = open_ui(browser, admin_server, "root", token)
    expect(page.get_by_text("Status: connected", exact=True)).to_be_visible(timeout=T)
    sid = sock.events["session"][0]["sid"]
    page.get_by_role("link", name="Sockets").click()
    expect(page.get_by_text(sid)).to_be_visible(timeout=T)
    page.get_by_role("link", name="Rooms").click()
    expect(page.get_by_text(room, exact=True)).to_be_visible(timeout=T)
    # A socket that connects now shows up live.
    later = Recorder(admin_server.url)
    try:
        assert later.connect(user["access"])
        page.get_by_role("link", name="Sockets").click()
        expect(page.get_by_text(later.events["session"][0]["sid"])).to_be_visible(timeout=T)
    finally:
        later.close()
    assert problems == []


def test_a_users_token_is_refused(browser: Browser, admin_server, member) -> None:
    user, _sock, _room = member
    page, problems = open_ui(browser, admin_server, user["username"], user["access"])
    expect(page.get_by_text("forbidden")).to_be_visible(timeout=T)
    expect(page.get_by_text("Status: disconnected", exact=True)).to_be_visible()
    page.get_by_role("link", name="Sockets").click(force=True)
    expect(page.get_by_text(_sock.events["session"][0]["sid"])).to_have_count(0)
    assert problems == []
