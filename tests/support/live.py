"""The `live` marker comes from the fixtures: a test that uses a fixture starting a real server is marked live.

A fixture that starts a server (gunicorn, a development server, a cluster of them) is declared
with `live_fixture` instead of `pytest.fixture`. The hooks below (both conftests import them)
mark `live` every test whose fixtures, directly or through other fixtures, include one of them,
and fail a test that starts a server through tests.support.gunicorn.spawn() without carrying the
marker, so a new server test cannot be left out of the runs `make test` repeats (`-m live`:
under gevent, and with every patch off).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any

import pytest

from tests.support import gunicorn

STARTS_A_SERVER = "_starts_a_server"


def live_fixture(function: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
    """`pytest.fixture` (same arguments) for a fixture that starts a real server."""
    def declare(fn: Callable[..., Any]) -> Any:
        setattr(fn, STARTS_A_SERVER, True)
        return pytest.fixture(**kwargs)(fn)

    return declare(function) if function is not None else declare


def starts_a_server(item: pytest.Item) -> bool:
    """Whether any fixture the test uses (its whole closure) was declared with `live_fixture`."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return any(getattr(fixturedef.func, STARTS_A_SERVER, False)
               for name in item.fixturenames for fixturedef in info.name2fixturedefs.get(name, ()))


def mark_live(items: list[pytest.Item]) -> None:
    for item in items:
        if starts_a_server(item) and item.get_closest_marker("live") is None:
            item.add_marker(pytest.mark.live)


# The test pytest is running (set up, called, torn down) in this process, if any.
running: pytest.Item | None = None


def require_live(cmd: Sequence[str]) -> None:
    """tests.support.gunicorn.before_spawn: only a test marked `live` starts a server."""
    if running is not None and running.get_closest_marker("live") is None:
        raise RuntimeError(f"{running.nodeid} starts a server ({' '.join(map(str, cmd[:3]))} ...) but is not "
                           "marked live: start it from a fixture declared with tests.support.live.live_fixture")


if require_live not in gunicorn.before_spawn:
    gunicorn.before_spawn.append(require_live)


# The hooks: tests/app/conftest.py and tests/package/conftest.py take them by importing them.

@pytest.hookimpl(tryfirst=True)  # before `-m` selects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mark_live(items)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, object, object]:
    global running
    running = item
    try:
        return (yield)
    finally:
        running = None
