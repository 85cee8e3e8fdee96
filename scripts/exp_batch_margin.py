"""The batch choice's margin: how much less batch information an alternative must carry.

    OMP_NUM_THREADS=1 python scripts/exp_batch_margin.py --seeds 10 --shares 0,0.25 \
        --datasets tabula-sapiens-lung-1000,travaglini2020-lung-1000,cellhint-pancreas,\
baron-human,baron-mouse,wang2018-starmap-3704

Per dataset (one with a batch column in the registry) and seed (true k, expression only, ComBat on
that column, as `cellmodel cluster --batch-key auto` runs), the pipeline's three candidates are
built as `cellmodel.cluster.batch_choice.choose_fit` builds them: the default fit, the
link-reconstruction fit (`LINK_CANDIDATE`) and Leiden at k on the fit's kNN graph. Then, for each
share S of `--shares`, the pipeline's choice (`choose`) is kept where its alternative also lowers
the batch AMI by more than S of the default's AMI, else the default (S = 0: the pipeline), the
merge-split check runs on it, and the ARI of the kept partition and of the checked one is
scored. JSON lines: every candidate's batch AMI, ARI (as fitted, and `checked`: after the
merge-split check) and label-free quality (mean silhouette in the PCA, modularity on the kNN
graph), per share the choice and ARIs, and per silhouette floor F (`--floors`) the choice among
the default and the alternatives whose silhouette is at least F times the default's.
`--summarize RUNS...` prints those runs as a table with leave-one-dataset-out over the floors.
`--auto-k`: k estimated by the fit (the pipeline's `n_clusters=None`; the check then also
merges). `NAME:N:S` is a subsample of N cells drawn with numpy seed S. Labels only score.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from cellmodel import datasets
from cellmodel.bench.aggregate import leave_one_dataset_out, mean_std
from cellmodel.bench.data import BATCH_COLUMN, hide_labels, reference_labels
from cellmodel.bench.report import fmt_value
from cellmodel.cluster.batch_choice import (
    DEFAULT,
    LINK_CANDIDATE,
    BatchChoice,
    choose,
    leiden_candidate,
)
from cellmodel.cluster.batch_column import batch_values
from cellmodel.cluster.fit import relabel_by_size
from cellmodel.cluster.job import cluster
from cellmodel.cluster.merge_split import SILHOUETTE_SAMPLE, check_partition
from cellmodel.cluster.options import ClusterRun
from cellmodel.cluster.silhouette import Silhouette
from cellmodel.metrics import cluster_metrics
from cellmodel.pp import graph


def candidates(adata, k: int | None, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray, object]:
    """The batch choice's candidates, the pipeline's PCA and its kNN graph (k None: each fit
    estimates it on the same graph, so both find the same k)."""
    parts = {}
    for name, options in (("reconstruction", {}), ("link", LINK_CANDIDATE)):
        blind = adata.copy()
        cluster(blind, n_clusters=k, use_semantic=False, seed=seed, merge_split=False,
                batch_choice=False, batch_key=BATCH_COLUMN, **options)  # fmt: skip
        parts[name] = blind.obs["cellmodel_cluster"].astype(int).to_numpy()
        k = int(blind.uns["cellmodel"]["n_clusters"]) if k is None else k
    X = np.asarray(blind.obsm["X_pca_expr"])
    adjacency = graph.knn_graph(X, ClusterRun.n_neighbors, seed=seed).adjacency
    leiden = leiden_candidate(adjacency, k, seed)
    if leiden is not None:
        parts["leiden"] = leiden
    return parts, X, adjacency


def with_share(choice: BatchChoice, share: float) -> str:
    """The pipeline's choice, kept only where it also lowers the batch AMI by more than `share`
    of the default's (else the default)."""
    scores = choice.batch_ami
    gain = scores[DEFAULT] - scores[choice.chosen]
    return choice.chosen if gain > share * scores[DEFAULT] else DEFAULT


def one_run(
    adata, truth, mask, k: int | None, seed: int, shares: list[float], floors: list[float]
) -> dict:
    def ari(labels: np.ndarray) -> float:
        return round(cluster_metrics(truth[mask], labels[mask])["ari"], 3)

    parts, X, adjacency = candidates(adata, k, seed)
    batch = batch_values(adata, BATCH_COLUMN)
    out: dict = {"ari": {name: ari(p) for name, p in parts.items()}}
    names = sorted(parts)
    out["agreement"] = {  # label-free: the ARI between two candidates' partitions
        f"{a}~{b}": round(cluster_metrics(parts[a], parts[b])["ari"], 3)
        for i, a in enumerate(names) for b in names[i + 1 :]
    }  # fmt: skip
    scorer = Silhouette(X, seed, SILHOUETTE_SAMPLE)  # label-free quality of each candidate
    out["silhouette"] = {name: round(scorer(p), 4) for name, p in parts.items()}
    out["modularity"] = {name: round(_modularity(adjacency, p), 4) for name, p in parts.items()}
    out["checked"] = {  # each candidate as the pipeline would finish it, had it been chosen
        name: ari(check_partition(X, relabel_by_size(p), seed, batch, k is None,
                                  adjacency=adjacency)[0])
        for name, p in parts.items()
    }  # fmt: skip
    for floor in floors:  # alternatives whose silhouette is at least `floor` × the default's
        eligible = {
            name: p for name, p in parts.items()
            if name == DEFAULT or out["silhouette"][name] >= floor * out["silhouette"][DEFAULT]
        }  # fmt: skip
        chosen = choose(eligible, batch, seed).chosen
        out[f"floor={floor:g}"] = {"chosen": chosen, "checked": out["checked"][chosen]}
    choice = choose(parts, batch, seed)
    for share in shares:
        chosen = with_share(choice, share)
        kept = relabel_by_size(parts[chosen])
        checked = check_partition(X, kept, seed, batch, k is None, adjacency=adjacency)[0]
        out["batch_ami"] = {n: round(v, 4) for n, v in choice.batch_ami.items()}
        kept_ari, checked_ari = ari(kept), ari(checked)
        out[f"share={share:g}"] = {"chosen": chosen, "ari": kept_ari, "checked": checked_ari}
    return out


def _modularity(adjacency, labels: np.ndarray) -> float:
    """Newman's modularity of `labels` on the symmetrised kNN graph (igraph's, resolution 1)."""
    import igraph as ig

    sym = (adjacency + adjacency.T).tocoo()
    g = ig.Graph(n=sym.shape[0], edges=list(zip(sym.row, sym.col, strict=True)), directed=False)
    return float(g.modularity(list(labels), weights=list(sym.data)))


def fmt(values: list[float]) -> str:
    return fmt_value(mean_std(values))


def summarize(paths: list[str]) -> None:
    """Markdown: per dataset the checked ARI of the pipeline (share 0) and of each silhouette
    floor, the seeds where the choice left the default, and the floor that leave-one-dataset-out
    chooses (the pipeline first, so a fold that cannot tell them apart keeps it)."""
    lines = [line for path in paths for line in Path(path).read_text().splitlines()]
    rows = [json.loads(line) for line in lines if line.strip()]
    floors = sorted({k for row in rows for k in row if k.startswith("floor=")})
    variants = ("share=0", *floors)
    per: dict = {}
    for row in rows:
        for name in variants:
            per.setdefault(row["dataset"], {}).setdefault(name, []).append(row[name]["checked"])
    left = {d: [sum(r[n]["chosen"] != DEFAULT for r in rows if r["dataset"] == d)
                for n in variants] for d in per}  # fmt: skip
    folds = leave_one_dataset_out(per, variants)
    print("| dataset | seeds | " + " | ".join(variants) + " | LODO (variant) |")
    print("|" + "---|" * (len(variants) + 3))
    for d, values in per.items():
        cells = [f"{fmt(values[n])} ({left[d][i]})" for i, n in enumerate(variants)]
        chosen, scores = folds[d]
        print(f"| {d} | {len(values[variants[0]])} | " + " | ".join(cells)
              + f" | {fmt(scores)} ({chosen}) |")  # fmt: skip
    means = [f"{np.mean([np.mean(per[d][n]) for d in per]):.3f}" for n in variants]
    lodo_mean = np.mean([np.mean(scores) for _, scores in folds.values()])
    print(f"| mean | | {' | '.join(means)} | {lodo_mean:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--shares", default="0,0.25")
    parser.add_argument("--auto-k", action="store_true", help="k estimated, as cellmodel-auto")
    parser.add_argument("--floors", default="", help="silhouette floors, e.g. 0.5,1")
    parser.add_argument("--summarize", nargs="+", help="runs (JSON lines) to tabulate instead")
    args = parser.parse_args()
    if args.summarize:
        summarize(args.summarize)
        return
    shares = [float(s) for s in args.shares.split(",")]
    floors = [float(f) for f in args.floors.split(",") if f]
    for spec in args.datasets.split(","):
        name, size, draw = [*spec.split(":"), "", ""][:3]
        entry, full = datasets.get(name), datasets.load(name)
        if size:
            rows = np.random.default_rng(int(draw or 0)).choice(full.n_obs, int(size), False)
            full = full[np.sort(rows)].copy()
        adata = hide_labels(full, entry.batch_key)
        truth, mask, k = reference_labels(full, entry.label_key)
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            row = one_run(adata, truth, mask, None if args.auto_k else k, seed, shares, floors)
            print(json.dumps({"dataset": spec, "seed": seed, **row}), flush=True)


if __name__ == "__main__":
    main()
