"""The cell views the classifier refines: expression PCA (one file or two), fused views, and
the marker block built from the training labels."""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cellmodel._settings import DEFAULT_N_PCS
from cellmodel.classify.knn import as_matrix
from cellmodel.classify.labels import first_seen
from cellmodel.classify.options import MARKER_BLOCKS, MIN_DISTANCE
from cellmodel.io import expression
from cellmodel.knowledge.genes import detect_taxon
from cellmodel.knowledge.name_forms import name_form
from cellmodel.markers import group_stats, top_markers
from cellmodel.pp import graph
from cellmodel.value_kinds import COUNTS_TARGET_SUM
from genekb.errors import GenekbError, GenekbWarning, UsageError, warn
from genekb.genemap import name_key
from genekb.linalg import l2_normalize


def expression_pca(
    adata: Any,
    *,
    layer: str | None = None,
    gene_key: str | None = None,
    n_pcs: int = DEFAULT_N_PCS,
    seed: int = 0,
) -> np.ndarray:
    """PCA of the expression (log-normalize, highly variable genes, scale, PCA): the comparison's
    input and the plain structure view. Fitted on all cells; labels play no part."""
    expr = expression(adata, layer=layer, gene_key=gene_key)
    hvg = graph.hvg_columns(graph.highly_variable(expr.X), expr.genes)
    return graph.pca(graph.scale(expr.X[:, hvg]), n_pcs, seed)


def fused_view(*views: np.ndarray) -> np.ndarray:
    """Several views of the same cells side by side (e.g. the expression PCA and the semantic
    view), each centred over all cells and L2-normalized per cell, so each weighs alike in the
    cosine kNN whatever its dimension or scale. Label-free."""
    if not views:
        raise UsageError("fused_view needs at least one view")
    parts = [as_matrix(v, "a view to fuse") for v in views]
    if len({p.shape[0] for p in parts}) != 1:
        raise UsageError(f"views to fuse differ in cells: {[p.shape[0] for p in parts]}")
    centred = [p - p.mean(axis=0, keepdims=True) for p in parts]
    return np.hstack([l2_normalize(c, eps=MIN_DISTANCE) for c in centred])


# Fewer shared genes than this (where a file has more) leave a transfer on too few to trust.
MIN_SHARED_GENES = 50


class FewSharedGenesWarning(GenekbWarning):
    """The reference and the query share few of their gene names (`shared_expression`)."""


def shared_expression(
    reference: Any,
    query: Any,
    *,
    layer: str | None = None,
    gene_key: str | None = None,
    warn_few: bool = False,
    names: tuple[str, str] = ("the reference", "the query"),
) -> tuple[Any, Any, list[str]]:
    """Both files' log expression over the genes they share (matched by name, reference order).
    `warn_few`: say so when they share few (`FewSharedGenesWarning`); `names`: the two files'
    (reference first), which a refusal of either's matrix or genes starts with."""
    reads = {"layer": layer, "gene_key": gene_key}
    ref = _expression_of(reference, names[0], **reads)
    qry = _expression_of(query, names[1], **reads)
    if warn_few:  # said once, where the joint PCA reads them
        _warn_unlike_scales(ref, qry, names)
    ref_names, qry_names = _matching_names(ref.genes, qry.genes)
    shared = ref_names.intersection(qry_names, sort=False)
    case = _case_note(ref_names, qry_names, len(shared))
    if len(shared) < 2 and case:
        raise GenekbError(
            f"reference and query share {len(shared)} gene name(s) as written; {case}"
        )
    if len(shared) < 2:
        forms = name_form(list(ref.genes)), name_form(list(qry.genes))
        if forms[0] != forms[1]:  # gene_key= names one column in both: no choice of it helps
            raise GenekbError(
                f"reference and query share {len(shared)} gene name(s): the reference names its"
                f" genes by {forms[0]}, the query by {forms[1]}; give both the same kind of name"
                f" (add a var column of {forms[1]} to the reference, or of {forms[0]} to the"
                " query, under one name in both files, and pass it with gene_key=)"
            )
        raise GenekbError(
            f"reference and query share {len(shared)} gene name(s); check gene_key= on both"
        )
    sizes = sorted((len(ref.genes), len(qry.genes)))
    # Under half of the smaller file's names, or a few dozen genes, under half of the larger's.
    n = len(shared)
    few = n < sizes[0] / 2 or (n < MIN_SHARED_GENES and n < sizes[1] / 2)
    if warn_few and few:
        # Symbols against Ensembl ids, or two species, match a few names by chance: the
        # transfer would then rest on those few genes without a word.
        warn(
            f"the reference and the query share only {n} gene names (the reference"
            f" has {len(ref.genes)}, the query {len(qry.genes)}); the transfer rests on those:"
            " check that both name genes alike (gene_key= on both, one species)"
            + (f"; {case}" if case else ""),
            FewSharedGenesWarning,
        )
    ref_cols = ref_names.get_indexer(shared)
    qry_cols = qry_names.get_indexer(shared)
    return ref.X[:, ref_cols], qry.X[:, qry_cols], [str(ref.genes[c]) for c in ref_cols]


class ScaleMismatchWarning(GenekbWarning):
    """One file's counts (brought to 10,000 per cell) against another's values log-normalized to
    another total per cell: the transfer compares unlike values."""


def _warn_unlike_scales(ref: Any, qry: Any, names: tuple[str, str]) -> None:
    """Warn where one file holds counts and the other log-normalized values whose total per cell
    (the same in each cell: normalized over these genes) is far from the counts' 10,000."""
    if {ref.kind, qry.kind} != {"counts", "log"}:
        return
    logged, said = (ref, names) if ref.kind == "log" else (qry, names[::-1])
    X = logged.X.copy()
    if sp.issparse(X):
        X.data = np.expm1(X.data)
    else:
        X = np.expm1(X)
    totals = np.asarray(X.sum(axis=1), dtype=np.float64).ravel()
    totals = totals[totals > 0]
    target = float(np.median(totals)) if len(totals) else 0.0
    if not target or totals.std() > 0.05 * target or 0.5 <= target / COUNTS_TARGET_SUM <= 2:
        return
    warn(
        f"{said[0]} holds values log-normalized to about {target:,.0f} per cell, {said[1]}"
        f" counts, which are normalized to {COUNTS_TARGET_SUM:,.0f} per cell: the scales differ,"
        f" so the transfer compares unlike values; give both files as counts, or normalize"
        f" {said[0]} to {COUNTS_TARGET_SUM:,.0f} per cell",
        ScaleMismatchWarning,
    )


def _expression_of(adata: Any, name: str, **reads: Any) -> Any:
    """`expression(adata)`, a refusal of it saying which of two files it is about."""
    try:
        return expression(adata, **reads)
    except GenekbError as exc:
        exc.args = (f"{name}: {exc}", *exc.args[1:])  # the same kind, so the same exit code
        raise


def _case_note(ref: pd.Index, qry: pd.Index, n_shared: int) -> str | None:
    """Where the two files' gene names match far better ignoring case (CD3E, Cd3e), what that
    says: most often a human and a mouse file, whose genes a name match cannot pair."""
    folded = {str(g).casefold(): str(g) for g in ref}
    pairs = [(folded[str(g).casefold()], str(g)) for g in qry if str(g).casefold() in folded]
    if len(pairs) < max(2, 2 * n_shared):
        return None
    example = next(((r, q) for r, q in pairs if r != q), pairs[0])
    try:
        species = detect_taxon(list(ref)), detect_taxon(list(qry))
    except UsageError:  # no case says a species
        species = ("", "")
    read = (
        f"the reference's names read as {species[0]} genes, the query's as {species[1]}: label"
        " transfer pairs genes within one species, so map one file's genes to the other"
        " species' orthologs (Ensembl BioMart) and pass them as a var column with gene_key="
        if species[0] != species[1]
        else "write both files' gene names in one case, as their species does, or pass a var"
        " column of such names with gene_key="
    )
    return (
        f"{len(pairs)} match ignoring case, written {example[0]!r} in the reference and"
        f" {example[1]!r} in the query: {read}"
    )


def _matching_names(ref: Sequence[str], qry: Sequence[str]) -> tuple[pd.Index, pd.Index]:
    """Both files' gene names as they are matched: by `name_key` (a reference of versioned
    Ensembl ids and a query without versions shared no gene), unless that makes two of one
    file's names one; then as written."""
    keys = pd.Index([name_key(g) for g in ref]), pd.Index([name_key(g) for g in qry])
    if keys[0].is_unique and keys[1].is_unique:
        return keys
    return pd.Index(ref), pd.Index(qry)


@contextmanager
def said_of(name: str) -> Iterator[None]:
    """The project's warnings raised inside, each said once and naming the file they are about
    (`name`): the query's and the reference's gene match read alike, with no file named."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for category, message in dict.fromkeys((w.category, str(w.message)) for w in caught):
        said = f"{name}: {message}" if issubclass(category, GenekbWarning) else message
        warn(said, category)


class ReferenceCellsWarning(GenekbWarning):
    """Most query cells are reference cells (the same expression): each finds itself."""


def warn_reference_cells(
    reference: Any, query: Any, ref_pca: np.ndarray, query_pca: np.ndarray
) -> None:
    """Warn where at least half the query cells are reference cells, by name and row for row
    the same in the joint PCA: each is its own nearest neighbour and votes for its own label, so
    the transfer scores high whatever the view is worth. (The name, and a row no other
    reference cell shares, guard against cells alike by chance, such as cells without counts in
    the few genes two files share, where a cell is not its one nearest neighbour.)"""
    rows = (np.ascontiguousarray(ref_pca), np.ascontiguousarray(query_pca))
    ref_rows = [r.tobytes() for r in rows[0]]
    seen = Counter(ref_rows)
    names = [str(c) for c in reference.obs_names]
    known = {(c, r) for c, r in zip(names, ref_rows, strict=True) if seen[r] == 1}
    n = sum((str(c), r.tobytes()) in known for c, r in zip(query.obs_names, rows[1], strict=True))
    if n and 2 * n >= len(query_pca):
        warn(
            f"{n} of {len(query_pca)} query cells are cells of the reference (the same"
            " expression): each finds itself among its neighbours and votes for its own label,"
            " so the scores say little of new cells; to score within one labelled file, drop"
            " reference= and give train_fraction=",
            ReferenceCellsWarning,
        )


def joint_expression_pca(
    reference: Any,
    query: Any,
    *,
    layer: str | None = None,
    gene_key: str | None = None,
    n_pcs: int = DEFAULT_N_PCS,
    seed: int = 0,
    names: tuple[str, str] = ("the reference", "the query"),
) -> tuple[np.ndarray, np.ndarray]:
    """PCA fitted on the reference over the genes both files share, applied to both.

    Genes are matched by name; highly variable genes, scaling and components come from the
    reference alone, so the query is projected into the reference's space. `names`: as in
    `shared_expression`.
    """
    from sklearn.decomposition import PCA

    ref_X, qry_X, shared = shared_expression(
        reference, query, layer=layer, gene_key=gene_key, warn_few=True, names=names
    )
    hvg = graph.hvg_columns(graph.highly_variable(ref_X), shared)
    ref_dense = as_matrix(ref_X[:, hvg], "reference expression")
    qry_dense = as_matrix(qry_X[:, hvg], "query expression")
    mean = ref_dense.mean(axis=0, keepdims=True)
    std = ref_dense.std(axis=0, keepdims=True)
    std[std == 0] = 1.0
    clip = graph.SCALE_CLIP
    ref_scaled = np.clip((ref_dense - mean) / std, -clip, clip)
    qry_scaled = np.clip((qry_dense - mean) / std, -clip, clip)
    n_pcs = min(n_pcs, ref_scaled.shape[0] - 1, ref_scaled.shape[1])
    model = PCA(n_components=n_pcs, random_state=seed).fit(ref_scaled)
    return (
        model.transform(ref_scaled).astype(np.float32),
        model.transform(qry_scaled).astype(np.float32),
    )


def marker_block(
    expression: Any,
    labels: np.ndarray,
    train_mask: np.ndarray,
    n_per_class: int,
    kind: str = "scores",
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """The marker block of `marker_view` before its per-cell normalization (cells × classes for
    "scores"; cells × marker genes for "genes"), the training classes and each class's marker
    genes (column indices of `expression`, strongest first). The classes, the score columns and
    the marker lists follow the order in which the classes first occur among the training
    cells, not their names' order: the refinement's weights meet its inputs by position, so the
    same classes under other names were refined into another view."""
    import scipy.sparse as sp

    if kind not in MARKER_BLOCKS:
        raise UsageError(f"unknown marker block {kind!r}; choose one of {', '.join(MARKER_BLOCKS)}")
    classes, codes = first_seen(labels[train_mask])
    train_expr = expression[np.flatnonzero(train_mask)]
    stats = group_stats(train_expr, codes, len(classes))
    per_class = top_markers(stats, n_per_class)
    genes = np.unique(np.concatenate(per_class))
    block = expression[:, genes]
    block = block.toarray() if sp.issparse(block) else np.asarray(block)
    block = block.astype(np.float64)
    block = (block - block.mean(axis=0)) / np.maximum(block.std(axis=0), 1e-6)
    if kind == "genes":
        return block, classes, per_class
    effect = stats.effect_size()
    column = {g: i for i, g in enumerate(genes)}
    scores = np.zeros((len(block), len(per_class)))
    for c, p in enumerate(per_class):
        # A class with no gene above the rest (all-zero cells) keeps a score of 0.
        if p.size:
            weight = effect[c, p] ** 2
            scores[:, c] = block[:, [column[g] for g in p]] @ (weight / weight.sum())
    return scores, classes, per_class


def marker_view(
    X: np.ndarray,
    expression: Any,
    labels: np.ndarray,
    train_mask: np.ndarray,
    n_per_class: int,
    gene_names: Sequence[str] | None = None,
    kind: str = "scores",
) -> tuple[np.ndarray, dict[str, Any]]:
    """The view with a block of marker-gene expression appended, and a record of the markers.

    Markers are the `n_per_class` genes of each class with the largest effect size (mean
    difference over pooled SD, `cellmodel.markers`) against the other *training* cells; only
    training labels choose them. Each marker gene's log expression is standardized over all
    cells (label-free). `kind="scores"`: the block is one column per class, the cell's mean over
    that class's markers weighted by their squared effect size (a marker score, compact: the
    refinement's cost stays that of the view; the weights let the one gene that marks a class of
    a few cells, such as ghrelin, outweigh the 99 that one labelled cell's noise ranked next);
    `kind="genes"`: one column per marker gene (their union). View and block are each
    L2-normalized per cell (the view centred on the training cells first), so they weigh alike
    in the cosine kNN.
    Why: a 50-component PCA of the whole data keeps the axes of common types; a type of three
    cells (Baron's epsilon cells, marked by ghrelin) has no axis of its own there, but its
    markers, found from even one labelled cell, separate it.
    """
    if expression.shape[0] != X.shape[0]:
        raise UsageError(f"the expression has {expression.shape[0]} cells but X has {X.shape[0]}")
    block, classes, per_class = marker_block(expression, labels, train_mask, n_per_class, kind)
    genes = np.unique(np.concatenate(per_class))
    centred = X - X[train_mask].mean(axis=0, keepdims=True)
    view = np.hstack(
        [
            l2_normalize(centred, eps=MIN_DISTANCE),
            l2_normalize(block.astype(np.float32), eps=MIN_DISTANCE),
        ]
    )
    names = np.asarray(gene_names, dtype=object) if gene_names is not None else None
    record = {
        "n_per_class": n_per_class,
        "block": kind,
        "n_genes": len(genes),
        # A row per class and gene, not a dict keyed by class ("/" in a name nests in an
        # .h5ad); `genes_by_class` gives the dict back.
        "top": {
            "class": [str(c) for i, c in enumerate(classes) for _ in per_class[i][:10]],
            "gene": [
                str(names[g]) if names is not None else int(g)
                for i in range(len(classes))
                for g in per_class[i][:10]
            ],
        },
    }
    return view.astype(np.float32), record
