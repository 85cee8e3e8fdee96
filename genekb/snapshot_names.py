"""Gene names read by every gene of the snapshot a version came from, not by the version's genes
alone: read by its own genes, a name of a gene the version lacks takes the gene that holds it as
an alias (in a 200-gene version MIF was AMH, CAD was DFFB), in `eval`, `similar` and `vectors`."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from genekb.genemap import GeneIndex
from genekb.records import TAXA


def snapshot_index(source: dict[str, Any], taxon: int) -> GeneIndex | None:
    """Every gene of the bundled snapshot `source` (a text manifest's) names; None for another
    source, whose files may be elsewhere, or another snapshot date."""
    name = next((n for n, t in TAXA.items() if t == taxon), None)
    if source.get("source") != "bundled" or name is None:
        return None
    return _bundled_index(name, str(source.get("date")))


@lru_cache(maxsize=2)
def _bundled_index(taxon: str, date: str) -> GeneIndex | None:
    from genekb.sources.bundled import load_bundled

    genes = load_bundled(taxon)
    if genes.snapshot.date != date:  # another snapshot's ids and names: keep to the version's
        return None
    return GeneIndex.from_frame(
        genes.table.select(["gene_id", "symbol", "aliases", "ensembl"]).to_pandas()
    )


def resolve_names(
    names: Sequence[str], own: GeneIndex, snapshot: GeneIndex | None
) -> list[tuple[int, str | None]]:
    """(GeneID or -1, route) of each name, read by `snapshot` where there is one. A name several
    genes of the snapshot share (an Ensembl id of two genes) is the one the version holds."""
    out = []
    for name in names:
        gid, route = snapshot.resolve_one(name) if snapshot is not None else (-1, None)
        out.append((gid, route) if gid >= 0 else own.resolve_one(name))
    return out
