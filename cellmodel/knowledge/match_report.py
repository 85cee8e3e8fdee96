"""The report of how a matrix's genes met a store's: counts by route, rate, misses, expression."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from genekb.genemap import UNMATCHED


@dataclass
class MatchReport:
    """How the data's genes met the store: counts by route, rate, misses, expression covered."""

    n_genes: int
    n_matched: int
    by_route: dict[str, int]
    unmatched: list[str]  # the first UNMATCHED_SHOWN unmatched names, in data order
    data_taxon: str
    store_taxon: str
    expression_covered: float | None = None  # share of normalized expression on matched genes
    n_store_genes: int = 0  # distinct store genes hit
    warnings: list[str] = field(default_factory=list)

    @property
    def match_rate(self) -> float:
        return self.n_matched / self.n_genes if self.n_genes else 0.0

    @property
    def n_unmatched(self) -> int:
        return self.n_genes - self.n_matched

    def summary(self) -> str:
        routes = ", ".join(f"{k} {v}" for k, v in self.by_route.items() if v)
        covered = (
            f"; {self.expression_covered:.1%} of expression covered"
            if self.expression_covered is not None
            else ""
        )
        return (
            f"matched {self.n_matched}/{self.n_genes} genes ({self.match_rate:.1%}) to the"
            f" {self.store_taxon} store ({routes or 'none'}){covered}"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain values only (no None), so the report can live in `uns` of an h5ad file."""
        out: dict[str, Any] = {
            "n_genes": self.n_genes,
            "n_matched": self.n_matched,
            "n_unmatched": self.n_unmatched,
            "match_rate": round(self.match_rate, 6),
            "by_route": dict(self.by_route),
            "unmatched": list(self.unmatched),
            "data_taxon": self.data_taxon,
            "store_taxon": self.store_taxon,
            "n_store_genes": self.n_store_genes,
            "warnings": list(self.warnings),
            "summary": self.summary(),
        }
        if self.expression_covered is not None:
            out["expression_covered"] = round(self.expression_covered, 6)
        return out


@dataclass
class GeneMatch:
    """Per data gene: the store GeneID (-1 when unmatched) and the route that found it."""

    names: list[str]
    gene_ids: np.ndarray  # int64, one per data gene
    routes: list[str | None]
    report: MatchReport

    @property
    def matched(self) -> np.ndarray:
        return self.gene_ids != UNMATCHED
