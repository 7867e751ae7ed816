"""/api/docs in Chromium: both documents render, from the server alone, under the page's CSP."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.timeout(60)


def test_docs_page_renders_both_documents(page: Page, base_url: str) -> None:
    problems: list[str] = []
    host = urlsplit(base_url).netloc
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.on("console", lambda m: m.type == "error" and "Failed to load resource" not in m.text
            and problems.append(m.text))
    # The browser asks for /favicon.ico on its own; the page links none.
    page.on("response", lambda r: r.status >= 400 and not r.url.endswith("/favicon.ico")
            and problems.append(f"{r.status}: {r.url}"))
    page.on("request", lambda r: urlsplit(r.url).netloc != host and problems.append(f"off-site: {r.url}"))
    page.goto(base_url + "/api/docs")
    expect(page.locator("body[data-ready=true]")).to_have_count(1, timeout=10_000)
    publish = page.locator("#op-postServerRoomsRoomMessages")
    expect(publish).to_contain_text("/api/server/rooms/{room}/messages")
    publish.locator("summary").click()
    expect(publish.get_by_role("link", name="PublishRequest")).to_be_visible()
    expect(page.locator("#event-join")).to_contain_text("join")
    page.locator("#event-join summary").click()
    expect(page.locator("#event-join").get_by_role("link", name="JoinAck")).to_be_visible()
    expect(page.locator("#schema-Error")).to_be_visible()
    assert problems == []
