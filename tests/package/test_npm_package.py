"""The JavaScript client as npm would publish it: exactly the files a user needs, metadata complete, no warning.

`npm publish --dry-run` runs in a copy of clients/js (npm writes nothing into the checkout), with
its own cache in the test's temporary folder.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

import flask_socketio_jwt
from tests.support.common import ROOT

PACKAGE = ROOT / "clients" / "js"
# What the tarball holds: the module, its types, and the documents npm shows or a user needs.
PACKED_FILES = ["CHANGELOG.md", "LICENSE", "README.md", "package.json", "src/index.d.ts", "src/index.js"]
REPOSITORY = "https://github.com/flask-socketio-jwt/flask-socketio-jwt"
# npm prints this for every dry run on a machine with no registry credentials; a publisher who is
# logged in never sees it, and it says nothing about the package.
NOT_LOGGED_IN = re.compile(r"^npm warn publish This command requires you to be logged in to \S+ \(dry-run\)$")

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    """(what npm would publish, npm's stderr) for a copy of the package."""
    work = tmp_path_factory.mktemp("npm")
    copy = work / "flask-realtime-client"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("node_modules", "*.tgz"))
    env = {**os.environ, "npm_config_update_notifier": "false", "npm_config_fund": "false"}
    out = subprocess.run(["npm", "publish", "--dry-run", "--json", "--cache", str(work / "cache")], cwd=copy,
                         env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    report = json.loads(out.stdout)
    return report.get("flask-realtime-client", report), out.stderr


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads((PACKAGE / "package.json").read_text())


def test_the_tarball_holds_exactly_what_a_user_needs(dry_run):
    report, _ = dry_run
    assert sorted(f["path"] for f in report["files"]) == PACKED_FILES


def test_npm_publish_warns_about_nothing(dry_run):
    _, stderr = dry_run
    warnings = [line for line in stderr.splitlines() if re.match(r"npm (warn|WARN|ERR)", line)]
    assert all(NOT_LOGGED_IN.match(line) for line in warnings), warnings


def test_the_manifest_says_where_it_comes_from_and_under_which_license(manifest, dry_run):
    report, _ = dry_run
    assert manifest["license"] == "MIT"
    assert (PACKAGE / "LICENSE").read_text().startswith("MIT License")
    assert (PACKAGE / "LICENSE").read_text() == (ROOT / "LICENSE").read_text()
    assert manifest["repository"] == {"type": "git", "url": f"git+{REPOSITORY}.git", "directory": "clients/js"}
    assert manifest["homepage"].startswith(f"{REPOSITORY}/tree/main/clients/js")
    assert manifest["bugs"]["url"] == f"{REPOSITORY}/issues"
    assert "CHANGELOG.md" in manifest["files"]
    assert manifest["engines"]["node"]
    packed = {f["path"] for f in report["files"]}
    types = manifest["exports"]["."]["types"].removeprefix("./")
    assert manifest["types"].removeprefix("./") == types and types in packed
    assert manifest["exports"]["."]["default"].removeprefix("./") in packed
    assert report["version"] == manifest["version"]


def test_the_readme_names_the_server_version_it_was_tested_against(manifest):
    readme = (PACKAGE / "README.md").read_text()
    stated = re.findall(r"[Tt]ested against the server package \**flask-socketio-jwt (\d+\.\d+\.\d+)", readme)
    assert stated == [flask_socketio_jwt.__version__]
    changelog = (PACKAGE / "CHANGELOG.md").read_text()
    entry = changelog.split(f"## {manifest['version']}", 1)[1].split("\n## ", 1)[0]
    assert f"`flask-socketio-jwt` {flask_socketio_jwt.__version__}" in entry
