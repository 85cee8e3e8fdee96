"""Score candidate cell types for each group from its marker genes' text vectors.

All vectors live in one space: the store's gene vectors (the text of each gene's card, embedded
by the store's encoder) and the candidate texts embedded by that same encoder. For marker gene m
and candidate l the similarity is the cosine cos(v_m, u_l).

**Label hubness.** Some candidate texts sit close to every gene card (a long generic definition,
a label full of common words), so raw cosines favour them for every group. Each candidate is
therefore standardised against a fixed background of genes B (a seeded sample of protein-coding
genes, the same for every run): z_ml = (cos(v_m, u_l) − mean_b cos(v_b, u_l)) / std_b cos(v_b, u_l).
A candidate wins a group only where the group's markers resemble it *more than genes in general
do*. `HUBNESS` also offers plain centring and CSLS (Conneau et al. 2018).

**Pooling.** A cell type is named by a few genes that are both strongly specific and described in
its terms (insulin for a beta cell), among many markers whose cards are generic. The group score
is the mean of the `top_k` largest z among its markers (`POOLINGS`), so those few carry the call;
`mean` (all markers alike) is the diluted alternative. The evidence shown for a call is the
markers whose z enter the pooled score, best first.

**Across groups.** For a candidate list the user gives (a closed list: each candidate should fit
some group), each candidate's scores are then standardised over the groups of the data
(`standardise_columns`): a candidate names the groups that match it better than the other groups
in the same file do, which removes what is left of its pull on every group. Over the whole Cell
Ontology most candidates fit no group, and standardising would hand each of them one, so there
it is off (`params.ACROSS_GROUPS`).

**Context.** There, a candidate that the data's groups as a whole resemble (after the background
correction: more than genes in general do) is more likely present in this kind of sample than one
only a single group supports. The context prior (`context`) is each candidate's mean text score
over the groups, the same for every group; summed with the channels, it favours, among
candidates a group's evidence fits alike, those the other groups support too (a pancreatic D cell
over a neuron that also makes somatostatin). It stands in for the restriction a user did not
give, so it is used over the whole ontology only: candidates restricted to a tissue or a subtree
already share the data's kind, and there the prior only pulls calls toward terms that fit many
groups a little; the across-group standardisation of a user's list removes this mean anyway.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from genekb.errors import UsageError

HUBNESS: dict[str, str] = {
    "zscore": "standardise each candidate's cosines by their mean and std over background genes",
    "center": "subtract each candidate's mean cosine over background genes",
    "both": "zscore, then standardise each gene over the candidates (a gene whose card is near"
    " every candidate stops filling every candidate's top markers)",
    "csls": "CSLS: 2cos − (mean cos of the gene to its k nearest candidates) − (mean cos of the"
    " candidate to its k nearest background genes)",
    "lift": "each gene spreads one vote over the candidates (softmax of its cosines at the"
    " temperature of the background's cosine spread); a candidate's share from the gene, divided"
    " by its mean share from background genes, in log units",
    "none": "raw cosine",
}
POOLINGS: dict[str, str] = {
    "topk": "mean of the top_k largest corrected similarities among the group's markers",
    "mean": "mean over all of the group's markers",
}
DEFAULT_HUBNESS = "zscore"
DEFAULT_POOLING = "topk"
DEFAULT_TOP_K = 5
CSLS_K = 10


def unit(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float64)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.where(norms > 0, norms, 1.0)


def corrected_similarity(
    genes: np.ndarray, labels: np.ndarray, background: np.ndarray, hubness: str = DEFAULT_HUBNESS
) -> np.ndarray:
    """genes × candidates similarities after the named hubness correction (see `HUBNESS`)."""
    if hubness not in HUBNESS:
        raise UsageError(f"unknown hubness {hubness!r}; choose one of {', '.join(HUBNESS)}")
    G, U, B = unit(genes), unit(labels), unit(background)
    cos = G @ U.T
    if hubness == "none":
        return cos
    bg = B @ U.T  # background × candidates
    if hubness in ("zscore", "both"):
        sd = bg.std(axis=0)
        z = (cos - bg.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
        if hubness == "zscore" or z.shape[1] < 3:
            return z
        gene_sd = z.std(axis=1, keepdims=True)
        return (z - z.mean(axis=1, keepdims=True)) / np.where(gene_sd > 0, gene_sd, 1.0)
    if hubness == "center":
        return cos - bg.mean(axis=0)
    if hubness == "lift":
        temperature = float(bg.std()) or 1.0
        log_p = _log_softmax(cos / temperature)
        prior = np.log(np.exp(_log_softmax(bg / temperature)).mean(axis=0))
        return log_p - prior
    k_label = min(CSLS_K, bg.shape[0])
    r_label = -np.sort(-bg, axis=0)[:k_label].mean(axis=0)
    k_gene = min(CSLS_K, cos.shape[1])
    r_gene = -np.sort(-cos, axis=1)[:, :k_gene].mean(axis=1, keepdims=True)
    return 2 * cos - r_gene - r_label


def _log_softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def pool(
    sims: np.ndarray, pooling: str = DEFAULT_POOLING, top_k: int = DEFAULT_TOP_K
) -> np.ndarray:
    """One score per candidate from a group's markers × candidates similarities."""
    if pooling not in POOLINGS:
        raise UsageError(f"unknown pooling {pooling!r}; choose one of {', '.join(POOLINGS)}")
    if sims.shape[0] == 0:
        return np.full(sims.shape[1], np.nan)
    if pooling == "mean":
        return sims.mean(axis=0)
    k = min(top_k, sims.shape[0])
    return -np.sort(-sims, axis=0)[:k].mean(axis=0)


def evidence(sims_col: np.ndarray, top_k: int) -> np.ndarray:
    """Indices of the markers that carry a candidate's pooled score, best first."""
    order = np.argsort(-sims_col, kind="stable")
    return order[: min(top_k, len(order))]


@dataclass
class Call:
    """A group's ranking of candidates under one score matrix row."""

    order: np.ndarray  # candidate indices, best first (nan scores last)
    best: int
    score: float
    margin: float  # best minus runner-up


def rank(scores: np.ndarray) -> Call:
    filled = np.where(np.isfinite(scores), scores, -np.inf)
    order = np.argsort(-filled, kind="stable")
    best = int(order[0])
    second = filled[order[1]] if len(order) > 1 else -np.inf
    margin = float(filled[best] - second) if np.isfinite(second) else float("nan")
    return Call(order, best, float(scores[best]), margin)


def standardise_columns(scores: np.ndarray) -> np.ndarray:
    """Each candidate's scores as z over the groups: a candidate names the groups that match it
    better than the other groups in the same data do. A group with no score (no marker with a
    card) stays nan and does not enter the others' standardisation."""
    with warnings.catch_warnings():  # an all-nan column is expected (no group scored)
        warnings.simplefilter("ignore", RuntimeWarning)
        mu = np.nanmean(scores, axis=0, keepdims=True)
        sd = np.nanstd(scores, axis=0, keepdims=True)
    return (scores - mu) / np.where(sd > 0, sd, 1.0)


def context(text_scores: np.ndarray, on: bool = True) -> np.ndarray:
    """The context prior: groups × candidates, each candidate's mean text score over the groups
    in every row; all nan (no prior) when not `on`."""
    if not on:
        return np.full(text_scores.shape, np.nan)
    with warnings.catch_warnings():  # an all-nan column is expected (no group scored)
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(text_scores, axis=0, keepdims=True)
    return np.broadcast_to(mean, text_scores.shape).copy()


def standardise_rows(scores: np.ndarray, natural_zero: bool = False) -> np.ndarray:
    """Each group's scores over its candidates on one scale (nan-aware), so methods can be added:
    z over the candidates; or, for a channel whose 0 means no evidence (`natural_zero`: a mean
    log-fold change, a −log10 p), divided by the same spread but not centred, so 0 keeps its
    meaning. A group no candidate is scored for stays nan."""
    with warnings.catch_warnings():  # an all-nan row is expected (no candidate scored)
        warnings.simplefilter("ignore", RuntimeWarning)
        mu = np.nanmean(scores, axis=1, keepdims=True)
        sd = np.nanstd(scores, axis=1, keepdims=True)
    return (scores - (0.0 if natural_zero else mu)) / np.where(sd > 0, sd, 1.0)


def combine(*matrices: np.ndarray, natural_zero: Sequence[bool] = ()) -> np.ndarray:
    """Several score matrices, each put on one scale per group (`standardise_rows`; matrix i
    with `natural_zero[i]` not centred; none by default, else one flag per matrix), summed with
    equal weight; where one lacks a candidate or a whole group (nan: no table entry, no gene
    named, no marker with a card) it adds 0, so the others carry it; nan only where none
    scores it.

    An unscored candidate adding 0 is why a channel with a natural zero is not centred: there
    it stands where no evidence does. Centred, it would stand at the mean of the candidates the
    channel scores, and a candidate whose named genes are merely less down than the others'
    (a hormone's, in a duct) would gain on it from evidence that is no evidence."""
    zero = list(natural_zero) if len(natural_zero) else [False] * len(matrices)
    z = np.stack([standardise_rows(m, nz) for m, nz in zip(matrices, zero, strict=True)])
    scored = np.isfinite(z)
    return np.where(scored.any(axis=0), np.where(scored, z, 0.0).sum(axis=0), np.nan)
