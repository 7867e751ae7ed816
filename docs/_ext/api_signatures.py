"""How signatures read in the API reference.

- Records the package builds and a host only reads (`State`, `SocketInfo`, `Verified`, and the
  objects a `State` holds) are shown without their constructor: a dataclass's generated
  `__init__` lists every field, which the attribute list already documents.
- A private sentinel default (`socket_client(auth=...)`: "not given") would print as
  `<object object at 0x...>`, which is neither readable nor a valid signature: it reads `...`.
- A module-level value (`AUDIT_KINDS`, a frozenset) has no docstring of its own; autodoc would
  show its type's (`frozenset() -> empty frozenset object`). The page's text describes it.
"""

from __future__ import annotations

import re
from typing import Any

from sphinx.application import Sphinx

NO_CONSTRUCTOR = frozenset({
    "flask_socketio_jwt.State", "flask_socketio_jwt.SocketInfo", "flask_socketio_jwt.Verified",
    "flask_socketio_jwt.core.registry.Registry", "flask_socketio_jwt.core.hub.Hub",
    "flask_socketio_jwt.core.audit.AuditLog",
})
SENTINEL = re.compile(r"<object object( at 0x[0-9a-fA-F]+)?>")


def signature(app: Sphinx, what: str, name: str, obj: Any, options: Any, sig: str | None,
              return_annotation: str | None) -> tuple[str, str | None] | None:
    """The `autodoc-process-signature` handler."""
    if what == "class" and name in NO_CONSTRUCTOR:
        return "", None
    if sig and SENTINEL.search(sig):
        return SENTINEL.sub("...", sig), return_annotation
    return None


def docstring(app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    """The `autodoc-process-docstring` handler: no builtin type's docstring for a data value."""
    if what == "data" and type(obj).__doc__ and "\n".join(lines).strip() == type(obj).__doc__.strip():
        lines.clear()


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("autodoc-process-signature", signature)
    app.connect("autodoc-process-docstring", docstring)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
