"""Names from files (groups, clusters, genes, candidate labels) as text inside a Markdown report:
one line, no table cell break, no markup, no terminal control."""

from __future__ import annotations

import re
from typing import Any

# A newline ends a table row or a heading; `|` splits a cell; the rest would start emphasis,
# code, a link or raw HTML. A backslash first, so the escapes added are not doubled.
_SPECIAL = re.compile(r"([\\|`*_\[<])")
# C0 and C1 control characters left after the whitespace is folded: an ESC would drive the
# terminal a report is printed to.
_CONTROLS = {c: f"\\x{c:02x}" for c in [*range(32), *range(0x7F, 0xA0)]}


def md_text(value: Any) -> str:
    """`value` as literal Markdown text on one line (whitespace runs, newlines included, as one
    space)."""
    folded = " ".join(str(value).split())
    return _SPECIAL.sub(r"\\\1", folded).translate(_CONTROLS)
