"""Expression gates of the lineage walk (`lineage.Walker.walk`), read from a group's signature
scores (`signatures.group_scores`: its expression of each kind's typical genes, in [-1, 1]).

`gated` keeps, of one level's kinds, those whose signature is near the best one's: a group whose
genes are a T cell's does not enter the myeloid branch on its candidates' scores alone.
`outside` says when the group's lineage is a kind that no candidate belongs to (a CD34-positive
progenitor among a subtree of leukocyte terms, a macrophage among a tissue's epithelial terms):
the walk then abstains instead of naming the nearest wrong kind. No label is read.
"""

from __future__ import annotations

import numpy as np

# A kind whose signature trails the best sibling's by more than this (10 percentile points)
# is not entered.
SIGNATURE_GAP = 0.2
# ... and only where the best sibling's typical genes are clearly expressed (above the group's
# 65th percentile on average); below it the signatures tell nothing apart.
SIGNATURE_FLOOR = 0.3


def gated(inside: dict[str, np.ndarray], signature: dict[str, float]) -> dict[str, np.ndarray]:
    """The kinds whose signature is within `SIGNATURE_GAP` of the best one's (all the signed ones
    where no kind's typical genes are clearly expressed). A kind the file gives no signature (too
    few of its genes measured) is not entered where a sibling's genes are expressed above the
    group's median: the group's genes say what it is, and nothing says it is of the unmeasured
    kind (PBMCs named over a brain's terms were Purkinje cells and interneurons; 8 naive T cells
    of 765 genes, a fallopian tube epithelial cell)."""
    known = [signature[k] for k in inside if k in signature and len(inside[k])]
    if not known or max(known) <= 0:
        return inside
    if max(known) < SIGNATURE_FLOOR:  # signed kinds not told apart; unsigned ones have no case
        return {k: idx for k, idx in inside.items() if k in signature}
    floor = max(known) - SIGNATURE_GAP
    return {k: idx for k, idx in inside.items() if k in signature and signature[k] >= floor}


def outside(present: dict[str, float], absent: dict[str, float]) -> str | None:
    """The kind among `absent` (this level's kinds with no candidate, the list being a subtree's
    or a tissue's) whose score clears `SIGNATURE_FLOOR` and leads every kind of `present` (those
    with candidates) by more than `SIGNATURE_GAP`, the rule `gated` applies among present kinds;
    None where there is none. A kind's score is the best signature of it and the kinds refining
    it (`kinds.refined_scores`), on both sides alike."""
    if not absent:
        return None
    best = max(absent, key=lambda k: absent[k])
    if absent[best] < SIGNATURE_FLOOR:
        return None
    if present and absent[best] - max(present.values()) <= SIGNATURE_GAP:
        return None
    return best
