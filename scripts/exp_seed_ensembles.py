"""Does an ensemble over seeds steady the pipeline? Measured on the check's cached fits.

    OMP_NUM_THREADS=1 python scripts/exp_seed_ensembles.py --fits FITS --seeds 15 --size 3 \
        --datasets tabula-sapiens-lung-1000,travaglini2020-lung-1000,paul2015-2660,\
zeisel2015-3005,stoeckius-cbmc-8617
    OMP_NUM_THREADS=1 python scripts/exp_seed_ensembles.py --fits FITS \
        --decompose paul2015-2660,zeisel2015-3005

FITS is the folder `scripts/exp_merge_split_guards.py --batch --fits FITS` fills (one fit of the
pipeline without the check per dataset and seed: its labels, PCA and batch column). Each fit is
checked as the pipeline checks it (`check_partition`, the kNN graph of the fit); the seeds are cut
into disjoint groups of `--size` consecutive seeds (0–2, 3–5, …), and each group gives:
- `single`: the checked partition of the group's first seed (the pipeline as it is);
- `medoid`: of the group's checked partitions, the one with the highest mean ARI with the others
  (the "best of the ensemble by average agreement" rule; Strehl & Ghosh 2002);
- `consensus`: the spectral consensus of the group's checked partitions (`spectral_consensus`);
- `consensus-fit`: the spectral consensus of the group's fits, then checked.
`all` scores every seed's checked partition alone. Labels only score; nothing is chosen by them.

`--decompose`: where the spread comes from. For pretraining seeds 0 and 1 (on the cached fit's
PCA), the encoder is pretrained once; then four k-means initialisations and refinements (seeds
100–103) each give a fit, checked as above. ARI of each fit and of its checked partition.
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

import numpy as np

from cellmodel import datasets
from cellmodel.bench.data import reference_labels
from cellmodel.bench.fit_cache import fit_path, load_fit
from cellmodel.cluster.consensus import spectral_consensus
from cellmodel.cluster.fit import relabel_by_size
from cellmodel.cluster.merge_split import check_partition
from cellmodel.cluster.options import parse_options
from cellmodel.cluster.training import Fitter
from cellmodel.metrics import cluster_metrics
from cellmodel.module.losses import student_t
from cellmodel.module.model import deterministic
from cellmodel.pp import graph


def cached_fit(fits: Path, name: str, seed: int) -> tuple[np.ndarray, np.ndarray, object]:
    for batched in (True, False):
        path = fit_path(fits, name, seed, batched)
        if path.exists():
            return load_fit(path)
    raise SystemExit(f"no fit of {name} seed {seed} in {fits}: run exp_merge_split_guards.py")


def checked(X: np.ndarray, labels: np.ndarray, seed: int, batch: object) -> np.ndarray:
    knn = graph.knn_graph(X, graph.FIT_N_NEIGHBORS, seed=seed).adjacency
    return check_partition(X, labels, seed, batch, adjacency=knn)[0]


def medoid(partitions: list[np.ndarray]) -> np.ndarray:
    def agreement(i: int) -> float:
        others = [p for j, p in enumerate(partitions) if j != i]
        return float(np.mean([cluster_metrics(partitions[i], p)["ari"] for p in others]))

    return partitions[int(np.argmax([agreement(i) for i in range(len(partitions))]))]


def ensembles(fits: Path, name: str, seeds: int, size: int) -> dict:
    adata = datasets.load(name)
    truth, mask, k = reference_labels(adata, datasets.get(name).label_key)

    def ari(labels: np.ndarray) -> float:
        return round(cluster_metrics(truth[mask], labels[mask])["ari"], 3)

    runs = [cached_fit(fits, name, seed) for seed in range(seeds)]
    parts = [checked(X, fitted, seed, batch) for seed, (fitted, X, batch) in enumerate(runs)]
    out: dict = {"dataset": name, "all": [ari(p) for p in parts]}
    for first in range(0, seeds - size + 1, size):
        group = list(range(first, first + size))
        fitted_group = [runs[i][0] for i in group]
        _, X, batch = runs[first]
        scores = {
            "single": ari(parts[first]),
            "medoid": ari(medoid([parts[i] for i in group])),
            "consensus": ari(spectral_consensus([parts[i] for i in group], k, first)),
            "consensus-fit": ari(
                checked(X, spectral_consensus(fitted_group, k, first), first, batch)
            ),
        }
        for rule, value in scores.items():
            out.setdefault(rule, []).append(value)
    return out


def decompose(fits: Path, name: str) -> list[dict]:
    adata = datasets.load(name)
    truth, mask, k = reference_labels(adata, datasets.get(name).label_key)
    options = parse_options({})
    rows = []
    for pretrain_seed in (0, 1):
        X = cached_fit(fits, name, pretrain_seed)[1].astype(np.float32)
        knn = graph.knn_graph(X, options.n_neighbors, seed=pretrain_seed)
        with deterministic(pretrain_seed):
            fitter = Fitter(X, knn, None, options, pretrain_seed, "cpu", None, None)
            fitter.pretrain()
        pretrained = copy.deepcopy(fitter.net)
        pairs = []
        for seed in range(100, 104):
            fitter.net = copy.deepcopy(pretrained)
            with deterministic(seed):
                fitter.rng = np.random.default_rng(seed)
                labels = refined(fitter, k, seed, options)
            after = checked(X, labels, pretrain_seed, None)
            pairs.append([cluster_metrics(truth[mask], p[mask])["ari"] for p in (labels, after)])
        rows.append({"dataset": name, "pretrain_seed": pretrain_seed,
                     "fit_checked": np.round(pairs, 3).tolist()})  # fmt: skip
    return rows


def refined(fitter: Fitter, k: int, seed: int, options) -> np.ndarray:
    """k-means on the pretrained latent from `seed`, then the fit's refinement; hard labels."""
    import torch
    from sklearn.cluster import KMeans

    _, z = fitter.embed()
    centres = KMeans(k, n_init=options.kmeans_restarts, random_state=seed).fit(z.numpy())
    fitter.net.set_centres(torch.from_numpy(centres.cluster_centers_.astype(np.float32)))
    fitter.refine(k)
    _, z = fitter.embed()
    soft = student_t(z, fitter.net.centres.detach(), options.student_alpha)
    return relabel_by_size(soft.argmax(1).numpy().astype(np.int64))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="")
    parser.add_argument("--fits", type=Path)
    parser.add_argument("--seeds", type=int, default=15)
    parser.add_argument("--size", type=int, default=3)
    parser.add_argument("--decompose", default="", help="datasets for the spread's sources")
    args = parser.parse_args()
    for name in filter(None, args.datasets.split(",")):
        print(json.dumps(ensembles(args.fits, name, args.seeds, args.size)), flush=True)
    for name in filter(None, args.decompose.split(",")):
        for row in decompose(args.fits, name):
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
