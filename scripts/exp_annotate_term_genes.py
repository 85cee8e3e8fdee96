"""A knowledge channel read from the term's side, measured over the whole Cell Ontology: each CL
term's nearest measured genes (their card vectors against the term's text, hubness-corrected
against annotate's fixed background) and each group's mean log fold change over them.

    python scripts/exp_annotate_term_genes.py save --root STORE --out SAVED [--datasets a,b]
    python scripts/exp_annotate_term_genes.py table --out SAVED [--genes 10] [--hubness zscore]

`save` scores every channel as `exp_annotate_rewalk.py save` does and keeps, per file, the card
vectors of every measured gene (embedded into STORE where missing), the term vectors and the
groups' fold changes. `table` adds the channel to the rankings it could join and walks each
(`ontology_runs.calls_of`), printing exact / exact + partial / wrong lineage per side of
docs/annotate_ontology.md, real vectors and, beside them, the new channel's gene vectors shuffled
(seeds 0 and 1; the other channels keep theirs). Labels only score.
"""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path

import numpy as np

from cellmodel.annotate import score
from cellmodel.annotate.inputs import background_ids, store_vectors
from cellmodel.annotate.methods import NATURAL_ZERO
from cellmodel.annotate.term_vectors import term_vectors
from cellmodel.bench.annotate_eval import ontology_runs as runs
from genekb.store.store import Store

LABEL_MAP = Path(__file__).resolve().parent / "annotate_label_map.csv"
SUMS = {
    "default": ("text", "mentions", "processes", "markerdb", "context"),
    "knowledge alone": ("text", "mentions", "processes", "context"),
    "term genes alone": ("term_genes",),
    "default + term genes": ("text", "mentions", "processes", "markerdb", "context", "term_genes"),
    "default, text → term genes": ("term_genes", "mentions", "processes", "markerdb", "context"),
    "knowledge + term genes": ("text", "mentions", "processes", "context", "term_genes"),
}
WITH_SIGNATURES = ("markerdb",)  # a ranking with the table walks with the lineage signatures


def save(root: Path, out: Path, names: list[str]) -> None:
    store = Store.open(root, create=True)
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        adata, label_key, truth = runs.load_groups(name, root / "datasets", LABEL_MAP)
        sc, params, cands, groups = runs.score_file(
            adata, label_key, store, gene_vectors="real", seed=0
        )
        data_ids = sc.mk.match.gene_ids[sc.mk.matched]
        measured = np.unique(data_ids)
        bg = background_ids(params.n_background)
        ev = store_vectors(
            store, np.unique(np.concatenate([measured, bg])), model=params.model,
            template=params.template, build_missing=True,
        )  # fmt: skip
        genes, found = ev.vectors([int(g) for g in measured])
        back, back_found = ev.vectors([int(g) for g in bg])
        terms = term_vectors(store, cands.terms, params.text_style, sc.ev.spec)[0]
        kept = {
            "channel": sc.channel, "lfc": sc.mk.lfc, "data_ids": data_ids,
            "genes": genes[found], "gene_ids": measured[found], "background": back[back_found],
            "terms": terms, "cl_ids": [c.cl_id for c in cands.terms],
            "groups": [str(c) for c in groups.categories], "truth": truth,
            "signature": sc.signature, "taxon": sc.taxon,
        }  # fmt: skip
        part = out / f"{name}.pkl.part"
        part.write_bytes(pickle.dumps(kept))
        part.replace(out / f"{name}.pkl")
        print(f"{name}: {len(measured)} measured genes", file=sys.stderr)


def term_genes(saved: dict, n_genes: int, hubness: str, shuffle: int | None) -> np.ndarray:
    """groups × terms: the mean fold change of each term's `n_genes` nearest measured genes."""
    vecs = saved["genes"]
    if shuffle is not None:
        vecs = vecs[np.random.default_rng(shuffle).permutation(len(vecs))]
    sims = score.corrected_similarity(vecs, saved["terms"], saved["background"], hubness)
    columns: dict[int, list[int]] = {}
    for j, g in enumerate(saved["data_ids"]):
        columns.setdefault(int(g), []).append(j)
    lfc = np.stack([saved["lfc"][:, columns[int(g)]].mean(1) for g in saved["gene_ids"]], axis=1)
    k = min(n_genes, len(saved["gene_ids"]))
    nearest = np.argpartition(-sims, k - 1, axis=0)[:k]  # k × terms
    return lfc[:, nearest].mean(axis=1)


def table(saved_dir: Path, names: list[str], n_genes: int, hubness: str) -> None:
    totals: dict[tuple[str, str, str], list[int]] = {}
    for name in names:
        path = saved_dir / f"{name}.pkl"
        if not path.exists():
            continue
        saved = pickle.loads(path.read_bytes())
        for vectors, shuffle in (("real", None), ("shuffled", 0), ("shuffled", 1)):
            extra = term_genes(saved, n_genes, hubness, shuffle)
            channel = {**saved["channel"], "term_genes": extra}
            for ranking, parts in SUMS.items():
                if vectors != "real" and "term_genes" not in parts:
                    continue
                matrix = score.combine(
                    *[channel[c] for c in parts], natural_zero=[c in NATURAL_ZERO for c in parts]
                )
                sig = saved["signature"] if any(c in WITH_SIGNATURES for c in parts) else None
                calls = runs.calls_of(matrix, saved["cl_ids"], True, sig, saved["taxon"])
                graded = runs.grade_calls(calls, saved["groups"], saved["truth"])
                tally = totals.setdefault((runs.side_of(name), ranking, vectors), [0, 0, 0, 0])
                tally[0] += graded["exact"]
                tally[1] += graded["exact"] + graded["partial"]
                tally[2] += graded["wrong_lineage"]
                tally[3] += graded["n_groups"]
    print("| side | ranking | term genes' vectors | exact | e + p | wrong lineage | groups |")
    print("|---|---|---|---|---|---|---|")
    for (side, ranking, vectors), (ex, ep, wl, n) in totals.items():
        shares = " | ".join(f"{x / n:.0%}" for x in (ex, ep, wl))
        print(f"| {side} | {ranking} | {vectors} | {shares} | {n} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["save", "table"])
    parser.add_argument("--root", type=Path, help="store root (save): datasets under ROOT/datasets")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--datasets", default=None, help="only these, comma-separated")
    parser.add_argument("--genes", type=int, default=10, help="nearest genes per term")
    parser.add_argument("--hubness", default="zscore", help="see cellmodel.annotate.score.HUBNESS")
    args = parser.parse_args()
    names = args.datasets.split(",") if args.datasets else list(runs.DESIGN)
    if args.step == "save":
        if args.root is None:
            parser.error("save needs --root")
        save(args.root, args.out, names)
    else:
        table(args.out, names, args.genes, args.hubness)


if __name__ == "__main__":
    main()
