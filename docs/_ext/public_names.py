"""Cross-references to the package's internal module paths resolve to its public names.

autodoc writes a type hint as the object's defining module (`flask_socketio_jwt.core.registry.SocketInfo`),
but the API reference documents it where a host imports it (`flask_socketio_jwt.SocketInfo`).
When a reference to an internal path does not resolve, this retries it with the public name of
the same object; anything still unresolved stays a (nitpicky) warning.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment

PUBLIC_MODULES = ("flask_socketio_jwt", "flask_socketio_jwt.testing", "flask_socketio_jwt.gunicorn")


@functools.cache
def public_paths() -> dict[str, str]:
    """Internal dotted path -> public dotted path, for every class and function the package exports."""
    paths: dict[str, str] = {}
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            home, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
            if home and qualname and home != module_name:
                paths.setdefault(f"{home}.{qualname}", f"{module_name}.{name}")
    return paths


def retry_public(app: Sphinx, env: BuildEnvironment, node: nodes.Element, contnode: nodes.Element) -> Any:
    """The `missing-reference` handler: the same reference, aimed at the public name."""
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    for internal, public in public_paths().items():
        if target == internal or target.startswith(internal + "."):
            domain = env.get_domain("py")
            return domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"],
                                       public + target[len(internal):], node, contnode)
    return None


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("missing-reference", retry_public)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
