"""`python -m cli.prebuilt build`: make, once per install, the vectors every `cellmodel annotate`
run needs whatever the data (the Cell Ontology's term texts and the hubness background's gene
cards under the default encoder), as `genekb export` files in the install's prebuilt folder.

A fresh store's first run imports them instead of embedding. `make setup` runs it; a second call
finds them and does nothing. The library call is `cellmodel.annotate.prebuilt.build`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import handle_errors, info, make_app, print_json
from cli.progress import steady_progress

app = make_app("prebuilt", __doc__.split("\n\n")[0].replace("\n", " "))


@app.callback()
def _group() -> None:
    """A group, not a lone command: called bare it prints its help rather than building."""


_FolderOpt = Annotated[
    Path | None,
    typer.Option(
        "--folder",
        help="where to write them (default: $GENEKB_PREBUILT, else"
        " <prefix>/share/genekb/prebuilt in the active environment)",
    ),
]
_ForceOpt = Annotated[bool, typer.Option("--force", help="build them again even if present")]
_JsonOpt = Annotated[bool, typer.Option("--json", help="print what was done as JSON on stdout")]


@app.command("build")
@handle_errors
def build_command(
    folder: _FolderOpt = None, force: _ForceOpt = False, json_: _JsonOpt = False
) -> None:
    """Build the prebuilt annotate vectors once per install (a second call does nothing)."""
    from cellmodel.annotate.prebuilt import build

    with steady_progress("prebuilt: loading the ontology and the encoder") as progress:
        done = build(
            None, folder, force=force, progress=progress, say=lambda s: info(f"prebuilt: {s}")
        )
    if json_:
        print_json(done)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
