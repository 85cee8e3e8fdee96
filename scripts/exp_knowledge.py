"""Does gene knowledge help the *clustering*? (issue 8) Every way we tried to let the semantic
view shape the fit, each with real, shuffled and random gene vectors.

Variants (structure input: the pipeline's own — log-normalize, 2,000 HVG, ComBat on the dataset's
batch column where the registry names one, scale, PCA 50, 15-NN graph; k = number of classes):

- `structure`: the default fit, no semantic view.
- `aligned`: the two-view design (`--align-semantic`): symmetric InfoNCE between the structure and
  semantic projection heads, the semantic latent concatenated into the clustered latent.
- `aligned-unfused`: InfoNCE alignment only; the clustered latent is the structure latent.
- `aligned-0.1-unfused`: the same with alignment weight 0.1.
- `graph-prune`: each cell drops the third of its expression-kNN edges with the lowest semantic
  cosine (at least 3 kept); the graph encoder runs on what is left.
- `graph-union`: the expression kNN graph plus each cell's 5 nearest cells in the semantic view.
- `gene-smoothing-0.3`: knowledge as a prior: the scaled HVG matrix mixed 70/30 with itself
  smoothed over a gene–gene 10-NN graph of the gene text vectors, then PCA + k-means (20 starts).
  Its reference is `pca-kmeans` on the unsmoothed matrix.

The semantic view is the pipeline's (`cellmodel.embed` defaults, fused weighted + sentence, centred
per batch); controls are drawn once (seed 0) so that each costs one encoder pass.

    .venv/bin/python scripts/exp_knowledge.py run --root STORE --dataset pbmc68k-reduced --seeds 3
    .venv/bin/python scripts/exp_knowledge.py table --out docs/knowledge_experiments.md

Results append to <root>/runs/exp_knowledge.jsonl (one line per run). Labels only score.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

VARIANTS = (
    "structure",
    "aligned",
    "aligned-unfused",
    "aligned-0.1-unfused",
    "graph-prune",
    "graph-union",
    "pca-kmeans",
    "gene-smoothing-0.3",
)
NEEDS_VECTORS = {v for v in VARIANTS if v not in ("structure", "pca-kmeans")}
CONTROLS = ("real", "shuffled", "random")
CONTROL_SEED = 0


def _threads() -> None:
    import torch

    torch.set_num_threads(1)


def _unit(S: np.ndarray) -> np.ndarray:
    S = S - S.mean(axis=0)
    return S / np.maximum(np.linalg.norm(S, axis=1, keepdims=True), 1e-12)


def _symmetric(B: sp.spmatrix) -> sp.csr_matrix:
    B = ((B + B.T) > 0).astype(np.float32).tocsr()
    B.setdiag(0)
    B.eliminate_zeros()
    return B


def graph_prune(adjacency: sp.csr_matrix, S: np.ndarray, keep: float = 2 / 3) -> sp.csr_matrix:
    U = _unit(S)
    coo = adjacency.tocoo()
    cosine = np.einsum("ij,ij->i", U[coo.row], U[coo.col])
    order = np.lexsort((-cosine, coo.row))
    rows = coo.row[order]
    starts = np.r_[0, np.flatnonzero(np.diff(rows)) + 1, len(rows)]
    kept = np.zeros(len(cosine), dtype=bool)
    for start, end in itertools.pairwise(starts):
        kept[order[start : start + max(3, round((end - start) * keep))]] = True
    B = sp.csr_matrix((np.ones(kept.sum()), (coo.row[kept], coo.col[kept])), shape=adjacency.shape)
    return _symmetric(B)


def graph_union(adjacency: sp.csr_matrix, S: np.ndarray, m: int = 5) -> sp.csr_matrix:
    from sklearn.neighbors import NearestNeighbors

    U = _unit(S)
    nearest = NearestNeighbors(n_neighbors=m + 1).fit(U).kneighbors(U, return_distance=False)
    rows = np.repeat(np.arange(len(U)), m)
    B = sp.csr_matrix((np.ones(rows.size), (rows, nearest[:, 1:].ravel())), shape=adjacency.shape)
    return _symmetric(adjacency + B)


def gene_smoothing(X_scaled: np.ndarray, V: np.ndarray, matched: np.ndarray, alpha: float) -> Any:
    """X ↦ (1 − α) X + α X Gᵀ, G the row-normalized 10-NN graph of the gene text vectors."""
    from sklearn.neighbors import NearestNeighbors

    k = 10
    rows = np.flatnonzero(matched)
    U = _unit(V[rows])
    nearest = NearestNeighbors(n_neighbors=k + 1).fit(U).kneighbors(U, return_distance=False)
    G = sp.csr_matrix(
        (np.full(len(rows) * k, 1.0 / k), (np.repeat(rows, k), rows[nearest[:, 1:].ravel()])),
        shape=(len(V), len(V)),
    )
    return ((1 - alpha) * X_scaled + alpha * np.asarray(G @ X_scaled.T).T).astype(np.float32)


def prepare(name: str, root: Path) -> dict[str, Any]:
    """Everything label-free that the variants share, built once per dataset."""
    from cellmodel import datasets, semantic
    from cellmodel.cluster import batch_column as pipeline
    from cellmodel.embed import embed
    from cellmodel.io import expression
    from cellmodel.knowledge.genes import match_genes
    from cellmodel.pp import graph
    from genekb.store.store import Store

    store = Store.open(root, create=True)
    adata = datasets.load(name, cache_dir=datasets.default_cache_dir(root))
    entry = datasets.get(name)
    labels = adata.obs[entry.label_key].astype(str).to_numpy()
    batch = pipeline.batch_values(adata, entry.batch_key)
    expr = expression(adata)
    X_log = graph.log_normalize(expr.X, "log")
    hvg = graph.highly_variable(X_log)
    X_hvg = X_log[:, hvg]
    if batch is not None:
        X_hvg = graph.combat(X_hvg, batch)
    X_scaled = graph.scale(X_hvg)
    views = {}
    for control in CONTROLS:
        cells = adata.copy()
        embed(cells, store, gene_vectors=control, seed=CONTROL_SEED)
        S = cells.obsm["X_semantic"]
        views[control] = pipeline.centre_per_batch(S, batch) if batch is not None else S
    ev = store.embedding("human/ncbi-card/minilm")
    hvg_names = [expr.genes[i] for i in hvg]
    match = match_genes(hvg_names, ev.genes(), store_taxon=ev.taxon, strict=False)
    store_ids, store_vectors = ev.matrix()
    V = semantic.gene_matrix(store_ids, store_vectors, match.gene_ids)
    gene_vectors = {
        c: semantic.control_vectors(V.copy(), match.matched, c, CONTROL_SEED) for c in CONTROLS
    }
    return {
        "labels": labels,
        "X_scaled": X_scaled,
        "views": views,
        "gene_vectors": gene_vectors,
        "matched": match.matched,
        "batch": entry.batch_key,
    }


def run_variant(data: dict[str, Any], variant: str, control: str, seed: int) -> np.ndarray:
    from sklearn.cluster import KMeans

    from cellmodel.cluster.fit import fit_clusters
    from cellmodel.pp import graph

    k = len(np.unique(data["labels"]))
    X_scaled = data["X_scaled"]
    if variant in ("pca-kmeans", "gene-smoothing-0.3"):
        if variant == "gene-smoothing-0.3":
            X_scaled = gene_smoothing(X_scaled, data["gene_vectors"][control], data["matched"], 0.3)
        X = graph.pca(X_scaled, seed=seed)
        return KMeans(k, n_init=20, random_state=seed).fit_predict(X)
    X = graph.pca(X_scaled, seed=seed)
    knn = graph.knn_graph(X, graph.DEFAULT_N_NEIGHBORS, seed=seed)
    S = data["views"][control]
    options: dict[str, Any] = {}
    semantic = None
    adjacency = knn.adjacency
    if variant == "aligned":
        semantic = S
    elif variant == "aligned-unfused":
        semantic, options = S, {"semantic_weight": 0.0}
    elif variant == "aligned-0.1-unfused":
        semantic, options = S, {"semantic_weight": 0.0, "alignment_weight": 0.1}
    elif variant == "graph-prune":
        adjacency = graph_prune(knn.adjacency, S)
    elif variant == "graph-union":
        adjacency = graph_union(knn.adjacency, S)
    result = fit_clusters(X, adjacency, semantic, k, seed=seed, device="cpu", **options)
    return result.labels


def run(args: argparse.Namespace) -> None:
    from cellmodel.metrics import cluster_metrics

    _threads()
    out = args.root / "runs" / "exp_knowledge.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    data = prepare(args.dataset, args.root)
    variants = args.variants.split(",") if args.variants else list(VARIANTS)
    for variant in variants:
        controls = CONTROLS if variant in NEEDS_VECTORS else ("real",)
        for control in controls:
            for seed in range(args.seeds):
                tick = time.perf_counter()
                labels = run_variant(data, variant, control, seed)
                seconds = time.perf_counter() - tick
                metrics = cluster_metrics(data["labels"], labels)
                row = {
                    "dataset": args.dataset + (f"+{data['batch']}" if data["batch"] else ""),
                    "variant": variant,
                    "gene_vectors": control if variant in NEEDS_VECTORS else "",
                    "seed": seed,
                    **{m: round(float(v), 4) for m, v in metrics.items()},
                    "seconds": round(seconds, 1),
                }
                print(json.dumps(row), flush=True)
                with out.open("a") as handle:
                    handle.write(json.dumps(row) + "\n")


def table(args: argparse.Namespace) -> None:
    from cellmodel.bench.doc_pages import print_and_keep_reading

    rows = [json.loads(line) for line in (args.root / "runs" / "exp_knowledge.jsonl").open()]
    frame = pd.DataFrame(rows)
    lines = [
        "# Gene knowledge inside the clustering fit: every variant tried",
        "",
        "Generated by `scripts/exp_knowledge.py table` from the runs of `scripts/exp_knowledge.py"
        " run` (its docstring defines each variant). ARI / NMI / ACC, mean ± std over seeds; k ="
        " number of label classes; labels only score. `real` = the store's MiniLM vectors of the"
        " NCBI gene cards; `shuffled` / `random` = the controls (drawn once, seed 0).",
        "",
    ]
    for dataset, block in frame.groupby("dataset", sort=False):
        lines += [
            f"## {dataset}",
            "",
            "| variant | gene vectors | seeds | ARI | NMI | ACC | s/run |",
            "|---|---|---|---|---|---|---|",
        ]
        grouped = block.groupby(["variant", "gene_vectors"], sort=False)
        for (variant, control), runs in grouped:

            def cell(column: str, runs: pd.DataFrame = runs) -> str:
                return f"{runs[column].mean():.3f} ± {runs[column].std(ddof=0):.3f}"

            lines.append(
                f"| {variant} | {control or '–'} | {len(runs)} | {cell('ari')} | {cell('nmi')} |"
                f" {cell('acc')} | {runs['seconds'].mean():.1f} |"
            )
        lines.append("")
    print_and_keep_reading("\n".join(lines), args.out)


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    warnings.simplefilter("ignore")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run")
    p.add_argument("--root", type=Path, required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--variants", default=None, help=f"comma list from {', '.join(VARIANTS)}")
    p.set_defaults(func=run)
    t = sub.add_parser("table")
    t.add_argument("--root", type=Path, required=True)
    t.add_argument("--out", type=Path, default=None)
    t.set_defaults(func=table)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
