"""The documentation site: `make docs` builds it with warnings as errors, and it documents what the package has.

The site is built once per test module into a temporary folder, exactly as `make docs` builds it
(`sphinx-build -W --keep-going -n -b html docs <out>`), then read back: the quickstart, one row of
the configuration table per setting the package fills in, one API entry per public name, the
refusal codes, the changelog, links to the repository's own pages. The examples the pages include
are run as the tests they are.
"""

from __future__ import annotations

import html
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask
from flask_jwt_extended import JWTManager
from flask_socketio import SocketIO

import flask_socketio_jwt
import flask_socketio_jwt.gunicorn
import flask_socketio_jwt.testing
from flask_socketio_jwt import SocketJWT, get_state
from tests.support.common import ROOT

DOCS = ROOT / "docs"
REFUSAL_CODES = ("auth_required", "token_invalid", "token_expired", "token_revoked", "wrong_token_type",
                 "user_unknown", "origin_forbidden", "rate_limited", "too_many_connections", "unavailable",
                 "internal_error")


def child_env(**extra: str) -> dict[str, str]:
    """No byte code written next to the sources: the checkout stays as it was."""
    return {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **extra}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("docs") / "html"
    build = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n", "-b", "html",
                            "-d", str(out.parent / "doctrees"), str(DOCS), str(out)],
                           capture_output=True, text=True, env=child_env(), cwd=out.parent)
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-4000:]
    assert "WARNING" not in build.stderr, build.stderr[-4000:]
    return out


def page(site: Path, name: str) -> str:
    return (site / name).read_text(encoding="utf-8")


def text(markup: str) -> str:
    """What a reader sees: no tags, entities decoded, whitespace folded."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", markup)))


def filled_keys(tmp_path: Path) -> set[str]:
    """Every config key `SocketJWT.init_app` fills in: the settings the table must list."""
    app = Flask("keys", instance_path=str(tmp_path / "instance"))
    app.config["JWT_SECRET_KEY"] = "k" * 40
    JWTManager(app)
    SocketJWT().init_app(app, SocketIO(async_mode="threading"))
    get_state(app).hub.close()
    get_state(app).audit.close()
    return {key for key in app.config if key.startswith("SOCKETIO_JWT_")}


def test_the_quickstart_teaches_decorator_handlers_then_a_class_based_namespace(site: Path):
    quickstart = text(page(site, "guide/quickstart.html"))
    decorators = quickstart.index("Decorator handlers on /")
    namespace = quickstart.index("A class-based namespace")
    assert decorators < namespace
    assert '@socketio.on("connect")' in quickstart[decorators:namespace]
    assert "join_room(" in quickstart[decorators:namespace]
    assert "class ChatNamespace(AuthNamespace):" in quickstart[namespace:]
    assert "socket_jwt.init_app(app, socketio)" in quickstart
    assert 'href="guide/quickstart.html"' in page(site, "index.html")


def test_the_configuration_table_has_one_row_per_setting(site: Path, tmp_path: Path):
    markup = page(site, "reference/configuration.html")
    table = re.search(r'<table class="[^"]*\bsocketio-jwt-settings\b[^"]*">(.*?)</table>', markup, re.S)
    assert table, "the generated settings table is missing"
    rows = re.findall(r"<tr[^>]*>\s*<td[^>]*>(.*?)</td>", table[1], re.S)
    keys = [text(cell).strip() for cell in rows]
    assert len(keys) == len(set(keys))
    assert set(keys) == filled_keys(tmp_path)


def test_every_public_name_has_an_api_entry(site: Path):
    api = page(site, "reference/api.html")
    documented = set(re.findall(r'<dt class="sig sig-object py" id="([^"]+)"', api))
    for name in flask_socketio_jwt.__all__:
        assert f"flask_socketio_jwt.{name}" in documented, name
    for name in flask_socketio_jwt.gunicorn.__all__:
        assert f"flask_socketio_jwt.gunicorn.{name}" in documented, name
    for name in flask_socketio_jwt.testing.__all__:  # documented once, under the top-level name
        assert name in flask_socketio_jwt.__all__
    for module in ("flask_socketio_jwt", "flask_socketio_jwt.testing", "flask_socketio_jwt.gunicorn"):
        assert f'id="module-{module}"' in api, module
    assert "flask_socketio_jwt.__version__" in documented
    for name in flask_socketio_jwt.__all__:  # each error class's entry names its code
        error = getattr(flask_socketio_jwt, name)
        if isinstance(error, type) and issubclass(error, flask_socketio_jwt.SocketJWTError):
            entry = api.split(f'id="flask_socketio_jwt.{name}"', 1)[1].split('<dt class="sig sig-object py"', 1)[0]
            assert error.code in text(entry), (name, error.code)


def test_the_refusal_codes_and_events_are_listed(site: Path):
    protocol = text(page(site, "reference/protocol.html"))
    for code in REFUSAL_CODES:
        assert code in protocol, code
    for event in ("session", "auth_expired", "auth_revoked", "refresh", "identity_mismatch"):
        assert event in protocol, event


def test_the_changelog_is_the_projects(site: Path):
    changes = (ROOT / "CHANGES.md").read_text()
    versions = re.findall(r"^## (\S+)", changes, re.M)
    changelog = text(page(site, "reference/changelog.html"))
    assert versions and all(version in changelog for version in versions)
    assert flask_socketio_jwt.__version__ == versions[0]


def test_the_repositorys_own_pages_are_linked(site: Path):
    demo = page(site, "project/demo-app.html")
    for doc in sorted(DOCS.glob("*.md")):
        assert f'/docs/{doc.name}"' in demo, f"docs/{doc.name} is not linked from the site"


def test_the_guides_examples_pass_as_tests(tmp_path: Path):
    """docs/examples/*.py, which the quickstart, testing and admin pages include, run as written."""
    for source in (DOCS / "examples").glob("*.py"):
        shutil.copy(source, tmp_path)
    (tmp_path / "pytest.ini").write_text("[pytest]\nfilterwarnings =\n    error\n")
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_quickstart.py"],
                         cwd=tmp_path, capture_output=True, text=True, env=child_env(PYTHONPATH=str(ROOT)))
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    summary = out.stdout.strip().splitlines()[-1]
    assert re.search(r"\d+ passed", summary) and not re.search(r"failed|error|skipped", summary), summary


def settings_table_module():
    spec = importlib.util.spec_from_file_location("settings_table", DOCS / "_ext" / "settings_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("defaults", "rows", "problem"), [
    ({"SOCKETIO_JWT_A": 1}, [("SOCKETIO_JWT_A", "`2`", "a")], "documented default 2 but the package's is 1"),
    ({"SOCKETIO_JWT_A": True}, [("SOCKETIO_JWT_A", "`1`", "a")], "documented default 1"),
    ({"SOCKETIO_JWT_A": 1, "SOCKETIO_JWT_B": 2}, [("SOCKETIO_JWT_A", "`1`", "a")], "without a row"),
    ({"SOCKETIO_JWT_A": 1}, [("SOCKETIO_JWT_A", "`1`", "a"), ("SOCKETIO_JWT_C", "`1`", "c")],
     "does not have: SOCKETIO_JWT_C"),
    ({"SOCKETIO_JWT_A": None}, [("SOCKETIO_JWT_A", "none", "a")], "must start with a Python literal"),
])
def test_the_generated_table_stops_the_build_when_docs_and_code_disagree(defaults, rows, problem):
    module = settings_table_module()
    with pytest.raises(module.SettingsError, match=re.escape(problem)):
        module.table_lines(defaults, rows, "https://example.invalid/repo")


def test_the_generated_table_links_the_repositorys_pages():
    module = settings_table_module()
    row = ("SOCKETIO_JWT_A", "`[1, 2]` (note)", "see [patches.md](patches.md#why)")
    lines = module.table_lines({"SOCKETIO_JWT_A": [1, 2]}, [row], "https://r")
    link = "[patches.md](https://r/blob/main/docs/patches.md#why)"
    assert lines[-1] == f"| `SOCKETIO_JWT_A` | `[1, 2]` (note) | see {link} |"
