"""`cellmodel classify`: few-label classification, a thin shell over
`cellmodel.classify.classify_cells`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.cellmodel_args import (
    DaskAddressOpt,
    ForceOpt,
    GeneVectorsOpt,
    InputArg,
    JsonOpt,
    ModelOpt,
    OutputOpt,
    RootOpt,
    WorkersOpt,
    check_chunked,
    check_dask_options,
    check_output,
    load_input,
    write_h5ad,
)
from cli.common import handle_errors, info, print_json
from genekb.errors import GenekbError, UsageError
from genekb.fileio import check_output_dir


def register(app: typer.Typer) -> None:
    """Add the `classify` command to the cellmodel app (once, however often it is called)."""
    if not any(c.name == "classify" for c in app.registered_commands):
        app.command("classify")(classify)


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
    chunk_size: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Read the input this many cells at a time (out of core, Dask): the unrefined kNN"
            " on obsm X_semantic_w (from `embed --chunk-size`) against an in-memory --reference;"
            " needs --view semantic and -o.",
        ),
    ] = None,
    dask_address: DaskAddressOpt = None,
    workers: WorkersOpt = None,
    force: ForceOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Few-label classification: contrastive refinement of a cell view, then kNN; with baselines."""
    from cellmodel import classify as cl

    check_output(output, force)
    if plots is not None:
        check_output_dir(plots, force=force, flag="--plots", files=("classify_confusion.png",))
    check_dask_options(chunk_size, dask_address, workers)
    if chunk_size is not None:
        _classify_chunked(
            source, reference, label_key, view, k, vote, chunk_size, dask_address, workers,
            output, root, model, json_,
        )  # fmt: skip
        return
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


def _classify_chunked(
    source: str,
    reference: Path | None,
    label_key: str | None,
    view: str,
    k: int,
    vote: str,
    chunk_size: int,
    dask_address: str | None,
    workers: int | None,
    output: Path | None,
    root: Path | None,
    model: str,
    json_: bool,
) -> None:
    """classify --chunk-size: a thin shell over `cellmodel.chunked.classify.classify_h5ad`."""
    from cellmodel import classify as cl
    from cellmodel.chunked.classify import classify_h5ad, obs_columns
    from genekb.store.store import Store

    if reference is None:
        raise UsageError("--chunk-size transfers labels from a --reference (an in-memory file)")
    if view != "semantic":
        raise UsageError("--chunk-size runs on the semantic view: add --view semantic")
    path = check_chunked(source, output, "predictions")
    ref, ref_key = load_input(str(reference), root)
    key = label_key or ref_key
    if key is None:
        raise UsageError("give --label-key (the reference's label column)")
    info(
        "chunked: the unrefined kNN on obsm X_semantic_w; the contrastive refinement and the"
        " marker block are not run out of core"
    )
    record = classify_h5ad(
        path,
        ref,
        output=output,  # type: ignore[arg-type]
        reference_label_key=key,
        # As in memory, the query's own labels (if it has them) only score the result.
        label_key=label_key if label_key in obs_columns(path) else None,
        store=Store.open(root, create=True),
        k=k,
        options=cl.with_options(vote=vote),
        chunk_size=chunk_size,
        dask_address=dask_address,
        workers=workers,
    )
    record = {**record, "output": str(output)}
    if json_:
        print_json(record)
        return
    scores = record["scores"]
    if scores is not None:
        info(
            f"kNN (semantic, chunked): accuracy {scores['accuracy']:.3f}, macro-F1"
            f" {scores['macro_f1']:.3f} on {record['params']['n_query']} cells"
        )
