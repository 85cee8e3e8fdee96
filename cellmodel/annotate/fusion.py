"""Every ranking a run keeps, and how the default (`combined`) weighs its channels.

A '+' method and `knowledge` sum their channels, each standardised per group (`score.combine`).
The default does so over the Cell Ontology. For a candidate list the user gives it weighs two
experts per group instead, the marker table and the knowledge (text, mentions and processes
summed), each by its own confidence in that group, with no weight to set and no label read:

- the table's −log10 p counts only where it clears the Bonferroni threshold over the candidates
  the table scores in the group (`ALPHA`), as the processes' score does; below it, 0, no
  evidence. A table with no significant overlap in a group (it knows none of the candidates
  there, or the data measure too few of its genes) then stands flat instead of having the
  per-group standardisation blow up its noise;
- each expert's scores are standardised per group (the table from its 0) and weighted by its
  margin there, the standardised distance from its best candidate to its runner-up. A table
  sure of one candidate is not outvoted by knowledge that barely prefers another, and knowledge
  sure of a candidate lifts a group where the table is flat or split. Where neither has a margin
  the plain sum decides.

Over the whole ontology (or a tissue's or subtree's terms) many terms share the table's best
genes, so its margin there is 0 wherever it has found the right kind of cell, and margin weights
would silence it; there the equal-weight sum of all channels with the context prior stays.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cellmodel.annotate import score
from cellmodel.annotate.methods import COMBINATIONS, NATURAL_ZERO, channels_of

ALPHA = 0.05
TABLE = "markerdb"
FUSED = "combined"


def summed(channel: dict[str, np.ndarray], names: tuple[str, ...]) -> np.ndarray:
    """The named channels standardised per group and summed (`score.combine`)."""
    parts = [channel[c] for c in names]
    if len(parts) == 1:
        return parts[0]
    return score.combine(*parts, natural_zero=[c in NATURAL_ZERO for c in names])


def gated(table: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """The table's −log10 p where it clears the Bonferroni threshold over the candidates the
    table scores in that group, 0 below it, nan where it scores none."""
    n = np.isfinite(table).sum(axis=1, keepdims=True)
    threshold = np.log10(np.maximum(n, 1) / alpha)
    with np.errstate(invalid="ignore"):
        return np.where(table > threshold, table, np.where(np.isfinite(table), 0.0, np.nan))


def margins(scores: np.ndarray) -> np.ndarray:
    """Per group, the best score minus the runner-up's (0 with fewer than two scored)."""
    filled = np.where(np.isfinite(scores), scores, -np.inf)
    top2 = -np.sort(-filled, axis=1)[:, :2]
    if top2.shape[1] < 2:
        return np.zeros(len(scores))
    with np.errstate(invalid="ignore"):
        gap = top2[:, 0] - top2[:, 1]
    return np.where(np.isfinite(gap), gap, 0.0)


@dataclass
class Weights:
    """Per group, the weight of the marker table and of the knowledge in the default's scores
    (nan where the plain sum decided)."""

    table: np.ndarray
    knowledge: np.ndarray

    def of(self, group: int) -> dict[str, float] | None:
        """One group's weights for the report; None where the plain sum decided."""
        if not np.isfinite(self.table[group]):
            return None
        return {
            "markerdb": round(float(self.table[group]), 4),
            "knowledge": round(float(self.knowledge[group]), 4),
        }


def weighted(channel: dict[str, np.ndarray]) -> tuple[np.ndarray, Weights]:
    """The two experts weighted by their margins (module docstring); the sum where neither has
    one."""
    with warnings.catch_warnings():  # an all-nan row is expected (no candidate scored)
        warnings.simplefilter("ignore", RuntimeWarning)
        table = score.standardise_rows(gated(channel[TABLE]), natural_zero=True)
        knowledge = score.standardise_rows(summed(channel, COMBINATIONS["knowledge"]))
    return weigh(channel, table, knowledge)


def weigh(
    channel: dict[str, np.ndarray],
    table: np.ndarray,
    knowledge: np.ndarray,
    by: Callable[[np.ndarray], np.ndarray] = margins,
) -> tuple[np.ndarray, Weights]:
    """Two experts' standardised scores, each weighted per group by `by` of its own scores
    (its margin); the plain sum of `channel` where neither has weight."""
    w_table, w_knowledge = by(table), by(knowledge)
    out = w_table[:, None] * np.nan_to_num(table) + w_knowledge[:, None] * np.nan_to_num(knowledge)
    plain = summed(channel, COMBINATIONS[FUSED])
    neither = w_table + w_knowledge <= 0
    out[neither] = plain[neither]
    out[~np.isfinite(plain)] = np.nan  # no channel scores the candidate
    w_table[neither], w_knowledge[neither] = np.nan, np.nan
    return out, Weights(w_table, w_knowledge)


def rankings(
    channel: dict[str, np.ndarray], method: str, closed_list: bool = False
) -> tuple[dict[str, np.ndarray], Weights]:
    """Each channel, each named combination and `method` by name, and the default's weights
    (all nan where it sums: over the ontology, or where neither expert has a margin)."""
    out = dict(channel)
    if closed_list:
        out[FUSED], weights = weighted(channel)
    else:
        nan = np.full(len(channel[TABLE]), np.nan)
        weights = Weights(nan, nan.copy())
    for name in (*COMBINATIONS, method):
        out.setdefault(name, summed(channel, channels_of(name)))
    return out, weights
