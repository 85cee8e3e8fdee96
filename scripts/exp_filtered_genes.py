"""The cluster default and the bench's three baselines on design files cut to their most variable
genes, as a file shipped with a filtered gene list is (the issue's intestine file: 1,000 genes).

    OMP_NUM_THREADS=1 python scripts/exp_filtered_genes.py --datasets a,b --seeds 3 \
        --genes 1000 --out OUT.jsonl
    python scripts/exp_filtered_genes.py --table OUT.jsonl

The genes kept are chosen without labels: scanpy's `highly_variable_genes` (Seurat flavour) on
the expression as the pipeline reads it (counts normalised to the median total and log1p'd,
linear-scale values log1p'd, log values as they are), the `--genes` most variable. Per dataset and
seed (true k, the registry's batch column where it names one) the pipeline's default
(`cellmodel.cluster.job.cluster`, expression only) and the bench's baselines on the cut file
(the registered methods pca-kmeans, leiden-k, leiden), with the default's batch choice
(where it ran), its number of components and its unsure report. Labels only score.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

import anndata as ad
import numpy as np
from sklearn.metrics import adjusted_rand_score

from cellmodel import datasets, io
from cellmodel.bench import methods as _registers_the_baselines  # noqa: F401
from cellmodel.bench.data import hide_labels, reference_labels
from cellmodel.bench.registry import MethodInput, get_method
from cellmodel.cluster.job import cluster
from cellmodel.datasets import registry

BASELINES = ("pca-kmeans", "leiden-k", "leiden")
METHODS = ("default", *BASELINES)


def most_variable(adata: ad.AnnData, n: int) -> np.ndarray:
    """Indices of the `n` most variable genes (Seurat flavour on log expression)."""
    import scanpy as sc

    expr = io.expression(adata)
    tmp = ad.AnnData(X=expr.X.copy())
    if expr.kind == "counts":
        sc.pp.normalize_total(tmp)
        sc.pp.log1p(tmp)
    elif expr.kind == "other":
        sc.pp.log1p(tmp)
    sc.pp.highly_variable_genes(tmp, n_top_genes=n, flavor="seurat")
    return np.flatnonzero(tmp.var["highly_variable"].to_numpy())


def run(
    names: list[str], seeds: int, n_genes: int, out: Path, batch_choice: bool, n_pcs: str
) -> None:
    with out.open("a") as sink:
        for name in names:
            entry = registry.get(name)
            adata = datasets.load(name)
            truth, mask, k = reference_labels(adata, entry.label_key)
            keep = most_variable(adata, n_genes) if adata.n_vars > n_genes else None
            cut = adata if keep is None else adata[:, keep].copy()
            batch = "batch" if entry.batch_key else None
            for seed in range(seeds):
                blind = hide_labels(cut, entry.batch_key)
                cluster(
                    blind, None, n_clusters=k, use_semantic=False, batch_key=batch, seed=seed,
                    batch_choice=batch_choice, n_pcs=n_pcs if n_pcs == "auto" else int(n_pcs),
                )  # fmt: skip
                parts = {"default": blind.obs["cellmodel_cluster"].astype(int).to_numpy()}
                for name_ in BASELINES:
                    parts[name_] = get_method(name_).run(MethodInput(blind, k, seed)).labels
                record = blind.uns["cellmodel"]
                choice = record.get("batch_choice") or {}
                unsure = record.get("diagnostics") or {}
                row = {
                    "dataset": name,
                    "genes": int(cut.n_vars),
                    "seed": seed,
                    "settings": {"batch_choice": batch_choice, "n_pcs": n_pcs},
                    "ari": {m: adjusted_rand_score(truth[mask], np.asarray(p)[mask])
                            for m, p in parts.items()},
                    "n_pcs": int(blind.obsm["X_pca_expr"].shape[1]),
                    "batch_chosen": choice.get("chosen"),
                    "unsure": bool(unsure.get("unsure")),
                    "agreement": unsure.get("agreement"),
                }  # fmt: skip
                sink.write(json.dumps(row) + "\n")
                sink.flush()
                print(f"{name} seed {seed}: {row['ari']['default']:.3f}", file=sys.stderr)


def table(path: Path) -> None:
    per: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for line in path.read_text().splitlines():
        run_ = json.loads(line)
        rows = per[run_["dataset"]]
        for m in METHODS:
            rows[m].append(run_["ari"][m])
        for field in ("genes", "n_pcs", "batch_chosen", "unsure"):
            rows[field].append(run_[field])
    print(
        "| dataset | genes | seeds | components | batch choice kept | default | pca-kmeans "
        "| leiden-k | leiden | default − best | unsure (seeds) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, rows in per.items():
        cells = []
        for m in METHODS:
            sd = statistics.stdev(rows[m]) if len(rows[m]) > 1 else 0.0
            cells.append(f"{statistics.mean(rows[m]):.3f} ± {sd:.3f}")
        means = {m: statistics.mean(rows[m]) for m in METHODS}
        gap = means["default"] - max(means[m] for m in METHODS[1:])
        pcs = "–".join(str(p) for p in sorted({min(rows["n_pcs"]), max(rows["n_pcs"])}))
        chosen = ", ".join(sorted({str(c) for c in rows["batch_chosen"] if c})) or "–"
        print(
            f"| {name} | {rows['genes'][0]} | {len(rows['default'])} | {pcs} | {chosen} "
            f"| {' | '.join(cells)} | {gap:+.3f} | {sum(rows['unsure'])} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--genes", type=int, default=1000)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--no-batch-choice", action="store_true", help="the fit kept as it is")
    parser.add_argument("--n-pcs", default="auto", help="components (default: the pipeline's)")
    parser.add_argument("--table", type=Path, help="print the table of a runs file")
    args = parser.parse_args()
    if args.table:
        table(args.table)
        return
    if not args.datasets or args.out is None:
        parser.error("give --datasets and --out, or --table")
    run(
        args.datasets.split(","), args.seeds, args.genes, args.out,
        not args.no_batch_choice, args.n_pcs,
    )  # fmt: skip


if __name__ == "__main__":
    main()
