"""Browser-test fixtures both browser folders use: Debian's Chromium, the vendored client, an unchanged checkout.

Playwright (sync API) drives Debian's Chromium; no `playwright install`.
  REALTIME_TEST_CHROMIUM   the Chromium binary (default: /usr/bin/chromium)

A conftest takes these fixtures by importing them.
"""

from __future__ import annotations

import hashlib
import os
import subprocess

import pytest

from tests.support.common import ROOT

CHROMIUM = os.environ.get("REALTIME_TEST_CHROMIUM", "/usr/bin/chromium")


def checkout_state() -> dict[str, str]:
    """Each changed or untracked path of the checkout (`git status --porcelain`) with its content hash."""
    out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", "-z"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    state = {}
    for entry in filter(None, out.split("\0")):
        path = ROOT / entry[3:]
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "-"
        state[entry] = digest
    return state


@pytest.fixture(scope="session", autouse=True)
def checkout_unchanged():
    """The browser tests write only to temporary folders: the checkout looks the same afterwards."""
    before = checkout_state()
    yield
    after = checkout_state()
    changed = sorted(set(before.items()) ^ set(after.items()))
    assert not changed, f"the browser tests changed the checkout: {changed}"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--disable-dev-shm-usage",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture(scope="session")
def vendored_client():
    """static/vendor/ holds socket.io-client's ES module (scripts/vendor.sh makes it)."""
    target = ROOT / "static" / "vendor" / "socket.io.esm.min.js"
    if not target.exists():
        subprocess.run(["bash", str(ROOT / "scripts" / "vendor.sh")], check=True, cwd=ROOT)
    return target
