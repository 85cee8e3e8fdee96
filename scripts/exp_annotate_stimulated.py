"""Does an interferon response move the names? Each file's true groups named over the whole
Cell Ontology (default ranking, lineage first, as docs/annotate_ontology.md's tables) as shipped
and with a simulated type I interferon response added to half of its cells.

    python scripts/exp_annotate_stimulated.py --root STORE --datasets a,b [--seed 0]

The response: the interferon-stimulated genes of `ISGS` (those the file measures) raised by
`MYELOID_SHIFT` in log-normalised expression in the stimulated cells of myeloid groups (label
naming a monocyte, macrophage or dendritic cell) and by `OTHER_SHIFT` in every other stimulated
cell, as stimulated PBMCs respond most in their monocytes (Kang et al. 2018, Nat Biotechnol
36:89). The cells stimulated are drawn with `--seed`. Prints each group's call in both versions
with its grade, and exact / exact + partial / wrong lineage per version. Labels only score.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from cellmodel.annotate import fusion, ontology
from cellmodel.bench.annotate_eval import ontology_runs as runs
from genekb.store.store import Store

HERE = Path(__file__).resolve().parent
LABEL_MAP = HERE / "annotate_label_map.csv"
ISGS = [
    "ISG15",
    "IFI6",
    "IFIT1",
    "IFIT2",
    "IFIT3",
    "MX1",
    "MX2",
    "OAS1",
    "OAS2",
    "OAS3",
    "RSAD2",
    "IFI27",
    "LY6E",
    "IFITM3",
    "ISG20",
    "IFI44L",
    "IFI44",
    "HERC5",
    "STAT1",
    "IRF7",
    "GBP1",
    "APOBEC3A",
    "TNFSF10",
    "CXCL10",
    "CCL8",
    "CCL2",
    "SIGLEC1",
    "XAF1",
    "EPSTI1",
    "PLSCR1",
    "SAMD9L",
    "IFITM1",
    "IFITM2",
    "BST2",
    "IFI35",
    "PARP9",
    "DDX58",
    "IFIH1",
    "USP18",
]
MYELOID_WORDS = ("mono", "macrophage", "dc", "dendritic")
MYELOID_SHIFT, OTHER_SHIFT = 3.0, 1.5


def stimulated(adata, label_key: str, seed: int):
    """A copy with the simulated response added to a random half of the cells."""
    rng = np.random.default_rng(seed)
    x = adata.X.toarray() if sp.issparse(adata.X) else np.array(adata.X, dtype=float)
    labels = adata.obs[label_key].astype(str).str.lower()
    myeloid = labels.str.contains("|".join(MYELOID_WORDS)).to_numpy()
    shift = np.where(myeloid, MYELOID_SHIFT, OTHER_SHIFT) * (rng.random(adata.n_obs) < 0.5)
    cols = [adata.var_names.get_loc(g) for g in ISGS if g in adata.var_names]
    x[:, cols] += shift[:, None]
    out = adata.copy()
    out.X = sp.csr_matrix(x)
    return out, len(cols)


def graded_calls(adata, label_key: str, truth: dict[str, str], store: Store) -> dict:
    matrices, cl_ids, names, _, sig, taxon = runs.scored_matrices(adata, label_key, store)
    calls = runs.calls_of(matrices[fusion.FUSED], cl_ids, True, sig, taxon, matrices[fusion.TABLE])
    return runs.grade_calls(calls, names, truth)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="store (datasets under it)")
    parser.add_argument("--datasets", required=True, help="comma-separated design-set files")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    store = Store.open(args.root)
    label = ontology.parser().get_term_label
    for name in args.datasets.split(","):
        adata, label_key, truth = runs.load_groups(name, args.root / "datasets", LABEL_MAP)
        stim, n_isg = stimulated(adata, label_key, args.seed)
        before = graded_calls(adata, label_key, truth, store)
        after = graded_calls(stim, label_key, truth, store)
        print(f"## {name}: {n_isg} of {len(ISGS)} ISGs measured, {adata.n_obs} cells")
        for group, b in before["groups"].items():
            a = after["groups"][group]
            print(
                f"{group[:22]:22} {label(b['truth'])[:36]:36} "
                f"{label(b['call'])[:34] if b['call'] else '-':34} {b['grade']:8} "
                f"{label(a['call'])[:34] if a['call'] else '-':34} {a['grade']}"
            )
        for version, g in (("as shipped", before), ("stimulated", after)):
            n = g["n_groups"]
            print(
                f"{version}: exact {g['exact']}/{n}, exact + partial "
                f"{g['exact'] + g['partial']}/{n}, wrong lineage {g['wrong_lineage']}/{n}"
            )


if __name__ == "__main__":
    main()
