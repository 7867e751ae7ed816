"""Browser tests of the package's hosts: Playwright driving Debian's Chromium (tests/support/browser.py).

Nothing of the demo app: the hosts are examples served from the built wheel (tests/package/wheelhost.py).
"""

import pytest

from tests.support.browser import browser_type_launch_args, checkout_unchanged, vendored_client  # noqa: F401


@pytest.fixture(scope="session")
def base_url():
    """No common base URL: each test opens its own host's pages by their full URL."""
    return None
