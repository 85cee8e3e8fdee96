"""Measure few-label classification (cellmodel.classify) on the pinned datasets, 5 seeds each.

Per dataset and seed: a stratified split (10% of cells, or N cells per class), then on each view
the refined kNN, the same kNN without refinement, and logistic regression on PCA(50) of the
expression, all scored on the same held-out cells, plus ablations: self-training forced on / off,
the self-trained kNN without refinement, and the unrefined kNN with 1/d weights. Views: "pca"
(PCA of the expression, always) and "semantic" / "semantic-w" (cellmodel.embed's X_semantic and
X_semantic_w, read from --views-dir/<dataset>.npz where that file exists), and "fused" (the PCA
and X_semantic side by side, `classify.fused_view`) where the semantic view exists.

    .venv/bin/python scripts/exp_classify.py --only-views pca --tag pca
    .venv/bin/python scripts/exp_classify.py --embed-store /tmp/classify_store \
        --only-views semantic semantic-w --no-ablations --tag semantic
    .venv/bin/python scripts/exp_classify.py --datasets wu2020-200 --set pseudo_threshold=0.7
    .venv/bin/python scripts/exp_classify.py --vote-grid   # unrefined kNN: vote × marker block

Results go to `<out>/<dataset>[-tag].json` (every seed, every method, the stopping record); the
summary table (mean ± std over seeds) is printed as Markdown.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cellmodel import classify, datasets
from cellmodel.bench.screens import CLASSIFY_SPLITS, parse_value

RARE_REPORTED = 4  # per-class F1 of this many smallest classes is printed per seed
METHODS = (
    "refined-knn",
    "knn",
    "logreg-pca",
    "refined-knn (self-training on)",
    "refined-knn (self-training off)",
    "self-trained knn",
    "knn 1/d",
)


def load_views(
    name: str, adata: Any, views_dir: Path, embed_store: Path | None
) -> dict[str, np.ndarray]:
    """The PCA view, and the semantic views saved for this dataset: computed with
    cellmodel.embed against `embed_store` (building missing gene vectors) when not saved yet."""
    views = {"pca": classify.cell_view(adata, "pca", seed=0)}
    path = views_dir / f"{name}.npz"
    if not path.exists() and embed_store is not None:
        from cellmodel.embed import embed
        from genekb.store import Store

        embedded = embed(adata.copy(), Store.open(embed_store, create=True))
        views_dir.mkdir(parents=True, exist_ok=True)
        np.savez(
            path,
            X_semantic=embedded.obsm["X_semantic"],
            X_semantic_w=embedded.obsm["X_semantic_w"],
            embedding_id=embedded.uns["cellmodel"]["embedding_id"],
        )
    if path.exists():
        stored = np.load(path, allow_pickle=True)
        for key, view in (("X_semantic", "semantic"), ("X_semantic_w", "semantic-w")):
            if key in stored and stored[key].ndim == 2:
                views[view] = stored[key]
    if "semantic" in views:
        adata.obsm["X_semantic"] = views["semantic"]
        views["fused"] = classify.cell_view(adata, "fused", pca=views["pca"])
    return views


def self_trained_knn(
    X: np.ndarray, labels: np.ndarray, mask: np.ndarray, options: classify.ClassifyOptions
) -> np.ndarray:
    """Ablation: the pseudo-labelled cells added to the kNN's references, without refinement."""
    scaler = classify.Scaler.fit(X[mask])
    train, query = scaler.apply(X[mask]), scaler.apply(X[~mask])
    vote = classify.resolve_vote(options, "classify").vote  # the rule the method votes with
    predicted, share = classify.knn_predict(
        train, labels[mask], query, temperature=options.temperature, vote=vote
    )
    sure = share >= options.pseudo_threshold
    references = np.vstack([train, query[sure]])
    reference_labels = np.concatenate([labels[mask], predicted[sure]])
    return classify.knn_predict(
        references, reference_labels, query, temperature=options.temperature, vote=vote
    )[0]


def run_dataset(
    name: str,
    seeds: list[int],
    cache: Path,
    views_dir: Path,
    options: classify.ClassifyOptions,
    only_views: list[str] | None,
    ablations: bool = True,
    embed_store: Path | None = None,
) -> dict[str, Any]:
    adata = datasets.load(name, cache_dir=cache)
    key = adata.uns["dataset"]["label_key"]
    labels = adata.obs[key].astype(str).to_numpy()
    views = load_views(name, adata, views_dir, embed_store)
    if only_views:
        views = {v: m for v, m in views.items() if v in only_views}
    pca = views["pca"] if "pca" in views else classify.cell_view(adata, "pca", seed=0)
    marker_args = classify.marker_inputs(adata, options.n_markers)
    sizes = adata.obs[key].astype(str).value_counts()
    rare = list(sizes.index[::-1][:RARE_REPORTED])
    runs: list[dict[str, Any]] = []
    for seed in seeds:
        mask = classify.split(labels, seed=seed, **CLASSIFY_SPLITS[name])
        truth = labels[~mask]
        for view, X in views.items():
            began = time.perf_counter()
            result = classify.classify(
                X, labels, mask, seed=seed, options=options, pca=pca, **marker_args
            )
            seconds = time.perf_counter() - began
            assert result.scores is not None
            row: dict[str, Any] = {
                "seed": seed,
                "view": view,
                "n_train": int(mask.sum()),
                "n_test": result.n_scored,
                "seconds": seconds,
                "refinement": result.refinement,
                "notes": result.notes,
                "per_class": classify.by_class(result.scores.to_dict()["per_class"]),
            }
            methods = {"refined-knn": result.scores, **result.comparisons}
            for mode in ("on", "off") if ablations else ():
                ablation = classify.classify(
                    X,
                    labels,
                    mask,
                    seed=seed,
                    compare=False,
                    options=classify.with_options(options, self_training=mode),
                    **marker_args,
                )
                assert ablation.scores is not None
                methods[f"refined-knn (self-training {mode})"] = ablation.scores
            if ablations:
                inverse = classify.classify(
                    X,
                    labels,
                    mask,
                    refine_view=False,
                    compare=False,
                    options=classify.with_options(options, knn_weighting="inverse"),
                    **marker_args,
                )
                assert inverse.scores is not None
                methods["knn 1/d"] = inverse.scores
                # The same view the classify calls see: with the marker block when it is on.
                viewed = (
                    classify.marker_view(
                        X,
                        marker_args["expression"],
                        labels,
                        mask,
                        options.n_markers,
                        kind=options.marker_block,
                    )[0]
                    if options.n_markers
                    else X
                )
                methods["self-trained knn"] = classify.score(
                    "self-trained knn", truth, self_trained_knn(viewed, labels, mask, options)
                )
            for method, scores in methods.items():
                row[method] = {
                    "accuracy": scores.accuracy,
                    "macro_f1": scores.macro_f1,
                    "seconds": scores.seconds,
                }
            runs.append(row)
            print(
                f"{name} seed {seed} {view}: "
                + ", ".join(
                    f"{m} {row[m]['accuracy']:.4f}/{row[m]['macro_f1']:.4f}"
                    for m in METHODS
                    if m in row
                )
                + " | rare F1 "
                + " ".join(
                    f"{c} {row['per_class'][c]['f1']:.2f}" for c in rare if c in row["per_class"]
                )
                + f" (self-training {result.refinement.get('self_training_used')},"
                f" epochs {result.refinement.get('epochs')}, {seconds:.1f}s)",
                flush=True,
            )
    return {
        "dataset": name,
        "setting": CLASSIFY_SPLITS[name],
        "label_key": key,
        "options": asdict(options),
        "runs": runs,
    }


def vote_grid(names: list[str], seeds: list[int], cache: Path) -> str:
    """The unrefined kNN on the PCA view for every vote rule × marker block (none, scores,
    genes), seconds per dataset: what each rare-class lever does on its own, on the same splits."""
    from cellmodel.io import expression

    lines = [
        "| dataset | vote | marker block (100 genes per class) | accuracy | macro-F1 |",
        "|---|---|---|---|---|",
    ]
    for name in names:
        adata = datasets.load(name, cache_dir=cache)
        labels = adata.obs[adata.uns["dataset"]["label_key"]].astype(str).to_numpy()
        pca = classify.expression_pca(adata, seed=0)
        expr = expression(adata)
        n_default = classify.ClassifyOptions().n_markers
        blocks = [(0, "scores")] + [(n_default, block) for block in classify.MARKER_BLOCKS]
        for vote in classify.VOTES:
            for n_markers, block in blocks:
                acc, f1 = [], []
                for seed in seeds:
                    mask = classify.split(labels, seed=seed, **CLASSIFY_SPLITS[name])
                    result = classify.classify(
                        pca,
                        labels,
                        mask,
                        refine_view=False,
                        compare=False,
                        options=classify.with_options(
                            vote=vote, n_markers=n_markers, marker_block=block
                        ),
                        expression=expr.X,
                        gene_names=expr.genes,
                    )
                    acc.append(result.accuracy)
                    f1.append(result.macro_f1)
                a, f = np.array(acc), np.array(f1)
                lines.append(
                    f"| {name} | {vote} | {block if n_markers else 'none'} |"
                    f" {a.mean():.4f} ± {_std(a):.4f} |"
                    f" {f.mean():.4f} ± {_std(f):.4f} |"
                )
    return "\n".join(lines)


def _std(values: np.ndarray) -> float:
    return float(values.std(ddof=1)) if len(values) > 1 else 0.0


def summary(results: list[dict[str, Any]]) -> str:
    lines = [
        "| dataset | view | method | accuracy | macro-F1 |",
        "|---|---|---|---|---|",
    ]
    for result in results:
        views = dict.fromkeys(r["view"] for r in result["runs"])
        for view in views:
            rows = [r for r in result["runs"] if r["view"] == view]
            for method in METHODS:
                if (view != "pca" and method == "logreg-pca") or method not in rows[0]:
                    continue  # logreg-pca is the same for every view
                acc = np.array([r[method]["accuracy"] for r in rows])
                f1 = np.array([r[method]["macro_f1"] for r in rows])
                lines.append(
                    f"| {result['dataset']} | {view} | {method} | {acc.mean():.4f} ± "
                    f"{_std(acc):.4f} | {f1.mean():.4f} ± {_std(f1):.4f} |"
                )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(CLASSIFY_SPLITS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path("/tmp/classify_store/datasets"),
        help="dataset cache (cellmodel.datasets)",
    )
    parser.add_argument(
        "--views-dir",
        type=Path,
        default=Path("/tmp/classify_store/views"),
        help="folder of <dataset>.npz files with X_semantic / X_semantic_w",
    )
    parser.add_argument(
        "--embed-store",
        type=Path,
        default=None,
        help="genekb store root: compute missing semantic views with cellmodel.embed (slow)",
    )
    parser.add_argument("--only-views", nargs="+", default=None)
    parser.add_argument(
        "--no-ablations",
        action="store_true",
        help="only the refined kNN and its two comparisons (much faster)",
    )
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="NAME=VALUE",
        help="options to change (see classify.ClassifyOptions)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (the MLP is tiny; 1 is fastest on a shared box)",
    )
    parser.add_argument(
        "--vote-grid",
        action="store_true",
        help="only the unrefined kNN for each vote rule × marker block (fast), as a table",
    )
    parser.add_argument("--tag", default="")
    parser.add_argument("--out", type=Path, default=Path("/tmp/classify_store/runs"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    changes = dict(item.split("=", 1) for item in args.set)
    options = classify.with_options(**{k: parse_value(v) for k, v in changes.items()})
    if args.vote_grid:
        print(vote_grid(args.datasets, args.seeds, args.cache))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    for name in args.datasets:
        result = run_dataset(
            name,
            args.seeds,
            args.cache,
            args.views_dir,
            options,
            args.only_views,
            ablations=not args.no_ablations,
            embed_store=args.embed_store,
        )
        suffix = f"-{args.tag}" if args.tag else ""
        (args.out / f"{name}{suffix}.json").write_text(json.dumps(result, indent=1, default=str))
        results.append(result)
    print(summary(results))


if __name__ == "__main__":
    main()
