"""`cellmodel annotate`: name cell groups zero-shot (a thin shell over `cellmodel.annotate`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cellmodel._settings import DEFAULT_ANNOTATE_METHOD
from cli.cellmodel_args import (
    DaskAddressOpt,
    GeneKeyOpt,
    JsonOpt,
    LayerOpt,
    ModelOpt,
    RootOpt,
    TaxonOpt,
    WorkersOpt,
)
from cli.common import handle_errors, info, print_json
from genekb.errors import UsageError


def register(app: typer.Typer) -> None:
    """Add the `annotate` command to the cellmodel app (once, however often it is called)."""
    if not any(c.name == "annotate" for c in app.registered_commands):
        app.command("annotate")(annotate)


@handle_errors
def annotate(
    source: Annotated[
        str, typer.Argument(help="An .h5ad file (e.g. from `cellmodel cluster -o`) or a dataset.")
    ],
    groupby: Annotated[
        str | None,
        typer.Option(help="obs column of the groups (default: cellmodel_cluster if present)."),
    ] = None,
    candidates: Annotated[
        str | None,
        typer.Option(
            help="Candidate labels: a file (one per line, free text or CL id) or 'a;b;c'."
        ),
    ] = None,
    ontology: Annotated[
        bool,
        typer.Option(
            "--ontology",
            help="Candidates are Cell Ontology cell types (the default without --candidates).",
        ),
    ] = False,
    subtree: Annotated[
        str | None,
        typer.Option(
            help="Only CL terms under this one (CL id or exact label); implies --ontology."
        ),
    ] = None,
    tissue: Annotated[
        str | None,
        typer.Option(
            help="Only CL terms whose label, synonyms or definition name this word"
            " (e.g. pancreatic); implies --ontology."
        ),
    ] = None,
    method: Annotated[
        str,
        typer.Option(
            help="Call by combined (gene text + genes the candidate names + GO processes that"
            " name it + marker table; for --candidates the table and the knowledge each weighted"
            " per group by its own margin, over the ontology summed with the context prior),"
            " knowledge"
            " (the same without the marker table), one channel (text, mentions, processes,"
            " markerdb), or channels joined by '+' (text+markerdb, text+context)."
        ),
    ] = DEFAULT_ANNOTATE_METHOD,
    gene_vectors: Annotated[
        str,
        typer.Option(
            help="real, or a control: shuffled / random vectors (seeded by --seed; the genes a"
            " candidate names and its process genes are then read from random genes too), or"
            " bag-of-words (the same texts as TF-IDF words, no encoder)."
        ),
    ] = "real",
    seed: Annotated[
        int,
        typer.Option(help="Seed of the gene-vector controls and of the per-cell control genes."),
    ] = 0,
    markers: Annotated[
        str, typer.Option(help="Marker rule: specific (beat the closest other group) or rest.")
    ] = "specific",
    n_markers: Annotated[int, typer.Option(min=1, help="Marker genes per group.")] = 50,
    top_k: Annotated[
        int, typer.Option(min=1, help="Markers pooled into a group's score (topk pooling).")
    ] = 5,
    hubness: Annotated[
        str,
        typer.Option(help="Label hubness correction: zscore, center, csls, lift, both or none."),
    ] = "zscore",
    pooling: Annotated[str, typer.Option(help="topk or mean.")] = "topk",
    text_style: Annotated[
        str, typer.Option(help="Candidate text: parents, definition, label or synonyms.")
    ] = "parents",
    across_groups: Annotated[
        str,
        typer.Option(
            help="Standardise each candidate over the groups: auto (on for --candidates, off for"
            " the ontology), on or off."
        ),
    ] = "auto",
    per_cell: Annotated[
        bool,
        typer.Option(
            help="Also call each cell: the groups' calls scored on each cell's expression of the"
            " genes that carried them (obs cellmodel_annotation_cell and _cell_score); in memory"
            " only, not with --chunk-size."
        ),
    ] = False,
    root: RootOpt = None,
    model: ModelOpt = "minilm",
    gene_key: GeneKeyOpt = None,
    layer: LayerOpt = None,
    taxon: TaxonOpt = None,
    markdown: Annotated[
        Path | None, typer.Option(help="Also write the Markdown report to this file.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the annotated AnnData (.h5ad).")
    ] = None,
    chunk_size: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Read the .h5ad this many cells at a time (out of core, Dask; the same calls);"
            " -o required.",
        ),
    ] = None,
    dask_address: DaskAddressOpt = None,
    workers: WorkersOpt = None,
    force: Annotated[bool, typer.Option(help="Overwrite existing output files.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Name each group of cells from its marker genes' knowledge, beside a marker-table baseline."""
    from cellmodel.annotate import annotate as run_annotate
    from cellmodel.annotate import report_of, to_markdown
    from cellmodel.annotate.ontology import parse_candidates
    from cli.cellmodel_args import (
        check_chunked,
        check_dask_options,
        check_output,
        load_input,
        write_h5ad,
    )
    from genekb.fileio import atomic_write, check_output_file
    from genekb.store.store import Store

    if candidates is not None and (ontology or subtree or tissue):
        raise UsageError("give --candidates, or --ontology (with --subtree / --tissue), not both")
    check_output(output, force)
    if markdown is not None:
        check_output_file(markdown, force=force, flag="--markdown")
    check_dask_options(chunk_size, dask_address, workers)
    if per_cell and chunk_size is not None:
        raise UsageError("--per-cell reads every cell in memory; drop --chunk-size to use it")
    labels = parse_candidates(candidates) if candidates is not None else None
    chunked = chunk_size is not None
    path = check_chunked(source, output, "obs") if chunked else None
    adata = None if chunked else load_input(source, root)[0]
    store = Store.open(root, create=True)
    settings = dict(
        groupby=groupby,
        candidates=labels,
        ontology_subtree=subtree,
        tissue=tissue,
        method=method,
        markers=markers,
        n_markers=n_markers,
        top_k=top_k,
        hubness=hubness,
        pooling=pooling,
        text_style=text_style,
        across_groups=across_groups,
        gene_vectors=gene_vectors,
        seed=seed,
        model=model,
        gene_key=gene_key,
        layer=layer,
        taxon=taxon,
    )
    if chunked:
        from cellmodel.chunked.annotate import annotate_h5ad

        report = annotate_h5ad(
            path,  # type: ignore[arg-type]
            store,
            output=output,  # type: ignore[arg-type]
            chunk_size=chunk_size,  # type: ignore[arg-type]
            dask_address=dask_address,
            workers=workers,
            **settings,
        )
    else:
        run_annotate(adata, store, per_cell=per_cell, **settings)
        report = report_of(adata)
    text = to_markdown(report)
    if markdown is not None:
        atomic_write(markdown, (text + "\n").encode())
    if output is not None and not chunked:
        write_h5ad(adata, output)
    if json_:
        print_json(report)
    else:
        sys.stdout.write(text + "\n")
    info(
        f"annotated {report['n_groups']} groups of obs[{report['groupby']!r}] from"
        f" {report['candidates']['n']} candidates in {report['seconds']:.1f} s"
        + (f"; wrote {output}" if output else "")
    )
