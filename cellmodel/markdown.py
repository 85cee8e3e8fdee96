"""Names from files (groups, clusters, genes, candidate labels) as text inside a Markdown report:
one line, no table cell break, no markup, no terminal control."""

from __future__ import annotations

import re
from typing import Any

from genekb.errors import CONTROL_ESCAPES

# A newline ends a table row or a heading; `|` splits a cell; the rest would start emphasis,
# code, a link or raw HTML. A backslash first, so the escapes added are not doubled.
_SPECIAL = re.compile(r"([\\|`*_\[<])")


def md_text(value: Any) -> str:
    """`value` as literal Markdown text on one line (whitespace runs, newlines included, as one
    space)."""
    folded = " ".join(str(value).split())
    return _SPECIAL.sub(r"\\\1", folded).translate(CONTROL_ESCAPES)  # tab and newline are folded
