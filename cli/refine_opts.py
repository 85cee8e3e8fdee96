"""`cluster`'s refinement options (`--refine`, `--gene-graph`), kept apart from the command so it
gains two parameters and one check."""

from __future__ import annotations

from typing import Annotated

import typer

from genekb.errors import UsageError

RefineOpt = Annotated[
    str | None,
    typer.Option(
        help="cell-gene: in place of the graph encoder, k-means on cells refined through"
        " cell–gene associations (scRCL-style; docs/refine.md). Off by default: measured, it"
        " did not win the leave-one-dataset-out comparison."
    ),
]
GeneGraphOpt = Annotated[
    str,
    typer.Option(
        help="The refinement's gene graph: data (expression correlation), knowledge (nearest"
        " genes by store vectors; needs gene names), both; controls: knowledge:shuffled,"
        " knowledge:random, data:rewired."
    ),
]


def check_refine(refine: str | None, gene_graph: str, chunk_size: int | None) -> None:
    """Usage errors before any work: a gene graph without --refine, or refinement out of core."""
    if refine is None and gene_graph != "data":
        raise UsageError("--gene-graph applies to the refinement; add --refine cell-gene")
    if refine is not None and chunk_size is not None:
        raise UsageError(
            "--refine runs in memory, not chunked, and this run would read the file in chunks;"
            " drop --refine, or --chunk-size if you gave it"
        )
