"""Changes to libraries' private internals, each version-checked: security guards fail closed,
speed changes fall back to the stock behaviour.

Every patch module states `WRITTEN_FOR` (distribution -> (lowest, first untested) versions)
and a `missing(target)` that names the internals it needs and cannot find on the object it
would patch. `usable` checks both before a patch installs; when either fails, the stock
behaviour stays and one log line (never a Python warning: a host's test suite may turn those into
errors) says which patch and why. A security guard (`require`) never falls back: start-up stops
with an error that names it. docs/patches.md lists
each patch, its measured gain and what an upstream fix would look like.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib import metadata
from types import ModuleType
from typing import Any

log = logging.getLogger(__name__)

_warned: set[str] = set()


def version_tuple(text: str) -> tuple[int, ...]:
    """`4.15.1` -> (4, 15, 1); stops at the first part that is not a number (`1.0rc1` -> (1, 0))."""
    out: list[int] = []
    for part in text.split("."):
        digits = "".join(ch for ch in part if ch.isdigit()) if part[:1].isdigit() else ""
        if not digits:
            break
        out.append(int(digits))
        if not part.isdigit():
            break
    return tuple(out)


def installed(dist: str) -> str | None:
    """The installed version of a distribution, or None."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def version_problems(written_for: dict[str, tuple[str, str]]) -> list[str]:
    """Why the installed versions are outside the ranges a patch was written for (empty: fine)."""
    problems = []
    for dist, (low, high) in written_for.items():
        have = installed(dist)
        if have is None:
            problems.append(f"{dist} is not installed")
        elif not version_tuple(low) <= version_tuple(have) < version_tuple(high):
            problems.append(f"{dist} {have} is outside >={low},<{high}")
    return problems


def has(obj: Any, *names: str) -> list[str]:
    """The dotted attribute paths of obj that do not exist (for `missing` functions)."""
    absent = []
    for name in names:
        target = obj
        for part in name.split("."):
            if not hasattr(target, part):
                absent.append(f"{getattr(obj, '__name__', type(obj).__name__)}.{name}")
                break
            target = getattr(target, part)
    return absent


def problems_of(patch: ModuleType, target: Any = None) -> list[str]:
    """Why a patch cannot go in on target with the installed versions (empty: it can)."""
    problems = version_problems(patch.WRITTEN_FOR)
    if not problems:
        missing: Callable[[Any], list[str]] = patch.missing
        try:
            problems = [f"{item} is missing" for item in missing(target)]
        except Exception as exc:  # a library so different that looking at it fails
            problems = [f"inspecting it failed ({type(exc).__name__})"]
    return problems


def require(guard: ModuleType, target: Any = None) -> None:
    """A security guard goes in, or start-up stops: it never runs unguarded after a warning."""
    problems = problems_of(guard, target)
    if problems:
        name = guard.__name__.rsplit(".", 1)[-1]
        raise RuntimeError(f"flask_socketio_jwt cannot put its {name!r} guard in place on the installed "
                           f"libraries ({'; '.join(problems)}): install versions the package supports")


def usable(patch: ModuleType, target: Any = None) -> bool:
    """True when the patch may install on target; otherwise logs once why it does not."""
    name = patch.__name__.rsplit(".", 1)[-1]
    problems = problems_of(patch, target)
    if not problems:
        return True
    if name not in _warned:
        _warned.add(name)
        log.warning("flask_socketio_jwt patch %r not installed, the stock behaviour runs: %s", name,
                    "; ".join(problems))
    return False
