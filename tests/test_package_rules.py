"""The package's layering rules, read from its sources: it never imports the app; the core never imports Socket.IO."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "flask_socketio_jwt"
APP_MODULES = {"app", "config", "models", "extensions", "blueprints", "sockets", "realtime", "cli", "wsgi", "tests"}
SOCKET_IO = {"flask_socketio", "socketio", "engineio", "eventlet", "gevent"}


def imported(path: Path) -> set[str]:
    """Top-level module names a source file imports (anywhere in it, lazily or not)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_the_package_never_imports_the_app():
    for path in PACKAGE.rglob("*.py"):
        assert not imported(path) & APP_MODULES, path


def test_the_core_has_no_socketio_and_no_flask_request():
    for path in (PACKAGE / "core").rglob("*.py"):
        assert not imported(path) & SOCKET_IO, path
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "flask":
                assert "request" not in {a.name for a in node.names}, path


def test_library_versions_are_named_only_in_patches():
    for path in PACKAGE.rglob("*.py"):
        if path.parent.name != "patches":
            assert "WRITTEN_FOR" not in path.read_text(), path
    for path in (PACKAGE / "patches").glob("*.py"):
        if path.name != "__init__.py":
            source = path.read_text()
            assert "WRITTEN_FOR = " in source and "def missing(" in source, path


def test_the_floor_pass_installs_exactly_the_declared_floors():
    """`make test` runs the package's tests on requirements-floor.txt: the floors pyproject.toml declares."""
    import re
    import tomllib

    declared = {}
    for spec in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]:
        name, low = re.match(r"([A-Za-z0-9_.-]+)\s*>=\s*([0-9.]+)", spec).groups()
        declared[name.lower()] = tuple(int(x) for x in low.split("."))
    pinned = {}
    for line in (ROOT / "requirements-floor.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pinned[name.strip().lower()] = tuple(int(x) for x in version.split("."))
    for name, low in declared.items():
        have = pinned[name] + (0,) * (len(low) - len(pinned[name]))
        assert have[:len(low)] == low and all(x == 0 for x in have[len(low):]), (name, low, pinned[name])


APP_FILES = [ROOT / name for name in ("app.py", "wsgi.py", "cli.py", "config.py", "extensions.py", "models.py",
                                      "gunicorn.conf.py")] + sorted(
    p for folder in ("blueprints", "sockets", "realtime") for p in (ROOT / folder).glob("*.py"))
# What the package documents as public: its top-level names and these modules.
PUBLIC_MODULES = {"flask_socketio_jwt", "flask_socketio_jwt.testing", "flask_socketio_jwt.gunicorn"}


# Tests of the package's own insides (its writer, guards, patches, registry backends); every
# other test is a test of the app and holds to the public API like the app does.
PACKAGE_TESTS = {"eio_fake.py", "test_audit_pg.py", "test_audit_writer.py", "test_backpressure_unit.py",
                 "test_event_context.py", "test_eventtask.py", "test_extension.py", "test_gctune.py",
                 "test_gevent_ws.py", "test_guards_unit.py", "test_leansocket.py", "test_package_rules.py",
                 "test_room_index.py", "test_redis_registry.py", "test_wiring.py"}
APP_TESTS = sorted(p for p in (ROOT / "tests").rglob("*.py") if p.name not in PACKAGE_TESTS)


def test_the_app_uses_only_the_public_api():
    """The package's first user (its code and its tests) needs nothing a stranger's app could not import."""
    import importlib

    for path in APP_FILES + APP_TESTS:
        source = path.read_text()
        assert '"flask-socketio-jwt:' not in source, f"{path.name} reads the package's app.extensions keys"
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("flask_socketio_jwt"):
                assert node.module in PUBLIC_MODULES, f"{path.name} imports {node.module}"
                public = set(importlib.import_module(node.module).__all__)
                for alias in node.names:
                    assert alias.name in public, f"{path.name} imports {node.module}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("flask_socketio_jwt"):
                        assert alias.name in PUBLIC_MODULES, f"{path.name} imports {alias.name}"


def test_every_setting_is_in_the_documented_table():
    """docs/extension.md's settings table names every key the package fills in, and no other."""
    import re

    from flask_socketio_jwt.settings import DEFAULTS

    doc = (ROOT / "docs" / "extension.md").read_text()
    table = doc.split("## Settings (Flask config keys; all optional)", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"`(SOCKETIO_JWT_[A-Z_]+)`", table))
    assert listed == set(DEFAULTS)
    assert all(key.startswith("SOCKETIO_JWT_") for key in DEFAULTS)
