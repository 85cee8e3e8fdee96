"""The design set's split, development beside self-held-out, as markdown on stdout.

    python scripts/split_design_set.py docs/data/cluster_design_set_runs.jsonl \
        docs/data/merge_split_moves.jsonl docs/data/cluster_heldout_runs.jsonl [--current RUNS ...]

Inputs: runs of `scripts/exp_design_set.py` (per dataset and seed: `ari` of the pipeline's
partition, `encoder`, unless run with `--baselines-only`, and of the baselines: `kmeans50` =
pca-kmeans, `leiden50` = leiden, `leidenk50` = leiden-k) and runs of
`scripts/exp_merge_split_guards.py` (per dataset and seed: `ari` of the fit without the
merge-split check, `none`, with the check as it was before its wider search, `joined>=0.4`, and
as the pipeline runs it now, `moves`). Where a dataset has guard runs of at least as many seeds,
the default's ARI is their `moves` (the recorded design-set runs of the first files predate the
check's last two rules); elsewhere it is the design-set run's `encoder`. Runs of
`scripts/exp_rule_ablation.py --rules "one PC per ten cells"` (per dataset and seed: `default`,
the pipeline with the cap on components, and the same without it) give the default of every
dataset they cover, over their seeds, since the cap came after the other runs; files of 500
cells or more are left as recorded, the cap never binding there. Runs given after `--current`
(`exp_design_set.py` with the code as it is now) give the default and the baselines of every
dataset they cover, over their seeds, before all others: they came after every rule's runs,
whose with/without pairs still give the rule's gain.

Per side: the mean ARI of the default, of each fixed baseline and of the per-file best of the
three (chosen per file after the fact), the files more than 0.02 below their best baseline, the
files whose std over seeds exceeds 0.03 where a baseline's does not, and each rule's gain on the
files that have its runs. Labels only score; the split was fixed before the held-out runs. The
sides are those of `cellmodel.bench.cluster_split`.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from cellmodel.bench.cluster_split import FILE_SIDES, SIDES

BASELINES = {"pca-kmeans": "kmeans50", "leiden": "leiden50", "leiden-k": "leidenk50"}
CAP = "one PC per ten cells"  # the rule of `exp_rule_ablation.py` whose runs give the default
GUARD_RULES = {  # rule: (without it, with it), as variants of the guard runs
    "merge-split check (as the pipeline runs it)": ("none", "moves"),
    "the check's wider search (moves)": ("joined>=0.4", "moves"),
}
CAPPED = "default with the cap"  # the cap's own runs' default, beside its runs without it
RULES = {**GUARD_RULES, CAP: (CAP, CAPPED)}  # the cap's, as variants of its ablation runs


def read_runs(
    paths: list[Path], current: list[Path] | None = None
) -> dict[str, dict[str, list[float]]]:
    """dataset -> variant -> ARI per seed, the default as `default`; every variant of a dataset
    over the same seeds (those of the runs that give its default), the `current` runs' datasets
    over theirs."""
    design: dict[str, dict[int, dict]] = defaultdict(dict)
    guards: dict[str, dict[int, dict]] = defaultdict(dict)
    capped: dict[str, dict[int, dict]] = defaultdict(dict)
    for path in paths:
        for line in path.read_text().splitlines():
            run = json.loads(line)
            kind = capped if CAP in run["ari"] else guards if "moves" in run["ari"] else design
            kind[run["dataset"]][run["seed"]] = {
                **kind[run["dataset"]].get(run["seed"], {}),
                **run["ari"],
            }
    per: dict[str, dict[str, list[float]]] = {}
    for name, seeds in design.items():
        fitted = sorted(s for s in seeds if "encoder" in seeds[s])
        guarded = sorted(s for s in guards.get(name, {}) if s in seeds)
        if guarded and len(guarded) >= len(fitted):  # the runs with more seeds give it
            order, default = guarded, [guards[name][s]["moves"] for s in guarded]
        elif fitted:
            order, default = fitted, [seeds[s]["encoder"] for s in fitted]
        else:  # baselines alone (`exp_design_set.py --baselines-only`)
            continue
        if name in capped:  # the default as it is now, over the seeds with baselines
            order = sorted(s for s in capped[name] if "kmeans50" in seeds.get(s, {}))
            default = [capped[name][s]["default"] for s in order]
        row = {v: [seeds[s][v] for s in order] for v in BASELINES.values()}
        row["default"] = default
        for variants in GUARD_RULES.values() if guarded else ():
            for v in variants:
                row[v] = [guards[name][s][v] for s in guarded]
        if name in capped:
            row[CAP] = [capped[name][s][CAP] for s in order]
            row[CAPPED] = default
        per[name] = row
    for name, seeds in _current_runs(current or []).items():
        order = sorted(seeds)
        per.setdefault(name, {}).update(
            {v: [seeds[s][v] for s in order] for v in BASELINES.values()},
            default=[seeds[s]["encoder"] for s in order],
        )
    return per


def _current_runs(paths: list[Path]) -> dict[str, dict[int, dict]]:
    """dataset -> seed -> ARIs of the runs with the code as it is now."""
    runs: dict[str, dict[int, dict]] = defaultdict(dict)
    for path in paths:
        for line in path.read_text().splitlines():
            run = json.loads(line)
            runs[run["dataset"]][run["seed"]] = run["ari"]
    return runs


def _cell(values: list[float]) -> str:
    std = np.std(values, ddof=1) if len(values) > 1 else 0.0
    return f"{np.mean(values):.3f} ± {std:.3f}"


def file_table(per: dict[str, dict[str, list[float]]]) -> list[str]:
    lines = ["| side | dataset | seeds | pca-kmeans | leiden | leiden-k | default | gap to best |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for side, names in FILE_SIDES.items():
        for name in names:
            if name not in per:
                lines.append(f"| {side} | {name} | 0 | | | | | (no runs) |")
                continue
            row = per[name]
            best = max(np.mean(row[v]) for v in BASELINES.values())
            cells = " | ".join(_cell(row[v]) for v in BASELINES.values())
            gap = np.mean(row["default"]) - best
            lines.append(
                f"| {side} | {name} | {len(row['default'])} | {cells} | {_cell(row['default'])}"
                f" | {gap:+.3f} |"
            )
    return lines


def side_table(per: dict[str, dict[str, list[float]]]) -> list[str]:
    lines = ["| side | files | default | pca-kmeans | leiden | leiden-k | per-file best |"
             " default − best | files > 0.02 below best | std > 0.03 where a baseline's ≤ 0.03 |",
             "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for side, names in SIDES.items():
        rows = [per[n] for n in names if n in per]
        if not rows:
            continue
        default = [np.mean(r["default"]) for r in rows]
        fixed = {b: [np.mean(r[v]) for r in rows] for b, v in BASELINES.items()}
        best = [max(np.mean(r[v]) for v in BASELINES.values()) for r in rows]
        below = sum(d < b - 0.02 for d, b in zip(default, best, strict=True))
        spread = sum(
            np.std(r["default"], ddof=1) > 0.03
            and min(np.std(r[v], ddof=1) for v in BASELINES.values()) <= 0.03
            for r in rows
        )
        means = " | ".join(f"{np.mean(fixed[b]):.3f}" for b in BASELINES)
        lines.append(
            f"| {side} | {len(rows)} | {np.mean(default):.3f} | {means} | {np.mean(best):.3f} |"
            f" {np.mean(default) - np.mean(best):+.3f} | {below} | {spread} |"
        )
    return lines


def rule_table(per: dict[str, dict[str, list[float]]]) -> list[str]:
    lines = ["| rule | side | files with runs | mean without | mean with | gain |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for rule, (without, with_) in RULES.items():
        for side, names in SIDES.items():
            rows = [per[n] for n in names if n in per and without in per[n]]
            if not rows:
                lines.append(f"| {rule} | {side} | 0 | | | |")
                continue
            a = np.mean([np.mean(r[without]) for r in rows])
            b = np.mean([np.mean(r[with_]) for r in rows])
            lines.append(f"| {rule} | {side} | {len(rows)} | {a:.3f} | {b:.3f} | {b - a:+.3f} |")
    return lines


def main() -> None:
    args = sys.argv[1:]
    cut = args.index("--current") if "--current" in args else len(args)
    per = read_runs([Path(p) for p in args[:cut]], [Path(p) for p in args[cut + 1 :]])
    for table in (side_table(per), rule_table(per), file_table(per)):
        print("\n".join(table) + "\n")


if __name__ == "__main__":
    main()
