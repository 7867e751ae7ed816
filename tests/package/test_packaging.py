"""The distribution as PyPI and a user get it: sdist and wheel built from a clean copy of the checkout.

One build per test session: `python -m build` makes the sdist and a wheel from the sources, then
a second wheel is built from the unpacked sdist (what pip does with an sdist, and proof that the
sdist holds everything). That wheel goes into a fresh venv in which nothing of this repository is
importable, and the package's own tests (`make test` runs them the same way in its floor pass:
`--noconftest`) run there against it.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import trove_classifiers

import flask_socketio_jwt
from tests.support.common import ROOT

# Building twice in isolated environments and installing into a new venv takes a minute or two.
pytestmark = pytest.mark.timeout(900)

# The package's own tests: they need nothing of the app (make test's floor pass runs them alone).
PACKAGE_TESTS = ("tests/package/test_secure_default.py", "tests/package/test_extension.py")
# What those tests need besides the package (requirements-floor.txt's second part).
TEST_TOOLS = ("pytest", "pytest-timeout", "requests")
# Pins the venv installs with, so it gets the versions the project tests on (and pip's cache).
PIN_FILES = ("requirements.txt", "requirements-gevent.txt", "requirements-dev.txt")
SDIST_TOP = {"PKG-INFO", "pyproject.toml", "setup.cfg", "MANIFEST.in", "README-package.md", "LICENSE",
             "flask_socketio_jwt", "flask_socketio_jwt.egg-info"}
URL_LABELS = {"Homepage", "Documentation", "Changelog", "Source", "Issues"}


@dataclass
class Built:
    source: Path            # the copy of the checkout it was built from
    sdist: Path
    wheel: Path             # built by `python -m build` from the sources
    wheel_from_sdist: Path  # built from the unpacked sdist
    version: str


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run a command; its output, or a failure that shows the end of it."""
    out = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True)
    assert out.returncode == 0, f"{' '.join(map(str, cmd))} exited {out.returncode}:\n" \
                                f"{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out.stdout + out.stderr


def clean_env() -> dict[str, str]:
    """The environment without anything that would put this checkout on a child's sys.path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    return {**env, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONDONTWRITEBYTECODE": "1"}


def checkout_copy(dest: Path) -> Path:
    """The files a clean clone has (tracked, plus new ones not ignored): building writes only there."""
    names = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                           capture_output=True).stdout.decode().split("\0")
    for name in filter(None, names):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    return dest


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    work = tmp_path_factory.mktemp("packaging")
    src = checkout_copy(work / "src")
    env = clean_env()
    run([sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", work / "dist", src], work, env)
    sdist = next((work / "dist").glob("flask_socketio_jwt-*.tar.gz"))
    wheel = next((work / "dist").glob("flask_socketio_jwt-*.whl"))
    with tarfile.open(sdist) as archive:
        archive.extractall(work / "unpacked", filter="data")
    unpacked = next((work / "unpacked").iterdir())
    run([sys.executable, "-m", "build", "--wheel", "--outdir", work / "from-sdist", unpacked], work, env)
    wheel_from_sdist = next((work / "from-sdist").glob("flask_socketio_jwt-*.whl"))
    return Built(src, sdist, wheel, wheel_from_sdist, version=wheel.name.split("-")[1])


def constraints(dest: Path) -> Path:
    """The project's pins as a pip constraints file (no extras: pip refuses them in constraints)."""
    pins: dict[str, str] = {}
    for name in PIN_FILES:
        for line in (ROOT / name).read_text().splitlines():
            match = re.match(r"^([A-Za-z0-9_.-]+)(\[[^]]*\])?==(\S+)", line.strip())
            if match:  # the first file that pins a name wins (gunicorn differs between runtimes)
                pins.setdefault(match[1].lower(), f"{match[1]}=={match[3]}")
    dest.write_text("\n".join(pins.values()) + "\n")
    return dest


def pytest_ini() -> str:
    """The project's pytest settings (warnings as errors, timeout, markers) for the copied tests."""
    opts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    lines = ["[pytest]", f"addopts = {opts['addopts']}"]
    for key in ("markers", "filterwarnings"):
        lines += [f"{key} ="] + [f"    {value}" for value in opts[key]]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="session")
def stranger(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder that knows nothing of this repository: a venv holding the wheel, and the package's tests.

    The tests reach for `.venv/bin/python` (eventlet) and `.venv-gevent/bin/python` (gevent) two
    folders above their own (`tests/package/`), so the venv is `.venv`, holds both runtimes' extras, and
    `.venv-gevent` points at it.
    """
    home = tmp_path_factory.mktemp("stranger")
    venv = home / ".venv"
    env = clean_env()
    run([sys.executable, "-m", "venv", venv], home, env)
    run([venv / "bin/python", "-m", "pip", "install", "-q", f"{built.wheel_from_sdist}[eventlet,gevent]",
         *TEST_TOOLS, "-c", constraints(home / "constraints.txt")], home, env)
    (home / ".venv-gevent").symlink_to(venv, target_is_directory=True)
    for name in PACKAGE_TESTS:  # at the same depth as in the checkout: they find the venvs from there
        (home / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, home / name)
    (home / "pytest.ini").write_text(pytest_ini())
    return home


def metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return email.message_from_bytes(archive.read(name), policy=email.policy.compat32)


def test_sdist_and_wheel_pass_twine_check_strict(built: Built):
    out = run([sys.executable, "-m", "twine", "check", "--strict", built.sdist, built.wheel], ROOT, clean_env())
    assert out.count("PASSED") == 2, out


def test_the_sdist_holds_the_package_and_its_metadata_only(built: Built):
    with tarfile.open(built.sdist) as archive:
        names = archive.getnames()
    top = {name.split("/")[1] for name in names if name.count("/") >= 1 and name.split("/")[1]}
    assert top == SDIST_TOP
    sources = {n.split("/", 1)[1] for n in names if n.endswith(".py")}
    package = {str(p.relative_to(built.source)) for p in (built.source / "flask_socketio_jwt").rglob("*.py")}
    assert sources == package


def test_the_wheel_built_from_the_sdist_is_the_wheel(built: Built):
    def files(wheel: Path) -> set[str]:
        return set(zipfile.ZipFile(wheel).namelist())

    assert built.wheel_from_sdist.name == built.wheel.name
    assert files(built.wheel_from_sdist) == files(built.wheel)
    assert f"flask_socketio_jwt-{built.version}.dist-info/licenses/LICENSE" in files(built.wheel)
    assert "flask_socketio_jwt/py.typed" in files(built.wheel)


def test_metadata_is_what_pypi_shows(built: Built):
    meta = metadata(built.wheel_from_sdist)
    assert meta["Name"] == "flask-socketio-jwt" and meta["Version"] == flask_socketio_jwt.__version__
    assert meta["License-Expression"] == "MIT" and meta["License-File"] == "LICENSE"
    assert meta["Description-Content-Type"] == "text/markdown"
    assert meta.get_payload().strip() == (ROOT / "README-package.md").read_text().strip()
    urls = dict(value.split(", ", 1) for value in meta.get_all("Project-URL"))
    assert set(urls) == URL_LABELS
    assert all(url.startswith("https://") for url in urls.values())
    classifiers = meta.get_all("Classifier")
    assert not set(classifiers) - trove_classifiers.classifiers, "PyPI refuses unknown classifiers"
    tested = f"Programming Language :: Python :: {sys.version_info.major}.{sys.version_info.minor}"
    assert tested in classifiers and "Typing :: Typed" in classifiers and "Framework :: Flask" in classifiers
    assert meta["Requires-Python"] == ">=3.11"


def test_the_venv_imports_the_wheel_not_the_checkout(built: Built, stranger: Path):
    out = run([stranger / ".venv/bin/python", "-c",
               "import importlib.metadata as m, flask_socketio_jwt as p; "
               "print(p.__version__); print(m.version('flask-socketio-jwt')); print(p.__file__)"],
              stranger, clean_env())
    version, dist_version, location = out.split()
    assert version == dist_version == built.version == flask_socketio_jwt.__version__
    site = Path(location).resolve()
    assert site.is_relative_to((stranger / ".venv").resolve()) and "site-packages" in site.parts
    assert not site.is_relative_to(ROOT.resolve())


def test_the_package_tests_pass_against_the_installed_wheel(stranger: Path):
    out = run([stranger / ".venv/bin/python", "-m", "pytest", "--noconftest", *PACKAGE_TESTS], stranger,
              clean_env())
    summary = out.strip().splitlines()[-1]
    assert re.search(r"\d+ passed", summary) and not re.search(r"failed|error|skipped", summary), summary
