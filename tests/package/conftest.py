"""Fixtures of the package's own tests. Nothing of the demo app: tests/package runs with the app not importable.

`make test` runs this folder in pytest invocations of its own, from a temporary folder that holds
only a link to the package (`make test-package` runs it alone); tests/package/test_package_rules.py
checks that the app cannot be imported there and that no file here imports it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.live import (
    pytest_collection_modifyitems,  # noqa: F401 - the hooks that set the live marker
    pytest_runtest_protocol,  # noqa: F401
)
from tests.support.services import RedisServer


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory) -> Iterator[RedisServer]:
    """A redis-server on a free loopback port for the whole session."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()
