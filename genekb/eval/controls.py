"""The feature sets scored side by side: the version's vectors, its controls, and its own text.

- `vectors`: the version's gene vectors.
- `shuffled`: the same vectors permuted across the task's genes (one permutation per seed): the
  same geometry with the gene identity broken.
- `random`: Gaussian vectors of the same dimension (drawn per seed): what a probe of that size
  finds in noise.
- `bag-of-words`: TF-IDF of the version's own texts: what the words alone carry, with no model.
- `vectors+bag-of-words`: both blocks in one probe.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from sklearn.pipeline import Pipeline

from genekb.eval.probe import make_probe

CONTROLS = ("shuffled", "random", "bag-of-words")
COMBINED = "vectors+bag-of-words"
FEATURE_SETS = ("vectors", *CONTROLS, COMBINED)


def _seeded(seed: int, salt: int) -> np.random.Generator:
    return np.random.default_rng([seed, salt])


def shuffled(vectors: np.ndarray, seed: int) -> np.ndarray:
    return vectors[_seeded(seed, 1).permutation(len(vectors))]


def random_like(vectors: np.ndarray, seed: int) -> np.ndarray:
    return _seeded(seed, 2).standard_normal(vectors.shape).astype(np.float32)


def feature_sets(
    vectors: np.ndarray,
    texts: Sequence[str] | None,
    *,
    binary: bool,
    names: Sequence[str] = FEATURE_SETS,
    tune: bool = False,
) -> dict[str, Callable[[int], Pipeline]]:
    """name -> build(seed) for each requested feature set (text ones only where texts exist)."""
    opts = {"binary": binary, "tune": tune}
    builders: dict[str, Callable[[int], Pipeline]] = {
        "vectors": lambda s: make_probe(vectors, seed=s, **opts),
        "shuffled": lambda s: make_probe(shuffled(vectors, s), seed=s, **opts),
        "random": lambda s: make_probe(random_like(vectors, s), seed=s, **opts),
    }
    if texts is not None:
        builders["bag-of-words"] = lambda s: make_probe(texts=texts, seed=s, **opts)
        builders[COMBINED] = lambda s: make_probe(vectors, texts, seed=s, **opts)
    return {n: builders[n] for n in names if n in builders}
