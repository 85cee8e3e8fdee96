"""Does a steepest-ascent search make the merge-split check's result depend less on the seed?

    OMP_NUM_THREADS=1 python scripts/exp_check_steepest.py --fits FITS --datasets A,B,...

The pipeline's check (`moves`) tries the pairs to merge in order of Ward cost and makes the best
move of the first pair that has an accepted one, so a small change of the fit can change which
pair comes first and with it the whole sequence of moves. `steepest` tries every no-dip pair the
kNN graph joins, each beside every other cluster's cut, and makes the move of highest silhouette
over all of them (then repeats). FITS as for `scripts/exp_check_polish.py` (the pipeline's fit
without the check, one file per dataset and seed). Prints JSON lines of the ARI of `none` (the
fit), `moves` and `steepest`, and the moves each made. Labels only score.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from cellmodel.bench.fit_cache import scored_fits
from cellmodel.cluster import merge_split as check
from cellmodel.cluster.moves import Move, MoveSearch, candidate_merges
from cellmodel.cluster.options import ClusterRun
from cellmodel.pp import graph


class SteepestSearch(MoveSearch):
    """The accepted move of highest silhouette over every candidate pair."""

    def next(self, labels: np.ndarray, score: float, batch_info: float | None) -> Move | str:
        k = int(labels.max()) + 1
        best: Move | None = None
        refusal = "no neighbouring pair without a density dip that the kNN graph joins"
        pairs = candidate_merges(self.X, labels, k, self.joined, self.min_connectivity)
        for merge in pairs:
            move = self._with_split(labels, k, merge, score, batch_info)
            if isinstance(move, Move):
                if best is None or move.score > best.score:
                    best = move
            else:
                refusal = move
        return best if best is not None else refusal


def run_check(
    X: np.ndarray, fitted: np.ndarray, seed: int, batch: Any, knn: Any, search_class: type
) -> tuple[np.ndarray, int]:
    """The pipeline's check with `search_class` finding each move: labels, moves made."""
    original = check.MoveSearch
    check.MoveSearch = search_class
    try:
        result = check.merge_split(X, fitted, seed, batch, adjacency=knn)
    finally:
        check.MoveSearch = original
    return result.labels, len(result.moves)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fits", type=Path, required=True)
    parser.add_argument("--datasets", required=True)
    args = parser.parse_args()
    for name, seed, (fitted, X, batch), ari in scored_fits(args.fits, args.datasets.split(",")):
        knn = graph.knn_graph(X, ClusterRun.n_neighbors, seed=seed).adjacency
        parts, n_moves = {"none": fitted}, {}
        for label, search in (("moves", MoveSearch), ("steepest", SteepestSearch)):
            parts[label], n_moves[label] = run_check(X, fitted, seed, batch, knn, search)
        record = {"dataset": name, "seed": seed, "ari": ari(parts), "n_moves": n_moves}
        print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
