"""Views, encoders and their combinations on the bundled gene tasks: docs/gene_benchmarks.md.

    .venv/bin/python scripts/knowledge_benchmarks.py --root /tmp/kn/store

Builds (or finds) in `--root`: MiniLM versions of the bundled tasks' genes (a MiniLM vector does
not depend on the other genes of a version), TF-IDF/LSA versions of all genes (their fit is made on
the whole store's texts, as a user's `genekb build --model tfidf-lsa` would), then multi-view
versions with `genekb.views.combine`, and runs `genekb.eval.evaluate` on each, 5 folds × 3 seeds.
Every row is paired fold by fold (same genes, same seeds, same folds) with its own bag-of-words
and annotation-depth controls and with today's default (MiniLM on the bundled ncbi-card).
Writes <root>/runs/knowledge_benchmarks.json and prints the Markdown table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# (tag, model, source, template, all genes?)
BUILDS = (
    ("human/ncbi-card/minilm", "minilm", "bundled", "ncbi-card", False),
    ("human/ncbi-card/tfidf-lsa", "tfidf-lsa", "bundled", "ncbi-card", True),
    ("human/refseq-card/minilm", "minilm", "refseq", "ncbi-card", False),
    ("human/refseq-card/minilm-windows", "minilm-windows", "refseq", "ncbi-card", False),
    ("human/refseq-summary/minilm", "minilm", "refseq", "summary", False),
    ("human/refseq-card/tfidf-lsa", "tfidf-lsa", "refseq", "ncbi-card", True),
    ("human/refseq-card/tfidf-lsa-512", "tfidf-lsa-512", "refseq", "ncbi-card", True),
    ("human/refseq-go/tfidf-lsa", "tfidf-lsa", "refseq", "go-terms", True),
)
COMBOS = (
    ("human/ncbi-card/minilm", "human/ncbi-card/tfidf-lsa"),
    ("human/refseq-card/minilm", "human/refseq-card/tfidf-lsa"),
    ("human/refseq-card/minilm", "human/refseq-summary/minilm"),
    ("human/refseq-card/minilm", "human/refseq-summary/minilm", "human/refseq-card/tfidf-lsa"),
    ("human/refseq-card/minilm-windows", "human/refseq-card/tfidf-lsa"),
    (
        "human/refseq-card/minilm-windows",
        "human/refseq-summary/minilm",
        "human/refseq-card/tfidf-lsa",
        "human/refseq-go/tfidf-lsa",
    ),
)
BASELINE = "human/ncbi-card/minilm"


def build_all(store: Any, only_present: bool) -> dict[str, dict[str, Any]]:
    from genekb.build import build
    from genekb.eval.task_genes import bundled_task_genes

    genes = bundled_task_genes()
    reports = {}
    for tag, model, source, template, whole in BUILDS:
        if only_present and tag not in store.tags():
            continue
        t0 = time.perf_counter()
        kw = {} if whole else {"genes": genes}
        reports[tag] = build(store, model=model, source=source, template=template, tag=tag, **kw)
        print(f"{tag}: {reports[tag]['embedding_id']} ({time.perf_counter() - t0:.0f} s)")
    return reports


def combine_all(store: Any) -> list[str]:
    from genekb.views import combine

    tags = []
    for views in COMBOS:
        if all(v in store.tags() for v in views):
            tag = "views/" + "+".join(v.split("/", 1)[1] for v in views)
            tags.append(combine(store, list(views), tag=tag)["tag"])
    return tags


def paired(a: dict[str, Any], b: dict[str, Any]) -> str:
    diff = np.asarray(a["scores"]) - np.asarray(b["scores"])
    return f"{diff.mean():+.3f} ({int((diff > 0).sum())}/{diff.size})"


def table(doc: dict[str, Any]) -> list[str]:
    base = {r["task"]: r for r in doc["results"] if r["version"]["tag"] == BASELINE}
    head = ["version", "task", "vectors", "random", "shuffled", "annotation depth",
            "bag-of-words", "− BoW (folds won)", "− depth", "− today's default"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in doc["results"]:
        if "skipped" in r:
            continue
        s = r["scores"]
        ref = base[r["task"]]["scores"]["vectors"]
        cells = [r["version"]["tag"], r["task"]]
        shown = ("vectors", "random", "shuffled", "annotation-depth", "bag-of-words")
        cells += [f"{s[n]['mean']:.3f} ± {s[n]['std']:.3f}" for n in shown]
        cells += [
            paired(s["vectors"], s["bag-of-words"]),
            paired(s["vectors"], s["annotation-depth"]),
        ]
        cells.append(paired(s["vectors"], ref))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--only-present", action="store_true", help="skip builds not yet tagged")
    args = parser.parse_args()
    from genekb.eval import evaluate
    from genekb.store.store import Store

    store = Store.open(args.root, create=True)
    reports = build_all(store, args.only_present)
    tags = [t for t, *_ in BUILDS if t in store.tags()] + combine_all(store)
    doc = evaluate([store.embedding(t) for t in tags], seeds=args.seeds, leakage=False,
                   log=lambda m: print(m, flush=True))  # fmt: skip
    doc["builds"] = reports
    out = args.root / "runs" / "knowledge_benchmarks.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1, default=str))
    print("\n".join(table(doc)))


if __name__ == "__main__":
    main()
