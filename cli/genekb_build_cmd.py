"""`genekb build`: check the model, engine and gene list, run `genekb.build.build` and say
what it made."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Any

import typer

from cli.cellmodel_args import JsonOpt
from cli.common import handle_errors, info, parse_options, print_json
from cli.genekb_args import MoveTagOpt, RootOpt, TaxonOpt, TemplateOpt
from cli.progress import progress_factory
from genekb.encoders import registry
from genekb.errors import UsageError
from genekb.genemap import lookalike_note, shared_name_note, spreadsheet_date_note
from genekb.store.store import Store
from genekb.templates import DEFAULT_TEMPLATE


def register(app: typer.Typer) -> None:
    """Add `build` to the genekb app (once, however often called)."""
    if "build" not in {c.name for c in app.registered_commands}:
        app.command("build")(build)


_ModelOpt = Annotated[
    str,
    typer.Option(
        "--model", "-m", help="Encoder name (see `genekb encoders`); A+B: both, side by side."
    ),
]
_SourceOpt = Annotated[str, typer.Option(help="Gene source (see `genekb sources`).")]
_SourceOptOpt = Annotated[
    list[str] | None, typer.Option("--source-opt", help="Source option key=value (repeatable).")
]
_GenesOpt = Annotated[Path | None, typer.Option(help="File with one gene name per line.")]
_GenesFromOpt = Annotated[
    Path | None, typer.Option(help="Take the gene list from this .h5ad file's genes.")
]
_GeneKeyOpt = Annotated[str | None, typer.Option(help="var column holding gene names.")]
_DeviceOpt = Annotated[str | None, typer.Option(help="cpu or cuda (default: cuda if present).")]
_BatchSizeOpt = Annotated[int, typer.Option(min=1, help="Texts per batch.")]
_EngineOpt = Annotated[
    str, typer.Option(help="local (this process) or ray (install genekb-cellmodel\\[ray]).")
]
_AddressOpt = Annotated[
    str | None,
    typer.Option(help="Ray cluster address (--engine ray; default: a local instance)."),
]
_WorkersOpt = Annotated[
    int | None,
    typer.Option(min=1, help="Ray actors, one encoder each (default: one per GPU, else CPU)."),
]
_TagOpt = Annotated[str | None, typer.Option(help="Tag to set (default taxon/template/model).")]


@handle_errors
def build(
    model: _ModelOpt = registry.DEFAULT_MODEL,
    source: _SourceOpt = "bundled",
    source_opt: _SourceOptOpt = None,
    taxon: TaxonOpt = "human",
    template: TemplateOpt = DEFAULT_TEMPLATE,
    genes: _GenesOpt = None,
    genes_from: _GenesFromOpt = None,
    gene_key: _GeneKeyOpt = None,
    device: _DeviceOpt = None,
    batch_size: _BatchSizeOpt = 64,
    engine: _EngineOpt = "local",
    address: _AddressOpt = None,
    workers: _WorkersOpt = None,
    tag: _TagOpt = None,
    force: MoveTagOpt = False,
    root: RootOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Build (or find) the text and embedding versions for a gene source, template and encoder.

    Each version appears whole or not at all. A build that fails after writing its text version
    (the encoder failed) keeps that version: it is complete and checked, and the rerun reuses it.
    """
    args = SimpleNamespace(**locals())
    names = _build_genes(args)
    report = _run_build(args, names)
    for message in report["skipped_damaged"]:
        info(f"warning: no vectors reused from a damaged version: {message}")
    if json_:
        print_json(report)
    else:
        _build_summary(report)


def _build_genes(args: SimpleNamespace) -> list[str] | None:
    """Check the model and engine before any work; the gene names asked for, if any."""
    from genekb.build import check_model
    from genekb.encoders.ray_engine import check_engine
    from genekb.gene_lists import genes_from_h5ad, read_gene_list

    check_model(args.model)  # an unknown model fails before any work
    check_engine(args.engine, args.address, args.workers)
    if args.genes and args.genes_from:
        raise UsageError("give --genes or --genes-from, not both")
    if args.gene_key and not args.genes_from:  # was ignored: the build took every gene
        raise UsageError("--gene-key names a column of the --genes-from file; give --genes-from")
    if args.genes:
        return read_gene_list(args.genes)
    if args.genes_from:
        return genes_from_h5ad(args.genes_from, args.gene_key)
    return None


def _run_build(args: SimpleNamespace, names: list[str] | None) -> dict[str, Any]:
    from genekb.build import build as run_build

    store = Store.open(args.root, create=True)
    with progress_factory(f"embedding with {args.model}") as factory:
        return run_build(
            store,
            model=args.model,
            source=args.source,
            taxon=args.taxon,
            template=args.template,
            genes=names,
            source_options=parse_options(args.source_opt or []),
            device=args.device,
            batch_size=args.batch_size,
            progress=factory,
            tag=args.tag,
            engine=args.engine,
            address=args.address,
            num_workers=args.workers,
            force=args.force,
        )


def _build_summary(report: dict[str, Any]) -> None:
    """The build in a few lines on stderr: unmatched genes, the versions, truncated texts."""
    if report["genes_unmatched"]:
        info(
            f"{report['genes_unmatched']} of {report['genes_requested']} genes not in the source, "
            f"e.g. {', '.join(report['unmatched_examples'][:5])}"
            + lookalike_note(report["unmatched_examples"])
        )
    if report.get("unmatched_shared"):
        info(shared_name_note(report["unmatched_shared_examples"], report["unmatched_shared"]))
    if report.get("unmatched_dates"):
        info(spreadsheet_date_note(report["unmatched_date_examples"], report["unmatched_dates"]))
    if "views" in report:  # a multi-view build: each view, then the version of all of them
        for part in report["views"]:
            # the names' notes (unmatched, dates, shared names) are said once, above
            quiet = {"genes_unmatched": 0, "unmatched_dates": 0, "unmatched_shared": 0}
            _build_summary({**part, **quiet})
        info(
            f"{report['tag']} -> {report['embedding_id']}: {report['n_genes']} genes, dim "
            f"{report['dim']}, {len(report['views'])} views, {report['bytes'] / 1e6:.1f} MB in"
            f" all, {report['seconds']:.1f} s"
        )
        return
    info(
        f"{report['tag']} -> {report['embedding_id']} (text {report['text_id']}): "
        f"{report['n_genes']} genes, dim {report['dim']}, embedded {report['embedded']}, "
        f"reused {report['reused']}, truncated {report['truncated']}, windowed "
        f"{report['windowed']}, {report['bytes'] / 1e6:.1f} MB, {report['seconds']:.1f} s"
    )
    if report["truncated"]:
        info(
            f"note: {report['truncated']} texts are longer than {report['model']}'s "
            f"{report['max_length']} tokens and were cut there; --model {report['model']}-windows "
            "embeds them whole"
        )
