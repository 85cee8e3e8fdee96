"""How far can a clustering of these features go? Label-using reference points for issue 5.

Every figure here *uses the labels on purpose*: none is a method, none picks anything for one.
They bound what a label-free clustering of the same input can be expected to reach, on the very
PCA that `cellmodel cluster` starts from (log-normalize, 2,000 HVGs, ComBat on the registry's
batch column where it has one, scale, PCA 50):

- `logreg` / `knn15`: supervised classifiers, 5-fold stratified cross-validation (each cell is
  predicted by a model trained on the other 80 % of the labelled cells), predictions pooled and
  scored with the same metrics as a clustering (ACC after Hungarian matching, NMI, ARI, F1);
- `nearest-centroid`: every cell to the nearest true-class centroid (the partition a centroid
  clustering would give if it found the true centres);
- `kmeans-from-truth`: Lloyd's k-means started from the true centroids and run to convergence
  (where a perfect start drifts to under the k-means objective).

    .venv/bin/python scripts/exp_ceiling.py [--datasets pbmc68k-reduced baron-human baron-mouse]
        [--cache-dir DIR] [--repeats 3]

Prints one Markdown table (mean ± std over the cross-validation repeats; the centroid rows are
deterministic).
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np

METRICS = ("acc", "nmi", "ari", "f1")


def features(name: str, cache_dir: str | None) -> tuple[np.ndarray, np.ndarray]:
    """The PCA `cellmodel cluster` would cluster, and the labels (for scoring here only)."""
    from cellmodel import datasets
    from cellmodel.pp.graph import structure_features

    entry = datasets.get(name)
    adata = datasets.load(name, cache_dir=cache_dir)
    batch = adata.obs[entry.batch_key].astype(str).to_numpy() if entry.batch_key else None
    X_pca = structure_features(adata.X, kind=entry.values, batch=batch, seed=0)
    return X_pca, adata.obs[entry.label_key].astype(str).to_numpy()


def reference_points(X: np.ndarray, y: np.ndarray, repeats: int) -> dict[str, list[dict]]:
    from sklearn.cluster import KMeans
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.neighbors import KNeighborsClassifier

    from cellmodel.metrics import cluster_metrics

    rows: dict[str, list[dict]] = {}
    # Classes with fewer than 5 cells cannot be stratified into 5 folds; sklearn warns and still
    # splits them, which is what we want (they are the hardest cells either way).
    classifiers = {
        "logreg": lambda: LogisticRegression(max_iter=3000, C=0.1),
        "knn15": lambda: KNeighborsClassifier(15),
    }
    for label, make in classifiers.items():
        for repeat in range(repeats):
            folds = StratifiedKFold(5, shuffle=True, random_state=repeat)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                predicted = cross_val_predict(make(), X, y, cv=folds)
            rows.setdefault(label, []).append(cluster_metrics(y, predicted))
    classes, codes = np.unique(y, return_inverse=True)
    centroids = np.stack([X[codes == c].mean(0) for c in range(classes.size)])
    distances = ((X[:, None, :] - centroids[None]) ** 2).sum(-1)
    rows["nearest-centroid"] = [cluster_metrics(y, distances.argmin(1))]
    drifted = KMeans(classes.size, init=centroids, n_init=1).fit_predict(X)
    rows["kmeans-from-truth"] = [cluster_metrics(y, drifted)]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--datasets", nargs="+", default=["pbmc68k-reduced", "baron-human", "baron-mouse"]
    )
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print("| dataset | reference (uses labels) | runs | ACC | NMI | ARI | F1 |")
    print("|---|---|---|---|---|---|---|")
    for name in args.datasets:
        X, y = features(name, args.cache_dir)
        for label, runs in reference_points(X, y, args.repeats).items():
            cells = []
            for metric in METRICS:
                values = np.array([run[metric] for run in runs])
                spread = f" ± {values.std(ddof=1):.3f}" if values.size > 1 else ""
                cells.append(f"{values.mean():.3f}{spread}")
            print(f"| {name} | {label} | {len(runs)} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
