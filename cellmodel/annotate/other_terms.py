"""Candidates that name no cell type but a tissue or a disease ("lung", "asthma").

Such a label names no CL term, so it is scored by its words alone, and a group it fits better
than the cell types beside it is called "lung" (on pbmc68k-reduced with "T cell;lung", five of
eleven groups were). It is not refused: a lab's own list may name a cell type by its tissue
("Mesothelium" in HLCA's labels). It is said, once per run, as a `NotACellTypeWarning`: the
label is the exact label of a UBERON (anatomy) or MONDO (disease) term of the ontologies the
Cell Ontology reader bundles.
"""

from __future__ import annotations

from functools import cache

from cellmodel.annotate import ontology
from genekb.errors import GenekbWarning, warn

# The ontologies read, and what a term of each is called in the warning.
KINDS: dict[str, str] = {"UBERON": "a tissue or organ", "MONDO": "a disease"}


class NotACellTypeWarning(GenekbWarning):
    """A candidate is a tissue's or a disease's name, not a cell type's."""


@cache
def _labels(prefix: str) -> dict[str, str]:
    """The ontology's labels (lower case, single spaces) to their ids; read when first needed."""
    labels = ontology.parser().get_term_label_to_id_map(prefix)
    return {" ".join(label.lower().split()): i for label, i in labels.items()}


def not_cell_types(free: list[str]) -> list[tuple[str, str, str]]:
    """(label, id, kind) for each of `free` (labels no CL term names) that is a tissue's or a
    disease's exact label."""
    out = []
    for given in free:
        key = " ".join(given.lower().split())
        for prefix, kind in KINDS.items():
            found = _labels(prefix).get(key)
            if found:
                out.append((given, found, kind))
                break
    return out


def warn_not_cell_types(free: list[str]) -> None:
    """One `NotACellTypeWarning` naming the labels of `free` that are tissues or diseases."""
    found = not_cell_types(free)
    if found:
        named = "; ".join(f"{given!r} names {kind} ({i})" for given, i, kind in found)
        warn(
            f"candidates name no cell type: {named}; a group may be called so. Give cell types"
            " (or, for a tissue's cell types, tissue= in place of candidates=)",
            NotACellTypeWarning,
        )
