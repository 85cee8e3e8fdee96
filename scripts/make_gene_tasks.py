"""Regenerate the bundled gene-task tables (genekb/data/tasks/) from the public source tables.

    .venv/bin/python scripts/make_gene_tasks.py --src ../shared/data/gene_tasks

- dosage_tfs.csv: Ni et al. 2019 dosage-sensitive (122) vs insensitive (368) transcription factors,
  one row per gene (symbol, Ensembl id, label).
- hipred.csv: HIPred (Shihab et al. 2017) haploinsufficiency, label "haploinsufficient" where the
  predicted probability is above 0.5 (the decision threshold HIPred reports and Ni et al. used),
  else "tolerant"; a stratified subsample of 1,000 genes drawn with seed 0 from the genes not in the
  TF task, so that one version is evaluated on both tasks in seconds and the tasks share no gene.
- with --org-sqlite: pfam_families.csv (Pfam families) and cell_type_markers.csv (which of twelve
  broad cell types a gene marks, from the CellConsensus marker table, PyPI cellconsensus==1.2.0).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

OUT = Path(__file__).resolve().parents[1] / "genekb" / "data" / "tasks"
HIPRED_N, HIPRED_SEED, HIPRED_THRESHOLD = 1000, 0, 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=Path("../shared/data/gene_tasks"))
    parser.add_argument(
        "--org-sqlite",
        type=Path,
        help="org.Hs.eg.sqlite (from the Debian package r-bioc-org.hs.eg.db 3.16.0-1): also"
        " write pfam_families.csv and cell_type_markers.csv",
    )
    args = parser.parse_args()
    if args.org_sqlite:
        from genekb.eval.task_tables import pfam_families

        pfam = pfam_families(args.org_sqlite)
        pfam.to_csv(OUT / "pfam_families.csv", index=False)
        print(pfam["label"].value_counts().to_dict())
        from cellmodel.annotate.markerdb import load_table
        from genekb.eval.task_tables import cell_type_markers

        markers = cell_type_markers(load_table(), args.org_sqlite)
        markers.to_csv(OUT / "cell_type_markers.csv", index=False)
        print(markers["label"].value_counts().to_dict())
    tfs = pd.read_csv(args.src / "dosage_sensitive_tfs.csv")
    sensitive = tfs["dosage_sensitive"].eq("Yes")
    insensitive = tfs["dosage_insensitive"].eq("Yes")
    if (sensitive & insensitive).any() or not (sensitive | insensitive).all():
        raise SystemExit("each TF must be in exactly one class")
    tf_table = pd.DataFrame(
        {
            "gene": tfs["gene_name"],
            "ensembl_id": tfs["ensembl_id"],
            "label": np.where(sensitive, "sensitive", "insensitive"),
        }
    ).sort_values("gene")
    tf_table.to_csv(OUT / "dosage_tfs.csv", index=False)

    hip = pd.read_csv(args.src / "hipred_scores.tsv", sep="\t").drop_duplicates("gene_name")
    hip = hip[~hip["gene_name"].isin(set(tfs["gene_name"]))]
    hip = hip.assign(
        label=np.where(hip["prob"] > HIPRED_THRESHOLD, "haploinsufficient", "tolerant")
    )
    rng = np.random.default_rng(HIPRED_SEED)
    picked = []
    for _, group in hip.groupby("label", sort=True):
        n = round(HIPRED_N * len(group) / len(hip))
        picked.append(group.iloc[np.sort(rng.choice(len(group), n, replace=False))])
    sample = pd.concat(picked).sort_values("gene_name")
    sample = sample.rename(columns={"gene_name": "gene"})[["gene", "prob", "label"]]
    sample.to_csv(OUT / "hipred.csv", index=False, float_format="%.4f")
    print(tf_table["label"].value_counts().to_dict(), sample["label"].value_counts().to_dict())


if __name__ == "__main__":
    main()
