"""The words a `--tissue` word matches in Cell Ontology text (`ontology.from_ontology`), and the
sample types read as a subtree when given as the tissue (`sample_subtree`)."""

from __future__ import annotations

import re
from typing import Any

# A tissue's noun -> the stems of its adjectives, which the noun does not begin: "pancreas" kept
# no "type B pancreatic cell", "kidney" no "renal ..." term. ("brain" is left as it reads.)
NOUN_FORMS: dict[str, tuple[str, ...]] = {
    "pancreas": ("pancrea",),
    "kidney": ("renal",),
    "liver": ("hepat",),
    "heart": ("cardiac",),
    "lung": ("pulmonary",),
    "intestine": ("intestin",),
    "gut": ("intestin",),
    "stomach": ("gastric",),
    "spleen": ("splen",),
    "thymus": ("thymic",),
    "testis": ("testic",),
    "ovary": ("ovarian",),
}


def tissue_pattern(tissue: str) -> re.Pattern[str]:
    """What a `--tissue` word matches at a word start: the word (a plural as its singular) and,
    for a tissue's noun, its adjectives (`NOUN_FORMS`)."""
    word = _singular(tissue.strip().lower())
    forms = (word, *NOUN_FORMS.get(word, ()))
    return re.compile("|".join(rf"\b{re.escape(w)}" for w in dict.fromkeys(forms)), re.IGNORECASE)


def _singular(word: str) -> str:
    """A plural tissue word as its singular, whose start also begins the plural: 'kidneys' kept 3
    terms of the 119 'kidney' names, 'lungs' 4 of 34. 'pancreas', 'thymus', 'testis' stay."""
    if word.endswith("ies"):
        return word[:-3] + "y"
    return word[:-1] if word.endswith("s") and not word.endswith(("ss", "us", "is", "as")) else word


# Samples named for how they were taken, and blood, whose cells are one kind of cell: the terms
# whose text names "blood" leave out B and T cells, whose definitions name no blood, and take
# blood vessel endothelium, so the kind's subtree is the restriction.
SAMPLE_SUBTREES = {
    "blood": "CL:0000988",  # hematopoietic cell
    "peripheral blood": "CL:0000988",
    "pbmc": "CL:0000738",  # leukocyte: mononuclear cells of the blood
    "pbmcs": "CL:0000738",
    "peripheral blood mononuclear cells": "CL:0000738",
    "cbmc": "CL:0000988",  # hematopoietic cell: cord blood holds progenitors too
    "cbmcs": "CL:0000988",
    "cord blood": "CL:0000988",
    "whole blood": "CL:0000988",
    "bmmc": "CL:0000988",
    "bmmcs": "CL:0000988",
    "bone marrow mononuclear cells": "CL:0000988",
}


def sample_subtree(tissue: Any) -> str | None:
    """The CL subtree of a sample type given as the tissue ('PBMC' -> leukocyte:
    `SAMPLE_SUBTREES`), else None."""
    if isinstance(tissue, str):
        return SAMPLE_SUBTREES.get(" ".join(tissue.lower().split()))
    return None
