"""The configuration table, generated at build time from `flask_socketio_jwt.settings.DEFAULTS`.

`DEFAULTS` is the truth for which keys exist and what they default to. What each key means is
written once, in the settings table of `docs/extension.md` (one key per row; tests keep that
table complete). The directive joins the two and stops the build when they disagree: a key
without a description, a described key the package does not have, or a documented default that
is not the package's. A MyST page uses it as

    ```{socketio-jwt-settings}
    ```
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

DESCRIPTIONS = Path(__file__).resolve().parent.parent / "extension.md"
SECTION = "## Settings (Flask config keys; all optional)"
TABLE_CLASS = "socketio-jwt-settings"
# `literal` optionally followed by a note: "`[]` (same origin)".
DEFAULT_CELL = re.compile(r"^`(?P<literal>[^`]+)`(?P<note>\s.*)?$")
RELATIVE_LINK = re.compile(r"\]\((?!https?://|#)([^)]+\.md)(#[^)]*)?\)")


class SettingsError(Exception):
    """The documented table and the package's settings disagree."""


def documented_rows(path: Path = DESCRIPTIONS) -> list[tuple[str, str, str]]:
    """(key, default cell, meaning cell) for each row of the settings table, in the table's order."""
    text = path.read_text(encoding="utf-8")
    if SECTION not in text:
        raise SettingsError(f"{path.name} has no {SECTION!r} section")
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) != 3 or cells[0] in ("key", "") or set(cells[0]) <= {"-"}:
            continue
        keys = re.findall(r"`(SOCKETIO_JWT_[A-Z_]+)`", cells[0])
        if len(keys) != 1:
            raise SettingsError(f"{path.name}: one key per row of the settings table, not {cells[0]!r}")
        rows.append((keys[0], cells[1], cells[2]))
    return rows


def same_value(documented: Any, actual: Any) -> bool:
    """Equal and of the same kind (True is not 1, 3600 is 3600.0)."""
    if isinstance(actual, bool) or isinstance(documented, bool):
        return documented is actual
    if isinstance(actual, (int, float)) and isinstance(documented, (int, float)):
        return float(documented) == float(actual)
    return type(documented) is type(actual) and documented == actual


def table_lines(defaults: dict[str, Any], rows: list[tuple[str, str, str]], repository: str) -> list[str]:
    """The Markdown table: every key of `defaults` once, described and with its checked default."""
    documented = [key for key, _, _ in rows]
    problems = []
    if missing := sorted(set(defaults) - set(documented)):
        problems.append(f"keys without a row in {DESCRIPTIONS.name}: {', '.join(missing)}")
    if unknown := sorted(set(documented) - set(defaults)):
        problems.append(f"rows for keys the package does not have: {', '.join(unknown)}")
    if twice := sorted({key for key in documented if documented.count(key) > 1}):
        problems.append(f"keys with more than one row: {', '.join(twice)}")
    lines = ["| Key | Default | Meaning |", "|---|---|---|"]
    for key, default, meaning in rows:
        match = DEFAULT_CELL.match(default)
        try:
            value = ast.literal_eval(match["literal"]) if match else SettingsError
        except (ValueError, SyntaxError):
            value = SettingsError
        if value is SettingsError:
            problems.append(f"{key}: the default cell must start with a Python literal in backticks, not {default!r}")
        elif key in defaults and not same_value(value, defaults[key]):
            problems.append(f"{key}: documented default {match['literal']} but the package's is {defaults[key]!r}")
        # Links to the repository's other pages work from the site too.
        meaning = RELATIVE_LINK.sub(lambda m: f"]({repository}/blob/main/docs/{m[1]}{m[2] or ''})", meaning)
        lines.append(f"| `{key}` | {default} | {meaning} |")
    if problems:
        raise SettingsError("; ".join(problems))
    return lines


class SettingsTable(SphinxDirective):
    """`socketio-jwt-settings`: the table of every config key the package fills in (MyST pages only)."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from myst_parser.mocking import MockState

        from flask_socketio_jwt.settings import DEFAULTS

        if not isinstance(self.state, MockState):
            raise self.error("socketio-jwt-settings renders a Markdown table: use it in a MyST (.md) page")
        try:
            lines = table_lines(DEFAULTS, documented_rows(), self.config.html_context["repository"])
        except SettingsError as exc:
            raise self.error(f"settings table: {exc}") from None
        self.env.note_dependency(str(DESCRIPTIONS))
        holder = nodes.container()
        self.state.nested_parse(StringList(lines), self.content_offset, holder)
        for table in holder.findall(nodes.table):
            table["classes"].append(TABLE_CLASS)
        return list(holder.children)


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("socketio-jwt-settings", SettingsTable)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
