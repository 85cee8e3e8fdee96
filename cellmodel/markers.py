"""One-vs-rest gene statistics per group of cells: what `explain` ranks markers by and what
`classify` builds its marker block from.

Everything is computed from sufficient statistics (per-group sums and sums of squares), so a
sparse matrix stays sparse and the cost is one sparse product per statistic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cellmodel.arguments import alike_as_text, lookalike_names, missing_names
from genekb.errors import GenekbError, GenekbWarning, warn

# Added to the pooled variance of `effect_size`: a gene that is flat in every cell (variance 0)
# would otherwise rank first on any tiny difference, and a class with one cell has no variance.
VARIANCE_FLOOR = 0.1


class LookalikeGroupsWarning(GenekbWarning):
    """Groups whose names differ only in case or spaces: likely one group typed two ways."""


def cell_groups(column: pd.Series, key: str, noun: str = "group") -> pd.Categorical:
    """The groups of an obs column as a categorical without unused categories, in the column's
    own order (a categorical's, else sorted); refused when a cell has none (blank text counts as
    none), when two groups read alike as text (1 and '1': the report names groups by text),
    when there is one group, or when there are more groups than half the cells (a cell id or a
    measured value, not a clustering: each group would be a cell or two)."""
    groups = pd.Categorical(column)
    blank = list(groups.categories[missing_names(groups.categories)])
    groups = groups.remove_categories(blank).remove_unused_categories()
    n_missing = int((np.asarray(groups.codes) < 0).sum())
    if n_missing == len(groups) > 0:
        raise GenekbError(
            f"obs[{key!r}] holds no {noun}s (every value is missing or blank); name the column"
            f" of the {noun}s"
        )
    if n_missing:
        # notna() keeps blank text: the hint names it only where every gap is a missing value
        others = "" if blank else f" (adata[adata.obs[{key!r}].notna()])"
        raise GenekbError(
            f"obs[{key!r}] has no {noun} for {n_missing} of {len(groups)} cell(s)"
            f"{' (missing or blank)' if blank else ''}; every cell"
            f" needs one: fill them in (e.g. 'unlabelled'), or pass the others only{others}"
        )
    alike = alike_as_text(groups.categories)  # categories: distinct values
    if alike:
        raise GenekbError(
            f"obs[{key!r}] holds the {noun}s {alike[0]!r} and {alike[1]!r}, which read alike as"
            f" text; make the column one kind (e.g. all text) so each {noun} has its own name"
        )
    found = lookalike_names(groups.categories)
    if found:
        shown = ", ".join(repr(name) for name in found[0])
        more = f" (and {len(found) - 1} more such set(s))" if len(found) > 1 else ""
        warn(
            f"the {noun}s {shown} of obs[{key!r}] differ only in case or spaces{more}, so each is"
            f" a {noun} of its own; write them alike if they are one",
            LookalikeGroupsWarning,
        )
    k, n = len(groups.categories), len(groups)
    if n == 0:
        raise GenekbError(f"obs[{key!r}] has no cells; pass cells of two or more {noun}s")
    if k < 2:
        raise GenekbError(
            f"obs[{key!r}] has one {noun}; markers need at least two, each against the rest:"
            f" name a column of two or more {noun}s, or cluster into more"
        )
    if k > n / 2:
        raise GenekbError(
            f"obs[{key!r}] holds {k} {noun}s for {n} cells (a cell id or a continuous value?);"
            f" markers need {noun}s of several cells: name a column of clusters or cell types"
        )
    return groups


def _dense(M: Any) -> np.ndarray:
    return M.toarray() if sp.issparse(M) else np.asarray(M)


@dataclass(frozen=True)
class GroupStats:
    """Per group (rows) and gene (columns): mean and variance inside the group and in the rest."""

    means: np.ndarray
    var: np.ndarray
    rest_means: np.ndarray
    rest_var: np.ndarray
    sizes: np.ndarray  # cells per group

    def welch_t(self) -> np.ndarray:
        """Welch's t of group against rest (0 where the standard error is 0)."""
        rest = self.sizes.sum() - self.sizes
        se = np.sqrt(self.var / self.sizes[:, None] + self.rest_var / np.maximum(rest, 1)[:, None])
        diff = self.means - self.rest_means
        return np.divide(diff, se, out=np.zeros_like(diff), where=se > 0)

    def effect_size(self) -> np.ndarray:
        """Mean difference over the pooled standard deviation (with `VARIANCE_FLOOR`).

        Unlike a t statistic it does not grow with the group's size, so a class with one
        labelled cell gets markers on the same scale as a class with hundreds.
        """
        pooled = 0.5 * (self.var + self.rest_var) + VARIANCE_FLOOR
        return (self.means - self.rest_means) / np.sqrt(pooled)


@dataclass(frozen=True)
class GroupSums:
    """Per group: cells, and per gene the sum and sum of squares of X: the sufficient statistics
    of `GroupStats`, summable over chunks of cells (`+`)."""

    sizes: np.ndarray  # cells per group
    sums: np.ndarray  # groups × genes
    sums_sq: np.ndarray

    def __add__(self, other: GroupSums) -> GroupSums:
        return GroupSums(
            self.sizes + other.sizes, self.sums + other.sums, self.sums_sq + other.sums_sq
        )

    def columns(self, cols: np.ndarray) -> GroupSums:
        return GroupSums(self.sizes, self.sums[:, cols], self.sums_sq[:, cols])

    def stats(self) -> GroupStats:
        n = self.sizes.sum()
        safe = np.maximum(self.sizes, 1)[:, None]
        means = self.sums / safe
        var = np.maximum(self.sums_sq / safe - means**2, 0.0)
        rest = np.maximum(n - self.sizes, 1)[:, None]
        rest_means = (self.sums.sum(axis=0) - self.sums) / rest
        rest_sq = (self.sums_sq.sum(axis=0) - self.sums_sq) / rest
        rest_var = np.maximum(rest_sq - rest_means**2, 0.0)
        return GroupStats(means, var, rest_means, rest_var, self.sizes)


def group_sums(X: Any, codes: np.ndarray, k: int) -> GroupSums:
    """The per-group sums of every column of `X` (cells × genes) for groups 0..k-1."""
    X = sp.csr_matrix(X, dtype=np.float64) if sp.issparse(X) else np.asarray(X, np.float64)
    n = len(codes)
    indicator = sp.csr_matrix((np.ones(n), (codes, np.arange(n))), shape=(k, n))
    sizes = np.asarray(indicator.sum(axis=1)).ravel()
    squared = X.multiply(X) if sp.issparse(X) else X**2
    return GroupSums(sizes, _dense(indicator @ X), _dense(indicator @ squared))


def group_stats(X: Any, codes: np.ndarray, k: int) -> GroupStats:
    """One-vs-rest means and variances of every column of `X` (cells × genes) for groups 0..k-1."""
    return group_sums(X, codes, k).stats()


def top_markers(stats: GroupStats, n: int) -> list[np.ndarray]:
    """Per group, the indices of its `n` genes of largest effect size that are higher in it."""
    score = stats.effect_size()
    up = stats.means > stats.rest_means
    out = []
    for g in range(score.shape[0]):
        order = np.argsort(-score[g], kind="stable")
        out.append(order[up[g, order]][:n])
    return out
