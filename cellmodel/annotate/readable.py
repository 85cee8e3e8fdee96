"""Whether a file measures enough of its candidates' typical genes to tell cell types apart.

Every channel reads a group's markers, and the markers are the measured genes that are higher in
the group than elsewhere: a file of a few dozen genes still has markers, and every group still
gets a ranking and a call, as confident as on a whole transcriptome (a pancreas file cut to a few
dozen random genes called its alpha cells spermatids and its T cells neurons, confidently).

A candidate's *typical genes* are its `markerdb.DB_TOP_K` best genes in the CellConsensus table
over all the table's genes (not, as the table channel takes them, among the data's). A candidate
is *readable* where at least `signatures.MIN_MEASURED` of them are measured (the count a lineage
signature needs), or where more of them are measured than chance would give (hypergeometric
upper tail under `CHANCE`, the file's measured genes drawn from the table's): a small panel made
for the candidates measures a few of each one's genes, random genes measure none. Where fewer
than `MIN_READABLE_SHARE` of the candidates the table covers are readable, the file measures too
few of their genes to read any cell type's signature: no group is named (`naming`), and the run
says so once. No label is read.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.stats import hypergeom

from cellmodel.annotate import markerdb
from cellmodel.annotate.signatures import MIN_MEASURED
from genekb.errors import GenekbWarning, warn

# A candidate's typical genes measured beyond chance at this level read it...
CHANCE = 0.01
# ... so random genes leave about CHANCE of the candidates readable; a file under five times as
# many (and under the share of the design set's smallest panels, far above it) reads none.
MIN_READABLE_SHARE = 0.05


class TooFewGenesWarning(GenekbWarning):
    """The file measures too few of the candidates' typical genes to name any group."""


@dataclass(frozen=True)
class Readability:
    """How many candidates the table covers (`n_covered`), how many of them have at least
    `MIN_MEASURED` typical genes measured (`n_readable`), and the data genes the table knows
    (`n_genes`)."""

    n_covered: int
    n_readable: int
    n_genes: int

    @property
    def too_few(self) -> bool:
        return self.n_covered > 0 and self.n_readable < MIN_READABLE_SHARE * self.n_covered

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"too_few_genes": self.too_few, "min_measured": MIN_MEASURED}

    def reason(self) -> str:
        """Why no group is named (one line)."""
        return (
            f"the file measures too few genes to tell cell types apart: its {self.n_genes} genes"
            f" the marker table knows hold more of a candidate's typical genes than chance gives"
            f" for {self.n_readable} of the {self.n_covered} candidates it covers"
        )


@lru_cache(maxsize=2)
def _typical(cache_dir: str | None) -> tuple[dict[str, frozenset[str]], frozenset[str]]:
    """(CL id -> its `DB_TOP_K` best genes over the whole table, every gene of the table)."""
    table = markerdb.load_table(cache_dir)
    top = table.sort_values(["cl_id", "score", "gene"], ascending=[True, False, True])
    top = top.groupby("cl_id", sort=False).head(markerdb.DB_TOP_K)
    by_term = {str(cl): frozenset(genes) for cl, genes in top.groupby("cl_id")["gene"]}
    return by_term, frozenset(table["gene"].unique())


def readability(
    data_symbols: list[str], cl_ids: list[str | None], cache_dir: str | None = None
) -> Readability:
    """The file's readability for these candidates (module docstring)."""
    typical, table_genes = _typical(cache_dir)
    measured = set(data_symbols) & table_genes
    refs = [typical[cl] for cl in dict.fromkeys(cl_ids) if cl and cl in typical]
    found = np.array([len(ref & measured) for ref in refs], dtype=int)
    sizes = np.array([len(ref) for ref in refs], dtype=int)
    beyond = hypergeom.sf(found - 1, len(table_genes), sizes, len(measured)) < CHANCE
    readable = int(((found >= MIN_MEASURED) | (beyond & (found > 0))).sum())
    return Readability(len(refs), readable, len(measured))


def abstain(entries: list[dict[str, Any]], found: Readability | None, groupby: str) -> None:
    """Where the file is too thin to read (`Readability.too_few`), no name for any group (the
    report keeps each group's rankings) and one `TooFewGenesWarning`."""
    if found is None or not found.too_few:
        return
    why = found.reason()
    for entry in entries:
        if entry["label"] is not None:
            entry.update(label=None, cl_id=None, score=None, margin=None, not_named=why)
            entry.update(lineage=None, signature=[], signature_data_names=[])
    warn(
        f"no group of obs[{groupby!r}] named: {why}; give the file's whole gene set (all genes"
        " measured, not a selection), or a panel that holds the candidates' marker genes",
        TooFewGenesWarning,
    )
