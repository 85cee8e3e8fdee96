"""cellmodel.markers: one-vs-rest statistics against values computed by hand."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from cellmodel.markers import VARIANCE_FLOOR, group_stats, top_markers


def small() -> tuple[np.ndarray, np.ndarray]:
    X = np.array(
        [[5.0, 0.0, 1.0], [3.0, 0.0, 1.0], [0.0, 2.0, 1.0], [0.0, 4.0, 1.0], [1.0, 3.0, 1.0]]
    )
    return X, np.array([0, 0, 1, 1, 1])


def test_group_stats_match_numpy_for_dense_and_sparse() -> None:
    X, codes = small()
    for M in (X, sp.csr_matrix(X)):
        stats = group_stats(M, codes, 2)
        for g in (0, 1):
            inside, rest = X[codes == g], X[codes != g]
            np.testing.assert_allclose(stats.means[g], inside.mean(0))
            np.testing.assert_allclose(stats.var[g], inside.var(0), atol=1e-12)
            np.testing.assert_allclose(stats.rest_means[g], rest.mean(0))
            np.testing.assert_allclose(stats.rest_var[g], rest.var(0), atol=1e-12)
        assert stats.sizes.tolist() == [2, 3]


def test_welch_t_and_effect_size_by_hand() -> None:
    X, codes = small()
    stats = group_stats(X, codes, 2)
    inside, rest = X[codes == 0, 0], X[codes == 1, 0]
    t = (inside.mean() - rest.mean()) / np.sqrt(inside.var() / 2 + rest.var() / 3)
    assert np.isclose(stats.welch_t()[0, 0], t)
    d = (inside.mean() - rest.mean()) / np.sqrt(0.5 * (inside.var() + rest.var()) + VARIANCE_FLOOR)
    assert np.isclose(stats.effect_size()[0, 0], d)
    # A flat gene has no standard error: t is 0, not a division error.
    assert stats.welch_t()[0, 2] == 0.0


def test_top_markers_keep_only_genes_higher_in_the_group() -> None:
    X, codes = small()
    markers = top_markers(group_stats(X, codes, 2), 3)
    assert markers[0].tolist() == [0]  # gene 1 is lower in group 0, gene 2 is flat
    assert markers[1].tolist() == [1]


def test_a_one_cell_class_gets_its_own_gene_first() -> None:
    rng = np.random.default_rng(0)
    X = rng.poisson(1.0, size=(50, 20)).astype(float)
    X[0, 7] = 9.0  # the one cell of class 1 expresses gene 7 strongly
    codes = np.zeros(50, dtype=int)
    codes[0] = 1
    assert top_markers(group_stats(X, codes, 2), 1)[1].tolist() == [7]
