"""`cellmodel`: semantic views, clustering and classification of cells from a genekb store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from cli.annotate_cmd import register as register_annotate
from cli.bench_cmd import register as register_bench
from cli.cellmodel_args import (
    AllGenesOpt,
    BuildOpt,
    ChunkSizeOpt,
    ClusterChunkSizeOpt,
    DaskAddressOpt,
    ForceOpt,
    GeneKeyOpt,
    GeneVectorsOpt,
    InputArg,
    JsonOpt,
    LayerOpt,
    ModelOpt,
    OutputOpt,
    RootOpt,
    TaxonOpt,
    WorkersOpt,
    check_chunked,
    check_dask_options,
    check_output,
    load_input,
    run_progress,
    write_h5ad,
)
from cli.classify_cmd import register as register_classify
from cli.common import handle_errors, info, parse_options, print_json
from cli.datasets_cmd import register as register_datasets
from cli.refine_opts import GeneGraphOpt, RefineOpt, check_refine
from genekb.errors import GenekbError, UsageError
from genekb.fileio import check_output_dir

app = typer.Typer(
    name="cellmodel",
    help="Cluster and classify single cells with gene knowledge from a genekb store.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console()
PLOT_FILES = ("umap.png", "confusion.png")  # what `cluster --plots` may write


@app.command()
@handle_errors
def embed(
    source: InputArg,
    output: OutputOpt = None,
    root: RootOpt = None,
    model: ModelOpt = "minilm",
    taxon: TaxonOpt = None,
    gene_key: GeneKeyOpt = None,
    layer: LayerOpt = None,
    gene_vectors: GeneVectorsOpt = "real",
    seed: Annotated[int, typer.Option(help="Seed of the controls.")] = 0,
    build: BuildOpt = True,
    all_genes: AllGenesOpt = False,
    chunk_size: ChunkSizeOpt = None,
    dask_address: DaskAddressOpt = None,
    workers: WorkersOpt = None,
    force: ForceOpt = False,
    json_: JsonOpt = False,
) -> None:
    """The dual-path semantic view of each cell: obsm X_semantic_w, X_semantic_s, X_semantic."""
    from cellmodel.embed import embed as run_embed
    from genekb.store.store import Store

    check_output(output, force)
    check_dask_options(chunk_size, dask_address, workers)
    if chunk_size is not None:
        from cellmodel.chunked import embed_h5ad

        path = check_chunked(source, output, "obsm")
        record = embed_h5ad(
            path,
            Store.open(root, create=True),
            output=output,  # type: ignore[arg-type]
            model=model,
            taxon=taxon,
            gene_key=gene_key,
            layer=layer,
            gene_vectors=gene_vectors,
            seed=seed,
            build_missing=build,
            all_genes=all_genes,
            chunk_size=chunk_size,
            dask_address=dask_address,
            workers=workers,
            progress=run_progress(),
            notify=info,
        )
        n, dim = record["input"]["n_cells"], record["dim"]
        _embed_report(record, output, n, {"X_semantic_w": [n, dim], "X_semantic": [n, dim]}, json_)
        return
    adata, _ = load_input(source, root)
    store = Store.open(root, create=True)
    run_embed(
        adata,
        store,
        model=model,
        taxon=taxon,
        gene_key=gene_key,
        layer=layer,
        gene_vectors=gene_vectors,
        seed=seed,
        build_missing=build,
        all_genes=all_genes,
        progress=run_progress(),
        notify=info,
    )
    record = adata.uns["cellmodel"]
    if output is not None:
        write_h5ad(adata, output)
    shapes = {
        k: list(adata.obsm[k].shape)
        for k in ("X_semantic_w", "X_semantic_s", "X_semantic")
        if k in adata.obsm
    }
    _embed_report(record, output, adata.n_obs, shapes, json_)


def _embed_report(
    record: dict[str, Any], output: Path | None, n_cells: int, shapes: dict, json_: bool
) -> None:
    report = {
        "output": str(output) if output else None,
        "n_cells": n_cells,
        "embedding_id": record["embedding_id"],
        "tag": record.get("tag"),
        "gene_match_rate": record["gene_match"]["match_rate"],
        "input_kind": record["input"]["kind"],
        "obsm": shapes,
        "params": record["params"],
        "timings_s": record["timings_s"],
        **({"chunked": record["chunked"]} if "chunked" in record else {}),
    }
    if json_:
        print_json(report)
    else:
        info(json.dumps(report, indent=2, default=str))


@app.command()
@handle_errors
def cluster(
    source: InputArg,
    output: OutputOpt = None,
    root: RootOpt = None,
    model: ModelOpt = "minilm",
    n_clusters: Annotated[
        int | None, typer.Option("--n-clusters", "-k", min=1, help="k (default: estimated).")
    ] = None,
    label_key: Annotated[
        str | None,
        typer.Option(help="obs column of reference labels, read only to score the end result."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    device: Annotated[
        str | None, typer.Option(help="cpu or cuda (default: cuda if present).")
    ] = None,
    semantic: Annotated[
        bool, typer.Option(help="Compute the semantic view (for `cellmodel explain`).")
    ] = True,
    align_semantic: Annotated[
        bool,
        typer.Option(
            help="Also fit with it: contrastive alignment + fused latent (measured worse; off)."
        ),
    ] = False,
    ensemble: Annotated[
        bool,
        typer.Option(
            help="Keep, of the graph encoder's clusters, a k-means consensus on the PCA and Leiden"
            " at k, the one that agrees best with the ensemble (off: measured lower on the"
            " registry datasets, better on small subsamples)."
        ),
    ] = False,
    batch_choice: Annotated[
        bool,
        typer.Option(
            help="With a batch column: also fit the link-reconstruction candidate, find Leiden's"
            " communities at the same k, and keep the clusters least explained by the batch"
            " (a second fit and Leiden runs: more than twice the fit time)."
        ),
    ] = True,
    merge_split: Annotated[
        bool,
        typer.Option(
            help="Check the clusters in the PCA: merge two neighbours with no density dip between"
            " them and split the cluster whose cut removes most variance, where that removes"
            " variance, raises the silhouette and does not raise the clusters' information"
            " about the batch column (k kept)."
        ),
    ] = True,
    refine: RefineOpt = None,
    gene_graph: GeneGraphOpt = "data",
    gene_vectors: GeneVectorsOpt = "real",
    taxon: TaxonOpt = None,
    gene_key: GeneKeyOpt = None,
    layer: LayerOpt = None,
    batch_key: Annotated[
        str | None,
        typer.Option(
            help="obs column of a technical batch (e.g. donor) to correct for; 'none' turns off"
            " a registry dataset's default."
        ),
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option("--option", help="ClusterOptions field=value, e.g. conv=sage (repeatable)."),
    ] = None,
    plots: Annotated[
        Path | None, typer.Option(help="Write UMAP and confusion-matrix PNGs here.")
    ] = None,
    chunk_size: ClusterChunkSizeOpt = None,
    dask_address: DaskAddressOpt = None,
    workers: WorkersOpt = None,
    build: BuildOpt = True,
    all_genes: AllGenesOpt = False,
    force: ForceOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Cluster cells: graph encoder over the expression kNN graph with OT-sharpened clusters
    (optionally a label-free choice between it, a k-means consensus and Leiden at k), and the
    gene-knowledge semantic view that `cellmodel explain` reads."""
    from cellmodel.pipeline import CLUSTER_KEY
    from cellmodel.pipeline import cluster as run_cluster
    from genekb.store.store import Store

    check_output(output, force)
    if plots is not None:
        check_output_dir(plots, force=force, flag="--plots", files=PLOT_FILES)
    options = _cluster_options(option or [])
    check_dask_options(chunk_size, dask_address, workers)
    if chunk_size is None and Path(source).suffix == ".h5ad" and Path(source).is_file():
        from cellmodel.chunked.limits import AUTO_CHUNK_SIZE, cluster_plan

        chunked, notice = cluster_plan(source)
        if notice:
            info(notice)
        chunk_size = AUTO_CHUNK_SIZE if chunked else None
    check_refine(refine, gene_graph, chunk_size)
    if chunk_size is not None:
        from cli.cluster_chunked import check_in_core_only, run_chunked

        check_in_core_only(align_semantic=align_semantic, ensemble=ensemble, batch_key=batch_key)
        run_chunked(
            source, output, semantic=semantic, json_=json_, progress=run_progress(),
            n_clusters=n_clusters, label_key=label_key, seed=seed, device=device, layer=layer,
            merge_split=merge_split, chunk_size=chunk_size, dask_address=dask_address,
            workers=workers, **options,
        )  # fmt: skip
        return
    adata, dataset_label_key = load_input(source, root)
    label_key = label_key or dataset_label_key
    if align_semantic and not semantic:
        raise UsageError("--align-semantic needs the semantic view; drop --no-semantic")
    knowledge = refine is not None and not gene_graph.startswith("data")
    store = Store.open(root, create=True) if semantic or knowledge else None
    run_cluster(
        adata,
        store,
        n_clusters=n_clusters,
        use_semantic=semantic,
        align_semantic=align_semantic,
        ensemble=ensemble,
        batch_choice=batch_choice,
        merge_split=merge_split,
        refine=refine,
        gene_graph=gene_graph,
        model=model,
        gene_vectors=gene_vectors,
        taxon=taxon,
        gene_key=gene_key,
        layer=layer,
        batch_key=batch_key if batch_key is not None else "auto",
        label_key=label_key,
        seed=seed,
        device=device,
        progress=run_progress(),
        embed_options={"build_missing": build, "all_genes": all_genes, "notify": info},
        **options,
    )
    record = adata.uns["cellmodel"]
    metrics = record.get("metrics")
    figures = _plots(adata, plots, label_key, force, seed) if plots else []
    if output is not None:
        write_h5ad(adata, output)
    report = {
        "input": source,
        "output": str(output) if output else None,
        "n_cells": adata.n_obs,
        "n_clusters": record["n_clusters"],
        "k_estimated": record["k_estimated"],
        "metrics": metrics,
        "gene_match_rate": (record.get("gene_match") or {}).get("match_rate"),
        "gene_names": record.get("gene_names"),
        "batch_key": record.get("batch_key"),
        "batch_choice": record.get("batch_choice"),
        "merge_split": record.get("merge_split"),
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
    if json_:
        print_json(report)
        return
    info(
        f"{report['n_clusters']} clusters of {report['n_cells']} cells in {report['seconds']:.1f} s"
        + (f" (gene match {report['gene_match_rate']:.1%})" if report["gene_match_rate"] else "")
    )
    if metrics:
        info("  ".join(f"{k.upper()} {v:.3f}" for k, v in metrics.items()) + f"  (vs {label_key})")
    choice = report["batch_choice"]
    if choice:
        ami = choice["batch_ami"]
        amis = ", ".join(f"{name} {value:.3f}" for name, value in ami.items())
        info(f"batch choice: kept the {choice['chosen']} partition (AMI with the batch: {amis})")
    checked = report["merge_split"]
    if checked and checked["n_moves"]:
        info(f"merge-split check in the PCA: {checked['n_moves']} move(s) kept")
    for note in report["notes"]:
        info(f"note: {note}")


@app.command()
@handle_errors
def explain(
    source: Annotated[Path, typer.Argument(help="An .h5ad written by `cellmodel cluster -o`.")],
    root: RootOpt = None,
    top: Annotated[int, typer.Option("--top", "-n", min=1, help="Genes per list.")] = 10,
    cluster_key: Annotated[
        str, typer.Option(help="obs column of the clusters.")
    ] = "cellmodel_cluster",
    json_: JsonOpt = False,
) -> None:
    """Explain clusters: semantic contributor genes, markers, and their descriptions."""
    from cellmodel import io
    from cellmodel.explain import explain as run_explain
    from cellmodel.explain import to_markdown
    from genekb.store.store import Store

    if not source.exists():
        raise GenekbError(f"{source} does not exist; write one with `cellmodel cluster IN -o FILE`")
    adata = io.read(source)
    if cluster_key not in adata.obs:
        raise GenekbError(
            f"no obs[{cluster_key!r}] in {source}; run `cellmodel cluster IN -o OUT.h5ad` first"
        )
    record = adata.uns.get("cellmodel", {})
    store = None
    if record.get("embedding_id"):
        store_root = root or (Path(record["store_root"]) if record.get("store_root") else None)
        if store_root is not None and not store_root.exists():
            raise GenekbError(
                f"the store {store_root} this file was clustered with is gone; pass --root"
            )
        store = Store.open(store_root)
    report = run_explain(adata, store, cluster_key=cluster_key, top_n=top)
    if store is None:
        info("no semantic view in this file (clustered with --no-semantic): markers only")
    if json_:
        print_json(report)
        return
    out.print(to_markdown(report), markup=False, highlight=False, soft_wrap=True)


def _cluster_options(pairs: list[str]) -> dict[str, Any]:
    """`field=value` overrides of ClusterOptions, typed like the field's default."""
    import dataclasses

    from cellmodel.cluster import ClusterOptions

    fields = {f.name: f for f in dataclasses.fields(ClusterOptions)}
    defaults = ClusterOptions()
    parsed: dict[str, Any] = {}
    for key, value in parse_options(pairs, "--option").items():
        if key not in fields:
            raise UsageError(
                f"unknown cluster option {key!r}; choose from {', '.join(sorted(fields))}"
            )
        default = getattr(defaults, key)
        try:
            if value.lower() == "none" and "None" in str(fields[key].type):
                parsed[key] = None
            elif isinstance(default, bool):
                parsed[key] = value.lower() in ("1", "true", "yes")
            elif isinstance(default, tuple):
                parsed[key] = tuple(int(v) for v in value.split(","))
            else:
                parsed[key] = type(default)(value)
        except ValueError:
            raise UsageError(
                f"cluster option {key}={value!r} is not a {type(default).__name__}"
            ) from None
    return parsed


def _plots(adata: Any, folder: Path, label_key: str | None, force: bool, seed: int) -> list[Path]:
    from cellmodel.pipeline import CLUSTER_KEY
    from cellmodel.plot import plot_confusion, plot_umap, umap_coordinates

    folder.mkdir(parents=True, exist_ok=True)
    targets = [folder / "umap.png"] + ([folder / "confusion.png"] if label_key else [])
    clash = [t for t in targets if t.exists()]
    if clash and not force:
        raise GenekbError(f"{clash[0]} exists; pass --force to overwrite the plots")
    xy = umap_coordinates(adata.obsm["X_cellmodel"], seed=seed)
    adata.obsm["X_umap"] = xy
    labels = adata.obs[label_key] if label_key else None
    plot_umap(xy, adata.obs[CLUSTER_KEY], labels, targets[0])
    if label_key:
        plot_confusion(adata.obs[label_key], adata.obs[CLUSTER_KEY], targets[1])
    return targets


register_classify(app)
register_annotate(app)
register_bench(app)
register_datasets(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
