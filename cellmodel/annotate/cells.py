"""Per-cell calls: each cell scored on the genes that carried its groups' calls.

A group's call rests on a few genes: the markers whose cards match the called label (text), the
genes the label's own text names (mentions), the markers among the label's GO process genes
(processes) and the markers the marker table lists for it (markerdb), as far as the method uses
each channel. Those genes are the call's *signature* (`signature_columns`). Every cell is scored
on each called label's signature with the module score of Tirosh et al. 2016 (Science 352:189;
scanpy's `score_genes` follows the same recipe): the mean expression of the signature minus that
of control genes drawn from the same bins of mean expression. A cell's call is the label with
the highest score; a cell without counts is left unassigned, and a cell whose group's call
has no signature keeps that call, unscored.

So the per-cell calls choose among the labels the groups were given: they show the cells whose
own expression fits another group's call better than their group's (a mixed or misplaced
cluster), not types no group was named after. No threshold is applied; the winning score is
kept beside the call.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cellmodel.annotate.ontology import UNASSIGNED

CONTROL_GENES = 50  # per signature gene, as in scanpy's score_genes
EXPRESSION_BINS = 25


def signature_columns(
    channels: tuple[str, ...],
    *,
    text: list[int],
    named: list[int],
    marker_cols: np.ndarray,
    in_processes: np.ndarray,
    in_table: np.ndarray,
) -> list[int]:
    """Data columns (indices among the matched genes) that carried one group's call: `text`
    (evidence markers), `named` (genes the label names), and the group's markers flagged as
    process genes or marker-table genes of the label; only the method's channels count."""
    cols: list[int] = []
    if "text" in channels:
        cols += [int(c) for c in text]
    if "mentions" in channels:
        cols += [int(c) for c in named]
    if "processes" in channels:
        cols += [int(c) for c in marker_cols[in_processes]]
    if "markerdb" in channels:
        cols += [int(c) for c in marker_cols[in_table]]
    return list(dict.fromkeys(cols))


def _expression_bins(X: Any) -> tuple[np.ndarray, np.ndarray]:
    """Each gene's bin of mean expression (`EXPRESSION_BINS` bins of equal gene count; -1 for a
    gene no cell expresses), and the expressed genes from the least to the most expressed. Both
    read the genes by their expression, not by their place or count in the file: a file's gene
    order, or its unexpressed genes filtered out or kept, had drawn other control genes."""
    means = np.asarray(X.mean(axis=0)).ravel()
    order = np.argsort(means, kind="stable")
    order = order[means[order] > 0]
    bin_of = np.full(len(means), -1, dtype=int)
    bin_of[order] = np.arange(len(order)) * EXPRESSION_BINS // max(len(order), 1)
    return bin_of, order


def _module_score(
    X: Any, cols: np.ndarray, bins: tuple[np.ndarray, np.ndarray], seed: int
) -> np.ndarray:
    """Mean of the signature columns `cols` minus the mean of control genes: for each signature
    gene, `CONTROL_GENES` genes drawn from its expression bin (the whole pool where the bin holds
    no other gene; `bins`: `_expression_bins`). Written here rather than calling scanpy's
    `score_genes`, which fails on a file with too few genes to fill its bins and reseeds numpy's
    global generator."""
    bin_of, order = bins
    rng = np.random.default_rng(seed)
    pool = order[~np.isin(order, cols)]  # drawn from in order of expression
    controls: set[int] = set()
    for c in cols:
        same = pool[bin_of[pool] == bin_of[c]]
        same = same if len(same) else pool
        controls.update(rng.choice(same, min(CONTROL_GENES, len(same)), replace=False).tolist())
    signature = np.asarray(X[:, cols].mean(axis=1)).ravel()
    if not controls:
        return signature
    return signature - np.asarray(X[:, sorted(controls)].mean(axis=1)).ravel()


def call_cells(
    X: Any, genes: list[str], report: dict[str, Any], codes: Any, seed: int = 0
) -> tuple[pd.Categorical, np.ndarray, dict[str, Any]]:
    """Per-cell calls from log-scale `X` (cells × `genes`) and the groups' signatures in
    `report`; `codes`: each cell's group. Returns the calls, each call's score and a summary."""
    signatures: dict[str, list[str]] = {}
    for entry in report["groups"]:
        if entry["label"] is not None:
            signatures.setdefault(entry["label"], [])
            signatures[entry["label"]] += entry["signature_data_names"]
    signatures = {k: list(dict.fromkeys(v)) for k, v in signatures.items() if v}
    column = {str(g): i for i, g in reversed(list(enumerate(genes)))}  # first of a repeated name
    bins = _expression_bins(X)
    labels = list(signatures)
    scores = np.full((X.shape[0], len(labels)), -np.inf)
    for j, label in enumerate(labels):
        cols = np.array(sorted({column[g] for g in signatures[label] if g in column}), dtype=int)
        if len(cols):
            scores[:, j] = _module_score(X, cols, bins, seed)
    group_label = np.array([e["label"] or UNASSIGNED for e in report["groups"]], dtype=object)
    inherited = group_label[np.asarray(codes)]
    if labels:
        best = scores.argmax(axis=1)
        top = scores.max(axis=1)
        scored = np.isfinite(top)
        calls = np.where(scored, np.array(labels, dtype=object)[best], inherited)
        best_score = np.where(scored, top, np.nan)
    else:  # no call has a signature: every cell keeps its group's call
        calls, best_score = inherited, np.full(len(codes), np.nan)
    # A named group whose call has no signature (no channel of the method left genes for it):
    # its cells cannot score their own call, so the best of the others always won and every
    # one of them was renamed. They keep their group's call, unscored.
    unsigned = [e["label"] for e in report["groups"] if e["label"] and e["label"] not in labels]
    keep = np.isin(inherited, unsigned)
    calls = np.where(keep, inherited, calls)
    best_score = np.where(keep, np.nan, best_score)
    # A cell without counts scores 0 on every signature, and the tie went to the first label
    empty = np.asarray(X.sum(axis=1)).ravel() == 0
    calls = np.where(empty, UNASSIGNED, calls)
    best_score = np.where(empty, np.nan, best_score)
    differ = calls != inherited
    summary = {
        "method": "module score (Tirosh et al. 2016) on the genes that carried each call",
        "signatures": signatures,
        "n_cells_differing_from_group": int(differ.sum()),
        "calls_without_signature": sorted(set(unsigned)),  # their cells keep the group's call
        "share_differing_from_group": round(float(differ.mean()), 4) if len(codes) else 0.0,
    }
    categories = list(dict.fromkeys([*labels, *group_label, UNASSIGNED]))
    out = pd.Categorical(calls, categories=categories).remove_unused_categories()
    return out, best_score, summary
