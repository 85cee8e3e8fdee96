"""Coarse kinds of cell in the Cell Ontology, and how a call is graded against them.

**Lineages.** `LEVELS` fixes, a priori, three levels of coarse kinds of cell as CL subtrees:
tissue lineages (hematopoietic, epithelial, endothelial, connective/stromal, muscle, neural, germ),
their main branches (lymphocyte, myeloid, hematopoietic precursor; neuron, glia) and the blood
lineages a user tells apart first (T, B, innate lymphoid; mononuclear phagocyte, granulocyte,
mast cell, erythroid, megakaryocyte/platelet). A term's lineage at a level is the set of that
level's kinds it descends from (is_a); the ontology has several parents per term, so a set.

A call is graded `exact`, `partial` (an is_a ancestor or descendant that is not a generic term,
such as "cell", "leukocyte", "lymphocyte") or `wrong`, and crosses its lineage where at some
level the call and the truth both have kinds and share none.
"""

from __future__ import annotations

from functools import lru_cache

from cellmodel.annotate import ontology

# level -> kind -> (the kind it refines one level up, the CL subtrees it spans)
LEVELS: tuple[dict[str, tuple[str | None, tuple[str, ...]]], ...] = (
    {
        "hematopoietic": (None, ("CL:0000988",)),
        "epithelial": (None, ("CL:0000066",)),
        "endothelial": (None, ("CL:0000115",)),
        "connective/stromal": (None, ("CL:0002320", "CL:0000499")),
        "muscle": (None, ("CL:0000187",)),
        "neural": (None, ("CL:0002319",)),
        "germ": (None, ("CL:0000586",)),
    },
    {
        "lymphocyte": ("hematopoietic", ("CL:0000542",)),
        "myeloid": ("hematopoietic", ("CL:0000763", "CL:0000113")),
        "hematopoietic precursor": ("hematopoietic", ("CL:0008001",)),
        "neuron": ("neural", ("CL:0000540",)),
        "glial": ("neural", ("CL:0000125",)),
    },
    {
        "T cell": ("lymphocyte", ("CL:0000084",)),
        "B cell": ("lymphocyte", ("CL:0000945",)),
        "innate lymphoid": ("lymphocyte", ("CL:0001065",)),
        "mononuclear phagocyte": ("myeloid", ("CL:0000113",)),
        "granulocyte": ("myeloid", ("CL:0000094",)),
        "mast cell": ("myeloid", ("CL:0000097",)),
        "erythroid": ("myeloid", ("CL:0000764",)),
        "megakaryocyte/platelet": ("myeloid", ("CL:0000556", "CL:0000233")),
    },
)
# Terms too broad to count as naming a kind of cell, beside every ancestor of a tissue lineage.
GENERIC_EXTRA = (
    "CL:0000738",  # leukocyte
    "CL:0000542",  # lymphocyte
    "CL:0000842",  # mononuclear leukocyte
    "CL:0000766",  # myeloid leukocyte
    "CL:0000763",  # myeloid cell
    "CL:0011026",  # progenitor cell
    "CL:0000034",  # stem cell
    "CL:0011115",  # precursor cell
    "CL:0000151",  # secretory cell
    "CL:0002371",  # somatic cell
)


@lru_cache(maxsize=1)
def structure() -> tuple[dict[str, frozenset[str]], frozenset[str]]:
    """(CL root -> its subtree, the generic terms)."""
    p = ontology.parser()
    roots = {r for level in LEVELS for _, kinds in level.values() for r in kinds}
    subtree = {r: frozenset(p.get_term_descendants(r, include_self=True)) for r in roots}
    generic: set[str] = {ontology.CL_ROOT, *GENERIC_EXTRA}
    for _, kinds in LEVELS[0].values():
        for r in kinds:
            generic |= {r, *p.get_term_ancestors(r)}
    return subtree, frozenset(generic)


def is_generic(cl_id: str | None) -> bool:
    return cl_id is not None and cl_id in structure()[1]


def kinds_of(cl_id: str | None, level: int) -> frozenset[str]:
    """The kinds of `LEVELS[level]` a term descends from (is_a, itself included)."""
    if cl_id is None:
        return frozenset()
    subtree = structure()[0]
    return frozenset(
        k for k, (_, roots) in LEVELS[level].items() if any(cl_id in subtree[r] for r in roots)
    )


def crosses_lineage(predicted: str | None, truth: str | None) -> bool:
    """A call in another lineage: at some level both terms have kinds and share none."""
    for level in range(len(LEVELS)):
        a, b = kinds_of(predicted, level), kinds_of(truth, level)
        if a and b and not a & b:
            return True
    return False


def grade(predicted: str | None, truth: str | None) -> str:
    """'exact', 'partial' (an is_a ancestor or descendant, not a generic term) or 'wrong'."""
    if not predicted or not truth:
        return "wrong"
    if predicted == truth:
        return "exact"
    p = ontology.parser()
    related = predicted in p.get_term_ancestors(truth) or truth in p.get_term_ancestors(predicted)
    return "partial" if related and not is_generic(predicted) else "wrong"


def refined_scores(kinds: list[str], signature: dict[str, float]) -> dict[str, float]:
    """Each kind's best signature among it and the kinds refining it (a macrophage's genes are
    typical of the mononuclear phagocytes more than of all hematopoietic cells); kinds with no
    signature anywhere beneath are left out."""
    out = {}
    for kind in kinds:
        scores = [signature[k] for k in _refining(kind) if k in signature]
        if scores:
            out[kind] = max(scores)
    return out


@lru_cache(maxsize=64)
def _refining(kind: str) -> tuple[str, ...]:
    """The kind and every kind of a deeper level that refines it, directly or not."""
    out = [kind]
    for level in LEVELS:
        out += [k for k, (parent, _) in level.items() if parent in out and k not in out]
    return tuple(out)
