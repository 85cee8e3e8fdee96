"""`cellmodel classify`'s checks before any data is read: outputs in the way, options that do
not go together or that the run's mode would drop, named columns and store versions."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from cellmodel.arguments import LABELS_FROM_FILE
from cli.cellmodel_args import (
    check_dask_options,
    check_distinct,
    check_obs_keys,
    check_output,
    check_store_model,
    refuse_replacing_input,
    refuse_unused,
)
from genekb.errors import UsageError
from genekb.input_streams import input_kind
from genekb.output_paths import check_output_dir

PLOT_FILE = "classify_confusion.png"  # what --plots writes
REFERENCE = "--reference file"  # how a refusal names it ("input" was the query's word)


def check(args: SimpleNamespace) -> None:
    """Outputs in the way, options that do not go together, named columns and store versions:
    before any data is read."""
    check_distinct({"--output": args.output, "--plots": args.plots})
    refuse_replacing_input(args.output, "--output", args.reference, "the --reference file")
    check_output(args.output, args.force)
    if args.plots is not None:
        check_output_dir(args.plots, force=args.force, flag="--plots", files=(PLOT_FILE,))
        _check_plots(args)
    check_dask_options(args.chunk_size, args.dask_address, args.workers)
    _refuse_unused(args)
    if args.labels is not None and args.reference is not None:
        raise UsageError(
            "--labels gives the input's own labels; with --reference the labels to train on are"
            " the reference's obs column (--label-key): drop one of the two"
        )
    if args.labels is not None:
        input_kind(args.labels, "--labels file")  # missing or a folder: before the data is read
    if args.reference is None:
        label_key = args.label_key if args.labels is None else None  # --labels makes the column
        keys = {"label_key": label_key, "train_mask": args.train_mask}
        check_obs_keys(args.source, keys, other={"label_key": LABELS_FROM_FILE})
    else:
        check_obs_keys(args.reference, {"label_key": args.label_key}, " of the reference")
    if args.view != "pca" and args.chunk_size is None:
        check_store_model(args.root, args.model)


def _refuse_unused(args: SimpleNamespace) -> None:
    """Options set that this run's mode would drop without a word (`refuse_unused`)."""
    a = args
    if a.chunk_size is not None:  # the unrefined kNN against a --reference, nothing else
        dropped = {
            "--train-fraction": a.train_fraction is not None,
            "--per-class": a.per_class is not None,
            "--train-mask": a.train_mask is not None,
            "--train-on-labelled": a.train_on_labelled,
            "--small-classes": a.small_classes != "error",
            "--markers": a.markers != 100,
            "--marker-block": a.marker_block != "scores",
            "--blend": a.blend != 0.5,
            "--seed": a.seed != 0,
            "--device": a.device != "cpu",
            "--model": a.model != "minilm",  # the query's recorded model embeds the reference
            "--gene-vectors": a.gene_vectors != "real",
            "--plots": a.plots is not None,
        }
        refuse_unused(dropped, "the in-memory run", "--chunk-size leaves out", "--chunk-size")
    if a.view == "pca":
        refuse_unused(
            {"--model": a.model != "minilm"},
            "the semantic view",
            "--view pca leaves out",
            "give --view semantic (or fused)",
        )
    if not a.refine:
        refined = {"--blend": a.blend != 0.5}  # a device is checked, not refused (hostile_cm7)
        refuse_unused(refined, "the contrastive refinement", "--no-refine turns off", "--no-refine")
    if a.markers == 0:
        block = {"--marker-block": a.marker_block != "scores"}
        refuse_unused(block, "the marker block", "--markers 0 turns off", "--markers")
    if a.train_on_labelled:  # a split of its own
        splits = {"--train-fraction": a.train_fraction is not None}
        splits |= {"--per-class": a.per_class is not None, "--train-mask": a.train_mask is not None}
        splits |= {
            "--small-classes": a.small_classes != "error",
            "--reference": a.reference is not None,
        }
        chosen = "choosing the training cells", "--train-on-labelled does by itself"
        refuse_unused(splits, *chosen, "--train-on-labelled")
        if a.output is None:  # it scores nothing: the predictions are all the run makes
            raise UsageError(
                "--train-on-labelled predicts the cells without a label and scores none: give"
                " -o OUT.h5ad to keep the predictions"
            )
    if a.reference is not None:
        split = {"--small-classes": a.small_classes != "error"}
        refuse_unused(split, "splitting one file's labels", "--reference replaces", "--reference")


def _check_plots(args: SimpleNamespace) -> None:
    """--plots draws the query's own labels against the predictions: beside a --reference, a
    query file without --label-key has none, and --plots would draw nothing without a word."""
    source = Path(args.source)
    if args.reference is not None and args.label_key is None and source.is_file():
        raise UsageError(
            "--plots draws the confusion matrix of the query's own labels; name their column"
            " with --label-key, or drop --plots"
        )
    if args.reference is not None:  # the query's labels only score, so may be absent: not here
        check_obs_keys(
            source, {"label_key": args.label_key}, " of the input, whose labels --plots draws"
        )
