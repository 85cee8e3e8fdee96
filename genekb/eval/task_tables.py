"""Label tables for gene tasks, made from public annotation files by a rule fixed in advance.

`pfam_families`: protein family (Pfam domain) membership, a task that how well studied a gene is
cannot answer: every gene of every class is annotated with a Pfam family by UniProt. The rule,
fixed before any score was seen: the `n_families` Pfam families with the most human genes in the
org.Hs.eg.db `pfam` table (UniProt, via Bioconductor), genes annotated with exactly one of them,
classes with at least `min_genes` such genes, at most `per_class` genes per class drawn with
`seed`. Labels are Pfam accessions.
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
    rng = np.random.default_rng(seed)
    parts = []
    for _family, group in sorted(single.groupby("pfam_id"), key=lambda kv: kv[0]):
        group = group.sort_values("gene_id")
        keep = np.sort(rng.choice(len(group), min(per_class, len(group)), replace=False))
        parts.append(group.iloc[keep])
    table = pd.concat(parts).rename(columns={"symbol": "gene", "pfam_id": "label"})
    return table[["gene", "gene_id", "label"]].sort_values(["label", "gene"]).reset_index(drop=True)
