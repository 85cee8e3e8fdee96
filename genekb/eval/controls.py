"""The feature sets scored side by side: the version's vectors, its controls, and its own text.

- `vectors`: the version's gene vectors.
- `shuffled`: the same vectors permuted across the task's genes (one permutation per seed): the
  same geometry with the gene identity broken.
- `random`: Gaussian vectors of the same dimension (drawn per seed): what a probe of that size
  finds in noise.
- `annotation-depth`: six numbers per gene from its record, no words: how many GO process,
  function and component terms and aliases it has, whether it has a summary, how long its text
  is. What "how well studied is this gene" alone predicts.
- `bag-of-words`: TF-IDF of the version's own texts: what the words alone carry, with no model.
- `vectors+bag-of-words`: both blocks in one probe.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from genekb.eval.probe import make_probe

CONTROLS = ("shuffled", "random", "annotation-depth", "bag-of-words")
DEPTH_COLUMNS = ("go_bp", "go_mf", "go_cc", "aliases", "summary", "text")
COMBINED = "vectors+bag-of-words"
FEATURE_SETS = ("vectors", *CONTROLS, COMBINED)


def _seeded(seed: int, salt: int) -> np.random.Generator:
    return np.random.default_rng([seed, salt])


def shuffled(vectors: np.ndarray, seed: int) -> np.ndarray:
    return vectors[_seeded(seed, 1).permutation(len(vectors))]


def random_like(vectors: np.ndarray, seed: int) -> np.ndarray:
    return _seeded(seed, 2).standard_normal(vectors.shape).astype(np.float32)


def annotation_depth(records: pd.DataFrame) -> np.ndarray:
    """(n, 6): log1p of the GO process/function/component and alias counts, has-summary, and
    log1p of the text's length in characters."""

    def count(values: object) -> int:
        return 0 if values is None else len(values)  # type: ignore[arg-type]

    columns = [np.log1p(records[c].map(count).to_numpy(float)) for c in ("go_bp", "go_mf", "go_cc")]
    columns.append(np.log1p(records["aliases"].map(count).to_numpy(float)))
    columns.append(records["summary"].map(lambda v: float(bool(v))).to_numpy(float))
    columns.append(np.log1p(records["text"].map(len).to_numpy(float)))
    return np.column_stack(columns).astype(np.float32)


def feature_sets(
    vectors: np.ndarray,
    texts: Sequence[str] | None,
    *,
    binary: bool,
    names: Sequence[str] = FEATURE_SETS,
    tune: bool = False,
    depth: np.ndarray | None = None,
) -> dict[str, Callable[[int], Pipeline]]:
    """name -> build(seed) for each requested feature set (text ones only where texts exist)."""
    opts = {"binary": binary, "tune": tune}
    builders: dict[str, Callable[[int], Pipeline]] = {
        "vectors": lambda s: make_probe(vectors, seed=s, **opts),
        "shuffled": lambda s: make_probe(shuffled(vectors, s), seed=s, **opts),
        "random": lambda s: make_probe(random_like(vectors, s), seed=s, **opts),
    }
    if depth is not None:
        builders["annotation-depth"] = lambda s: make_probe(depth, seed=s, **opts)
    if texts is not None:
        builders["bag-of-words"] = lambda s: make_probe(texts=texts, seed=s, **opts)
        builders[COMBINED] = lambda s: make_probe(vectors, texts, seed=s, **opts)
    return {n: builders[n] for n in names if n in builders}
