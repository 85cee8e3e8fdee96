"""`cellmodel cluster`: cluster cells (a thin shell over `cellmodel.cluster.job.cluster`)."""

from __future__ import annotations

import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Any

import typer

from cli.cellmodel_args import (
    AllGenesOpt,
    BuildOpt,
    ClusterChunkSizeOpt,
    DaskAddressOpt,
    ForceOpt,
    GeneKeyOpt,
    GeneVectorsOpt,
    InputArg,
    JsonOpt,
    LayerOpt,
    ModelOpt,
    OrientationOpt,
    OutputOpt,
    RootOpt,
    SepOpt,
    TaxonOpt,
    WorkersOpt,
    check_dask_options,
    check_distinct,
    check_obs_keys,
    check_output,
    check_store_model,
    load_input,
    plots_then_output,
    refuse_unused,
    run_progress,
    seed_option,
)
from cli.cluster_options import cluster_options
from cli.cluster_report import summary
from cli.common import handle_errors, info, print_json
from cli.refine_opts import GeneGraphOpt, RefineOpt, check_refine
from genekb.errors import GenekbError
from genekb.output_paths import check_output_dir

PLOT_FILES = ("umap.png", "confusion.png")  # what `cluster --plots` may write


def register(app: typer.Typer) -> None:
    """Add the `cluster` command to the cellmodel app (once, however often it is called)."""
    if not any(c.name == "cluster" for c in app.registered_commands):
        app.command("cluster")(cluster)


_NClustersOpt = Annotated[
    int | None, typer.Option("--n-clusters", "-k", min=1, help="k (default: estimated).")
]
_LabelKeyOpt = Annotated[
    str | None,
    typer.Option(help="obs column of reference labels, read only to score the end result."),
]
_SeedOpt = seed_option("Random seed.")
_DeviceOpt = Annotated[str | None, typer.Option(help="cpu or cuda (default: cuda if present).")]
_SemanticOpt = Annotated[
    bool, typer.Option(help="Compute the semantic view (for `cellmodel explain`).")
]
_AlignSemanticOpt = Annotated[
    bool,
    typer.Option(
        help="Also fit with it: contrastive alignment + fused latent (measured worse; off)."
    ),
]
_EnsembleOpt = Annotated[
    bool,
    typer.Option(
        help="Keep, of the graph encoder's clusters, a k-means consensus on the PCA and Leiden"
        " at k, the one that agrees best with the ensemble (off: measured lower on the"
        " registry datasets, better on small subsamples)."
    ),
]
_BatchChoiceOpt = Annotated[
    bool,
    typer.Option(
        help="With a batch column: also fit the link-reconstruction candidate, find Leiden's"
        " communities at the same k, and keep the clusters least explained by the batch"
        " (a second fit and Leiden runs: more than twice the fit time)."
    ),
]
_MergeSplitOpt = Annotated[
    bool,
    typer.Option(
        help="Check the clusters in the PCA: merge two neighbours with no density dip between"
        " them and split another cluster in two, keeping the move of highest silhouette where"
        " it raises the silhouette and does not raise the clusters' information about the"
        " batch column (k kept; with k estimated, merges alone)."
    ),
]
_BatchKeyOpt = Annotated[
    str | None,
    typer.Option(
        help="obs column of a technical batch (e.g. donor) to correct for; 'none' turns off"
        " a registry dataset's default."
    ),
]
_OptionOpt = Annotated[
    list[str] | None,
    typer.Option("--option", help="ClusterOptions field=value, e.g. conv=sage (repeatable)."),
]
_PlotsOpt = Annotated[Path | None, typer.Option(help="Write UMAP and confusion-matrix PNGs here.")]


@handle_errors
def cluster(
    source: InputArg,
    output: OutputOpt = None,
    root: RootOpt = None,
    model: ModelOpt = "minilm",
    n_clusters: _NClustersOpt = None,
    label_key: _LabelKeyOpt = None,
    seed: _SeedOpt = 0,
    device: _DeviceOpt = None,
    semantic: _SemanticOpt = True,
    align_semantic: _AlignSemanticOpt = False,
    ensemble: _EnsembleOpt = False,
    batch_choice: _BatchChoiceOpt = True,
    merge_split: _MergeSplitOpt = True,
    refine: RefineOpt = None,
    gene_graph: GeneGraphOpt = "data",
    gene_vectors: GeneVectorsOpt = "real",
    taxon: TaxonOpt = None,
    gene_key: GeneKeyOpt = None,
    layer: LayerOpt = None,
    orientation: OrientationOpt = "auto",
    sep: SepOpt = None,
    batch_key: _BatchKeyOpt = None,
    option: _OptionOpt = None,
    plots: _PlotsOpt = None,
    chunk_size: ClusterChunkSizeOpt = None,
    dask_address: DaskAddressOpt = None,
    workers: WorkersOpt = None,
    build: BuildOpt = True,
    all_genes: AllGenesOpt = False,
    force: ForceOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Cluster cells: graph encoder on the kNN graph, label-free checks after; semantic view too."""
    args = SimpleNamespace(**locals())
    options = _check(args)
    if _chunk_size(args) is not None:
        return _run_chunked(args, options)
    _run_and_report(args, options)


def _run_and_report(args: SimpleNamespace, options: dict[str, Any]) -> None:
    """Cluster in memory and report, with lines while it reads, fits (the fit's steps report to
    the active hook) and lays out the plots' UMAP: a 3,704-cell file took 95 s without a word."""
    from cli.progress import steady_progress
    from genekb.progress import reporting

    with steady_progress("cluster: reading the input") as progress, reporting(progress):
        adata, label_key = _run(args, options, progress)
        _report(adata, args, label_key)


def _check(args: SimpleNamespace) -> dict[str, Any]:
    """Refuse outputs in the way and bad options; the parsed `--option` overrides."""
    check_distinct({"--output": args.output, "--plots": args.plots})
    check_output(args.output, args.force)
    if args.plots is not None:
        check_output_dir(args.plots, force=args.force, flag="--plots", files=PLOT_FILES)
    options = cluster_options(args.option or [])
    check_dask_options(args.chunk_size, args.dask_address, args.workers)
    check_refine(args.refine, args.gene_graph, args.chunk_size)
    _refuse_unused(args)
    if args.chunk_size is not None:  # what the mode lacks is said before any column is read
        from cli.cluster_chunked import check_in_core_only

        check_in_core_only(
            align_semantic=args.align_semantic, ensemble=args.ensemble,
            batch_key=args.batch_key, plots=args.plots,
        )  # fmt: skip
    batch = args.batch_key if (args.batch_key or "none").lower() not in ("none", "auto") else None
    check_obs_keys(args.source, {"label_key": args.label_key, "batch_key": batch})
    _check_k_against_cells(args.source, args.n_clusters)
    if args.semantic or (args.refine is not None and not args.gene_graph.startswith("data")):
        check_store_model(args.root, args.model)
    return options


def _check_k_against_cells(source: str, n_clusters: int | None) -> None:
    """-k at or past the cells of the input, refused before its matrix is read where its format
    tells the cells cheaply (`n_cells`: HDF5 shapes, a 10x folder's barcodes); other inputs are
    checked once read."""
    if n_clusters is None:
        return
    from cellmodel.chunked.limits import n_cells as cells_of
    from cellmodel.cluster.inputs import check_k

    n_cells = cells_of(source)
    if n_cells is not None and n_cells >= 3:  # fewer: the load says the file has too few cells
        check_k(n_clusters, n_cells)


def _semantic_flags(args: SimpleNamespace, knowledge: bool) -> dict[str, bool]:
    """The options of the semantic view that were set, --model and --taxon also read by a
    knowledge gene graph (`knowledge`)."""
    return {
        "--align-semantic": args.align_semantic,
        "--gene-vectors": args.gene_vectors != "real",
        "--no-build": not args.build,
        "--all-genes": args.all_genes,
        "--model": args.model != "minilm" and not knowledge,
        "--taxon": args.taxon is not None and not knowledge,
    }


def _refuse_unused(args: SimpleNamespace) -> None:
    """Options the run would drop: the semantic view's beside --no-semantic, the graph
    encoder's (--option, --align-semantic) beside --refine, which fits in its place."""
    if not args.semantic:
        knowledge = args.refine is not None and not args.gene_graph.startswith("data")
        flags = _semantic_flags(args, knowledge)
        refuse_unused(flags, "the semantic view", "--no-semantic turns off", "--no-semantic")
    if args.refine is not None:
        encoder = {"--option": bool(args.option), "--align-semantic": args.align_semantic}
        refuse_unused(encoder, "the graph encoder's fit", "--refine replaces", "--refine")


def _chunk_size(args: SimpleNamespace) -> int | None:
    """--chunk-size, or the chunk size a .h5ad too large for memory gets (with a notice)."""
    source = args.source
    if args.chunk_size is None and Path(source).suffix == ".h5ad" and Path(source).is_file():
        from cellmodel.chunked.limits import AUTO_CHUNK_SIZE, cluster_plan

        chunked, notice = cluster_plan(source)
        if notice:
            info(notice)
        args.chunk_size = AUTO_CHUNK_SIZE if chunked else None
        args.too_large = chunked
    return args.chunk_size


def _run_chunked(args: SimpleNamespace, options: dict[str, Any]) -> None:
    from cli.cluster_chunked import check_in_core_only, run_chunked

    a = args
    check_refine(a.refine, a.gene_graph, a.chunk_size)
    check_in_core_only(
        align_semantic=a.align_semantic, ensemble=a.ensemble, batch_key=a.batch_key,
        plots=a.plots, too_large=getattr(a, "too_large", False),
    )  # fmt: skip
    flags = {**_semantic_flags(a, False), "--gene-key": a.gene_key is not None}
    out_of_core = "the out-of-core run (--chunk-size, or a file too large for memory) leaves out"
    refuse_unused(flags, "the semantic view", out_of_core, "--chunk-size if you gave it")
    run_chunked(
        a.source, a.output, semantic=a.semantic, json_=a.json_,
        orientation=a.orientation, sep=a.sep,
        progress=run_progress(unit="chunks"),
        n_clusters=a.n_clusters, label_key=a.label_key, seed=a.seed, device=a.device,
        layer=a.layer, merge_split=a.merge_split, chunk_size=a.chunk_size,
        dask_address=a.dask_address, workers=a.workers, **options,
    )  # fmt: skip


def _run(args: SimpleNamespace, options: dict[str, Any], progress: Any) -> tuple[Any, str | None]:
    """Cluster in memory; the AnnData and the label column that scores it (if any)."""
    from cellmodel.cluster.inputs import check_run_input, names_genes
    from cellmodel.cluster.job import cluster as run_cluster
    from genekb.store.store import Store

    adata, dataset_label_key = load_input(args.source, args.root, args.orientation, args.sep)
    label_key = args.label_key or dataset_label_key
    check_run_input(
        adata, n_clusters=args.n_clusters, label_key=label_key, batch_key=args.batch_key
    )
    if args.plots is not None:
        _check_plottable(adata.n_obs)
    knowledge = args.refine is not None and not args.gene_graph.startswith("data")
    semantic = args.semantic and names_genes(adata, args.taxon, args.gene_key)
    store = Store.open(args.root, create=True) if semantic or knowledge else None
    run_cluster(
        adata,
        store,
        n_clusters=args.n_clusters,
        use_semantic=args.semantic,
        align_semantic=args.align_semantic,
        ensemble=args.ensemble,
        batch_choice=args.batch_choice,
        merge_split=args.merge_split,
        refine=args.refine,
        gene_graph=args.gene_graph,
        model=args.model,
        gene_vectors=args.gene_vectors,
        taxon=args.taxon,
        gene_key=args.gene_key,
        layer=args.layer,
        batch_key=args.batch_key if args.batch_key is not None else "auto",
        label_key=label_key,
        seed=args.seed,
        device=args.device,
        progress=progress,
        embed_options={"build_missing": args.build, "all_genes": args.all_genes, "notify": info},
        **options,
    )
    return adata, label_key


def _check_plottable(n_cells: int) -> None:
    """--plots draws a UMAP, which takes a few cells: a smaller file failed after the whole run,
    with an empty plots folder and the notebook's advice ("pass another rep=")."""
    from cellmodel.pl.embedding import MIN_UMAP_CELLS

    if n_cells < MIN_UMAP_CELLS:
        raise GenekbError(
            f"--plots draws a UMAP, which needs {MIN_UMAP_CELLS} cells or more; the input has"
            f" {n_cells}: drop --plots"
        )


def _report(adata: Any, args: SimpleNamespace, label_key: str | None) -> None:
    """Plots, the AnnData, then the JSON report or a few lines on stderr."""
    from cellmodel._settings import CLUSTER_KEY

    record = adata.uns["cellmodel"]
    figures = plots_then_output(
        lambda: _plots(adata, args.plots, label_key, args.force, args.seed) if args.plots else [],
        adata,
        args.output,
    )
    report = {
        "input": args.source,
        "output": str(args.output) if args.output else None,
        "n_cells": adata.n_obs,
        "n_clusters": record["n_clusters"],
        "k_estimated": record["k_estimated"],
        "metrics": record.get("metrics"),
        "gene_match_rate": (record.get("gene_match") or {}).get("match_rate"),
        "gene_names": record.get("gene_names"),
        "batch_key": record.get("batch_key"),
        "batch_choice": record.get("batch_choice"),
        "merge_split": record.get("merge_split"),
        "diagnostics": record.get("diagnostics"),
        "embedding_id": record.get("embedding_id"),
        "seconds": record["pipeline_timings_s"]["total"],
        "timings_s": {
            **record["pipeline_timings_s"],
            **{f"fit_{k}": v for k, v in record["fit_timings_s"].items() if k != "total"},
        },
        "cluster_sizes": adata.obs[CLUSTER_KEY].value_counts().sort_index().to_dict(),
        "plots": [str(p) for p in figures],
        "notes": record.get("notes", []),
    }
    if args.json_:
        print_json(report)
    else:
        summary(report, label_key)


def _plots(adata: Any, folder: Path, label_key: str | None, force: bool, seed: int) -> list[Path]:
    """`--plots`: `cm.pl.umap` (clusters, beside the labels when given) and `cm.pl.confusion`."""
    from cellmodel import pl
    from cellmodel._settings import CLUSTER_KEY
    from cellmodel.pl.embedding import AmbiguousColorWarning
    from cli.common import headless_plots
    from genekb.progress import active_stage_hook

    folder.mkdir(parents=True, exist_ok=True)
    columns = [CLUSTER_KEY, *([label_key] if label_key else [])]
    targets = [folder / "umap.png"] + ([folder / "confusion.png"] if label_key else [])
    clash = [t for t in targets if t.exists()]
    if clash and not force:
        raise GenekbError(f"{clash[0]} exists; pass --force to overwrite the plots")
    headless_plots()
    hook = active_stage_hook()
    if hook is not None:
        hook("plots: the UMAP layout", 0, 1)
    with warnings.catch_warnings():  # --label-key names a column: never the gene of its name
        warnings.simplefilter("ignore", AmbiguousColorWarning)
        pl.umap(adata, columns, seed=seed, save=targets[0])
    if label_key:
        pl.confusion(adata, label_key, save=targets[1])
    return targets
