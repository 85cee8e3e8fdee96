"""The options genekb's own commands share: the store root (a local folder or a published
store's URL), --json, and --force to move a tag."""

from __future__ import annotations

from typing import Annotated

import typer

RootOpt = Annotated[  # a str, not a Path: a published store's URL reads in place (read-only)
    str | None,
    typer.Option(
        "--root",
        help="Store root (default: $GENEKB_HOME, else ./artifacts), or a published store's URL.",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
MoveTagOpt = Annotated[
    bool, typer.Option("--force", help="Move the tag if it points at another version.")
]
