"""Rare classes in few-label classification: decision rules measured on the default run's votes.

For each dataset and seed, `cellmodel.classify` runs once with the defaults (the split of
exp_classify.py); its unrefined and refined kNN vote shares (frequency votes, before the default
matches class masses on their blend) are recorded, and decision rules are scored on them without
retraining:

- class-mass normalization (`classify.mass_normalize`, the default "mass" vote) of the blend and of
  the unrefined vote alone;
- prior exponent a: each class's votes divided by n_c^a (n_c: its labelled cells; a = 0 is the
  frequency vote, a = 1 the balanced one), on the unrefined vote alone and on the default blend;
- a rare-class gate: a class with fewer labelled cells than k takes every unlabelled cell whose
  marker score for it exceeds that of every labelled cell of another class and whose robust
  z-score (median / MAD over all cells, label-free) is largest in that class's column;
- where each held-out cell of a class with one or two labelled cells ranks in its class's
  marker-score column among the unlabelled cells (0 = highest).

    .venv/bin/python scripts/exp_rare.py                     # baron-human, pbmc, wu
    .venv/bin/python scripts/exp_rare.py --datasets baron-mouse

Labels of the unlabelled cells only score; every rule's inputs are the training labels and the
label-free expression.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cellmodel import classify, datasets
from cellmodel.bench.screens import CLASSIFY_SPLITS
from cellmodel.io import expression

EXPONENTS = (0.0, 0.25, 0.5, 0.75, 1.0)
RANKED_MAX_LABELLED = 2  # ranks are printed for classes with at most this many labelled cells


def recorded_votes(
    X: np.ndarray, labels: np.ndarray, mask: np.ndarray, seed: int, marker_args: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray, classify.ClassifyResult]:
    """Run the default classify and keep the two vote-share matrices it decides on (the
    unrefined and the refined kNN's, before the blend and the vote rule)."""
    result = classify.classify(
        X, labels, mask, seed=seed, compare=False, record_votes=True, **marker_args
    )
    assert result.votes is not None
    return result.votes["unrefined"], result.votes["refined"], result


def _normalized(shares: np.ndarray) -> np.ndarray:
    return shares / shares.sum(axis=1, keepdims=True)


def gate(
    predicted: np.ndarray,
    scores: np.ndarray,
    classes: np.ndarray,
    labels: np.ndarray,
    mask: np.ndarray,
    k: int,
) -> np.ndarray:
    """The rare-class gate (see the module docstring) applied to the unlabelled cells' answers."""
    centre = np.median(scores, axis=0)
    spread = np.maximum(np.median(np.abs(scores - centre), axis=0) * 1.4826, 1e-6)
    z = (scores - centre) / spread
    query_scores, query_z = scores[~mask], z[~mask]
    train_labels = labels[mask]
    gated = predicted.copy()
    for c, name in enumerate(classes):
        if (train_labels == name).sum() >= k:
            continue
        threshold = scores[mask][train_labels != name, c].max()
        gated[(query_scores[:, c] > threshold) & (query_z.argmax(axis=1) == c)] = name
    return gated


def _mean_std(values: list[float]) -> str:
    a = np.asarray(values)
    return f"{a.mean():.4f} ± {a.std(ddof=1) if len(a) > 1 else 0.0:.4f}"


def run(name: str, seeds: list[int], cache: Path) -> tuple[list[str], list[str]]:
    """Table rows (rule, accuracy, macro-F1) and the rare cells' column ranks for one dataset."""
    adata = datasets.load(name, cache_dir=cache)
    labels = adata.obs[adata.uns["dataset"]["label_key"]].astype(str).to_numpy()
    pca = classify.expression_pca(adata, seed=0)
    expr = expression(adata)
    marker_args = {"expression": expr.X, "gene_names": expr.genes}
    k = classify.DEFAULT_K
    blend = classify.ClassifyOptions().blend
    rules: dict[str, list[tuple[float, float]]] = {}
    ranks: list[str] = []
    for seed in seeds:
        mask = classify.split(labels, seed=seed, **CLASSIFY_SPLITS[name])
        raw, refined, result = recorded_votes(pca, labels, mask, seed, marker_args)
        truth = labels[~mask]
        classes = np.unique(labels[mask])
        sizes = np.array([(labels[mask] == c).sum() for c in classes], dtype=np.float64)
        for a in EXPONENTS:
            prior = sizes**-a
            unrefined = _normalized(raw * prior)
            blended = (1 - blend) * _normalized(refined * prior) + blend * unrefined
            for rule, shares in ((f"unrefined, a={a}", unrefined), (f"blend, a={a}", blended)):
                s = classify.score(rule, truth, classes[shares.argmax(axis=1)])
                rules.setdefault(rule, []).append((s.accuracy, s.macro_f1))
        blend_shares = (1 - blend) * refined + blend * raw
        for rule, shares in (("unrefined, mass", raw), ("blend, mass (default)", blend_shares)):
            chosen = classes[classify.mass_normalize(shares, sizes).argmax(axis=1)]
            s = classify.score(rule, truth, chosen)
            rules.setdefault(rule, []).append((s.accuracy, s.macro_f1))
        block, block_classes, _ = classify.marker_block(
            expr.X, labels, mask, classify.ClassifyOptions().n_markers
        )
        # its columns follow the classes' first occurrence: put them in `classes`' order
        where = {str(c): i for i, c in enumerate(block_classes)}
        scores = block[:, [where[str(c)] for c in classes]]
        default = classes[classify.mass_normalize(blend_shares, sizes).argmax(axis=1)]
        assert np.array_equal(default, result.predictions[~mask]), "recorded votes mismatch"
        s = classify.score("gate", truth, gate(default, scores, classes, labels, mask, k))
        rules.setdefault("default + rare-class gate", []).append((s.accuracy, s.macro_f1))
        for c, cls in enumerate(classes):
            if sizes[c] > RANKED_MAX_LABELLED:
                continue
            column = scores[~mask, c]
            order = np.argsort(-column, kind="stable")
            place = np.empty(len(order), dtype=int)
            place[order] = np.arange(len(order))
            held = np.flatnonzero(truth == cls)
            ranks.append(f"{name} seed {seed} {cls}: ranks {sorted(place[held].tolist())}")
        print(f"{name} seed {seed} done", file=sys.stderr, flush=True)
    rows = [
        f"| {name} | {rule} | {_mean_std([a for a, _ in v])} | {_mean_std([f for _, f in v])} |"
        for rule, v in rules.items()
    ]
    return rows, ranks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--datasets", nargs="+", default=["baron-human", "pbmc68k-reduced", "wu2020-200"]
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--cache", type=Path, default=Path("/tmp/classify_store/datasets"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows, ranks = ["| dataset | rule | accuracy | macro-F1 |", "|---|---|---|---|"], []
    for name in args.datasets:
        found = run(name, args.seeds, args.cache)
        rows += found[0]
        ranks += found[1]
    print("\n".join([*rows, "", "Held-out cells of classes with 1-2 labelled cells:"]))
    print("\n".join(ranks))


if __name__ == "__main__":
    main()
