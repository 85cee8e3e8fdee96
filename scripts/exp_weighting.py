"""Measure semantic-view variants against gene-vector controls; regenerate the docs table.

For each dataset: every weighted-path variant (weighting × gene-vector post-processing) is built
from real, shuffled and random gene vectors; k-means with k = number of label classes runs on each
view for 5 seeds (a control is also redrawn per seed); labels only score the result (ARI, NMI).
PCA50 of the expression is the reference. The sentence path (slow: the encoder runs per cell) is
measured on a seeded subsample of cells, beside the weighted view and the fusion on the same cells.

    .venv/bin/python scripts/exp_weighting.py                      # both datasets, all variants
    .venv/bin/python scripts/exp_weighting.py --speed-cells 100000  # weighted-path timing only

Results go to `<root>/runs/exp_weighting/<dataset>.json`; the tables replace the block between the
markers in docs/semantic_experiments.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# One thread per library: on a shared machine, OpenMP/BLAS thread pools that oversubscribe the cores
# made k-means ~10x slower here. Set before numpy loads them; an explicit setting wins.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from sklearn.cluster import KMeans  # noqa: E402

from cellmodel import datasets, semantic  # noqa: E402
from cellmodel import sentences as sentence_path  # noqa: E402
from cellmodel.embed import DEFAULT_ISOTROPY, DEFAULT_WEIGHTING, SemanticParams  # noqa: E402
from cellmodel.embed_genes import prepare_gene_vectors  # noqa: E402
from cellmodel.io import expression  # noqa: E402
from cellmodel.knowledge.genes import match_genes  # noqa: E402
from cellmodel.knowledge.vectors import reference_table, vectors_for  # noqa: E402
from genekb.store import Store  # noqa: E402

DOC = Path(__file__).resolve().parents[1] / "docs" / "semantic_experiments.md"
START, END = "<!-- exp_weighting:start -->", "<!-- exp_weighting:end -->"
CONTROLS = ("real", "shuffled", "random")
# (weighting, gene-vector post-processing, genes it is fitted on: all matched data genes or the
# ones the weighting uses). Centring alone is left out: it cannot change a finished average.
WEIGHTED_VARIANTS: list[tuple[str, str, str]] = [
    ("mean", "none", "data"),
    ("mean", "abtt", "data"),
    ("mean", "whiten", "data"),
    ("tfidf", "whiten", "data"),
    ("hvg", "abtt", "data"),
    ("hvg", "whiten", "data"),
    ("hvg", "abtt", "used"),
    ("hvg", "whiten", "used"),
    ("scaled", "none", "data"),
    ("scaled", "whiten", "data"),
    ("hvg-scaled", "none", "data"),
    ("hvg-scaled", "abtt", "data"),
    ("hvg-scaled", "whiten", "data"),
    ("hvg-scaled", "abtt", "used"),
    ("hvg-scaled", "whiten", "used"),
]


def score(labels: np.ndarray, view: np.ndarray, k: int, seed: int) -> dict[str, float]:
    try:
        from cellmodel.metrics import cluster_metrics
    except ImportError:  # the metrics module is another helper's; sklearn gives the same ARI/NMI
        from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

        def cluster_metrics(t: Any, p: Any) -> dict[str, float]:
            return {"ari": adjusted_rand_score(t, p), "nmi": normalized_mutual_info_score(t, p)}

    predicted = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(view)
    m = cluster_metrics(labels, predicted)
    return {"ari": float(m["ari"]), "nmi": float(m["nmi"])}


def summarize(runs: list[dict[str, float]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key in ("ari", "nmi"):
        values = np.array([r[key] for r in runs])
        out[f"{key}_mean"], out[f"{key}_std"] = float(values.mean()), float(values.std())
    return out


def mean_cosine(view: np.ndarray, n: int = 500) -> float:
    """Mean pairwise cosine of raw (unfinished) cell vectors: 1.0 means every cell looks alike."""
    rows = view[:n] / np.maximum(np.linalg.norm(view[:n], axis=1, keepdims=True), 1e-12)
    sims = rows @ rows.T
    return float((sims.sum() - np.trace(sims)) / (len(rows) * (len(rows) - 1)))


def run_dataset(
    name: str,
    store: Store,
    seeds: list[int],
    sentence_cells: int,
    top_n: int,
    log: Callable[[str], None],
) -> dict[str, Any]:
    spec_ds = datasets.get(name)
    adata = datasets.load(name, cache_dir=store.root / "datasets")
    labels = adata.obs[spec_ds.label_key].astype(str).to_numpy()
    k = len(np.unique(labels))
    expr = expression(adata)
    # Vectors for every data gene the snapshot knows (every weighting and fit below reads them).
    ref_taxon, gene_table = reference_table(expr.genes, spec_ds.taxon)
    known = match_genes(
        expr.genes,
        gene_table.table.select(["gene_id", "symbol", "aliases", "ensembl"]).to_pandas(),
        store_taxon=ref_taxon,
        data_taxon=spec_ds.taxon,
        strict=False,
    )
    ev, _ = vectors_for(
        store,
        gene_table,
        sorted({int(g) for g in known.gene_ids[known.matched]}),
        model="minilm",
        template="ncbi-card",
        build_missing=True,
    )
    match = match_genes(expr.genes, ev.genes(), store_taxon=ev.taxon, X=expr.X)
    log(f"{name}: {expr.n_cells} cells, k={k}, {match.report.summary()}")
    store_ids, store_vectors = ev.matrix()
    frame = ev.genes()
    symbol_of = dict(zip(frame["gene_id"].astype(int), frame["symbol"], strict=True))
    rows: list[dict[str, Any]] = []

    from cellmodel.pp.graph import structure_features

    reference = structure_features(expr.X, kind="log", seed=0)
    rows.append(
        {
            "path": "reference",
            "variant": "PCA50 of expression",
            "control": "-",
            **summarize([score(labels, reference, k, s) for s in seeds]),
        }
    )
    log(f"  reference {rows[-1]['ari_mean']:.3f}")

    weights_cache: dict[str, semantic.GeneWeights] = {}
    for weighting, iso, fit in WEIGHTED_VARIANTS:
        if weighting not in weights_cache:
            weights_cache[weighting] = semantic.gene_weights(expr.X, match.matched, weighting)
        weights = weights_cache[weighting]
        for control in CONTROLS:
            runs, cosines = [], []
            view = np.empty((0, 0), dtype=np.float32)
            for s in seeds:
                # Real vectors do not change with the seed: build them once.
                if control == "real" and s != seeds[0]:
                    runs.append(score(labels, view, k, s))
                    continue
                params = SemanticParams(
                    weighting=weighting,
                    isotropy=iso,
                    isotropy_fit=fit,
                    gene_vectors=control,
                    seed=s,
                )
                prepared = prepare_gene_vectors(
                    store_ids, store_vectors, symbol_of, match, params, weights.scale != 0
                )
                raw = semantic.weighted_path(expr.X, prepared.vectors, weights)
                cosines.append(mean_cosine(raw))
                view = semantic.finish(raw)
                runs.append(score(labels, view, k, s))
            variant = f"{weighting} / {iso}" + (f" (fit: {fit} genes)" if iso != "none" else "")
            rows.append(
                {
                    "path": "weighted",
                    "variant": variant,
                    "control": control,
                    "raw_cosine": float(np.mean(cosines)),
                    **summarize(runs),
                }
            )
            log(
                f"  weighted {variant} {control}: ARI {rows[-1]['ari_mean']:.3f}"
                f" ± {rows[-1]['ari_std']:.3f}, raw cosine {rows[-1]['raw_cosine']:.3f}"
            )

    if sentence_cells > 0:
        rows += run_sentences(
            expr,
            labels,
            k,
            ev,
            match,
            store_ids,
            store_vectors,
            symbol_of,
            seeds,
            sentence_cells,
            top_n,
            log,
        )
    return {
        "dataset": name,
        "n_cells": expr.n_cells,
        "k": k,
        "embedding_id": ev.id,
        "match": match.report.to_dict(),
        "seeds": seeds,
        "rows": rows,
    }


def run_sentences(
    expr: Any,
    labels: np.ndarray,
    k: int,
    ev: Any,
    match: Any,
    store_ids: np.ndarray,
    store_vectors: np.ndarray,
    symbol_of: dict[int, str],
    seeds: list[int],
    n_cells: int,
    top_n: int,
    log: Callable[[str], None],
) -> list[dict[str, Any]]:
    from genekb.encoders.registry import load as load_encoder

    rng = np.random.default_rng(0)
    cells = np.sort(rng.choice(expr.n_cells, size=min(n_cells, expr.n_cells), replace=False))
    X = expr.X[cells]
    sub_labels = labels[cells]
    sub_k = len(np.unique(sub_labels))
    cache = sentence_path.SentenceCache.under(ev.store.root)
    encoder: list[Any] = []

    def load() -> Any:
        if not encoder:
            encoder.append(load_encoder(ev.spec))
        return encoder[0]

    rows: list[dict[str, Any]] = []
    label = f"{len(cells)} of {expr.n_cells} cells"
    # The default weighted view on the same cells, so paths and fusion compare like with like.
    weights = semantic.gene_weights(X, match.matched, DEFAULT_WEIGHTING)
    for control in CONTROLS:
        params = SemanticParams(gene_vectors=control, seed=0)
        prepared = prepare_gene_vectors(
            store_ids, store_vectors, symbol_of, match, params, weights.scale != 0
        )
        view_w = semantic.finish(semantic.weighted_path(X, prepared.vectors, weights))
        rows.append(
            {
                "path": "weighted",
                "variant": f"default: {DEFAULT_WEIGHTING} / {DEFAULT_ISOTROPY} ({label})",
                "control": control,
                **summarize([score(sub_labels, view_w, sub_k, s) for s in seeds]),
            }
        )
        for ranking in sentence_path.RANKINGS:
            sentences = sentence_path.cell_sentences(
                X, prepared.symbols, top_n=top_n, ranking=ranking
            )
            vectors, stats = sentence_path.embed_sentences(
                sentences, spec=ev.spec, load_encoder=load, cache=cache
            )
            view_s = semantic.finish(vectors)
            rows.append(
                {
                    "path": "sentence",
                    "variant": f"{ranking}, top {top_n} ({label})",
                    "control": control,
                    "example": sentences[0],
                    **stats.to_dict(),
                    **summarize([score(sub_labels, view_s, sub_k, s) for s in seeds]),
                }
            )
            log(
                f"  sentence {ranking} {control}: ARI {rows[-1]['ari_mean']:.3f}; "
                f"{stats.n_embedded} embedded in {stats.embed_seconds:.0f}s;"
                f" e.g. {sentences[0][:60]}"
            )
            fused = semantic.fuse(view_w, view_s, "concat")
            rows.append(
                {
                    "path": "fusion",
                    "variant": f"concat: default weighted + {ranking} sentences ({label})",
                    "control": control,
                    **summarize([score(sub_labels, fused, sub_k, s) for s in seeds]),
                }
            )
    return rows


def speed(n_cells: int, n_genes: int, per_cell: int, dim: int) -> dict[str, Any]:
    """Time the weighted path on synthetic counts: weights, the product, and finishing."""
    rng = np.random.default_rng(0)
    nnz = n_cells * per_cell
    indptr = np.arange(0, nnz + 1, per_cell, dtype=np.int64)
    # Gene usage falls off like real data (a few genes in most cells, most genes in few).
    popularity = 1.0 / np.arange(1, n_genes + 1) ** 0.8
    indices = rng.choice(n_genes, nnz, p=popularity / popularity.sum()).astype(np.int32)
    counts = rng.poisson(2.0, nnz).astype(np.float32) + 1
    X = sp.csr_matrix((counts, indices, indptr), shape=(n_cells, n_genes))
    X.sum_duplicates()  # repeated draws of a gene in a cell add up, as counts would
    totals = np.asarray(X.sum(axis=1)).ravel()
    X = sp.csr_matrix(sp.diags(1e4 / totals) @ X, dtype=np.float32)
    X.data = np.log1p(X.data)
    vectors = rng.standard_normal((n_genes, dim)).astype(np.float32)
    matched = np.ones(n_genes, dtype=bool)
    out: dict[str, Any] = {
        "n_cells": n_cells,
        "n_genes": n_genes,
        "nnz": int(X.nnz),
        "dim": dim,
        "cores": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 1),
    }
    for weighting in ("mean", "hvg-scaled"):
        wall, cpu = time.perf_counter(), time.process_time()
        weights = semantic.gene_weights(X, matched, weighting)
        mid_wall, mid_cpu = time.perf_counter(), time.process_time()
        view = semantic.finish(semantic.weighted_path(X, vectors, weights))
        end_wall, end_cpu = time.perf_counter(), time.process_time()
        out[weighting] = {
            "weights_wall_s": round(mid_wall - wall, 2),
            "weights_cpu_s": round(mid_cpu - cpu, 2),
            "product_and_finish_wall_s": round(end_wall - mid_wall, 2),
            "product_and_finish_cpu_s": round(end_cpu - mid_cpu, 2),
        }
        assert view.shape == (n_cells, dim) and np.isfinite(view).all()
    return out


def fmt(row: dict[str, Any]) -> str:
    ari = f"{row['ari_mean']:.3f} ± {row['ari_std']:.3f}"
    return f"{ari} | {row['nmi_mean']:.3f} ± {row['nmi_std']:.3f}"


def table(result: dict[str, Any]) -> str:
    lines = [
        f"### {result['dataset']} ({result['n_cells']} cells, k = {result['k']}; gene match"
        f" {result['match']['match_rate']:.1%}, embedding `{result['embedding_id']}`)",
        "",
        "| path | variant | real ARI | real NMI | shuffled ARI | shuffled NMI | random ARI |"
        " random NMI | raw cell cosine (real) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    grouped: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for row in result["rows"]:
        grouped.setdefault((row["path"], row["variant"]), {})[row["control"]] = row
    for (path, variant), by_control in grouped.items():
        if path == "reference":
            r = by_control["-"]
            lines.append(f"| reference | {variant} | {fmt(r)} | | | | | |")
            continue
        cells = [fmt(by_control[c]) if c in by_control else "– | –" for c in CONTROLS]
        cosine = by_control.get("real", {}).get("raw_cosine")
        lines.append(
            f"| {path} | {variant} | {' | '.join(cells)} |"
            f" {'' if cosine is None else f'{cosine:.3f}'} |"
        )
    return "\n".join(lines)


def write_doc(results: list[dict[str, Any]], command: str) -> None:
    block = "\n\n".join(table(r) for r in results)
    note = f"Regenerated by `{command}`; ARI and NMI are mean ± std over seeds."
    body = f"{START}\n\n{note}\n\n{block}\n\n{END}"
    text = DOC.read_text() if DOC.exists() else f"# Semantic view experiments\n\n{START}\n{END}\n"
    if START not in text:
        text += f"\n{START}\n{END}\n"
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1] if END in rest else ""
    DOC.write_text(head + body + tail)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--root", default=None, help="store root (default: $GENEKB_HOME or ./artifacts)"
    )
    parser.add_argument("--datasets", nargs="+", default=["pbmc68k-reduced", "baron-human"])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument(
        "--sentence-cells",
        type=int,
        default=700,
        help="cells subsampled for the sentence path (0 skips it)",
    )
    parser.add_argument("--top-n", type=int, default=32)
    parser.add_argument(
        "--speed-cells",
        type=int,
        default=0,
        help="only time the weighted path on this many synthetic cells",
    )
    parser.add_argument("--no-doc", action="store_true", help="do not rewrite the docs table")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    def log(message: str) -> None:
        print(message, flush=True)

    if args.speed_cells:
        log(json.dumps(speed(args.speed_cells, 20000, 1000, 384), indent=1))
        return
    store = Store.open(args.root, create=True)
    out_dir = store.root / "runs" / "exp_weighting"
    out_dir.mkdir(parents=True, exist_ok=True)
    seeds = list(range(args.seeds))
    results = []
    for name in args.datasets:
        result = run_dataset(name, store, seeds, args.sentence_cells, args.top_n, log)
        (out_dir / f"{name}.json").write_text(json.dumps(result, indent=1))
        results.append(result)
    if not args.no_doc:
        write_doc(results, "python scripts/exp_weighting.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
