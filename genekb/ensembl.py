"""Ensembl gene ids as files write them, read in one place: the stable id ("ENSG00000002586"),
whose prefix names the species ("ENSG" human, "ENSMUSG" mouse, "ENSDARG" zebrafish), then an
optional version (".20") and GENCODE's "_PAR_Y"."""

from __future__ import annotations

import re
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
