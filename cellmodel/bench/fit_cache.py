"""The saved fits that the merge-split check's experiments share (`scripts/exp_merge_split_guards.py
--fits FITS` writes them; `exp_check_polish.py`, `exp_check_steepest.py` and
`exp_seed_ensembles.py` read them): the pipeline's fit without the check, as its labels, the PCA
it was computed in and the batch per cell, one .npz per dataset, seed and use of a batch column.
A subsample's fits carry its size and draw in the name (`NAME_SIZE_DRAW_SEED_BATCHED.npz`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

Fit = tuple[np.ndarray, np.ndarray, Any]  # labels, PCA, batch (None without a batch column)


def fit_path(folder: Path, name: str, seed: int, batched: bool) -> Path:
    return folder / f"{name.replace(':', '_')}_{seed}_{batched}.npz"


def save_fit(path: Path, fit: Fit) -> None:
    fitted, X, batch = fit
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, fitted=fitted, X=X, batch=np.asarray(batch, dtype=object))


def load_fit(path: Path) -> Fit:
    saved = np.load(path, allow_pickle=True)
    return saved["fitted"], saved["X"], saved["batch"][()]


def saved_fits(folder: Path, name: str, batched: bool) -> Iterator[tuple[int, Fit]]:
    """(seed, fit) for every seed of the whole dataset `name` saved in `folder`, by file name."""
    for path in sorted(folder.glob(f"{name}_*_{batched}.npz")):
        seed = path.stem.split("_")[-2]
        if seed.isdigit() and path == fit_path(folder, name, int(seed), batched):
            yield int(seed), load_fit(path)


def scored_fits(
    folder: Path, names: list[str]
) -> Iterator[tuple[str, int, Fit, Callable[[dict[str, np.ndarray]], dict[str, float]]]]:
    """(dataset, seed, fit, ari) for every saved fit of `names`; `ari(partitions)` scores each
    partition against the dataset's labels (rounded to 4 places). Labels only score."""
    from cellmodel import datasets
    from cellmodel.bench.data import reference_labels

    for name in names:
        entry = datasets.get(name)
        truth, mask, _ = reference_labels(datasets.load(name), entry.label_key)
        for seed, fit in saved_fits(folder, name, bool(entry.batch_key)):
            yield name, seed, fit, partial(_ari, truth[mask], mask)


def _ari(truth: np.ndarray, mask: np.ndarray, parts: dict[str, np.ndarray]) -> dict[str, float]:
    from cellmodel.metrics import cluster_metrics

    return {n: round(cluster_metrics(truth, p[mask])["ari"], 4) for n, p in parts.items()}
