"""Where the out-of-core run and the in-memory one part, stage by stage, on the same file.

`compare_stages(path, seed)` reads the whole file (it must fit in memory) and measures:

- the structure input: the HVGs chosen in memory (`graph.highly_variable` on the whole matrix)
  against those from the chunk sums (their overlap), the components kept by each, and the largest
  principal angle between the two PCA subspaces;
- the kNN graph over the out-of-core scores: recall at `n_neighbors` of the graph against exact
  neighbours, on a seeded sample of query cells;
- the fit, on the same scores and graph: `fit_clusters` on every cell (what `pipeline.cluster`
  does in memory) and on the `FIT_CELLS` subsample followed by the forward pass over every cell
  (what `cluster_h5ad` does past that many cells); the ARI against the planted labels of each,
  before the merge-split check, and the two partitions' agreement.

Labels only score. Run: `python -m cellmodel.bench.outofcore_stages FILE.h5ad SEED [LABEL_KEY]`;
one JSON object on stdout.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import numpy as np

from cellmodel.bench.settings import SYNTHETIC_GROUPS, SYNTHETIC_LABEL_KEY
from cellmodel.chunked import h5
from cellmodel.chunked.cluster import FIT_CELLS, embed_all, fit_subsample
from cellmodel.chunked.embed import gene_statistics
from cellmodel.chunked.engine import DaskEngine
from cellmodel.chunked.structure import Scaling, structure_scores
from cellmodel.metrics import cluster_metrics
from cellmodel.module.model import deterministic
from cellmodel.pp import graph

QUERY_CELLS = 2000  # cells whose approximate neighbours are checked against exact ones


def _subspace_angle(a: np.ndarray, b: np.ndarray) -> float:
    """The largest principal angle (degrees) between the column spans of `a` and `b`."""
    m = min(a.shape[1], b.shape[1])
    qa, _ = np.linalg.qr(a[:, :m].astype(np.float64))
    qb, _ = np.linalg.qr(b[:, :m].astype(np.float64))
    cosines = np.clip(np.linalg.svd(qa.T @ qb, compute_uv=False), -1.0, 1.0)
    return float(np.degrees(np.arccos(cosines.min())))


def _structure(path: str, seed: int, chunk_size: int) -> tuple[np.ndarray, dict[str, Any]]:
    """The out-of-core scores, and how they compare with the in-memory structure input."""
    ref = h5.pick(path, None)
    with h5.ChunkReader(ref) as reader:
        X = reader.rows(0, reader.shape[0])
    X_log = graph.log_normalize(X, "counts")
    hvg = graph.highly_variable(X_log, graph.DEFAULT_N_HVG)
    in_memory = graph.principal_components(graph.scale(X_log[:, hvg]), "auto", seed)
    ranges = h5.chunk_ranges(X.shape[0], chunk_size)
    with DaskEngine(None, None) as engine:
        stats = gene_statistics(engine, ref, "counts", ranges, None)
        scores, _ = structure_scores(
            engine, ref, "counts", ranges, stats, n_hvg=graph.DEFAULT_N_HVG, n_pcs="auto",
            seed=seed,
        )  # fmt: skip
    chunked = Scaling.from_stats(stats, graph.DEFAULT_N_HVG).columns
    return scores, {
        "hvg_overlap": int(np.isin(chunked, np.flatnonzero(hvg)).sum()),
        "n_hvg": int(hvg.sum()),
        "n_pcs": [int(in_memory.shape[1]), int(scores.shape[1])],
        "max_principal_angle_deg": round(_subspace_angle(in_memory, scores), 3),
    }


def _recall(scores: np.ndarray, knn: Any, seed: int) -> float:
    """Share of each query cell's exact `n_neighbors` nearest that the graph holds."""
    from sklearn.neighbors import NearestNeighbors

    k = knn.n_neighbors
    rng = np.random.default_rng(seed)
    queries = rng.choice(scores.shape[0], min(QUERY_CELLS, scores.shape[0]), replace=False)
    _, exact = NearestNeighbors(n_neighbors=k + 1).fit(scores).kneighbors(scores[queries])
    hits = [np.isin(exact[i, 1:], knn.adjacency[c].indices).mean() for i, c in enumerate(queries)]
    return float(np.mean(hits))


def _fits(
    scores: np.ndarray,
    knn: Any,
    truth: np.ndarray,
    seed: int,
    k: int,
    fit_cells: int,
    options: dict[str, Any],
) -> dict[str, Any]:
    """The in-memory fit on every cell and the out-of-core fit on a subsample, scored."""
    out: dict[str, Any] = {}
    labels = {}
    for name, cells in (("all_cells", scores.shape[0]), ("subsample", fit_cells)):
        tick = time.perf_counter()
        with deterministic(seed):
            result, rows = fit_subsample(
                scores, knn, k, fit_cells=cells, n_neighbors=knn.n_neighbors, seed=seed,
                device="cpu", options=options,
            )  # fmt: skip
            _, labels[name] = embed_all(result, scores, rows, knn, chunk_size=20_000, device="cpu")
        out[name] = {
            "fit_cells": int(rows.size),
            "ari_fitted_cells": round(cluster_metrics(truth[rows], result.labels)["ari"], 4),
            "ari_all_cells": round(cluster_metrics(truth, labels[name])["ari"], 4),
            "seconds": round(time.perf_counter() - tick, 1),
        }
    out["agreement_ari"] = round(
        cluster_metrics(labels["all_cells"], labels["subsample"])["ari"], 4
    )
    return out


def compare_stages(
    path: str,
    seed: int = 0,
    *,
    label_key: str = SYNTHETIC_LABEL_KEY,
    n_clusters: int = SYNTHETIC_GROUPS,
    chunk_size: int = 20_000,
    fit_cells: int | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Every measure of the module doc for the file at `path` (labels in obs[label_key]);
    `fit_cells` (default `FIT_CELLS`) and `options` (`fit_clusters` keywords) as the run's."""
    scores, report = _structure(path, seed, chunk_size)
    knn = graph.knn_graph(scores, graph.FIT_N_NEIGHBORS, seed=seed)
    report["knn"] = {"method": knn.method, "recall": round(_recall(scores, knn, seed), 4)}
    truth = h5.read_frame(path, "obs")[label_key].astype(str).to_numpy()
    cells = FIT_CELLS if fit_cells is None else fit_cells
    report["fit"] = _fits(scores, knn, truth, seed, n_clusters, cells, options)
    return {"path": path, "seed": seed, **report}


if __name__ == "__main__":
    key = sys.argv[3] if len(sys.argv) > 3 else SYNTHETIC_LABEL_KEY
    print(json.dumps(compare_stages(sys.argv[1], int(sys.argv[2]), label_key=key)))
