"""Encoders × templates × bundled gene tasks, each beside its controls: docs/gene_benchmarks.md.

    .venv/bin/python scripts/gene_benchmarks.py --root /tmp/eval_store

For each encoder and template it builds (or finds) the version of the bundled tasks' genes in
`--root`, then runs `genekb.eval.evaluate` on every bundled task: the vectors, the same vectors
shuffled across genes, random vectors, TF-IDF of the version's own texts, and vectors + TF-IDF in
one probe. Paired differences against the bag-of-words use the same folds (same seeds, same genes).
Raw results go to <root>/runs/gene_benchmarks.json; the page keeps its "## Reading" section.
Labels only score: the probe's setting is fixed, and nothing is chosen by these figures except
the closing "best configuration", which is named after the fact and says so.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEFAULT_MODELS = ("minilm", "smollm2")
TEMPLATES = ("ncbi-card", "kv", "genept-summary", "name-only")
DOC = Path(__file__).resolve().parents[1] / "docs" / "gene_benchmarks.md"
SETS = (
    "vectors", "shuffled", "random", "annotation-depth", "bag-of-words", "vectors+bag-of-words"
)  # fmt: skip


def run(root: Path, configs: list[tuple[str, str]], seeds: int) -> dict[str, Any]:
    from genekb.build import build
    from genekb.eval import evaluate
    from genekb.eval.task_genes import bundled_task_genes
    from genekb.store.store import Store

    store = Store.open(root, create=True)
    genes = bundled_task_genes()
    rows = []
    for model, template in configs:
        t0 = time.perf_counter()
        report = build(store, model=model, template=template, genes=genes)
        built = time.perf_counter() - t0
        print(f"{model} / {template}: {report['embedding_id']} ({built:.0f} s)", flush=True)
        version = store.embedding(report["embedding_id"])
        cpu0 = time.process_time()
        document = evaluate([version], seeds=seeds)
        document["cpu_seconds"] = round(time.process_time() - cpu0, 2)
        rows.append({"model": model, "template": template, "build": report, **document})
        print(f"  eval {document['seconds']:.1f} s wall, {document['cpu_seconds']} s CPU")
    return {"configs": configs, "seeds": seeds, "runs": rows}


def paired(row: dict[str, Any], a: str, b: str) -> tuple[float, float, int, int]:
    """Mean and std of the per-fold difference a − b, and in how many folds a > b."""
    diff = np.asarray(row["scores"][a]["scores"]) - np.asarray(row["scores"][b]["scores"])
    return float(diff.mean()), float(diff.std(ddof=1)), int((diff > 0).sum()), diff.size


def fmt(score: dict[str, Any]) -> str:
    return f"{score['mean']:.3f} ± {score['std']:.3f}"


def table(data: dict[str, Any]) -> list[str]:
    head = [
        "encoder", "template", "task", "vectors", "shuffled", "random", "annotation depth",
        "bag-of-words",
        "vectors + BoW", "vectors − BoW", "(vectors + BoW) − BoW",
    ]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for run in data["runs"]:
        for row in run["results"]:
            if "skipped" in row:
                continue
            s = row["scores"]
            d1 = paired(row, "vectors", "bag-of-words")
            d2 = paired(row, "vectors+bag-of-words", "bag-of-words")
            lines.append(
                "| "
                + " | ".join(
                    [
                        run["model"],
                        run["template"],
                        row["task"],
                        *[fmt(s[n]) for n in SETS],
                        f"{d1[0]:+.3f} ± {d1[1]:.3f} ({d1[2]}/{d1[3]})",
                        f"{d2[0]:+.3f} ± {d2[1]:.3f} ({d2[2]}/{d2[3]})",
                    ]
                )
                + " |"
            )
    return lines


def best(data: dict[str, Any]) -> list[str]:
    """Each configuration (encoder, template, feature set) by its mean over the bundled tasks."""
    scored: dict[tuple[str, str, str], list[float]] = {}
    beats: dict[tuple[str, str, str], list[bool]] = {}
    for run in data["runs"]:
        for row in run["results"]:
            if "skipped" in row:
                continue
            for name in ("vectors", "vectors+bag-of-words"):
                key = (run["model"], run["template"], name)
                scored.setdefault(key, []).append(row["scores"][name]["mean"])
                beats.setdefault(key, []).append(paired(row, name, "bag-of-words")[0] > 0)
    ranked = sorted(scored, key=lambda k: -float(np.mean(scored[k])))
    lines = ["| rank | encoder | template | features | mean over tasks | beats its BoW on |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for i, key in enumerate(ranked[:6], 1):
        n_tasks = len(beats[key])
        lines.append(
            f"| {i} | {key[0]} | {key[1]} | {key[2]} | {np.mean(scored[key]):.3f} | "
            f"{sum(beats[key])} of {n_tasks} tasks |"
        )
    return lines


def leakage(data: dict[str, Any]) -> list[str]:
    out = []
    seen = set()
    for run in data["runs"]:
        for row in run["results"]:
            key = (run["template"], row["task"])
            if key in seen or "leakage" not in row:
                continue
            seen.add(key)
            classes = sorted(row["coverage"]["classes"])
            words = ", ".join(
                f"{w['word']} ("
                + " / ".join(f"{w['share_by_class'][c]:.0%}" for c in classes)
                + ")"
                for w in row["leakage"]["top_words"][:6]
            )
            terms = "; ".join(
                f"'{t['term']}' " + " / ".join(f"{t['share_by_class'][c]:.0%}" for c in classes)
                for t in row["leakage"]["label_terms"]
                if any(v > 0 for v in t["share_by_class"].values())
            )
            out.append(
                f"| {key[0]} | {key[1]} ({' / '.join(classes)}) | {terms or 'none'} | {words} |"
            )
    return ["| template | task (class shares as) | label terms present | words most tied to the "
            "label |", "|---|---|---|---|", *out]  # fmt: skip


def timing(data: dict[str, Any]) -> list[str]:
    lines = ["| encoder | template | eval wall s | eval CPU s |", "|---|---|---|---|"]
    for run in data["runs"]:
        lines.append(
            f"| {run['model']} | {run['template']} | {run['seconds']:.1f} | {run['cpu_seconds']} |"
        )
    return lines


def markdown(data: dict[str, Any], command: str) -> str:
    first = data["runs"][0]
    params = first["params"]
    tasks = "; ".join(f"`{t['name']}`: {t['description']} ({t['source']})" for t in first["tasks"])
    coverage = "; ".join(
        f"{r['task']} {r['coverage']['found']} of {r['coverage']['asked']}"
        for r in first["results"]
    )
    parts = [
        "# Gene-level benchmarks: what the vectors know, beside controls",
        "",
        "Regenerate with",
        "",
        f"    {command}",
        "",
        f"Tasks: {tasks}. Genes found in the store: {coverage}.",
        "",
        f"Probe: {params['probe']}; {params['features']}; stratified {params['folds']}-fold CV "
        f"repeated over {len(params['seeds'])} seeds; ROC-AUC of the positive class, mean ± std "
        "over all folds. Every column of a row is scored on the same genes and the same folds. "
        "`vectors − BoW`: the mean per-fold difference to the bag-of-words of the version's own "
        "texts, its std, and in how many folds the vectors won.",
        "",
        *table(data),
        "",
        "## Configurations ranked by their mean over the bundled tasks",
        "",
        "Named after the fact from the table above (an optimistic pick: it is chosen on the same "
        "tasks it is scored on).",
        "",
        *best(data),
        "",
        "## Label words in the texts",
        "",
        "Share of each class's texts containing a label term, and the words whose presence "
        "depends most on the label (chi-squared over all task genes; description only, nothing "
        "here feeds a probe).",
        "",
        *leakage(data),
        "",
        "## Time of one `evaluate` (one version, both tasks, all six feature sets)",
        "",
        f"Wall and process CPU seconds on this machine ({os.cpu_count()} cores, shared).",
        "",
        *timing(data),
        "",
    ]
    return "\n".join(parts)


def main() -> None:
    from cellmodel.bench.doc_pages import write_keeping_reading

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS))
    parser.add_argument("--templates", default=",".join(TEMPLATES))
    parser.add_argument(
        "--configs",
        default=None,
        help="MODEL:TEMPLATE pairs to run instead of --models × --templates (comma-separated).",
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--doc", type=Path, default=DOC)
    parser.add_argument(
        "--table-only", action="store_true", help="Rewrite the page from the saved JSON."
    )
    args = parser.parse_args()
    saved = args.root / "runs" / "gene_benchmarks.json"
    if args.configs:
        configs = [tuple(c.split(":", 1)) for c in args.configs.split(",")]
        chosen = f"--configs {args.configs}"
    else:
        configs = [(m, t) for m in args.models.split(",") for t in args.templates.split(",")]
        chosen = f"--models {args.models} --templates {args.templates}"
    command = (
        f".venv/bin/python scripts/gene_benchmarks.py --root {args.root} {chosen} "
        f"--seeds {args.seeds}"
    )
    if args.table_only:
        data = json.loads(saved.read_text())
        command = data.get("command", command)
    else:
        data = run(args.root, configs, args.seeds)  # type: ignore[arg-type]
        data["command"] = command
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_text(json.dumps(data, indent=1, default=str) + "\n")
    write_keeping_reading(args.doc, markdown(data, command))
    print(f"wrote {args.doc} and {saved}")


if __name__ == "__main__":
    main()
