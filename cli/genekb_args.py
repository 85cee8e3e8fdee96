"""The options genekb's own commands share: the store root (a local folder or a published
store's URL) and --force to move a tag (--json is every command's: `cli.cellmodel_args`)."""

from __future__ import annotations

from typing import Annotated

import typer

from genekb.templates import TEMPLATES

RootOpt = Annotated[  # a str, not a Path: a published store's URL reads in place (read-only)
    str | None,
    typer.Option(
        "--root",
        help="Store root (default: $GENEKB_HOME, else ./artifacts), or a published store's URL.",
    ),
]
MoveTagOpt = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Move the tag if it points at another version, or let a tag named for one"
        " species (human/…) point at another's version.",
    ),
]
TaxonOpt = Annotated[str, typer.Option(help="human or mouse.")]
TemplateOpt = Annotated[str, typer.Option(help=f"Text template: {', '.join(TEMPLATES)}.")]
