"""Gene ids from the bundled NCBI snapshots, and across species through the bundled human–mouse
ortholog table: a data name resolves to a GeneID of its own species first (the bundled table of
that species when installed, else the ortholog table's own symbols), then crosses over."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import pandas as pd

from genekb.genemap import UNMATCHED, GeneIndex

# The module, not its names: tests swap bundled's tables (monkeypatch) and must reach here.
from genekb.sources import bundled


@lru_cache(maxsize=2)
def bundled_index(taxon: str) -> GeneIndex:
    """The resolver of the bundled snapshot of `taxon` (built once per process)."""
    frame = bundled.load_bundled(taxon).table.select(["gene_id", "symbol", "aliases", "ensembl"])
    return GeneIndex.from_frame(frame.to_pandas())


def _orthologs() -> pd.DataFrame:
    table, _ = bundled.load_orthologs()
    return table.to_pandas()


def _own_species_ids(names: Sequence[str], taxon: str, orthologs: pd.DataFrame) -> np.ndarray:
    """GeneIDs of `names` in their own species: the bundled table if any, else ortholog symbols."""
    if taxon in bundled.available_taxa():
        index = bundled_index(taxon)
    else:
        pairs = orthologs[[f"{taxon}_gene_id", f"{taxon}_symbol"]].dropna().drop_duplicates()
        index = GeneIndex(
            pairs[f"{taxon}_gene_id"].tolist(),
            pairs[f"{taxon}_symbol"].tolist(),
            [None] * len(pairs),
            [None] * len(pairs),
        )
    return index.resolve(list(names))["gene_id"].to_numpy(dtype=np.int64)


def _ortholog_map(orthologs: pd.DataFrame, source: str, target: str) -> dict[int, int]:
    """source GeneID -> one target GeneID.

    A gene with several orthologs maps to the one whose symbol equals its own ignoring case (the
    usual human/mouse naming), else to the smallest GeneID, so the choice is stable across runs.
    """
    frame = orthologs[
        [f"{source}_gene_id", f"{source}_symbol", f"{target}_gene_id", f"{target}_symbol"]
    ].copy()
    frame.columns = ["src", "src_symbol", "dst", "dst_symbol"]
    same_name = (
        frame["src_symbol"].fillna("").str.upper() == frame["dst_symbol"].fillna("").str.upper()
    )
    frame["rank"] = np.where(same_name, 0, 1)
    frame = frame.sort_values(["src", "rank", "dst"]).drop_duplicates("src")
    return dict(zip(frame["src"].astype(int), frame["dst"].astype(int), strict=True))


def ortholog_ids(names: Sequence[str], source: str, target: str) -> np.ndarray:
    """GeneIDs in the `target` species for `source`-species gene names (-1 where none)."""
    orthologs = _orthologs()
    own = _own_species_ids(names, source, orthologs)
    crossing = _ortholog_map(orthologs, source, target)
    return np.array(
        [crossing.get(int(g), UNMATCHED) if g != UNMATCHED else UNMATCHED for g in own],
        dtype=np.int64,
    )
