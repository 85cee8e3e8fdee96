"""The annotate experiments' runs: every ranking scored on true groups and on `cellmodel cluster`
clusters, with the dataset's own CL terms and with all of them, beside the vector controls, each
sum of channels, the tissue's terms and an ablation of the text method (docs/annotate_experiments.md
reads what `run_experiments` returns)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anndata as ad

from cellmodel import datasets
from cellmodel.annotate import annotate, ontology, report_of
from cellmodel.annotate.evaluate import METHOD_KEYS, score_report
from cellmodel.bench.annotate_eval.cases import (
    ABLATIONS,
    CHANNEL_SUMS,
    DATASETS,
    TISSUES,
    Case,
    cluster_truth,
    load_case,
)
from cellmodel.bench.clusters import cached_cluster, cluster_defaults_id
from genekb.store.store import Store


def score_run(
    adata: ad.AnnData, store: Store, groupby: str, cands: list[str] | None, truth, **kw
) -> tuple[dict, float, dict]:
    """One `annotate` call scored: every method's scores (`score_report`), the call's seconds,
    and the report. `kw` goes to `annotate` (method, gene_vectors, seed, tissue, ...)."""
    began = time.perf_counter()
    out = annotate(adata, store, groupby=groupby, candidates=cands, copy=True, **kw)
    seconds = time.perf_counter() - began
    methods = tuple(dict.fromkeys([*METHOD_KEYS, kw.get("method", "combined")]))
    report = report_of(out)
    return score_report(report, truth, methods), seconds, report


def channel_scores(adata, store, groupby, cands, truth) -> dict[str, Any]:
    """Each sum of channels, real vectors: exact@1 and aware@3."""
    out = {}
    for _, method in CHANNEL_SUMS:
        scored = score_run(adata, store, groupby, cands, truth, method=method)[0][method]
        out[method] = {k: scored[k] for k in ("exact@1", "aware@3")}
    return out


def control_scores(adata, store, groupby, cands, truth, seeds: int) -> dict[str, Any]:
    """Real vectors and the bag of words once (deterministic), each vector control over seeds
    0..seeds-1."""
    real, seconds, report = score_run(adata, store, groupby, cands, truth)
    out: dict[str, Any] = {"real": real, "seconds_real": round(seconds, 2)}
    out["context"] = [t["label"] for t in report["context"]["top"]]  # empty for a user's list
    words = score_run(adata, store, groupby, cands, truth, gene_vectors="bag-of-words")[0]
    out["bag-of-words"] = words
    for control in ("shuffled", "random"):
        out[control] = [
            score_run(adata, store, groupby, cands, truth, gene_vectors=control, seed=s)[0]
            for s in range(seeds)
        ]
    return out


def tissue_scores(adata, store, groupby, word: str, truth: dict[str, str]) -> dict[str, Any]:
    """True groups, candidates = the CL terms naming `word`, real vectors: every method."""
    scores, _, report = score_run(adata, store, groupby, None, truth, tissue=word)
    cands = {c.cl_id for c in ontology.from_ontology(tissue=word)}
    return {
        "word": word,
        "n_candidates": report["candidates"]["n"],
        "truth_among": sum(t in cands for t in truth.values()),
        "context_used": report["context"]["used"],
        "scores": scores,
    }


def true_group_scores(case: Case, name: str, store: Store, seeds: int) -> dict[str, Any]:
    """The true-label groups: controls over own and all terms, the tissue's terms where the
    dataset has one, each sum of channels and the ablation."""
    adata, key, own, truth = case.adata, case.label_key, case.own, case.truth
    entry = {
        "true_own": control_scores(adata, store, key, own, truth, seeds),
        "true_all": control_scores(adata, store, key, None, truth, seeds),
    }
    if name in TISSUES:
        entry["true_tissue"] = tissue_scores(adata, store, key, TISSUES[name], truth)
    entry["channels_own"] = channel_scores(adata, store, key, own, truth)
    entry["channels_all"] = channel_scores(adata, store, key, None, truth)
    entry["ablation"] = {
        label: score_run(adata, store, key, own, truth, **kw)[0]["text"] for label, kw in ABLATIONS
    }
    return entry


def cluster_scores(
    case: Case, name: str, store: Store, seeds: int, cache: Path | None
) -> dict[str, Any]:
    """The `cellmodel cluster` clusters (seed 0, cached in `cache`): controls over own and all
    terms, with the clustering's seconds (None when read from the cache) and defaults."""
    clustered, seconds = cached_cluster(case.adata, name, cache)
    truth = cluster_truth(clustered)
    group = "cellmodel_cluster"
    return {
        "cluster_seconds": seconds,
        "cluster_defaults": cluster_defaults_id(),
        "n_clusters": len(truth),
        "clusters_own": control_scores(clustered, store, group, case.own, truth, seeds),
        "clusters_all": control_scores(clustered, store, group, None, truth, seeds),
    }


def run_experiments(
    root: Path,
    seeds: int,
    label_map: Path,
    log: Callable[[str], None],
    save: Callable[[dict[str, Any]], None] | None = None,
    cluster_cache: Path | None = None,
    names: list[str] | None = None,
) -> dict[str, Any]:
    """Every dataset of `DATASETS` (or of `names`) through every run, against the store at
    `root`; `save` is called with the results after each dataset."""
    store = Store.open(root, create=True)
    cache = datasets.default_cache_dir(root)
    results: dict[str, Any] = {"cl_version": ontology.cl_version(), "seeds": seeds, "data": {}}
    for name in DATASETS:
        if names and name not in names:
            continue
        case = load_case(name, cache, label_map)
        entry: dict[str, Any] = {
            "n_cells": case.adata.n_obs,
            "n_groups": len(case.truth),
            "own_terms": case.own,
        }
        log(f"{name}: {len(case.truth)} groups, {len(case.own)} own CL terms")
        entry.update(true_group_scores(case, name, store, seeds))
        entry.update(cluster_scores(case, name, store, seeds, cluster_cache))
        results["data"][name] = entry
        log(f"{name}: done")
        if save is not None:
            save(results)  # each finished dataset is kept, whatever happens after
    return results
