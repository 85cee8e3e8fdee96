"""`genekb export`, `import` and `reindex`: thin shells over `genekb.store.sharing` and the
catalog, for sharing a store's versions and rewriting its derived catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.cellmodel_args import JsonOpt, StoreRootOpt, file_path
from cli.common import add_commands, handle_errors, info, print_json
from genekb.store.store import Store


def register(app: typer.Typer) -> None:
    """Add `export`, `import` and `reindex` to the genekb app (once, however often called)."""
    add_commands(app, {"export": export, "import": import_, "reindex": reindex})


@handle_errors
def export(
    ref: Annotated[str, typer.Argument(help="Version id or tag.")],
    file: Annotated[
        Path,
        typer.Argument(
            parser=file_path,
            help="Output file: .tar, or .tar.gz / .tar.bz2 / .tar.xz compressed.",
        ),
    ],
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
    root: StoreRootOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Export a version (with its text version) to one file."""
    from genekb.output_paths import check_output_file
    from genekb.store.sharing import export_version

    check_output_file(file, force=force, flag="export file")
    report = export_version(Store.open(root), ref, file, force=force)
    print_json(report) if json_ else info(
        f"wrote {file} ({report['bytes']} bytes): {report['versions']}; content sha256"
        f" {report['content_sha256']} (a receiver checks it with `genekb import --expect`)"
    )


@handle_errors
def import_(
    file: Annotated[Path, typer.Argument(help="A file written by `genekb export`.")],
    force: Annotated[
        bool, typer.Option(help="Let the file's tags move tags that point elsewhere here.")
    ] = False,
    expect: Annotated[
        str | None,
        typer.Option(
            help="Content sha256 (or 12+ digit prefix) the sender published; refused if"
            " the file's embedding holds other content."
        ),
    ] = None,
    replace_damaged: Annotated[
        bool,
        typer.Option(
            help="Replace a version this store holds a damaged copy of with the file's"
            " checked copy (the repair for a damaged version)."
        ),
    ] = False,
    root: StoreRootOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Import versions and tags from an export file: all or nothing, every hash checked first."""
    from genekb.store import catalog
    from genekb.store.sharing import import_file

    store = Store.open(root, create=True)
    report = import_file(store, file, force=force, expect=expect, replace_damaged=replace_damaged)
    catalog.rebuild(store)
    if json_:
        print_json(report)
        return
    info(
        f"imported {report['imported'] or 'nothing new'}; present {report['already_present']}; "
        f"tags {report['tags'] or 'none'}"
    )


@handle_errors
def reindex(
    resign_tags: Annotated[
        bool,
        typer.Option(
            help="Also record tags.json's tags as they are now, with a fresh sha256 (after you"
            " checked them: `genekb verify` calls a hand-edited tags.json bad until then)."
        ),
    ] = False,
    root: StoreRootOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Rewrite catalog.duckdb from the Parquet files (over the versions that verify clean)."""
    from genekb.store import catalog

    store = Store.open(root)
    tags = store.resign_tags() if resign_tags else None
    path = catalog.rebuild(store)
    if json_:
        print_json({"catalog": str(path), "resigned_tags": tags})
        return
    info(f"wrote {path}" + (f"; recorded {len(tags)} tags" if tags is not None else ""))
