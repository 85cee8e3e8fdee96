"""`classify_cells(adata, ...)`: the whole classification job on AnnData, as `cellmodel classify`
runs it: the cell view, the split or the reference, the marker inputs, the fit, and the results
written into `adata` scanpy-style."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from cellmodel._settings import (
    PREDICTION_KEY,
    UNS_KEY,
)
from cellmodel.arguments import (
    LABELS_FROM_FILE,
    check_column_name,
    check_count,
    check_obs_column,
    check_seed,
    class_order,
    warn_unlabelled,
)
from cellmodel.classify.core import classify, transfer
from cellmodel.classify.labels import (
    UnseenClassesWarning as UnseenClassesWarning,  # re-exported: its home was here
)
from cellmodel.classify.labels import (
    aligned_mask,
    check_reference_labels,
    label_array,
    lookalike_classes,
    split,
    warn_unseen,
)
from cellmodel.classify.options import DEFAULT_K, ClassifyOptions, SmallClasses
from cellmodel.classify.results import ClassifyResult
from cellmodel.classify.views import (
    expression_pca,
    fused_view,
    joint_expression_pca,
    said_of,
    shared_expression,
    warn_reference_cells,
)
from cellmodel.classify.writing import annotate as annotate  # re-exported: its home was here
from cellmodel.classify.writing import refuse_overwriting_inputs
from cellmodel.embed import embed, fitted_genes
from cellmodel.io import expression, require_anndata, require_cells_named_once
from genekb.device import resolve_device
from genekb.errors import GenekbError, GenekbWarning, UsageError, listed, warn
from genekb.store.store import Store

VIEWS = ("pca", "semantic", "fused")
SEMANTIC_KEY = "X_semantic"


def check_view(view: str, gene_vectors: str = "real") -> None:
    """A usage error for an unknown view, or for control gene vectors on a view without them."""
    if view not in VIEWS:
        raise UsageError(f"unknown view {view!r}; choose pca, semantic or fused")
    if gene_vectors != "real" and view == "pca":
        raise UsageError(
            "gene_vectors changes the semantic view only; use view='semantic' (or 'fused')"
        )


def semantic_view(
    adata: Any,
    store: Store | None = None,
    *,
    model: str = "minilm",
    gene_vectors: str = "real",
    seed: int = 0,
    layer: str | None = None,
    gene_key: str | None = None,
    reference_genes: Any = None,
) -> np.ndarray:
    """The semantic view of each cell: computed by `cellmodel.embed.embed` against `store` (which
    also writes it to obsm; `reference_genes`: another file's genes, for its space), or, without
    a store, the `obsm["X_semantic"]` already there."""
    if store is None:
        if SEMANTIC_KEY in adata.obsm:
            return np.asarray(adata.obsm[SEMANTIC_KEY])
        raise UsageError(
            f"the semantic view needs a genekb store (store=...) or an obsm[{SEMANTIC_KEY!r}]"
        )

    embed(
        adata, store, model=model, gene_vectors=gene_vectors, seed=seed, layer=layer,
        gene_key=gene_key, reference_genes=reference_genes,
    )  # fmt: skip
    return np.asarray(adata.obsm[SEMANTIC_KEY])


def cell_view(
    adata: Any,
    view: str = "pca",
    *,
    pca: np.ndarray | None = None,
    store: Store | None = None,
    model: str = "minilm",
    gene_vectors: str = "real",
    seed: int = 0,
    layer: str | None = None,
    gene_key: str | None = None,
    reference_genes: Any = None,
) -> np.ndarray:
    """The cells × d matrix the classifier refines: "pca" (the expression PCA, `expression_pca`
    unless `pca` is given), "semantic" (`semantic_view`) or "fused" (both, `fused_view`);
    `layer` and `gene_key` say which matrix and gene names are read (`cellmodel.io.expression`)."""
    check_view(view, gene_vectors)
    reads = {"layer": layer, "gene_key": gene_key}
    pca = expression_pca(adata, seed=seed, **reads) if pca is None else pca
    if view == "pca":
        return pca
    semantic = semantic_view(
        adata, store, model=model, gene_vectors=gene_vectors, seed=seed,
        reference_genes=reference_genes, **reads,
    )  # fmt: skip
    return semantic if view == "semantic" else fused_view(pca, semantic)


def marker_inputs(
    adata: Any, n_markers: int, *, layer: str | None = None, gene_key: str | None = None
) -> dict[str, Any]:
    """The keywords `classify` builds its marker block from: the log expression and the gene
    names (none when `n_markers` is 0)."""
    if n_markers == 0:
        return {}

    expr = expression(adata, layer=layer, gene_key=gene_key)
    return {"expression": expr.X, "gene_names": expr.genes}


def shared_marker_inputs(
    reference: Any,
    query: Any,
    n_markers: int,
    *,
    layer: str | None = None,
    gene_key: str | None = None,
) -> dict[str, Any]:
    """The keywords `transfer` builds its marker block from: both files' log expression over
    their shared genes (none when `n_markers` is 0)."""
    if n_markers == 0:
        return {}
    ref_X, query_X, genes = shared_expression(reference, query, layer=layer, gene_key=gene_key)
    return {"ref_expression": ref_X, "query_expression": query_X, "gene_names": genes}


def classify_cells(
    adata: Any,
    *,
    label_key: str | None = None,
    train_fraction: float | None = None,
    per_class: int | None = None,
    train_mask: str | Sequence[bool] | np.ndarray | None = None,
    small_classes: SmallClasses = "error",
    reference: Any = None,
    reference_label_key: str | None = None,
    view: str = "pca",
    store: Store | None = None,
    model: str = "minilm",
    gene_vectors: str = "real",
    k: int = DEFAULT_K,
    refine_view: bool = True,
    seed: int = 0,
    device: str = "cpu",
    epochs: int | None = None,
    options: ClassifyOptions | None = None,
    key_added: str = PREDICTION_KEY,
    layer: str | None = None,
    gene_key: str | None = None,
    file_names: tuple[str, str] = ("the query", "the reference"),
) -> ClassifyResult:
    """Classify the cells of `adata` from few labels and write the result into it.

    Within one file (no `reference`): `obs[label_key]` holds the labels; a stratified split
    (`train_fraction` or `per_class`, see `split`) or `train_mask` (an obs column or a boolean
    array) picks the training cells, the rest are classified and scored. With `reference` (an
    AnnData): every cell labelled in `reference.obs[reference_label_key]` (default: `label_key`)
    trains and each cell of `adata` is predicted (`transfer`); `obs[label_key]`, if given and
    present, only scores. The view (`cell_view`) is built the same way for both files: the
    expression PCA is fitted on the reference over the shared genes (`joint_expression_pca`) and
    a fused view spans the cells of both files, so both are centred alike. The marker block
    (`options.n_markers` genes per class) comes from the training labels.
    Writes `obs[key_added]` (categorical), `obs[key_added + "_confidence"]`,
    `obs[key_added + "_train"]`, `obsm["X_classify"]` and `uns["cellmodel_classify"]`
    (another key_added's: `obsm["X_" + key_added]`, `uns[key_added]`; `annotate`); returns the
    result. `layer` and `gene_key` say which matrix and gene names
    are read, in both files (`cellmodel.io.expression`); warnings name them by `file_names`.
    """
    _check_inputs(adata, reference, label_key, reference_label_key, seed, k)
    refuse_overwriting_inputs(adata, key_added, label_key, train_mask)
    check_view(view, gene_vectors)
    resolve_device(device)  # before any work, and refused even where no refinement uses it
    opts = options or ClassifyOptions()
    opts.check()
    reads = {"layer": layer, "gene_key": gene_key}
    view_args = {"store": store, "model": model, "gene_vectors": gene_vectors, "seed": seed}
    view_args |= reads
    fit_args = {"k": k, "refine_view": refine_view, "seed": seed, "device": device}
    fit_args |= {"epochs": epochs, "options": opts}
    if reference is not None:
        _refuse_split_with_reference(train_fraction, per_class, train_mask)
        ref_key = reference_label_key or label_key
        _check_reference_key(reference, reference_label_key, label_key)
        _warn_of_labels(reference.obs, ref_key, "the reference's training cells")
        run = (ref_key, label_key, view, view_args, fit_args, file_names)
        result = _transfer_cells(adata, reference, *run)
    else:
        mask = _training_mask(
            adata, label_key, train_fraction, per_class, train_mask, small_classes, seed
        )
        _warn_of_labels(adata.obs, label_key, "the training and the scores")
        pca = expression_pca(adata, seed=seed, **reads)
        result = classify(
            cell_view(adata, view, pca=pca, **view_args),
            adata.obs[label_key],
            mask,
            pca=pca,
            **fit_args,
            **marker_inputs(adata, opts.n_markers, **reads),
        )
    labels = reference.obs[ref_key] if reference is not None else adata.obs[label_key]
    annotate(adata, result, key=key_added, classes=class_order(labels))
    warn_unseen(result.notes)
    return result


def _check_inputs(
    adata: Any, reference: Any, label_key: Any, reference_label_key: Any, seed: int, k: int
) -> None:
    """`classify_cells`' arguments checked before any work: the AnnData, the column names (not
    the labels themselves), the seed and k."""
    require_anndata(adata)
    require_cells_named_once(adata)  # as cluster, embed and annotate refuse them
    if reference is not None:
        require_anndata(reference, "reference")
        require_cells_named_once(reference, "reference")
    check_seed(seed)
    check_count(k, "k")  # scikit-learn's own error for k=2.5; True was read as k=1
    check_column_name(label_key, "label_key")
    check_column_name(reference_label_key, "reference_label_key")


def _check_reference_key(reference: Any, reference_label_key: Any, label_key: Any) -> None:
    """The reference's label column, named by the parameter the caller gave: label_key='typo'
    was refused as "reference_label_key='typo'", and neither given as "=None is not a column"."""
    if reference_label_key is None and label_key is None:
        raise UsageError(
            "give label_key= (or reference_label_key=): the reference's obs column of labels;"
            f" it has {listed(map(repr, reference.obs.columns)) or 'none'}"
        )
    named = "reference_label_key" if reference_label_key is not None else "label_key"
    check_obs_column(reference.obs, reference_label_key or label_key, named, " of the reference")


def _warn_of_labels(obs: pd.DataFrame, key: str | None, doing: str) -> None:
    """Warn of cells labelled as unlabelled ("NA"), left out of `doing`, and of classes whose
    names differ only in case or spaces (`lookalike_classes`)."""
    if key is None or key not in obs:
        return
    warn_unlabelled(obs[key], key, doing)
    found = lookalike_classes(label_array(obs[key]))
    if found:
        shown = ", ".join(repr(n) for n in found[0])
        more = f" (and {len(found) - 1} more such group(s))" if len(found) > 1 else ""
        warn(
            f"the labels {shown} of obs[{key!r}] differ only in case or spaces{more}, so they"
            " are trained and scored as different classes; write them alike if they are one",
            LookalikeClassesWarning,
        )


class LookalikeClassesWarning(GenekbWarning):
    """Classes whose names differ only in case or spaces: likely one cell type typed twice."""


def _transfer_cells(
    adata: Any,
    reference: Any,
    ref_key: str | None,
    label_key: str | None,
    view: str,
    view_args: dict[str, Any],
    fit_args: dict[str, Any],
    file_names: tuple[str, str],
) -> ClassifyResult:
    """`classify_cells` with a reference: both files' views built alike, then `transfer`."""
    check_obs_column(reference.obs, ref_key, "reference_label_key", " of the reference")
    who = tuple(
        role if name == role else f"{role} {name}"
        for role, name in zip(("the reference", "the query"), file_names[::-1], strict=True)
    )
    if not reference.n_obs:  # "its label column holds no labels" would send one astray
        raise GenekbError(f"{who[0]} holds no cells; give a reference of labelled cells")
    check_reference_labels(label_array(reference.obs[ref_key]), ref_key)  # before the PCA
    if label_key is not None and label_key in adata.obs:  # the query's labels, to score
        warn_unlabelled(adata.obs[label_key], label_key, "the scores")
    reads = {"layer": view_args["layer"], "gene_key": view_args["gene_key"]}
    seed = view_args["seed"]
    ref_pca, query_pca = joint_expression_pca(reference, adata, seed=seed, names=who, **reads)
    warn_reference_cells(reference, adata, ref_pca, query_pca)
    if view == "pca":
        ref_X, query_X = ref_pca, query_pca
    else:
        # The reference in the query's space: each file's own variable genes would fit each
        # its own post-processing of the gene vectors (`embed`'s `reference_genes`).
        with said_of(file_names[0]):
            query_X = cell_view(adata, "semantic", pca=query_pca, **view_args)
        recorded = fitted_genes(adata.uns.get(UNS_KEY)).get("gene_ids")
        genes = recorded if view_args.get("store") is not None else None
        with said_of(file_names[1]):
            ref_X = cell_view(
                reference, "semantic", pca=ref_pca, reference_genes=genes, **view_args
            )
        if view == "fused":
            # One fused view over the cells of both files, so both are centred alike.
            both = fused_view(np.vstack([ref_pca, query_pca]), np.vstack([ref_X, query_X]))
            ref_X, query_X = both[: len(ref_pca)], both[len(ref_pca) :]
    return transfer(
        ref_X,
        reference.obs[ref_key],
        query_X,
        query_labels=adata.obs.get(label_key) if label_key else None,
        ref_pca=ref_pca,
        query_pca=query_pca,
        **fit_args,
        **shared_marker_inputs(reference, adata, fit_args["options"].n_markers, **reads),
    )


def _training_mask(
    adata: Any,
    label_key: str | None,
    train_fraction: float | None,
    per_class: int | None,
    train_mask: str | Sequence[bool] | np.ndarray | None,
    small_classes: SmallClasses,
    seed: int,
) -> np.ndarray:
    """`classify_cells` within one file: the labels' column checked, the training cells drawn."""
    if label_key is None:
        raise UsageError("give label_key (the obs column of labels to train on and score)")
    check_obs_column(adata.obs, label_key, "label_key", other=LABELS_FROM_FILE)
    if isinstance(train_mask, str):
        check_obs_column(adata.obs, train_mask, "train_mask")
        train_mask = adata.obs[train_mask]
    return split(
        adata.obs[label_key],
        train_fraction=train_fraction,
        per_class=per_class,
        train_mask=aligned_mask(train_mask, adata.obs_names),
        seed=seed,
        small_classes=small_classes,
    )


def _refuse_split_with_reference(
    train_fraction: float | None, per_class: int | None, train_mask: Any
) -> None:
    """With a reference every reference cell trains: a split of the query would be ignored."""
    splits = {"train_fraction": train_fraction, "per_class": per_class, "train_mask": train_mask}
    given = next((name for name, value in splits.items() if value is not None), None)
    if given is not None:
        raise UsageError(
            f"{given}= splits one labelled file; with a reference every reference cell trains"
            " and every query cell is predicted, so drop one of the two"
        )
