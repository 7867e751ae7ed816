"""A host whose tokens live in HttpOnly cookies (examples/cookie_host), driven in Chromium with the JS client.

The host is the built wheel in a fresh venv under gunicorn (the runtime of this pass); the page
never holds a token: login sets flask-jwt-extended's cookies, the socket's handshake carries the
access cookie, and the client renews it through the host's refresh route and reconnects.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page

from tests.package.wheelhost import Host
from tests.support.common import ROOT
from tests.support.live import live_fixture

TOKEN_SECONDS = 3


@live_fixture(scope="module")
def cookie_host(tmp_path_factory, vendored_client) -> Iterator[Host]:
    h = Host(tmp_path_factory.mktemp("cookie-host"), source=ROOT / "examples" / "cookie_host")
    h.prepare(tmp_path_factory)
    h.start(files={"static/vendor": ROOT / "static" / "vendor"},
            FLASK_JWT_ACCESS_TOKEN_EXPIRES=str(TOKEN_SECONDS))
    yield h
    h.stop()


@pytest.fixture
def cookie_page(new_context, cookie_host) -> Page:
    page = new_context(bypass_csp=True).new_page()
    page.goto(cookie_host.url + "/")
    page.wait_for_function("window.cookieDemo !== undefined")
    return page


def status(page: Page, text: str, timeout: float = 10_000) -> None:
    page.wait_for_function(f"document.getElementById('status').textContent === {text!r}", timeout=timeout)


def test_cookie_login_opens_a_socket_without_the_page_holding_a_token(cookie_page):
    page = cookie_page
    assert page.evaluate("window.cookieDemo.login('ann', 'pw-ann')") is True
    assert "access_token_cookie" not in page.evaluate("document.cookie")  # HttpOnly: no script reads it
    page.evaluate("window.rt = window.cookieDemo.start()")
    status(page, "connected")
    ack = page.evaluate("window.rt.emitWithAck('whoami')")
    assert ack["ok"] is True and ack["identity"] == "ann"


def test_the_socket_outlives_its_token_by_renewing_the_cookie(cookie_page):
    page = cookie_page
    assert page.evaluate("window.cookieDemo.login('bob', 'pw-bob')") is True
    page.evaluate("window.rt = window.cookieDemo.start()")
    status(page, "connected")
    first = page.evaluate("window.rt.emitWithAck('whoami')")["exp"]
    # Three token lifetimes later the socket is still up, on a newer cookie.
    page.wait_for_function(f"window.rt.expiresAt !== null && window.rt.expiresAt >= {first + 2 * TOKEN_SECONDS}",
                           timeout=20_000)
    status(page, "connected")
    ack = page.evaluate("window.rt.emitWithAck('whoami')")
    assert ack["identity"] == "bob" and ack["exp"] > first


def test_without_the_cookie_the_socket_is_refused(cookie_page):
    page = cookie_page
    page.evaluate("window.rt = window.cookieDemo.start()")  # never logged in: no cookie
    status(page, "stopped: auth_required")


def test_logout_kicks_the_cookie_socket(cookie_page):
    page = cookie_page
    assert page.evaluate("window.cookieDemo.login('ann', 'pw-ann')") is True
    page.evaluate("window.rt = window.cookieDemo.start()")
    status(page, "connected")
    page.evaluate("window.cookieDemo.logout()")
    status(page, "stopped: token_revoked")
