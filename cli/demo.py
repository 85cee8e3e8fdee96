"""`make demo`: the main job on the embedded default, end to end, printing its figures.

1. Build the default store (bundled human snapshot, ncbi-card template, minilm + tfidf-lsa side by
   side) for the genes of the bundled pbmc68k-reduced dataset, and verify every hash; the
   clustering below embeds with its minilm view.
2. Ask it a nearest-gene question (CD3E).
3. Cluster pbmc68k-reduced with `cellmodel.cluster` (k = 10, the number of annotated types, as
   the published peers are given it; labels are read only afterwards to score), print ACC / NMI /
   ARI / F1 and write the UMAP and confusion-matrix PNGs under artifacts/demo/.
4. Explain each cluster: the genes whose text moves it in the semantic space, and its markers,
   with their descriptions from the store (the full report goes to artifacts/demo/explain.md).
5. Name each cluster with `cellmodel annotate` over the Cell Ontology's leukocyte types (the
   sample is blood), printing the name and the genes that carried it (the full report goes to
   artifacts/demo/annotate.md).
"""

from __future__ import annotations

import os
import sys
import time

import typer

from cli.common import handle_errors, info
from genekb.store.store_root import resolve_root

ROOT = resolve_root()  # $GENEKB_HOME, else ./artifacts
DEMO_TAG = "demo/pbmc68k-reduced"


def _step(message: str) -> None:
    """A step's heading, in bold (the only messages here written as markup)."""
    info(message, markup=True)


def main() -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from genekb.store.store import Store

    store = Store.open(ROOT, create=True)
    healthy = build_store(store)
    cells = cluster_cells(store)
    explain_clusters(cells, store, ROOT / "demo")
    name_clusters(cells, store, ROOT / "demo")
    return 0 if healthy else 1


def build_store(store) -> bool:
    """Steps 1-2: the default store for pbmc68k-reduced's genes, verified, and one nearest-gene
    question; True when every hash matches."""
    import scanpy as sc

    from genekb.build import build
    from genekb.gene_lists import gene_names_of
    from genekb.query import similar

    _step(f"[bold]1. genekb build[/] the default store at {ROOT} for the genes of pbmc68k-reduced")
    adata = sc.datasets.pbmc68k_reduced()
    start = time.perf_counter()
    # The default encoders (minilm+tfidf-lsa) under the demo's own tags: a store whose default
    # tags point at a whole build keeps them.
    report = build(store, genes=gene_names_of(adata), tag=DEMO_TAG, force=True)
    minilm = report["views"][0]
    rate = f", minilm {minilm['texts_per_second']} texts/s" if minilm["texts_per_second"] else ""
    print(
        f"store {report['tag']} = {report['embedding_id']}: {report['n_genes']} genes "
        f"({report['genes_unmatched']} of {report['genes_requested']} names unmatched), "
        f"dim {report['dim']}, embedded {report['embedded']}, reused {report['reused']}, "
        f"{time.perf_counter() - start:.1f} s{rate}"
    )
    bad = [r for r in store.verify([report["embedding_id"]]) if not r["ok"]]
    print(f"verify: {'FAILED ' + str(bad) if bad else 'all hashes match'}")

    _step("[bold]2. genekb similar CD3E -k 5[/]")
    result = similar(store.embedding(report["tag"]), "CD3E", 5)
    for hit in result["hits"]:
        print(f"  {hit['symbol']:<8} cosine {hit['score']:.3f}")
    return not bad


def cluster_cells(store):
    """Step 3: pbmc68k-reduced clustered blind (labels read only to score), with its plots."""
    from cellmodel import datasets, pl
    from cellmodel._settings import CLUSTER_KEY
    from cellmodel.cluster.job import cluster
    from cellmodel.cluster.outputs import score
    from cli.common import headless_plots

    _step("[bold]3. cellmodel cluster pbmc68k-reduced -k 10 --label-key bulk_labels --plots[/]")
    cells = datasets.load("pbmc68k-reduced")
    label_key = datasets.get("pbmc68k-reduced").label_key
    labels = cells.obs[label_key].copy()
    cells.obs = cells.obs[[]]  # the run never sees the labels
    start = time.perf_counter()
    cluster(cells, store, n_clusters=10, seed=0)
    seconds = time.perf_counter() - start
    cells.obs[label_key] = labels
    metrics = score(cells, label_key)
    record = cells.uns["cellmodel"]
    print(
        f"clusters: {record['n_clusters']} on {cells.n_obs} cells in {seconds:.1f} s, "
        f"gene match {record['gene_match']['match_rate']:.1%}"
    )
    print(
        "metrics vs bulk_labels: " + "  ".join(f"{k.upper()} {v:.3f}" for k, v in metrics.items())
    )
    plots = ROOT / "demo"
    plots.mkdir(parents=True, exist_ok=True)
    headless_plots()
    pl.umap(cells, [CLUSTER_KEY, label_key], save=plots / "umap.png")
    pl.confusion(cells, label_key, save=plots / "confusion.png")
    print(f"plots: {plots / 'umap.png'}, {plots / 'confusion.png'}")
    return cells


def explain_clusters(cells, store, out_dir) -> None:
    """Step 4: each cluster's semantic contributor genes and markers."""
    from cellmodel.explain import explain, to_markdown

    _step("[bold]4. cellmodel explain[/] (top 3 semantic contributors and markers per cluster)")
    explained = explain(cells, store, top_n=10)
    for entry in explained["clusters"]:
        semantic = ", ".join(g["gene"] for g in entry.get("semantic_genes", [])[:3])
        markers = ", ".join(g["gene"] for g in entry.get("markers", [])[:3])
        size = f"({entry['n_cells']:>3} cells)"
        print(f"  cluster {entry['cluster']:>2} {size}: {semantic} | {markers}")
    (out_dir / "explain.md").write_text(to_markdown(explained), encoding="utf-8")
    print(f"explanations: {out_dir / 'explain.md'}")


def name_clusters(cells, store, out_dir) -> None:
    """Step 5: the clusters just made, named zero-shot from the store's gene knowledge."""
    from cellmodel._settings import CLUSTER_KEY
    from cellmodel.annotate import annotate, report_of
    from cellmodel.annotate import to_markdown as annotate_markdown

    leukocyte = "CL:0000738"
    _step(
        f"[bold]5. cellmodel annotate[/] (clusters, --subtree {leukocyte}: the leukocyte types"
        " of the Cell Ontology)"
    )
    start = time.perf_counter()
    annotate(cells, store, groupby=CLUSTER_KEY, ontology_subtree=leukocyte)
    report = report_of(cells)
    for entry in report["groups"]:
        genes = ", ".join(entry["signature"][:4]) or "-"
        name = entry["label"] or "unassigned"
        print(f"  cluster {entry['group']:>2} ({entry['n_cells']:>3} cells): {name} | {genes}")
    (out_dir / "annotate.md").write_text(annotate_markdown(report), encoding="utf-8")
    seconds = time.perf_counter() - start
    print(
        f"names: {report['candidates']['n']} candidates, {seconds:.1f} s; {out_dir / 'annotate.md'}"
    )


def run() -> int:
    """`main` with the CLI's error handling: a failure is one line on stderr, not a traceback."""
    try:
        return handle_errors(main)()
    except typer.Exit as exc:
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(run())
