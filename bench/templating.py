"""The reports' templates (bench/templates/*.md.j2), rendered with Jinja2.

The Python side of a report computes its figures and rows; the template holds the prose and the
table layout. Markdown has no use for escaping, and a missing value must fail loudly rather than
print as an empty cell, hence no autoescape and StrictUndefined. Block tags sit on lines of
their own (trim_blocks, lstrip_blocks), so that the template reads like the markdown it writes.
"""

from __future__ import annotations

from functools import cache

import jinja2

from bench.config import TEMPLATES


def paragraph(text: str) -> str:
    """The lines of `text` joined into one line (ending in a newline).

    A markdown paragraph is one line in the reports (diffs between runs stay readable, one
    paragraph to a line); in the template it is wrapped for reading:
    `{% filter paragraph %}...{% endfilter %}`.
    """
    return " ".join(line.strip() for line in text.splitlines() if line.strip()) + "\n"


def num(value: float, spec: str) -> str:
    """A number in a format spec (`{{ conf.seconds|num("g") }}` writes 10.0 as 10)."""
    return format(value, spec)


@cache
def environment() -> jinja2.Environment:
    """The one Jinja2 environment of the reports, loading from bench/templates."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
                             autoescape=False)
    env.filters["paragraph"] = paragraph
    env.filters["num"] = num
    return env


def render(name: str, context: dict) -> str:
    """Render the template `name` (a file in bench/templates) with `context`."""
    return environment().get_template(name).render(context)
