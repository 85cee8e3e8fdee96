"""Naming over the whole Cell Ontology, scored on the design set of docs/annotate_ontology.md.

Each file's true groups (its reference labels; groups under `MIN_CELLS` cells and unlabelled cells
dropped, a rule fixed with the split) are scored once per gene-vector setting: every channel over
every CL cell type (`channels.score_channels`), then each ranking called two ways, flat (its best
candidate) and lineage-first (`lineage.Walker`). A call is graded exact, partial (an is_a ancestor
or descendant that is not a generic term) or wrong, and a wrong call in another lineage is counted
apart (`kinds.grade`, `kinds.crosses_lineage`). Labels only score.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from cellmodel import datasets
from cellmodel.annotate import fusion, infer, kinds, lineage
from cellmodel.annotate.channels import score_channels
from cellmodel.annotate.evaluate import cell_truth, group_truth, load_label_map
from cellmodel.annotate.inputs import groups_of
from cellmodel.annotate.params import setup
from cellmodel.arguments import unlabelled
from cellmodel.io import expression
from cellmodel.markers import group_sums
from genekb.store.store import Store

# name -> (label column, CL id column or None: labels mapped through the label map)
DESIGN: dict[str, tuple[str, str | None]] = {
    "pbmc68k-reduced": ("bulk_labels", None),
    "wu2020-200": ("cluster_orig", None),
    "baron-human": ("cell_type1", "cell_ontology_id"),
    "baron-mouse": ("cell_type1", "cell_ontology_id"),
    "cellhint-pancreas": ("cell_type", "cell_type_ontology_term_id"),
    "tirosh2016-184": ("cell_type", None),
    "tabula-sapiens-lung-1000": ("cell_ontology_class", "cell_type_ontology_term_id"),
    "swanson2021-teaseq-5048": ("cell_type", None),
    "travaglini2020-lung-1000": ("cell_ontology_type", "cell_ontology_id"),
    "paul2015-2660": ("celltype", None),
    "wang2018-starmap-3704": ("Clusters", None),
    "decoupler-pbmc-160": ("cell_type", None),
    "pollen2014-301": ("celltype", None),
}
HELD_OUT = (
    "swanson2021-teaseq-5048",
    "travaglini2020-lung-1000",
    "paul2015-2660",
    "wang2018-starmap-3704",
    "decoupler-pbmc-160",
)
# The second round's held-out file, scored once then and seen since (the third round read its
# calls); the files above it were scored by the first round and are development ("seen") since.
SEEN_ROUND2 = ("decoupler-pbmc-160",)
# A round's new held-out files, scored once the method is frozen (none could be had offline for
# the third round: docs/annotate_ontology.md).
NEW_HELD_OUT: tuple[str, ...] = ("pollen2014-301",)  # the sixth round's, fixed 2026-11-28
MIN_CELLS = 10
# The rankings scored, and how the tables name them.
RANKINGS = {"combined": "default", "knowledge": "knowledge alone", "markerdb": "marker table alone"}
GRADES = ("exact", "partial", "wrong")
Signatures = list[dict[str, float]]  # per group: kind (and named gene) -> signature score


def load_groups(name: str, cache_dir: Path, label_map: Path) -> tuple[Any, str, dict[str, str]]:
    """A design-set file with its labelled cells in groups of at least `MIN_CELLS`: the AnnData,
    its label column and each group's truth (majority CL id)."""
    label_key, cl_key = DESIGN[name]
    adata = datasets.load(name, cache_dir=cache_dir)
    labels = adata.obs[label_key].astype(str)
    keep = ~unlabelled(adata.obs[label_key])
    sizes = labels[keep].value_counts()
    keep &= labels.isin(sizes.index[sizes >= MIN_CELLS]).to_numpy()
    adata = adata[keep].copy()
    if cl_key:
        truth_cells = adata.obs[cl_key].astype(str)
    else:
        truth_cells = cell_truth(adata, label_key, load_label_map(label_map, name))
    adata.obs[label_key] = adata.obs[label_key].astype(str).astype("category")
    return adata, label_key, group_truth(adata.obs[label_key], truth_cells)


def scored_matrices(
    adata: Any, label_key: str, store: Store, **settings: Any
) -> tuple[dict[str, np.ndarray], list[str | None], list[str], float, Signatures, str]:
    """Every ranking over the whole ontology (groups × CL terms), the terms' CL ids, the group
    names, the seconds it took, each group's lineage signature scores and the species read."""
    began = time.perf_counter()
    sc, params, cands, groups = score_file(adata, label_key, store, **settings)
    matrices, _ = fusion.rankings(sc.channel, params.method)
    names = [str(c) for c in groups.categories]
    seconds = time.perf_counter() - began
    return matrices, [c.cl_id for c in cands.terms], names, seconds, sc.signature, sc.taxon


def score_file(
    adata: Any, label_key: str, store: Store, candidates: Any = None, **settings: Any
) -> tuple[Any, Any, Any, Any]:
    """Every channel of `annotate` over `candidates` (a user's list; None: the whole ontology)
    for the groups of `obs[label_key]`, building missing gene vectors: the scored channels
    (`channels.Scored`), the run's settings, its candidates and the groups."""
    key, groups = groups_of(adata, label_key)
    params, cands = setup(key, candidates, None, None, **settings)
    expr = expression(adata)
    sums = group_sums(expr.X, np.asarray(groups.codes), len(groups.categories))
    sc = score_channels(
        expr.genes, sums, len(groups.categories), store, params, cands,
        gene_totals=expr.X, taxon=None, build_missing=True, load_encoder=None,
    )  # fmt: skip
    return sc, params, cands, groups


def calls_of(
    matrix: np.ndarray,
    cl_ids: list[str | None],
    walk: bool,
    signature: Signatures | None = None,
    taxon: str | None = None,
    table: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """Each group's call from one ranking: flat (best candidate) or lineage-first, as `annotate`
    walks (with the lineage signatures where given, the tissue inferred from the ranking and
    the terms out of place for the file's species and tissue)."""
    if walk:
        cands = [SimpleNamespace(cl_id=c) for c in cl_ids]
        found = infer.tissue(matrix, cl_ids)
        terms, elsewhere = infer.tissue_terms(found), infer.elsewhere_terms(found)
        left_out = infer.out_of_place_terms(taxon, found)
        walks = (
            lineage.walk_calls(
                matrix, cands, "on", False, signature, terms, elsewhere, left_out, table
            )
            or []
        )
        return [w.to_dict() for w in walks]
    out = []
    for row in matrix:
        filled = np.where(np.isfinite(row), row, -np.inf)
        out.append({"cl_id": cl_ids[int(np.argmax(filled))]})
    return out


def grade_calls(calls: list[dict[str, Any]], names: list[str], truth: dict[str, str]) -> dict:
    """Counts of exact / partial / wrong calls and of wrong-lineage calls, with each call."""
    tally = dict.fromkeys((*GRADES, "wrong_lineage", "abstained"), 0)
    per_group = {}
    for name, call in zip(names, calls, strict=True):
        want = truth[name]
        g = kinds.grade(call["cl_id"], want)
        tally[g] += 1
        tally["wrong_lineage"] += g == "wrong" and kinds.crosses_lineage(call["cl_id"], want)
        tally["abstained"] += bool(call.get("abstained"))
        per_group[name] = {"truth": want, "call": call["cl_id"], "grade": g}
    return {**tally, "n_groups": len(names), "groups": per_group}


def run_file(
    name: str,
    store: Store,
    cache_dir: Path,
    label_map: Path,
    seeds: int,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """One design-set file: each ranking flat and lineage-first, real vectors and the controls."""
    adata, label_key, truth = load_groups(name, cache_dir, label_map)
    out: dict[str, Any] = {"n_groups": len(truth), "n_cells": adata.n_obs}
    settings = [("real", 0)] + [(c, s) for c in ("shuffled", "random") for s in range(seeds)]
    for vectors, seed in settings:
        matrices, cl_ids, names, seconds, sig, taxon = scored_matrices(
            adata, label_key, store, gene_vectors=vectors, seed=seed
        )
        log(f"{name}: {vectors} seed {seed} scored in {seconds:.1f} s")
        for ranking in RANKINGS:
            for walk in (False, True):
                key = f"{ranking}|{'walk' if walk else 'flat'}|{vectors}"
                with_sig = sig if ranking != "knowledge" else None
                table = matrices[fusion.TABLE] if ranking == fusion.FUSED else None
                calls = calls_of(matrices[ranking], cl_ids, walk, with_sig, taxon, table)
                graded = grade_calls(calls, names, truth)
                out.setdefault(key, []).append(graded)
    return out


def list_scores(adata: Any, label_key: str, store: Store, truth: dict[str, str]) -> dict:
    """With the file's own CL terms as the candidate list: groups named exactly (rank 1) by the
    default and by each ranking alone (`user_lists.own_list`)."""
    from cellmodel.bench.annotate_eval.user_lists import own_list

    return own_list(adata, label_key, store, truth)["exact"]


def run_design_file(
    name: str,
    store: Store,
    cache_dir: Path,
    label_map: Path,
    seeds: int,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """`run_file` and, with the file's own terms as a candidate list, `list_scores`."""
    out = run_file(name, store, cache_dir, label_map, seeds, log)
    adata, label_key, truth = load_groups(name, cache_dir, label_map)
    out["own_list"] = list_scores(adata, label_key, store, truth)
    out["held_out"] = name in HELD_OUT
    out["side"] = side_of(name)
    return out


def side_of(name: str) -> str:
    """'held out' (a new held-out file), 'seen2' (the second round's held-out file), 'seen'
    (held out in the first round, scored then, development since) or 'development'."""
    if name in NEW_HELD_OUT:
        return "held out"
    if name in SEEN_ROUND2:
        return "seen2"
    return "seen" if name in HELD_OUT else "development"
