"""Sphinx configuration of the flask-socketio-jwt documentation site.

Built with `make docs` (`sphinx-build -W --keep-going -n -b html docs docs/_build/html`): warnings
are errors and every cross-reference must resolve, so a renamed API or setting breaks the build
instead of leaving a dead link. Nothing here reaches the network (no intersphinx): names of other
projects are listed in `nitpick_ignore_regex` instead.
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
# The package from this checkout (the docs describe the code next to them), and the local extensions.
sys.path[:0] = [str(ROOT), str(DOCS / "_ext")]

import flask_socketio_jwt  # noqa: E402

project = "flask-socketio-jwt"
author = "The flask-socketio-jwt authors"
copyright = "the flask-socketio-jwt authors"
release = flask_socketio_jwt.__version__
version = ".".join(release.split(".")[:2])

REPOSITORY = "https://github.com/flask-socketio-jwt/flask-socketio-jwt"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "myst_parser",
    "settings_table",   # the configuration table, from flask_socketio_jwt.settings
    "public_names",     # type hints that name an internal module point at the public name
    "api_signatures",   # records a host never builds are shown without a constructor
]

# The folder also holds the demo application's own Markdown pages (docs/*.md): they are not part
# of this site (it links to them in the repository), so every top-level Markdown file stays out.
exclude_patterns = ["_build", "_ext", "examples", "*.md"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# API reference: what the docstrings and type hints say. The docstrings mark names and code with
# single backticks, as Markdown does: shown as code, not as reStructuredText's italics.
default_role = "code"
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
napoleon_google_docstring = True
napoleon_numpy_docstring = False

nitpicky = True
# Other projects' names in type hints and prose. Without intersphinx (the build stays offline)
# they cannot resolve; every name of this package must.
nitpick_ignore_regex = [
    ("py:.*", r"(flask|flask_socketio|flask_jwt_extended|socketio|engineio|sqlalchemy|sa|jwt|redis|gevent"
              r"|eventlet|gunicorn|werkzeug)(\..*)?"),
    ("py:.*", r"(Flask|SocketIO|SocketIOTestClient|Namespace|Engine|MetaData|Table)"),
    ("py:.*", r"(collections\.abc|datetime|threading|pathlib|typing|types)\..*"),
    ("py:.*", r"(Callable|Iterable|Iterator|Mapping|Sequence|timedelta)"),
]

html_theme = "furo"
html_title = f"flask-socketio-jwt {release}"
html_static_path: list[str] = []
html_theme_options = {
    "source_repository": REPOSITORY + "/",
    "source_branch": "main",
    "source_directory": "docs/",
}
# The settings table links the repository's own pages with it.
html_context = {"repository": REPOSITORY}
