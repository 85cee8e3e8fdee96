"""What a run loses by reading vectors only for the genes its semantic view uses (the default)
instead of every matched gene (`--all-genes`): the view per cell, and `cellmodel explain`.

    .venv/bin/python scripts/exp_first_run.py baron-human --root /tmp/fr --model minilm-int8 \
        --genes 4000

`--genes N` keeps the data's N most expressed genes (so `--all-genes` embeds N cards, not every
card of the data); 0 keeps all. Clusters come from the structure fit (which reads no gene
vector), computed once without the semantic view; both views are then explained with them.
Prints the number of genes each run read vectors for, the per-cell Pearson correlation and the
largest absolute difference of X_semantic, and how the explanations compare: semantic
contributor lists and marker lists identical per cluster, and marker entries with a description.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cellmodel import datasets
from cellmodel.cluster.job import cluster
from cellmodel.embed import embed
from cellmodel.explain import explain
from genekb.store import Store


def top_expressed(adata, n: int):
    totals = np.asarray(adata.X.sum(axis=0)).ravel()
    keep = np.sort(np.argsort(-totals)[:n])
    return adata[:, keep].copy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--genes", type=int, default=0)
    args = parser.parse_args()

    store = Store.open(args.root, create=True)
    adata = datasets.load(args.dataset, cache_dir=datasets.default_cache_dir(args.root))
    if args.genes:
        adata = top_expressed(adata, args.genes)
    clustered = cluster(adata, None, use_semantic=False, batch_key="auto", seed=0)
    labels = clustered.obs["cellmodel_cluster"]
    views, reports = {}, {}
    for name, all_genes in (("default", False), ("all-genes", True)):
        out = embed(
            adata, store, model=args.model, sentence_top_n=0, all_genes=all_genes, copy=True
        )
        out.obs["cellmodel_cluster"] = labels
        record = out.uns["cellmodel"]
        print(
            f"{name}: vectors read for {record['vectors']['n_genes']} genes"
            f" ({record['weights']['n_genes_used']} weighted; reference set"
            f" {record['reference_genes']['n_genes']} genes), embedding {record['embedding_id']}"
        )
        views[name] = out.obsm["X_semantic"]
        reports[name] = explain(out, store, top_n=10)
    a, b = views["default"], views["all-genes"]
    corr = [np.corrcoef(x, y)[0, 1] for x, y in zip(a, b, strict=True)]
    print(
        f"X_semantic per cell: Pearson r min {min(corr):.6f}, mean {np.mean(corr):.6f};"
        f" max |difference| {np.abs(a - b).max():.2e} ({a.shape[0]} cells)"
    )
    same_sem, same_markers, n_markers = 0, 0, 0
    described = {"default": 0, "all-genes": 0}
    for x, y in zip(reports["default"]["clusters"], reports["all-genes"]["clusters"], strict=True):
        genes = lambda e, key: [g["gene"] for g in e.get(key, [])]  # noqa: E731
        same_sem += genes(x, "semantic_genes") == genes(y, "semantic_genes")
        same_markers += genes(x, "markers") == genes(y, "markers")
        n_markers += len(x.get("markers", []))
        for name, entry in (("default", x), ("all-genes", y)):
            described[name] += sum(bool(m["description"]) for m in entry.get("markers", []))
    k = len(reports["default"]["clusters"])
    print(
        f"explain: semantic contributors identical in {same_sem}/{k} clusters, markers identical"
        f" in {same_markers}/{k}; marker entries with a description: default"
        f" {described['default']}/{n_markers}, all-genes {described['all-genes']}/{n_markers}"
    )


if __name__ == "__main__":
    main()
