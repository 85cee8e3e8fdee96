"""Write genekb/data/refseq_summaries.parquet (human and mouse rows) from the shared RefSeq table.

    .venv/bin/python scripts/make_refseq_summaries.py --src ../shared/data/refseq_summaries

Reads `refseq_gene_summaries.tsv.gz` (checked against its published sha256), keeps taxa 9606 and
10090, sorts by (taxon, gene_id) and writes the Parquet with its provenance under the key
`genekb.snapshot`. Print the new file's sha256 and put it in genekb/sources/refseq.py
(FILE_SHA256) and genekb/data/README.md.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genekb.records import HUMAN, MOUSE, Snapshot
from genekb.sources.bundled import write_with_snapshot
from genekb.sources.refseq import TABLE_SCHEMA, table_path

SRC_NAME = "refseq_gene_summaries.tsv.gz"
SRC_SHA256 = "aaf40b7291e2cb70df79263ba9ac19e844b82b847de71ee5b8c1a37124c8a44c"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, required=True, help="folder holding " + SRC_NAME)
    parser.add_argument("--out", type=Path, default=table_path())
    args = parser.parse_args()
    src = args.src / SRC_NAME
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    if digest != SRC_SHA256:
        sys.exit(f"{src}: sha256 {digest}, expected {SRC_SHA256}")
    # Summaries hold quote characters: read every field as plain text.
    frame = pd.read_csv(src, sep="\t", dtype=str, keep_default_na=False, quoting=csv.QUOTE_NONE)
    frame = frame[frame["taxon_id"].isin([str(HUMAN), str(MOUSE)])].astype({"taxon_id": int})
    # One human row (a fusion-oncoprotein paragraph) names no GeneID: it cannot join a gene.
    no_id = int((frame["gene_id"] == "").sum())
    frame = frame[frame["gene_id"] != ""].astype({"gene_id": "int64"})
    frame = frame[frame["taxon_id"].isin([HUMAN, MOUSE]) & (frame["summary"].str.strip() != "")]
    frame = frame.sort_values(["taxon_id", "gene_id"]).drop_duplicates(["taxon_id", "gene_id"])
    table = pa.table(
        {
            "taxon": frame["taxon_id"].to_numpy("int32"),
            "gene_id": frame["gene_id"].to_numpy("int64"),
            "review_status": frame["review_status"].tolist(),
            "summary": frame["summary"].str.strip().tolist(),
        },
        schema=TABLE_SCHEMA,
    )
    counts = frame["taxon_id"].value_counts().to_dict()
    snapshot = Snapshot(
        source=SOURCE,
        taxon=0,
        date="2025-01-30",
        description="GeneSummary 0.99.7 (Bioconductor; RefSeq release *.rna.gbff COMMENT Summary)",
        details={
            "input": {"file": SRC_NAME, "sha256": SRC_SHA256},
            "package": "GeneSummary 0.99.7 (Zuguang Gu, 2025-01-30),"
            " inst/extdata/refseq_gene_summary.rds",
            "licence": "GeneSummary: MIT; NCBI RefSeq text: public, no restriction on use (cite"
            " O'Leary et al. 2016, Nucleic Acids Res 44:D733)",
            "dropped_without_gene_id": no_id,
            "rows": {"human": int(counts.get(HUMAN, 0)), "mouse": int(counts.get(MOUSE, 0))},
        },
    )
    write_with_snapshot(table, snapshot, args.out)
    print(args.out, counts, hashlib.sha256(args.out.read_bytes()).hexdigest())


SOURCE = "refseq-summaries"

if __name__ == "__main__":
    main()
