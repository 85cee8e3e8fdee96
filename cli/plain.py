"""Text a command prints that quotes names from files, stores and remotes (gene names, SQL
values, paths): shown as it is, never read as rich markup, control characters escaped."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from genekb.errors import CONTROL_ESCAPES

ONE_LINE = {**CONTROL_ESCAPES, 10: "\\n"}  # an error is one line


def plain(value: Any) -> Text:
    """`value` as text that rich prints literally (a `[/x]` in it raised MarkupError)."""
    return value if isinstance(value, Text) else Text(str(value).translate(CONTROL_ESCAPES))


class PlainTable(Table):
    """A rich Table whose headers, title and cells are plain text, never markup."""

    def __init__(self, *headers: Any, title: Any = None, **kwargs: Any) -> None:
        super().__init__(title=None if title is None else plain(title), **kwargs)
        for header in headers:
            self.add_column(plain(header))

    def add_row(self, *cells: Any, **kwargs: Any) -> None:
        super().add_row(*(None if c is None else plain(c) for c in cells), **kwargs)
