"""The package's layering rules, read from its sources: it never imports the app; the core never imports Socket.IO.

And the rules of its tests: they run with nothing of the demo app importable, and none of them imports it.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

from tests.support.common import ROOT

PACKAGE = ROOT / "flask_socketio_jwt"
TESTS = ROOT / "tests"
# The demo app's modules: the ones it is made of, and every other top-level module or package of
# the checkout that is not the package or its tests (bench/ imports the app).
APP_MODULES = {"app", "config", "models", "extensions", "blueprints", "sockets", "realtime", "cli", "wsgi"} | {
    p.stem for p in ROOT.glob("*.py") if p.stem.isidentifier()} | {
    p.parent.name for p in ROOT.glob("*/__init__.py")} - {"flask_socketio_jwt", "tests"}
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
        assert not imported(path) & (APP_MODULES | {"tests"}), path


# What tests/package runs on: its own files, the shared helpers, and the tests package itself.
PACKAGE_SIDE = sorted([*(TESTS / "package").rglob("*.py"), *(TESTS / "support").rglob("*.py"),
                       *TESTS.glob("*.py")])
HOW_TO_RUN = ("tests/package runs with nothing of the app importable: `make test-package` (or `make test`), "
              "not in the same pytest run as tests/app")


def module_names(source: str, package: str) -> set[str]:
    """Every module a source file in `package` imports (dotted, relative imports resolved, and
    importlib.import_module / __import__ calls with a literal name)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(filter(None, [*parts[:len(parts) - node.level + 1], base]))
            names.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            func = node.func
            if (func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")) in ("import_module",
                                                                                              "__import__"):
                names.add(node.args[0].value)
    return names


def file_module_names(path: Path) -> set[str]:
    return module_names(path.read_text(), ".".join(path.relative_to(ROOT).parts[:-1]))


def is_app(name: str) -> bool:
    return name.split(".")[0] in APP_MODULES or name == "tests.app" or name.startswith("tests.app.")


def test_no_file_the_package_tests_run_on_imports_the_app():
    assert len(PACKAGE_SIDE) > 10
    for path in PACKAGE_SIDE:
        app_imports = sorted(name for name in file_module_names(path) if is_app(name))
        assert not app_imports, f"{path.relative_to(ROOT)} imports {app_imports}: {HOW_TO_RUN}"


def test_the_rule_sees_every_way_of_importing():
    sources = {"import realtime.rooms": "realtime.rooms", "from app import create_app": "app.create_app",
               "from tests.app.conftest import LiveServer": "tests.app.conftest.LiveServer",
               "from ..app import conftest": "tests.app.conftest", "from . import wheelhost": "tests.package.wheelhost",
               "importlib.import_module('models')": "models", "__import__('wsgi')": "wsgi"}
    for source, name in sources.items():
        found = module_names(source, "tests.package")
        assert name in found, (source, found)
        assert any(is_app(n) for n in found) == (name != "tests.package.wheelhost"), (source, found)


def in_checkout(path: str | None) -> bool:
    return path is not None and Path(path).resolve().is_relative_to(ROOT.resolve())


def test_the_app_cannot_be_imported_in_this_run():
    assert importlib.util.find_spec("app") is None and importlib.util.find_spec("realtime") is None, HOW_TO_RUN
    for name in sorted(APP_MODULES):
        spec = importlib.util.find_spec(name)
        assert spec is None or not in_checkout(spec.origin), f"{name} imports from {spec.origin}: {HOW_TO_RUN}"
    assert ROOT.resolve() not in {Path(entry or ".").resolve() for entry in sys.path}, HOW_TO_RUN
    package = importlib.util.find_spec("flask_socketio_jwt")
    assert package is not None and Path(package.origin).resolve().parent == PACKAGE.resolve()


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


# Test files that reach into the package's insides (its writer, guards, patches, registry
# backends), by their path under tests/; every other file under tests/ holds to the public API
# like the app does, whether it tests the app or the package as a stranger's app would.
INTERNALS_TESTS = {"support/eio_fake.py", "app/test_audit_pg.py", "app/test_audit_writer.py",
                   "package/test_backpressure_unit.py", "app/test_event_context.py", "package/test_eventtask.py",
                   "package/test_extension.py", "package/test_gctune.py", "package/test_gevent_ws.py",
                   "package/test_guards_unit.py", "app/test_leansocket.py", "package/test_package_rules.py",
                   "app/test_room_index.py", "package/test_redis_registry.py", "app/cluster/test_wiring.py"}
APP_TESTS = sorted(p for p in TESTS.rglob("*.py") if p.relative_to(TESTS).as_posix() not in INTERNALS_TESTS)


def test_the_internals_tests_exist():
    assert not {name for name in INTERNALS_TESTS if not (TESTS / name).is_file()}


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
