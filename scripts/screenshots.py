"""Regenerate the pictures in the docs (`make screenshots`): docs/demo.png from a real server.

Starts the app under gunicorn's eventlet worker on a throwaway SQLite database, drives two demo
pages in Chromium (two users chatting, then a direct message) and writes the picture. Tests
never write here; this command is the only thing that changes the tracked picture.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

from tests.app.conftest import LiveServer  # noqa: E402

PASSWORD = "correct-horse-battery"
CHROMIUM = os.environ.get("REALTIME_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--disable-dev-shm-usage", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
T = 15_000


def register(page: Page, url: str, name: str) -> None:
    """Open the demo page and register name; returns once it is connected in lobby."""
    page.goto(url + "/")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.locator("#register").click()
    expect(page.locator("#status")).to_have_text("connected", timeout=T)
    expect(page.locator("#current-room")).to_have_text("lobby", timeout=T)


def say(page: Page, text: str) -> None:
    """Send a message in the current room."""
    box = page.locator("#message-input")
    expect(box).to_be_enabled(timeout=T)
    box.fill(text)
    box.press("Enter")
    expect(box).to_have_value("", timeout=T)


def demo_png(url: str, out: Path) -> None:
    """Two users chat in lobby, one opens a DM; picture of the first user's page in lobby."""
    alice, bob = "alice" + uuid.uuid4().hex[:4], "bob" + uuid.uuid4().hex[:4]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            a = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            b = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            register(a, url, alice)
            register(b, url, bob)
            say(a, "hello from alice")
            expect(b.locator("#messages")).to_contain_text("hello from alice", timeout=T)
            say(b, "hi alice, bob here")
            expect(a.locator("#messages")).to_contain_text("hi alice, bob here", timeout=T)
            a.get_by_placeholder("username for a DM").fill(bob)
            a.get_by_placeholder("username for a DM").press("Enter")
            expect(a.locator("#current-room")).to_have_text("dm." + ".".join(sorted([alice, bob])), timeout=T)
            say(a, "just between us")
            a.locator('#rooms button[data-room="lobby"]').click()
            expect(a.locator("#messages")).to_contain_text("hi alice, bob here", timeout=T)
            out.parent.mkdir(parents=True, exist_ok=True)
            a.screenshot(path=str(out), full_page=True)
        finally:
            browser.close()


def main() -> int:
    """Start a server, take the pictures, stop it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=ROOT / "docs", help="where to write (default: docs/)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="screenshots-") as tmp:
        server = LiveServer(Path(tmp), {"FLASK_JWT_ACCESS_TOKEN_EXPIRES": "600"})
        server.migrate()
        server.start()
        try:
            demo_png(server.url, args.out_dir / "demo.png")
        finally:
            server.stop()
    print(f"wrote {args.out_dir / 'demo.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
