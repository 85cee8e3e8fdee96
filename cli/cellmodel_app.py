"""`cellmodel`: semantic views, clustering and classification of cells from a genekb store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from cli.annotate_cmd import register as register_annotate
from cli.bench_cmd import register as register_bench
from cli.common import handle_errors, info, parse_options, print_json, stage_progress
from genekb.errors import GenekbError, UsageError

app = typer.Typer(
    name="cellmodel",
    help="Cluster and classify single cells with gene knowledge from a genekb store.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
datasets_app = typer.Typer(help="The registry of pinned datasets.", no_args_is_help=True)
register_bench(app)
register_annotate(app)
app.add_typer(datasets_app, name="datasets")
out = Console()

RootOpt = Annotated[
    Path | None,
    typer.Option("--root", help="Store root (default: $GENEKB_HOME, else ./artifacts)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
ModelOpt = Annotated[
    str,
    typer.Option(
        "--model",
        "-m",
        help="An encoder (e.g. minilm, minilm-int8), or a tag or embedding id of the store (used"
        " as it is, never built).",
    ),
]
BuildOpt = Annotated[
    bool,
    typer.Option(
        "--build/--no-build",
        help="Embed the gene cards the store lacks into a new version (said on stderr; no tag"
        " moves). --no-build refuses instead.",
    ),
]
AllGenesOpt = Annotated[
    bool,
    typer.Option(
        "--all-genes", help="Vectors for every matched gene, not only the ones the view reads."
    ),
]
InputArg = Annotated[
    str, typer.Argument(help="An .h5ad file, a 10x folder, a CSV/TSV, or a dataset name.")
]
OutputOpt = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write the AnnData here (.h5ad).")
]
ForceOpt = Annotated[bool, typer.Option(help="Overwrite an existing output file.")]
GeneKeyOpt = Annotated[
    str | None, typer.Option(help="var column with gene names (e.g. feature_name).")
]
LayerOpt = Annotated[str | None, typer.Option(help="Layer to read ('raw' for .raw); default X.")]
TaxonOpt = Annotated[str | None, typer.Option(help="human or mouse (default: detected).")]
GeneVectorsOpt = Annotated[
    str, typer.Option(help="real, or the controls shuffled / random (seeded).")
]


def load_input(source: str, root: Path | None) -> tuple[Any, str | None]:
    """AnnData from a path or a registry dataset name, and the dataset's label key (if any)."""
    from cellmodel import datasets, io

    path = Path(source)
    if path.exists():
        return io.read(path), None
    names = [d.name for d in datasets.list_datasets()]
    if source in names:
        adata = datasets.load(source, cache_dir=datasets.default_cache_dir(root))
        return adata, datasets.get(source).label_key
    raise GenekbError(f"input {source!r} is neither a file nor a dataset ({', '.join(names)})")


def check_output(output: Path | None, force: bool) -> None:
    if output is None:
        return
    if output.is_dir():
        raise GenekbError(f"{output} is a directory; give a file name ending in .h5ad")
    if output.exists() and not force:
        raise GenekbError(f"{output} exists; pass --force to overwrite it")
    if output.suffix != ".h5ad":
        raise UsageError(f"output {output} must end in .h5ad")
    if not output.parent.exists():
        raise GenekbError(f"directory {output.parent} does not exist")


def write_h5ad(adata: Any, output: Path) -> None:
    """Write through a temporary file and rename, so a crash never leaves a half file."""
    from genekb.fileio import atomic_path

    with atomic_path(output, suffix=".tmp.h5ad") as tmp:
        adata.write_h5ad(tmp)


def _stage_progress() -> Any:
    return stage_progress()


@datasets_app.command("list")
@handle_errors
def datasets_list(json_: JsonOpt = False) -> None:
    """List the registry's datasets."""
    from cellmodel.datasets import list_datasets

    found = list_datasets()
    rows = [d.to_dict() for d in found]
    if json_:
        print_json({"datasets": rows})
        return
    table = Table("name", "cells", "classes", "labels", "values", "taxon", "source")
    for d, r in zip(found, rows, strict=True):
        source = f"{d.package}=={d.version}" if d.package else "scanpy"
        table.add_row(
            r["name"],
            str(r["n_cells"]),
            str(r["n_classes"]),
            r["label_key"],
            r["values"],
            r["taxon"],
            source,
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
    force: ForceOpt = False,
    json_: JsonOpt = False,
) -> None:
    """The dual-path semantic view of each cell: obsm X_semantic_w, X_semantic_s, X_semantic."""
    from cellmodel.embed import embed as run_embed
    from genekb.store.store import Store

    check_output(output, force)
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
        progress=_stage_progress(),
        notify=info,
    )
    record = adata.uns["cellmodel"]
    if output is not None:
        write_h5ad(adata, output)
    report = {
        "output": str(output) if output else None,
        "n_cells": adata.n_obs,
        "embedding_id": record["embedding_id"],
        "tag": record.get("tag"),
        "gene_match_rate": record["gene_match"]["match_rate"],
        "input_kind": record["input"]["kind"],
        "obsm": {
            k: list(adata.obsm[k].shape)
            for k in ("X_semantic_w", "X_semantic_s", "X_semantic")
            if k in adata.obsm
        },
        "params": record["params"],
        "timings_s": record["timings_s"],
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
    build: BuildOpt = True,
    all_genes: AllGenesOpt = False,
    force: ForceOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Cluster cells: graph encoder over the expression kNN graph, OT-sharpened clusters, and the
    gene-knowledge semantic view that `cellmodel explain` reads."""
    from cellmodel.pipeline import CLUSTER_KEY
    from cellmodel.pipeline import cluster as run_cluster
    from genekb.store.store import Store

    check_output(output, force)
    options = _cluster_options(option or [])
    adata, dataset_label_key = load_input(source, root)
    label_key = label_key or dataset_label_key
    if align_semantic and not semantic:
        raise UsageError("--align-semantic needs the semantic view; drop --no-semantic")
    store = Store.open(root, create=True) if semantic else None
    run_cluster(
        adata,
        store,
        n_clusters=n_clusters,
        use_semantic=semantic,
        align_semantic=align_semantic,
        model=model,
        gene_vectors=gene_vectors,
        taxon=taxon,
        gene_key=gene_key,
        layer=layer,
        batch_key=batch_key if batch_key is not None else "auto",
        label_key=label_key,
        seed=seed,
        device=device,
        progress=_stage_progress(),
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
        "batch_key": record.get("batch_key"),
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
    for note in report["notes"]:
        info(f"note: {note}")


@app.command()
@handle_errors
def classify(
    source: InputArg,
    label_key: Annotated[
        str | None, typer.Option(help="obs column of labels (train and score).")
    ] = None,
    train_fraction: Annotated[float | None, typer.Option(help="Share of cells labelled.")] = None,
    per_class: Annotated[int | None, typer.Option(help="Labelled cells per class.")] = None,
    train_mask: Annotated[
        str | None, typer.Option(help="Boolean obs column: cells to train on.")
    ] = None,
    small_classes: Annotated[str, typer.Option(help="error | cap: classes too small to split.")] = (
        "error"
    ),
    reference: Annotated[
        Path | None, typer.Option(help="Train on this file's labels and predict the input's cells.")
    ] = None,
    view: Annotated[
        str,
        typer.Option(
            help="pca | semantic | fused (both side by side): the cell view that is refined."
        ),
    ] = "pca",
    gene_vectors: GeneVectorsOpt = "real",
    k: Annotated[int, typer.Option("--k", min=1, help="Neighbours of the kNN vote.")] = 15,
    vote: Annotated[
        str,
        typer.Option(
            help="auto | mass | frequency | balanced: kNN votes as they fall (frequency), per"
            " labelled cell (balanced), or with class masses matched to the labelled cells'"
            " proportions (mass). auto: mass, but frequency with --reference."
        ),
    ] = "auto",
    markers: Annotated[
        int,
        typer.Option(
            min=0, help="Marker genes per class (training labels) added to the view; 0: none."
        ),
    ] = 100,
    marker_block: Annotated[
        str, typer.Option(help="scores (one marker score per class) | genes (each marker gene).")
    ] = "scores",
    refine: Annotated[bool, typer.Option(help="Contrastive refinement before the kNN.")] = True,
    blend: Annotated[
        float,
        typer.Option(help="Weight (0–1) of the unrefined kNN's votes beside the refined one's."),
    ] = 0.5,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    output: OutputOpt = None,
    root: RootOpt = None,
    model: ModelOpt = "minilm",
    plots: Annotated[Path | None, typer.Option(help="Write the confusion-matrix PNG here.")] = None,
    force: ForceOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Few-label classification: contrastive refinement of a cell view, then kNN; with baselines."""
    from cellmodel import classify as cl

    check_output(output, force)
    cl.check_view(view)
    if gene_vectors != "real" and view == "pca":
        raise UsageError(
            "--gene-vectors changes the semantic view only; add --view semantic (or fused)"
        )
    options = cl.with_options(vote=vote, n_markers=markers, marker_block=marker_block, blend=blend)
    options.check()  # a bad --vote / --marker-block / --blend: usage error before data is read
    adata, dataset_key = load_input(source, root)
    label_key = label_key or dataset_key
    ref, ref_key = load_input(str(reference), root) if reference is not None else (None, None)
    if reference is None and label_key is None:
        raise UsageError("give --label-key (the labels to train on and score against)")
    if ref is not None and (label_key or ref_key) not in ref.obs:
        raise GenekbError(
            f"the reference needs a label column; pass --label-key (have {list(ref.obs)})"
        )
    store = None
    if view != "pca":
        from genekb.store.store import Store

        store = Store.open(root, create=True)
    result = cl.classify_cells(
        adata,
        label_key=label_key,
        train_fraction=train_fraction,
        per_class=per_class,
        train_mask=train_mask,
        small_classes=small_classes,
        reference=ref,
        reference_label_key=label_key or ref_key,
        view=view,
        store=store,
        model=model,
        gene_vectors=gene_vectors,
        k=k,
        refine_view=refine,
        seed=seed,
        device=device,
        options=options,
    )
    figures = []
    if plots is not None and label_key in adata.obs:
        from cellmodel.plot import plot_confusion

        plots.mkdir(parents=True, exist_ok=True)
        target = plots / "classify_confusion.png"
        if target.exists() and not force:
            raise GenekbError(f"{target} exists; pass --force to overwrite the plots")
        held_out = ~result.train_mask
        plot_confusion(
            adata.obs[label_key][held_out],
            adata.obs["cellmodel_pred"][held_out],
            target,
            xlabel="predicted label (cells not used for training)",
        )
        figures.append(str(target))
    if output is not None:
        write_h5ad(adata, output)
    doc = {
        **adata.uns["cellmodel_classify"],
        "gene_vectors": gene_vectors if view != "pca" else None,
        "plots": figures,
        "output": str(output) if output else None,
    }
    if json_:
        print_json(doc)
        return
    scores = result.scores
    if scores is not None:
        info(
            f"{'refined kNN' if refine else 'kNN'} ({view}): accuracy {scores.accuracy:.3f},"
            f" macro-F1 {scores.macro_f1:.3f}"
            f" on {result.n_scored} held-out cells"
        )
    for name, comp in result.comparisons.items():
        info(f"{name}: accuracy {comp.accuracy:.3f}, macro-F1 {comp.macro_f1:.3f}")


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
    else:
        info("no semantic view in this file (clustered with --no-semantic): markers only")
    report = run_explain(adata, store, cluster_key=cluster_key, top_n=top)
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
            if isinstance(default, bool):
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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
