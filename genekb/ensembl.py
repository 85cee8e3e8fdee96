"""Ensembl gene ids as files write them, read in one place: the stable id ("ENSG00000002586"),
whose prefix names the species ("ENSG" human, "ENSMUSG" mouse, "ENSDARG" zebrafish), then an
optional version (".20") and GENCODE's "_PAR_Y"."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import NamedTuple

# GENCODE annotates each pseudoautosomal gene on chrX and again on chrY, the Y copy under the X
# copy's id plus "_PAR_Y" ("ENSG00000002586.20_PAR_Y"); Ensembl and NCBI Gene know one gene,
# under the X copy's id, so the suffix is read as that gene.
_ENSEMBL_ID = re.compile(r"^((ENS[A-Z]*G)\d{6,})(\.\d+)?(_PAR_Y)?$")
_VERSION = re.compile(r"\.\d+$")


class EnsemblId(NamedTuple):
    stable: str  # "ENSG00000002586": no version, no _PAR_Y
    prefix: str  # "ENSG", "ENSMUSG", ...: the species


def parse_ensembl(name: str) -> EnsemblId | None:
    """The stable id and species prefix of an Ensembl gene id as written (versioned, _PAR_Y);
    None for a name that is none (case as given: callers that ignore case upper it first)."""
    found = _ENSEMBL_ID.match(name)
    return EnsemblId(found[1], found[2]) if found else None


def stable_ensembl(xref: str) -> str:
    """An Ensembl id as a source lists it, as the gene table keeps it: without a version suffix
    ("ENSG00000198851.10" -> "ENSG00000198851") or "_PAR_Y"."""
    parsed = parse_ensembl(xref)
    return parsed.stable if parsed is not None else _VERSION.sub("", xref)


def foreign_prefixes(names: Iterable[str], known: Iterable[str]) -> dict[str, int]:
    """Species prefixes of the Ensembl ids among `names` that no prefix in `known` matches, with
    how many names carry each, most first: mouse ENSMUSG ids asked of a human version. None
    where `known` is empty (a version without Ensembl ids says nothing of its species)."""
    own = set(known)
    if not own:
        return {}
    found = Counter(
        parsed.prefix
        for name in names
        if (parsed := parse_ensembl(str(name).strip().upper())) and parsed.prefix not in own
    )
    return dict(found.most_common())


def foreign_prefix_note(prefixes: dict[str, int], known: Sequence[str]) -> str:
    """Why such names match nothing and what to do, or "" when there are none."""
    if not prefixes:
        return ""
    return (
        f"{sum(prefixes.values())} unmatched names are {', '.join(prefixes)} Ensembl ids, another"
        f" species than this version's ({', '.join(known)}): score a version of that species,"
        " or give this species' genes"
    )
