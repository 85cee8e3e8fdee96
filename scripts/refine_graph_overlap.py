"""How much the knowledge gene graph (and its controls) agrees with the expression: the share of
its edges that are also data-graph edges and the mean correlation of the genes it links.

    python scripts/refine_graph_overlap.py baron-human cellhint-pancreas

Label-free (no labels are read). Reads the store's vectors as `refine` built them
(`GENEKB_HOME`; nothing is built here), on the same HVG matrix and cell sample as `refine` at
seed 0.
"""

from __future__ import annotations

import sys

import numpy as np

from cellmodel import datasets, io
from cellmodel.bench.data import hide_labels
from cellmodel.cluster.batch_column import batch_values
from cellmodel.knowledge import gene_graph
from cellmodel.refine import MAX_GENE_CELLS, scaled_hvg
from genekb.store.store import Store


def overlap(name: str, store: Store) -> None:
    entry = datasets.get(name)
    adata = hide_labels(datasets.load(name), entry.batch_key)
    expr = io.expression(adata)
    batch = batch_values(adata, "batch" if entry.batch_key else None)
    X, genes = scaled_hvg(expr.X, expr.genes, batch, 2000)
    rng = np.random.default_rng(0)
    sample = np.sort(rng.choice(X.shape[0], min(MAX_GENE_CELLS, X.shape[0]), replace=False))
    vectors, matched, _ = gene_graph.knowledge_vectors(store, genes, build_missing=False)
    data = gene_graph.build("data", "real", X_sample=X[sample])
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.corrcoef(X[sample].T)
    print(f"| {name} | data | {data.nnz // 2} | 1.000 | {np.nanmean(corr[data.nonzero()]):.3f} |")
    for control in ("real", "shuffled", "random"):
        g = gene_graph.build(
            "knowledge", control, X_sample=X[sample], vectors=vectors, matched=matched, seed=0
        )
        shared = g.multiply(data).nnz / max(g.nnz, 1)
        mean_corr = np.nanmean(corr[g.nonzero()])
        print(f"| {name} | knowledge:{control} | {g.nnz // 2} | {shared:.3f} | {mean_corr:.3f} |")


def main() -> None:
    store = Store.open(None)
    print("| dataset | graph | edges | share of edges in the data graph | mean r of linked genes |")
    print("|---|---|---|---|---|")
    for name in sys.argv[1:]:
        overlap(name, store)


if __name__ == "__main__":
    main()
