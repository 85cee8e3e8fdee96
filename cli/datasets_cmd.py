"""`cellmodel datasets list|fetch`: the registry of pinned datasets."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.cellmodel_args import JsonOpt, RootOpt
from cli.common import OneLineUsageGroup, handle_errors, info, out, print_json
from cli.plain import PlainTable

datasets_app = typer.Typer(  # one-line usage errors, and an option given twice refused, as above
    help="The registry of pinned datasets.", no_args_is_help=True, cls=OneLineUsageGroup
)


def register(app: typer.Typer) -> None:
    """Add the `datasets` group to the cellmodel app (once, however often it is called)."""
    if not any(g.name == "datasets" for g in app.registered_groups):
        app.add_typer(datasets_app, name="datasets")


@datasets_app.command("list")
@handle_errors
def datasets_list(json_: JsonOpt = False) -> None:
    """List the registry's datasets."""
    from cellmodel.datasets import list_datasets

    rows = [d.to_dict() for d in list_datasets()]
    if json_:
        print_json({"datasets": rows})
        return
    table = PlainTable("name", "cells", "classes", "labels", "values", "taxon", "source")
    for r in rows:
        table.add_row(
            r["name"],
            str(r["n_cells"]),
            str(r["n_classes"]),
            r["label_key"],
            r["values"],
            r["taxon"],
            r["source"],
        )
    out.print(table)


@datasets_app.command("fetch")
@handle_errors
def datasets_fetch(
    name: Annotated[str, typer.Argument(help="Dataset name (see `cellmodel datasets list`).")],
    root: RootOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Download (pinned, sha256-checked) and cache a dataset."""
    from cellmodel import datasets

    path = datasets.fetch(name, cache_dir=datasets.default_cache_dir(root))
    if json_:
        print_json({"name": name, "path": str(path)})
    else:
        info(f"{name}: {path}")
