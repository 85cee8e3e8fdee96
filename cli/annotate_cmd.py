"""`cellmodel annotate`: name cell groups zero-shot (a thin shell over `cellmodel.annotate`)."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Any

import typer

from cellmodel._settings import ANNOTATION_KEY as DEFAULT_KEY_ADDED
from cellmodel._settings import DEFAULT_ANNOTATE_METHOD
from cli.cellmodel_args import (
    FILE_OUTPUT,
    DaskAddressOpt,
    GeneKeyOpt,
    JsonOpt,
    LayerOpt,
    ModelOpt,
    RootOpt,
    TaxonOpt,
    WorkersOpt,
    seed_option,
)
from cli.common import handle_errors, info, print_json
from genekb.errors import UsageError


def register(app: typer.Typer) -> None:
    """Add the `annotate` command to the cellmodel app (once, however often it is called)."""
    if not any(c.name == "annotate" for c in app.registered_commands):
        app.command("annotate")(annotate)


_SourceArg = Annotated[
    str, typer.Argument(help="An .h5ad file (e.g. from `cellmodel cluster -o`) or a dataset.")
]
_GroupbyOpt = Annotated[
    str | None,
    typer.Option(help="obs column of the groups (default: cellmodel_cluster if present)."),
]
_CandidatesOpt = Annotated[
    str | None,
    typer.Option(help="Candidate labels: a file (one per line, free text or CL id) or 'a;b;c'."),
]
_OntologyOpt = Annotated[
    bool,
    typer.Option(
        "--ontology",
        help="Candidates are Cell Ontology cell types (the default without --candidates).",
    ),
]
_SubtreeOpt = Annotated[
    str | None,
    typer.Option(
        help="Only CL terms under this one (a CL id, a label, or words naming one term:"
        " 'T cells'; a sample type as for --tissue: PBMC as leukocyte); implies --ontology."
    ),
]
_TissueOpt = Annotated[
    str | None,
    typer.Option(
        help="Only CL terms whose label, synonyms or definition name this word or its"
        " adjective (e.g. pancreas or pancreatic; blood and sample types read as their cells'"
        " subtree: PBMC as"
        " leukocyte, blood, CBMC and BMMC as hematopoietic cell); implies"
        " --ontology."
    ),
]
_MethodOpt = Annotated[
    str,
    typer.Option(
        help="Call by combined (gene text + genes the candidate names + GO processes that"
        " name it + marker table; for --candidates the table and the knowledge each weighted"
        " per group by its own margin, over the ontology summed with the context prior),"
        " knowledge"
        " (the same without the marker table), one channel (text, mentions, processes,"
        " markerdb), or channels joined by '+' (text+markerdb, text+context)."
    ),
]
_GeneVectorsOpt = Annotated[
    str,
    typer.Option(
        help="real, or a control: shuffled / random vectors (seeded by --seed; the genes a"
        " candidate names and its process genes are then read from random genes too), or"
        " bag-of-words (the same texts as TF-IDF words, no encoder)."
    ),
]
_SeedOpt = seed_option("Seed of the gene-vector controls and of the per-cell control genes.")
_MarkersOpt = Annotated[
    str, typer.Option(help="Marker rule: specific (beat the closest other group) or rest.")
]
_NMarkersOpt = Annotated[int, typer.Option(min=1, help="Marker genes per group.")]
_TopKOpt = Annotated[
    int, typer.Option(min=1, help="Markers pooled into a group's score (topk pooling).")
]
_HubnessOpt = Annotated[
    str,
    typer.Option(help="Label hubness correction: zscore, center, csls, lift, both or none."),
]
_PoolingOpt = Annotated[str, typer.Option(help="topk or mean.")]
_TextStyleOpt = Annotated[
    str, typer.Option(help="Candidate text: parents, definition, label or synonyms.")
]
_AcrossGroupsOpt = Annotated[
    str,
    typer.Option(
        help="Standardise each candidate over the groups: auto (on for --candidates, off for"
        " the ontology), on or off."
    ),
]
_LineageOpt = Annotated[
    str,
    typer.Option(
        help="Call lineage first, then the deepest term the evidence supports: auto (on for the"
        " ontology, off for --candidates), on or off (the best term, flat)."
    ),
]
_PerCellOpt = Annotated[
    bool,
    typer.Option(
        help="Also call each cell: the groups' calls scored on each cell's expression of the"
        " genes that carried them (obs cellmodel_annotation_cell and _cell_score); in memory"
        " only, not with --chunk-size."
    ),
]
_KeyAddedOpt = Annotated[
    str,
    typer.Option(
        help="obs column for the names (its _confidence and _cell columns beside it); another"
        " name keeps the report in uns[KEY] and leaves an earlier annotation in place."
    ),
]
_MarkdownOpt = Annotated[
    Path | None,
    typer.Option(**FILE_OUTPUT, help="Also write the Markdown report to this file."),
]
_OutputOpt = Annotated[
    Path | None,
    typer.Option("--output", "-o", **FILE_OUTPUT, help="Write the annotated AnnData (.h5ad)."),
]
_ChunkSizeOpt = Annotated[
    int | None,
    typer.Option(
        min=1,
        help="Read the .h5ad this many cells at a time (out of core, Dask; the same calls);"
        " -o required.",
    ),
]
_ResamplesOpt = Annotated[
    int,
    typer.Option(
        min=0,
        max=50,
        help="Name the groups again from this many draws of 4 in 5 of their cells: each call says"
        " how many kept it; a group whose calls cross lineages is not named across them.",
    ),
]
_ForceOpt = Annotated[bool, typer.Option(help="Overwrite existing output files.")]
_PlotsOpt = Annotated[
    Path | None,
    typer.Option(help="Write the calls (calls.png) and the markers' dot plot (markers.png) here."),
]
PLOT_FILES = ("calls.png", "markers.png")  # what --plots writes: cm.pl.calls, cm.pl.markers


@handle_errors
def annotate(
    source: _SourceArg,
    groupby: _GroupbyOpt = None,
    candidates: _CandidatesOpt = None,
    ontology: _OntologyOpt = False,
    subtree: _SubtreeOpt = None,
    tissue: _TissueOpt = None,
    method: _MethodOpt = DEFAULT_ANNOTATE_METHOD,
    gene_vectors: _GeneVectorsOpt = "real",
    seed: _SeedOpt = 0,
    markers: _MarkersOpt = "specific",
    n_markers: _NMarkersOpt = 50,
    top_k: _TopKOpt = 5,
    hubness: _HubnessOpt = "zscore",
    pooling: _PoolingOpt = "topk",
    text_style: _TextStyleOpt = "parents",
    across_groups: _AcrossGroupsOpt = "auto",
    lineage: _LineageOpt = "auto",
    per_cell: _PerCellOpt = False,
    resamples: _ResamplesOpt = 0,
    key_added: _KeyAddedOpt = DEFAULT_KEY_ADDED,
    root: RootOpt = None,
    model: ModelOpt = "minilm",
    gene_key: GeneKeyOpt = None,
    layer: LayerOpt = None,
    taxon: TaxonOpt = None,
    markdown: _MarkdownOpt = None,
    output: _OutputOpt = None,
    plots: _PlotsOpt = None,
    chunk_size: _ChunkSizeOpt = None,
    dask_address: DaskAddressOpt = None,
    workers: WorkersOpt = None,
    force: _ForceOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Name each group of cells from its marker genes' knowledge, beside a marker-table baseline."""
    args = SimpleNamespace(**locals())
    _check(args)
    report, adata = _run(args)
    _write(report, adata, args)


# The command's options that `cellmodel.annotate` takes under the same name.
_SETTINGS = (
    "groupby",
    "tissue",
    "method",
    "markers",
    "n_markers",
    "top_k",
    "hubness",
    "pooling",
    "text_style",
    "across_groups",
    "lineage",
    "gene_vectors",
    "seed",
    "model",
    "gene_key",
    "layer",
    "taxon",
    "key_added",
    "resamples",
)


def _check(args: SimpleNamespace) -> None:
    """Refuse mixed candidate sources, outputs in the way and options that do not go together."""
    from cli.cellmodel_args import (
        check_dask_options,
        check_distinct,
        check_obs_keys,
        check_output,
        check_store_model,
        refuse_replacing_input,
        refuse_unused,
    )
    from genekb.output_paths import check_output_dir, check_output_file

    if args.candidates is not None and (args.ontology or args.subtree or args.tissue):
        raise UsageError("give --candidates, or --ontology (with --subtree / --tissue), not both")
    check_distinct({"--output": args.output, "--markdown": args.markdown, "--plots": args.plots})
    if args.plots is not None:
        if args.chunk_size is not None:
            raise UsageError("--plots draws from the cells in memory; drop --chunk-size to use it")
        check_output_dir(args.plots, force=args.force, flag="--plots", files=PLOT_FILES)
    refuse_replacing_input(args.markdown, "--markdown", args.source, "the input file")
    check_output(args.output, args.force)
    if args.markdown is not None:
        check_output_file(args.markdown, force=args.force, flag="--markdown")
    check_dask_options(args.chunk_size, args.dask_address, args.workers)
    check_obs_keys(args.source, {"groupby": args.groupby})
    check_store_model(args.root, args.model)
    if args.per_cell and args.chunk_size is not None:
        raise UsageError("--per-cell reads every cell in memory; drop --chunk-size to use it")
    if args.resamples and args.chunk_size is not None:
        raise UsageError("--resamples draws the cells in memory; drop --chunk-size to use it")
    if args.gene_vectors not in ("shuffled", "random") and not args.per_cell and not args.resamples:
        refuse_unused(
            {"--seed": args.seed != 0},
            "the seeded controls (--gene-vectors shuffled / random, --per-cell's control genes)"
            " or --resamples' draws",
            "this run uses neither of",
            "add one",
        )


def _run(args: SimpleNamespace) -> tuple[dict[str, Any], Any]:
    """Annotate in memory or chunk by chunk; the report, and the AnnData when in memory."""
    from cellmodel.annotate import annotate as run_annotate
    from cellmodel.annotate import report_of
    from cellmodel.annotate.ontology import parse_candidates
    from cli.cellmodel_args import check_chunked, load_input
    from cli.progress import steady_progress
    from genekb.store.store import Store

    labels = parse_candidates(args.candidates) if args.candidates is not None else None
    settings = {name: getattr(args, name) for name in _SETTINGS}
    settings.update(candidates=labels, ontology_subtree=args.subtree)
    if args.chunk_size is None:
        with steady_progress("annotate: reading the input") as progress:
            adata = load_input(args.source, args.root)[0]
            store = Store.open(args.root, create=True)
            run_annotate(adata, store, per_cell=args.per_cell, progress=progress, **settings)
        return report_of(adata, args.key_added), adata
    from cellmodel.chunked.annotate import annotate_h5ad

    path = check_chunked(args.source, args.output, "obs")
    store = Store.open(args.root, create=True)
    report = annotate_h5ad(
        path,
        store,
        output=args.output,
        chunk_size=args.chunk_size,
        dask_address=args.dask_address,
        workers=args.workers,
        **settings,
    )
    return report, None


def _write(report: dict[str, Any], adata: Any, args: SimpleNamespace) -> None:
    """The Markdown report (to stdout or --markdown), the AnnData, or the JSON; one status line."""
    from cellmodel.annotate import to_markdown
    from cellmodel.annotate.report import candidates_line, inferred_line
    from cli.cellmodel_args import plots_then_output, write_h5ad
    from genekb.fileio import atomic_write

    for said in (candidates_line(report.get("candidates")), inferred_line(report.get("inferred"))):
        if said:
            info(said)
    text = to_markdown(report)
    if args.markdown is not None:
        atomic_write(args.markdown, (text + "\n").encode())
    if adata is not None:
        if args.plots is not None:
            drawn = plots_then_output(
                lambda: _plots(adata, args.plots, args.key_added, report), adata, args.output
            )
            report = {**report, "plots": drawn}
        elif args.output is not None:
            write_h5ad(adata, args.output)
    if args.json_:
        print_json(report)
    else:
        sys.stdout.write(text + "\n")
    info(
        f"annotated {report['n_groups']} groups of obs[{report['groupby']!r}] from"
        f" {report['candidates']['n']} candidates in {report['seconds']:.1f} s"
        + (f" into obs[{args.key_added!r}]" if args.key_added != DEFAULT_KEY_ADDED else "")
        + (f"; wrote {args.output}" if args.output else "")
    )


def _plots(adata: Any, folder: Path, key_added: str, report: dict[str, Any]) -> list[str]:
    """`--plots`: the calls and the markers' dot plot, as `cm.pl.calls` and `cm.pl.markers` draw
    them in a notebook (checked for clashes before the run); no dot plot where no group has a
    marker (it failed after calls.png, leaving the report unprinted and the output unwritten)."""
    from cellmodel import pl
    from cellmodel.pl.markers import has_marker_genes
    from cli.common import headless_plots

    folder.mkdir(parents=True, exist_ok=True)
    headless_plots()
    calls, markers = (folder / name for name in PLOT_FILES)
    pl.calls(adata, key_added=key_added, save=calls)
    if not has_marker_genes(report):
        info(f"--plots: no {markers.name}: no group has a marker gene")
        return [str(calls)]
    pl.markers(adata, key_added=key_added, save=markers)
    return [str(calls), str(markers)]
