"""With each design file's own CL terms as the candidate list: how many groups the default and
other label-free ways of weighing the marker table against the knowledge name exactly, beside
each channel alone (docs/annotate_ontology.md, "With a candidate list").

    python scripts/exp_annotate_list_fusion.py save --root STORE --out CHANNELS [--datasets a,b]
    python scripts/exp_annotate_list_fusion.py table --channels CHANNELS

`save` scores every channel per group over the file's own terms, with real gene vectors and with
shuffled and random ones (seeds 0 and 1), as `annotate(..., candidates=own)` does, and keeps them
(`CHANNELS/<file>.pkl`); `table` calls each group from every channel and every way of weighing
them, and prints the groups named exactly per file, how many files each way names at least as
many as the file's best channel alone, and each way's total with the controls' vectors (mean of
the four). Labels only score.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from cellmodel.annotate import fusion, score
from cellmodel.annotate.methods import COMBINATIONS
from cellmodel.bench.annotate_eval.ontology_runs import DESIGN, load_groups, score_file
from genekb.store.store import Store

HERE = Path(__file__).resolve().parent
LABEL_MAP = HERE / "annotate_label_map.csv"
VECTORS = [("real", 0), ("shuffled", 0), ("shuffled", 1), ("random", 0), ("random", 1)]
SINGLE = ("text", "mentions", "processes", "knowledge", "markerdb")


def save(root: Path, out: Path, names: list[str]) -> None:
    store = Store.open(root, create=True)
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        adata, key, truth = load_groups(name, root / "datasets", LABEL_MAP)
        own = sorted(set(truth.values()))
        channels = {}
        for vectors, seed in VECTORS:
            sc, _, cands, groups = score_file(
                adata, key, store, own, gene_vectors=vectors, seed=seed
            )
            channels[f"{vectors}{seed}"] = {c: np.asarray(m) for c, m in sc.channel.items()}
        record = {
            "channels": channels,
            "cl_ids": [c.cl_id for c in cands.terms],
            "groups": [str(g) for g in groups.categories],
            "truth": truth,
        }
        (out / f"{name}.pkl").write_bytes(pickle.dumps(record))
        print(f"{name}: {len(record['groups'])} groups saved", file=sys.stderr, flush=True)


def _knowledge(ch: dict[str, np.ndarray]) -> np.ndarray:
    return score.standardise_rows(fusion.summed(ch, COMBINATIONS["knowledge"]))


def _by_margins(table: np.ndarray, ch: dict[str, np.ndarray], relative: bool = False) -> np.ndarray:
    """The default's form (`fusion.weigh`): each expert standardised and weighted by its margin,
    over the file's groups' median margin where `relative`."""
    by = _relative_margins if relative else fusion.margins
    return fusion.weigh(ch, table, _knowledge(ch), by)[0]


def _relative_margins(scores: np.ndarray) -> np.ndarray:
    """Each group's margin over the median of the file's positive margins (1 where none is)."""
    weights = fusion.margins(scores)
    positive = weights[weights > 0]
    return weights / (float(np.median(positive)) if positive.size else 1.0)


def _gated(ch: dict[str, np.ndarray]) -> np.ndarray:
    return score.standardise_rows(fusion.gated(ch["markerdb"]), natural_zero=True)


def _raw_where_flat(ch: dict[str, np.ndarray]) -> np.ndarray:
    """The gated table, but its raw −log10 p in groups where no candidate clears the gate."""
    gated = fusion.gated(ch["markerdb"])
    flat = ~(np.nan_to_num(gated) > 0).any(axis=1)
    table = np.where(flat[:, None], ch["markerdb"], gated)
    return score.standardise_rows(table, natural_zero=True)


def _ranks(m: np.ndarray) -> np.ndarray:
    filled = np.where(np.isfinite(m), m, -np.inf)
    return np.argsort(np.argsort(-filled, axis=1), axis=1) + 1.0


def _reciprocal_ranks(ch: dict[str, np.ndarray]) -> np.ndarray:
    """1/(1 + rank) summed over the table and the knowledge (ties broken by the table)."""
    table, know = ch["markerdb"], _knowledge(ch)
    tiebreak = 1e-6 * np.nan_to_num(score.standardise_rows(table, natural_zero=True))
    return 1 / (1 + _ranks(table)) + 1 / (1 + _ranks(know)) + tiebreak


def _table_first(ch: dict[str, np.ndarray]) -> np.ndarray:
    """The table's call wherever a candidate clears its gate; the default elsewhere."""
    gated = fusion.gated(ch["markerdb"])
    significant = (np.nan_to_num(gated) > 0).any(axis=1)
    return np.where(significant[:, None], np.nan_to_num(gated, nan=-np.inf), fusion.weighted(ch)[0])


WAYS: dict[str, Callable[[dict[str, np.ndarray]], np.ndarray]] = {
    "default (margins, gated table)": lambda ch: fusion.weighted(ch)[0],
    "raw table where the gate leaves it flat": lambda ch: _by_margins(_raw_where_flat(ch), ch),
    "ungated table": lambda ch: _by_margins(
        score.standardise_rows(ch["markerdb"], natural_zero=True), ch
    ),
    "margins relative to the file's median": lambda ch: _by_margins(_gated(ch), ch, True),
    "reciprocal ranks": _reciprocal_ranks,
    "table first where significant": _table_first,
    "equal-weight sum": lambda ch: fusion.summed(ch, COMBINATIONS["combined"]),
}


def _exact(matrix: np.ndarray, record: dict) -> int:
    hits = 0
    for i, group in enumerate(record["groups"]):
        if not np.isfinite(matrix[i]).any():
            continue
        best = int(np.argmax(np.where(np.isfinite(matrix[i]), matrix[i], -np.inf)))
        hits += record["cl_ids"][best] == record["truth"][group]
    return hits


def _single(ch: dict[str, np.ndarray], name: str) -> np.ndarray:
    return fusion.summed(ch, COMBINATIONS["knowledge"]) if name == "knowledge" else ch[name]


def table(channels: Path, names: list[str]) -> str:
    ways = list(WAYS)
    lines = [
        "| file | groups | " + " | ".join(SINGLE) + " | best alone | " + " | ".join(ways) + " |",
        "|---" * (3 + len(SINGLE) + len(ways)) + "|",
    ]
    totals = dict.fromkeys(["best", *ways], 0)
    at_least = dict.fromkeys(ways, 0)
    controls = dict.fromkeys(ways, 0.0)
    for name in names:
        path = channels / f"{name}.pkl"
        if not path.exists():
            continue
        record = pickle.loads(path.read_bytes())
        real = record["channels"]["real0"]
        singles = [_exact(_single(real, c), record) for c in SINGLE]
        best = max(singles)
        totals["best"] += best
        called = {}
        for way in ways:
            called[way] = _exact(WAYS[way](real), record)
            totals[way] += called[way]
            at_least[way] += called[way] >= best
            others = [v for k, v in record["channels"].items() if k != "real0"]
            controls[way] += np.mean([_exact(WAYS[way](other), record) for other in others])
        cells = [name, str(len(record["groups"])), *map(str, singles), str(best)]
        lines.append("| " + " | ".join(cells + [str(called[w]) for w in ways]) + " |")
    blank = [""] * (1 + len(SINGLE))  # groups and the single channels
    summary = [
        ["total", *blank, str(totals["best"]), *(str(totals[w]) for w in ways)],
        ["files at or above the best alone", *blank, "", *(str(at_least[w]) for w in ways)],
        [
            "total, shuffled / random vectors (mean of 4)",
            *blank,
            "",
            *(f"{controls[w]:.1f}" for w in ways),
        ],
    ]
    lines += ["| " + " | ".join(row) + " |" for row in summary]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("save", help="score and keep every file's channels")
    s.add_argument("--root", type=Path, required=True, help="store root (datasets under it)")
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--datasets", default=None, help="only these, comma-separated")
    t = sub.add_parser("table", help="the table from saved channels")
    t.add_argument("--channels", type=Path, required=True)
    t.add_argument("--datasets", default=None)
    args = parser.parse_args()
    names = args.datasets.split(",") if args.datasets else list(DESIGN)
    warnings.simplefilter("ignore", RuntimeWarning)  # all-nan rows are expected
    if args.command == "save":
        save(args.root, args.out, names)
    else:
        print(table(args.channels, names))


if __name__ == "__main__":
    main()
