"""`cellmodel classify`: few-label classification, a thin shell over
`cellmodel.classify.classify_cells`."""

from __future__ import annotations

import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Any

import typer

from cellmodel.arguments import check_obs_column
from cellmodel.uns_record import index_clash, plain_values
from cli.cellmodel_args import (
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
    WorkersOpt,
    check_chunked,
    load_input,
    plots_then_output,
    seed_option,
)
from cli.classify_checks import PLOT_FILE, REFERENCE, check
from cli.common import handle_errors, info, print_json
from genekb.errors import GenekbError, GenekbWarning, UsageError


def register(app: typer.Typer) -> None:
    """Add the `classify` command to the cellmodel app (once, however often it is called)."""
    if not any(c.name == "classify" for c in app.registered_commands):
        app.command("classify")(classify)


_LabelKeyOpt = Annotated[str | None, typer.Option(help="obs column of labels (train and score).")]
_TrainFractionOpt = Annotated[float | None, typer.Option(help="Share of cells labelled.")]
_PerClassOpt = Annotated[int | None, typer.Option(help="Labelled cells per class.")]
_TrainMaskOpt = Annotated[str | None, typer.Option(help="Boolean obs column: cells to train on.")]
_TrainOnLabelledOpt = Annotated[
    bool,
    typer.Option(
        "--train-on-labelled",
        help="Train on every cell that has a label and predict the others (the cells a label"
        " column or a --labels file leaves empty).",
    ),
]
_LabelsOpt = Annotated[
    Path | None,
    typer.Option(
        help="A CSV/TSV of the input's labels: cell ids in the first column, labels in the"
        " second (or the --label-key column of its header); for inputs whose obs holds none."
    ),
]
_SmallClassesOpt = Annotated[str, typer.Option(help="error | cap: classes too small to split.")]
_ReferenceOpt = Annotated[
    Path | None, typer.Option(help="Train on this file's labels and predict the input's cells.")
]
_ViewOpt = Annotated[
    str,
    typer.Option(help="pca | semantic | fused (both side by side): the cell view that is refined."),
]
_KOpt = Annotated[int, typer.Option("--k", min=1, help="Neighbours of the kNN vote.")]
_VoteOpt = Annotated[
    str,
    typer.Option(
        help="auto | mass | frequency | balanced: kNN votes as they fall (frequency), per"
        " labelled cell (balanced), or with class masses matched to the labelled cells'"
        " proportions (mass). auto: mass, but frequency with --reference."
    ),
]
_MarkersOpt = Annotated[
    int,
    typer.Option(
        min=0, help="Marker genes per class (training labels) added to the view; 0: none."
    ),
]
_MarkerBlockOpt = Annotated[
    str, typer.Option(help="scores (one marker score per class) | genes (each marker gene).")
]
_RefineOpt = Annotated[bool, typer.Option(help="Contrastive refinement before the kNN.")]
_BlendOpt = Annotated[
    float,
    typer.Option(help="Weight (0–1) of the unrefined kNN's votes beside the refined one's."),
]
_SeedOpt = seed_option("Random seed.")
_DeviceOpt = Annotated[str, typer.Option(help="cpu or cuda.")]
_PlotsOpt = Annotated[Path | None, typer.Option(help="Write the confusion-matrix PNG here.")]
_ChunkSizeOpt = Annotated[
    int | None,
    typer.Option(
        min=1,
        help="Read the input this many cells at a time (out of core, Dask): the unrefined kNN"
        " on obsm X_semantic_w (from `embed --chunk-size`) against an in-memory --reference;"
        " needs --view semantic and -o.",
    ),
]


@handle_errors
def classify(
    source: InputArg,
    label_key: _LabelKeyOpt = None,
    train_fraction: _TrainFractionOpt = None,
    per_class: _PerClassOpt = None,
    train_mask: _TrainMaskOpt = None,
    train_on_labelled: _TrainOnLabelledOpt = False,
    labels: _LabelsOpt = None,
    small_classes: _SmallClassesOpt = "error",
    reference: _ReferenceOpt = None,
    view: _ViewOpt = "pca",
    layer: LayerOpt = None,
    gene_key: GeneKeyOpt = None,
    orientation: OrientationOpt = "auto",
    sep: SepOpt = None,
    gene_vectors: GeneVectorsOpt = "real",
    k: _KOpt = 15,
    vote: _VoteOpt = "auto",
    markers: _MarkersOpt = 100,
    marker_block: _MarkerBlockOpt = "scores",
    refine: _RefineOpt = True,
    blend: _BlendOpt = 0.5,
    seed: _SeedOpt = 0,
    device: _DeviceOpt = "cpu",
    output: OutputOpt = None,
    root: RootOpt = None,
    model: ModelOpt = "minilm",
    plots: _PlotsOpt = None,
    chunk_size: _ChunkSizeOpt = None,
    dask_address: DaskAddressOpt = None,
    workers: WorkersOpt = None,
    force: ForceOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Few-label classification: contrastive refinement of a cell view, then kNN; with baselines."""
    args = SimpleNamespace(**locals())
    check(args)
    if chunk_size is not None:
        return _classify_chunked(args)
    _report(*_run(args), args)  # the AnnData, the result and the label column


def _options(args: SimpleNamespace) -> Any:
    """The run's checked ClassifyOptions (a bad --vote / --marker-block / --blend or view:
    a usage error before data is read)."""
    from cellmodel import classify as cl

    cl.check_view(args.view)
    if args.gene_vectors != "real" and args.view == "pca":
        raise UsageError(
            "--gene-vectors changes the semantic view only; add --view semantic (or fused)"
        )
    options = cl.with_options(
        vote=args.vote, n_markers=args.markers, marker_block=args.marker_block, blend=args.blend
    )
    options.check()
    return options


def _inputs(args: SimpleNamespace) -> tuple[Any, str | None, Any, str | None]:
    """The query, its label column, and the reference (if any) with its label column."""
    table = (args.orientation, args.sep)  # the input's and the reference's, if tables
    adata, dataset_key = load_input(args.source, args.root, *table)
    label_key = args.label_key or dataset_key
    if args.labels is not None:
        label_key = _with_labels(adata, args.labels, args.label_key)
    reference = args.reference
    ref, ref_key = (
        load_input(str(reference), args.root, *table, REFERENCE) if reference else (None, None)
    )
    if reference is None and label_key is None:
        raise UsageError("give --label-key (the labels to train on and score against)")
    if ref is not None and not (label_key or ref_key):  # an option missing: usage (exit 2)
        raise UsageError(
            f"the reference needs a label column; pass --label-key (have {list(ref.obs)})"
        )
    if ref is not None:
        check_obs_column(ref.obs, label_key or ref_key, "reference_label_key", " of the reference")
    return adata, label_key, ref, ref_key


def _with_labels(adata: Any, path: Path, label_key: str | None) -> str:
    """--labels: the file's labels matched to the input's cells, as the obs column --label-key
    (default: the file's header name, or 'label'); an obs column of that name is not replaced.
    Its separator is read from the file (--sep is the input table's)."""
    from cellmodel.classify.label_table import read_labels

    labels = read_labels(path, adata.obs_names, column=label_key)
    key = label_key or str(labels.name)
    if index_clash([key], adata.obs.index.name) is not None:  # -o failed after the whole run
        raise UsageError(
            f"the labels of --labels would be the obs column {key!r}, the name under which the"
            " file keeps the cell names; name them another way with --label-key"
        )
    if key in adata.obs:
        raise UsageError(
            f"the input already has an obs column {key!r}; name the labels of --labels another"
            " way: with --label-key NAME (a file of ids and labels only), or in the file's header"
        )
    adata.obs[key] = labels.to_numpy()
    return key


def _labelled(adata: Any, label_key: str | None) -> Any:
    """--train-on-labelled: the cells whose label column holds a label (not missing, blank or
    a word for none such as "NA")."""
    import numpy as np

    from cellmodel.arguments import unlabelled

    check_obs_column(adata.obs, label_key, "label_key")
    labelled = ~np.asarray(unlabelled(adata.obs[label_key]), dtype=bool)
    if labelled.all():  # "every cell is in the training set" named a set the user never chose
        raise UsageError(
            f"every cell has a label in --label-key {label_key!r}, so --train-on-labelled leaves"
            " none to predict; to score the classifier on a held-out part, give --train-fraction"
            " or --per-class instead"
        )
    return labelled


def _run(args: SimpleNamespace) -> tuple[Any, Any, str | None]:
    """Classify in memory; the AnnData, the result and the label column."""
    from cli.progress import steady_progress
    from genekb.progress import reporting

    options = _options(args)
    # A line every ~10 s while it reads and trains (a minute on 1,000 cells), as annotate does.
    with steady_progress("classify: reading the input") as progress, reporting(progress):
        return _classify(args, options)


def _classify(args: SimpleNamespace, options: Any) -> tuple[Any, Any, str | None]:
    """`_run`'s work: read the input (and reference), then `classify_cells`."""
    from cellmodel import classify as cl

    adata, label_key, ref, ref_key = _inputs(args)
    store = None
    if args.view != "pca":
        from genekb.store.store import Store

        store = Store.open(args.root, create=True)
    result = cl.classify_cells(
        adata,
        label_key=label_key,
        train_fraction=args.train_fraction,
        per_class=args.per_class,
        train_mask=_labelled(adata, label_key) if args.train_on_labelled else args.train_mask,
        small_classes=args.small_classes,
        reference=ref,
        reference_label_key=label_key or ref_key,
        view=args.view,
        store=store,
        model=args.model,
        gene_vectors=args.gene_vectors,
        k=args.k,
        refine_view=args.refine,
        seed=args.seed,
        device=args.device,
        options=options,
        layer=args.layer,
        gene_key=args.gene_key,
        file_names=(str(args.source), str(args.reference)),
    )
    return adata, result, label_key


def _plot(adata: Any, result: Any, label_key: str, args: SimpleNamespace) -> list[str]:
    """The confusion matrix of the held-out cells, when --plots is given and labels exist."""
    if args.plots is None:
        return []
    # The checks refuse a missing column where the input's header says so; a run that predicts
    # only unlabelled cells (--train-on-labelled) has none to draw, and failed after its work,
    # its -o file unwritten.
    lacking = (
        "the input has no labels of its own to draw"
        if label_key not in adata.obs
        else "none of the predicted cells has a label to draw it with"
        if not result.n_scored
        else None
    )
    if lacking:
        warnings.warn(f"--plots: no confusion matrix drawn, {lacking}", GenekbWarning, stacklevel=2)
        return []
    from cellmodel import pl
    from cli.common import headless_plots

    args.plots.mkdir(parents=True, exist_ok=True)
    target = args.plots / PLOT_FILE
    if target.exists() and not args.force:
        raise GenekbError(f"{target} exists; pass --force to overwrite the plots")
    headless_plots()
    pl.confusion(adata, label_key, key="cellmodel_pred", held_out=True, save=target)
    return [str(target)]


def _report(adata: Any, result: Any, label_key: str | None, args: SimpleNamespace) -> None:
    """Plot, write the AnnData, then the JSON record or the scores on stderr."""
    figures = plots_then_output(
        lambda: _plot(adata, result, label_key, args),
        adata,
        args.output,  # type: ignore[arg-type]
    )
    doc = {
        # The result's own record, not uns's copy: an .h5ad keeps no None, so there a run that
        # scored nothing lacked "accuracy" and "scores", and the JSON's keys came and went.
        **plain_values(result.to_dict()),
        "gene_vectors": args.gene_vectors if args.view != "pca" else None,
        "plots": figures,
        "output": str(args.output) if args.output else None,
    }
    if args.json_:
        print_json(doc)
        return
    scores = result.scores
    if scores is not None:
        info(
            f"{'refined kNN' if args.refine else 'kNN'} ({args.view}): accuracy"
            f" {scores.accuracy:.3f}, macro-F1 {scores.macro_f1:.3f}"
            # a transfer's scored cells are the query's, none of them held out of training
            f" on {result.n_scored} {'query' if args.reference else 'held-out'} cells"
        )
    else:
        info(_unscored(int((~result.train_mask).sum()), label_key, args.output))
    for name, comp in result.comparisons.items():
        info(f"{name}: accuracy {comp.accuracy:.3f}, macro-F1 {comp.macro_f1:.3f}")


def _unscored(n_predicted: int, label_key: str | None, output: Path | None) -> str:
    """What a run that scored nothing says instead of its scores: none of the cells it
    predicted has a label to compare with."""
    labels = f"a label in --label-key {label_key!r}" if label_key else "a --label-key column"
    kept = f"written to {output}" if output is not None else "not kept: pass -o FILE"
    return (
        f"{n_predicted} cell(s) predicted, none scored: none of them has {labels};"
        f" the predictions are {kept}"
    )


def _classify_chunked(args: SimpleNamespace) -> None:
    """classify --chunk-size: a thin shell over `cellmodel.chunked.classify.classify_h5ad`."""
    from cellmodel import classify as cl
    from cellmodel.chunked.classify import classify_h5ad
    from cellmodel.chunked.h5 import obs_columns
    from genekb.store.store import Store

    a = args
    reference, label_key, output = a.reference, a.label_key, a.output
    if reference is None:
        raise UsageError("--chunk-size transfers labels from a --reference (an in-memory file)")
    if a.view != "semantic":
        raise UsageError("--chunk-size runs on the semantic view: add --view semantic")
    if a.layer is not None or a.gene_key is not None:
        raise UsageError(
            "--chunk-size reads obsm X_semantic_w, not the matrix: give --layer / --gene-key to"
            " `cellmodel embed --chunk-size` instead"
        )
    path = check_chunked(a.source, output, "predictions", a.orientation, a.sep)
    ref, ref_key = load_input(str(reference), a.root, role=REFERENCE)
    key = label_key or ref_key
    if key is None:
        raise UsageError("give --label-key (the reference's label column)")
    record = classify_h5ad(
        path,
        ref,
        output=output,  # type: ignore[arg-type]
        reference_label_key=key,
        # As in memory, the query's own labels (if it has them) only score the result.
        label_key=label_key if label_key in (obs_columns(path) or []) else None,
        store=Store.open(a.root, create=True),
        k=a.k,
        options=cl.with_options(vote=a.vote),
        chunk_size=a.chunk_size,
        dask_address=a.dask_address,
        workers=a.workers,
    )
    info(  # after the run: a refused input gets its one error line alone
        "chunked: the unrefined kNN on obsm X_semantic_w; the contrastive refinement and the"
        " marker block are not run out of core"
    )
    record = {**record, "output": str(output)}
    if a.json_:
        print_json(record)
        return
    scores = record["scores"]
    if scores is not None:
        info(
            f"kNN (semantic, chunked): accuracy {scores['accuracy']:.3f}, macro-F1"
            f" {scores['macro_f1']:.3f} on {record['params']['n_query']} cells"
        )
    else:
        info(_unscored(record["params"]["n_query"], label_key, output))
