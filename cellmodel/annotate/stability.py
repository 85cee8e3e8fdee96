"""Resampled calls (`annotate(..., resamples=N)`): does a group keep its name when a fifth of its
cells are left out, and does it keep its lineage?

Each resample b keeps every cell with probability `RESAMPLE_FRACTION`, drawn from the run's
seed and b (`resample_codes`: the same draw every run), and names the groups
again from those cells alone, as the run does (its own markers, scores, tissue and walk). Each
group's report then says how many resamples called it the same term and how many a term of the
same lineage (`kinds.crosses_lineage`). Where two of the calls (the run's and the resamples')
lie in different lineages, the group is not named across lineages on so unsteady evidence: its
call becomes the deepest term all of them share (their common is_a ancestor-or-self among the
candidates), or no name where that term is generic ("cell", "leukocyte": `kinds.is_generic`,
which the walk never calls either), marked abstained, and the report says why. Two lineages
meet only in generic terms, so such a group is in practice left unnamed. Nothing reads a label;
the rule was picked among others measured on the annotate design set (docs/annotate_ontology.md).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from cellmodel.annotate import ontology
from cellmodel.annotate.kinds import crosses_lineage, is_generic
from cellmodel.annotate.lineage import Walk, ancestors_or_self
from cellmodel.markers import GroupSums, group_sums

RESAMPLE_FRACTION = 0.8


def resample_codes(codes: np.ndarray, resamples: int, seed: int) -> list[np.ndarray]:
    """Per resample, the cells' group codes with the cells left out set to -1."""
    codes = np.asarray(codes)
    out = []
    for b in range(resamples):
        keep = np.random.default_rng([seed, b]).random(codes.shape[0]) < RESAMPLE_FRACTION
        out.append(np.where(keep, codes, -1))
    return out


def resampled_sums(X: Any, codes: np.ndarray, k: int, resamples: int, seed: int) -> list[GroupSums]:
    """The per-group sums of each resample's cells (`resample_codes`)."""
    out = []
    for drawn in resample_codes(codes, resamples, seed):
        kept = drawn >= 0
        out.append(group_sums(X[np.flatnonzero(kept)], drawn[kept], k))
    return out


def shared_term(ids: list[str]) -> str | None:
    """The deepest term that is an is_a ancestor-or-self of every one of `ids`."""
    common = frozenset.intersection(*(ancestors_or_self(c) for c in ids))
    return max(common, key=lambda c: len(ancestors_or_self(c))) if common else None


def settle(walks: list[Walk], resampled: list[list[Walk]], index: dict[str, int]) -> list[Walk]:
    """Each group's walk with its resamples' agreement recorded (`Walk.stability`), called
    their shared term where two of the calls cross lineages; `index`: CL id -> candidate."""
    out = []
    for g, walk in enumerate(walks):
        # a resample that names no term (too few of the group's cells drawn) says nothing
        others = [r[g].cl_id for r in resampled if r[g].cl_id is not None]
        record = {
            "resamples": len(resampled),
            "same_term": sum(c == walk.cl_id for c in others),
            "same_lineage": sum(not crosses_lineage(walk.cl_id, c) for c in others),
            "calls": others,
            "own_call": walk.cl_id,  # the run's call before the resamples were read
        }
        calls = [walk.cl_id, *others]
        if walk.cl_id is None or not any(
            crosses_lineage(a, b) for i, a in enumerate(calls) for b in calls[i + 1 :]
        ):
            out.append(replace(walk, stability=record))
            continue
        common = shared_term(calls)
        found = index.get(common) if common and not is_generic(common) else None
        why = (
            "resampled cells named it in other lineages ("
            + "; ".join(sorted({ontology.parser().get_term_label(c) for c in calls}))
            + (
                "): called the deepest term all share"
                if found is not None
                else "): they share no term short of a generic one, so it is not named"
            )
        )
        out.append(
            replace(walk, cl_id=common if found is not None else None, index=found,
                    abstained=True, why=why, stability=record)
        )  # fmt: skip
    return out
