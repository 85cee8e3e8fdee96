"""Label tables for gene tasks, made from public annotation files by a rule fixed in advance.

`pfam_families`: protein family (Pfam domain) membership, a task that how well studied a gene is
cannot answer: every gene of every class is annotated with a Pfam family by UniProt. The rule,
fixed before any score was seen: the `n_families` Pfam families with the most human genes in the
org.Hs.eg.db `pfam` table (UniProt, via Bioconductor), genes annotated with exactly one of them,
classes with at least `min_genes` such genes, at most `per_class` genes per class drawn with
`seed`. Labels are Pfam accessions.

`cell_type_markers`: which of twelve broad cell types a gene marks, by a consensus marker table.
How well studied a gene is cannot answer it either: every gene is a top marker of one type.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd


def pfam_families(
    org_sqlite: Path, n_families: int = 10, min_genes: int = 40, per_class: int = 80, seed: int = 0
) -> pd.DataFrame:
    """(gene, gene_id, label) rows, sorted by label then gene."""
    with sqlite3.connect(f"file:{org_sqlite}?mode=ro", uri=True) as con:
        frame = pd.read_sql_query(
            "SELECT DISTINCT g.gene_id, i.symbol, p.pfam_id FROM pfam p "
            "JOIN genes g ON g._id = p._id JOIN gene_info i ON i._id = p._id "
            "WHERE p.pfam_id IS NOT NULL",
            con,
        )
    sizes = (
        frame.groupby("pfam_id")["gene_id"].nunique().sort_values(ascending=False, kind="stable")
    )
    top = list(sizes.index[:n_families])
    chosen = frame[frame["pfam_id"].isin(top)]
    per_gene = chosen.groupby("gene_id")["pfam_id"].nunique()
    single = chosen[chosen["gene_id"].isin(per_gene.index[per_gene == 1])].drop_duplicates()
    counts = single["pfam_id"].value_counts()
    single = single[single["pfam_id"].isin(counts.index[counts >= min_genes])]
    table = _sample_per_class(single, "pfam_id", "gene_id", per_class, seed)
    table = table.rename(columns={"symbol": "gene", "pfam_id": "label"})
    return table[["gene", "gene_id", "label"]].sort_values(["label", "gene"]).reset_index(drop=True)


# Broad cell types of distinct lineages and organs (immune, neural, epithelial, stromal, muscle,
# blood, endocrine), named before any score was seen; labels are their Cell Ontology names.
MARKER_CELL_TYPES: dict[str, str] = {
    "CL:0000084": "T cell",
    "CL:0000236": "B cell",
    "CL:0000235": "macrophage",
    "CL:0000540": "neuron",
    "CL:0000127": "astrocyte",
    "CL:0000182": "hepatocyte",
    "CL:0000057": "fibroblast",
    "CL:0000115": "endothelial cell",
    "CL:0000312": "keratinocyte",
    "CL:0000746": "cardiac muscle cell",
    "CL:0000232": "erythrocyte",
    "CL:0000169": "type B pancreatic cell",
}


def cell_type_markers(
    markers: pd.DataFrame,
    org_sqlite: Path,
    top: int = 100,
    per_class: int = 60,
    seed: int = 0,
) -> pd.DataFrame:
    """(gene, gene_id, label) rows: which cell type a marker gene marks.

    `markers` is a consensus marker table in long form (cl_id, gene symbol, score). Per cell type
    of MARKER_CELL_TYPES, its `top` best-scored genes that are the exact symbol of one human gene;
    genes in the top list of exactly one type; at most `per_class` per type drawn with `seed`.
    """
    with sqlite3.connect(f"file:{org_sqlite}?mode=ro", uri=True) as con:
        ids = pd.read_sql_query(
            "SELECT g.gene_id, i.symbol FROM genes g JOIN gene_info i ON i._id = g._id", con
        )
    ids = ids.drop_duplicates("symbol", keep=False).set_index("symbol")["gene_id"]
    rows = markers[markers["cl_id"].isin(MARKER_CELL_TYPES) & markers["gene"].isin(ids.index)]
    rows = rows.sort_values(["cl_id", "score", "gene"], ascending=[True, False, True])
    best = rows.groupby("cl_id", sort=True).head(top)
    per_gene = best.groupby("gene")["cl_id"].nunique()
    unique = best[best["gene"].isin(per_gene.index[per_gene == 1])]
    table = _sample_per_class(unique, "cl_id", "gene", per_class, seed)
    table = table.assign(
        label=table["cl_id"].map(MARKER_CELL_TYPES), gene_id=table["gene"].map(ids).astype(str)
    )
    return table[["gene", "gene_id", "label"]].sort_values(["label", "gene"]).reset_index(drop=True)


def _sample_per_class(
    frame: pd.DataFrame, label: str, order: str, per_class: int, seed: int
) -> pd.DataFrame:
    """At most `per_class` rows of each `label`, drawn with one generator seeded `seed`, classes
    in sorted order and rows sorted by `order` first, so the draw is reproducible."""
    rng = np.random.default_rng(seed)
    parts = []
    for _label, group in sorted(frame.groupby(label), key=lambda kv: kv[0]):
        group = group.sort_values(order)
        keep = np.sort(rng.choice(len(group), min(per_class, len(group)), replace=False))
        parts.append(group.iloc[keep])
    return pd.concat(parts)
