"""Candidates that name no cell type but a tissue or a disease ("lung", "asthma"), or that miss
a CL label by a typo ("T cel", "macrophges").

Such a label names no CL term, so it is scored by its words alone, and a group it fits better
than the cell types beside it is called "lung" (on pbmc68k-reduced with "T cell;lung", five of
eleven groups were). It is not refused: a lab's own list may name a cell type by its tissue
("Mesothelium" in HLCA's labels). It is said, once per run, as a `NotACellTypeWarning`: the
label is the exact label of a UBERON (anatomy) or MONDO (disease) term of the ontologies the
Cell Ontology reader bundles. A label within `CLOSE` (difflib's ratio, plurals made singular)
of one CL label is said as a `CloseToTermWarning` naming that label: typed so, it named no term
and was scored by its words alone. Only the first `N_CHECKED` free labels are compared (a hand-
typed list's typos; a long vocabulary took seconds); the cut-off was set on the three graded
label sets of `scripts/exp_free_labels.py`, where 0.85 without plurals suggested "on bipolar
cell" for "Bipolar cells" and 0.9 with them suggests nothing.
"""

from __future__ import annotations

import difflib
import re
from functools import cache

from cellmodel.annotate import ontology
from genekb.errors import GenekbWarning, warn

# The ontologies read, and what a term of each is called in the warning.
KINDS: dict[str, str] = {"UBERON": "a tissue or organ", "MONDO": "a disease"}


CLOSE = 0.9
N_CHECKED = 20
_PLURAL = re.compile(r"(?<=[a-z])s\b")


class NotACellTypeWarning(GenekbWarning):
    """A candidate is a tissue's or a disease's name, not a cell type's."""


class CloseToTermWarning(GenekbWarning):
    """A candidate names no CL term but is one CL label but for a letter or two."""


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


@cache
def _cl_labels() -> dict[str, str]:
    """Every live CL label, singular and lower case, to the label as CL writes it."""
    return {_singular(label): label for label in ontology.live_labels().values() if label}


def _singular(text: str) -> str:
    return _PLURAL.sub("", " ".join(text.lower().replace("-", " ").split()))


def close_terms(free: list[str]) -> list[tuple[str, str]]:
    """(label, CL label) for each of the first `N_CHECKED` of `free` within `CLOSE` of one."""
    labels = _cl_labels()
    out = []
    for given in free[:N_CHECKED]:
        found = difflib.get_close_matches(_singular(given), labels, n=1, cutoff=CLOSE)
        if found:
            out.append((given, labels[found[0]]))
    return out


def warn_close_terms(free: list[str]) -> None:
    """One `CloseToTermWarning` naming the labels of `free` a CL label is close to."""
    found = close_terms(free)
    if found:
        named = "; ".join(f"{given!r} (did you mean {label!r}?)" for given, label in found)
        warn(
            f"candidates name no CL term but are close to one: {named}; a CL label or id gives"
            " the term, and with it the marker table and the lineage checks",
            CloseToTermWarning,
        )
