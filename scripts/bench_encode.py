"""Encoding throughput on gene cards: our backend vs raw SentenceTransformer.encode, same texts.

    .venv/bin/python scripts/bench_encode.py                        # minilm, 1,000 cards
    .venv/bin/python scripts/bench_encode.py --compare minilm-int8  # + the fast path, checked
    .venv/bin/python scripts/bench_encode.py --texts cl-terms --n 300 --compare minilm-int8

`--texts cl-terms` measures Cell Ontology term texts instead (the texts `cellmodel annotate`
embeds once per store and encoder; style "parents"), a seeded sample of `--n`; no task check.

Texts are `--n` human genes from the bundled snapshot (fixed seed), rendered with the text
template. Timings alternate the runs `--repeats` times and keep each one's best, so a neighbour's
load on a shared machine does not decide the ratio.

With `--compare VARIANT`, the same run also measures the variant on the same cards (texts/s, and
the ratio to float32 `SentenceTransformer.encode`), every card's cosine to the float32 vector,
and the gene-task check: ROC-AUC of a logistic-regression probe separating dosage-sensitive from
insensitive transcription factors (`--task`, 5-fold CV over 3 seeds; genekb.eval's probe) on
each encoder's vectors of the same TF cards.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from genekb.encoders import registry
from genekb.encoders.base import Encoder
from genekb.sources.bundled import load_bundled
from genekb.templates import render

TASK = Path(__file__).resolve().parents[2] / "shared" / "data" / "gene_tasks"
DEFAULT_TASK = TASK / "dosage_sensitive_tfs.csv"


def gene_texts(n: int, template: str, seed: int = 0) -> list[str]:
    table = load_bundled("human").table
    rng = np.random.default_rng(seed)
    rows = table.take(
        np.sort(rng.choice(table.num_rows, size=min(n, table.num_rows), replace=False))
    )
    return render(template, rows.to_pylist())


def term_texts(n: int, seed: int = 0) -> list[str]:
    """A seeded sample of the Cell Ontology term texts annotate embeds (style "parents")."""
    from cellmodel.annotate import ontology

    terms = ontology.from_ontology(subtree=None, tissue=None)
    rng = np.random.default_rng(seed)
    picked = np.sort(rng.choice(len(terms), size=min(n, len(terms)), replace=False))
    return [ontology.candidate_text(terms[i], "parents") for i in picked]


def task_texts(path: Path, template: str) -> tuple[list[str], np.ndarray]:
    """Cards of the task's TFs (matched by Ensembl id, then symbol) and 1 for dosage-sensitive."""
    import pandas as pd

    from genekb.genemap import GeneIndex

    frame = pd.read_csv(path)
    positive = frame["dosage_sensitive"].astype(str).str.lower().eq("yes").to_numpy()
    table = load_bundled("human").table
    index = GeneIndex.from_frame(
        table.select(["gene_id", "symbol", "aliases", "ensembl"]).to_pandas()
    )
    ids = index.resolve(frame["ensembl_id"].astype(str).tolist())["gene_id"].to_numpy()
    by_name = index.resolve(frame["gene_name"].astype(str).tolist())["gene_id"].to_numpy()
    ids = np.where(ids >= 0, ids, by_name)
    found = ids >= 0
    row_of = {int(g): i for i, g in enumerate(table.column("gene_id").to_pylist())}
    records = table.take([row_of[int(g)] for g in ids[found]]).to_pylist()
    return render(template, records), positive[found].astype(int)


def task_auc(vectors: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Mean and std of the probe's ROC-AUC over 3 seeds x 5 folds."""
    from genekb.eval.probe import cross_validate, make_probe

    result = cross_validate(
        lambda seed: make_probe(vectors, binary=True, seed=seed),
        np.where(labels == 1, "sensitive", "insensitive"),
        positive="sensitive",
    )
    return result.mean, result.std


def best_rate(
    runs: list[Callable[[], np.ndarray]], n_texts: int, repeats: int
) -> tuple[list[float], list[np.ndarray]]:
    """Texts/s of each run, best of `repeats`, runs interleaved round by round; and each run's
    vectors (from its last round)."""
    best = [0.0] * len(runs)
    vectors: list[np.ndarray] = [np.empty(0)] * len(runs)
    for _ in range(repeats):
        for i, run in enumerate(runs):
            start = time.perf_counter()
            vectors[i] = run()
            best[i] = max(best[i], n_texts / (time.perf_counter() - start))
    return best, vectors


def raw_sentence_transformer(
    encoder: Encoder, texts: list[str], batch_size: int
) -> Callable[[], np.ndarray] | None:
    """SentenceTransformer.encode on the backend's own model object, or None for other backends."""
    model = getattr(encoder, "model", None)
    if model is None or type(model).__name__ != "SentenceTransformer":
        return None

    def run() -> np.ndarray:
        return model.encode(
            texts,
            batch_size=batch_size,
            convert_to_numpy=True,
            normalize_embeddings=encoder.spec.normalize,
            show_progress_bar=False,
        )

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="minilm")
    parser.add_argument(
        "--compare", help="a variant (e.g. minilm-int8): speed, cosine and task AUC vs --model"
    )
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--template", default="ncbi-card")
    parser.add_argument("--texts", choices=["gene-cards", "cl-terms"], default="gene-cards")
    parser.add_argument("--task", type=Path, default=DEFAULT_TASK)
    parser.add_argument("--device", default=None)
    args = parser.parse_args()

    import torch

    texts = gene_texts(args.n, args.template) if args.texts == "gene-cards" else term_texts(args.n)
    began = time.perf_counter()
    encoder = registry.load(args.model, device=args.device)
    print(f"{args.model}: loaded in {time.perf_counter() - began:.1f} s")
    tokens = encoder.count_tokens(texts)
    clipped = np.minimum(tokens, encoder.spec.max_length)
    print(
        f"{len(texts)} {args.texts} texts; tokens mean {np.mean(tokens):.0f},"
        f" max {max(tokens)}, {np.mean(np.array(tokens) > encoder.spec.max_length):.1%} truncated"
        f" at {encoder.spec.max_length}; mean after truncation {clipped.mean():.0f}"
    )
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {encoder.device}")
    encoder.encode(texts[:16], batch_size=args.batch_size)  # warm-up
    ours = lambda: encoder.encode(texts, batch_size=args.batch_size)  # noqa: E731
    raw = raw_sentence_transformer(encoder, texts, args.batch_size)
    runs = [ours] if raw is None else [ours, raw]
    variant = None
    if args.compare:
        began = time.perf_counter()
        variant = registry.load(args.compare, device=args.device)
        print(f"{args.compare}: loaded in {time.perf_counter() - began:.1f} s")
        variant.encode(texts[:16], batch_size=args.batch_size)
        runs.append(lambda: variant.encode(texts, batch_size=args.batch_size))
    rates, outputs = best_rate(runs, len(texts), args.repeats)
    print(f"{args.model} backend encode: {rates[0]:.1f} texts/s (best of {args.repeats})")
    if raw is not None:
        print(f"{args.model} raw SentenceTransformer.encode: {rates[1]:.1f} texts/s")
        print(f"ratio backend/raw: {rates[0] / rates[1]:.3f}")
        agreement = (outputs[0] * outputs[1]).sum(axis=1)
        print(f"cosine backend vs raw: min {agreement.min():.6f}")
    if variant is None:
        return
    fast_rate = rates[-1]
    reference_rate = rates[1] if raw is not None else rates[0]
    reference_name = "SentenceTransformer.encode" if raw is not None else f"{args.model} backend"
    cos = (outputs[0] * outputs[-1]).sum(axis=1)
    print(
        f"{args.compare}: {fast_rate:.1f} texts/s; ratio to {args.model} {reference_name}:"
        f" x{fast_rate / reference_rate:.2f}"
    )
    print(
        f"{args.compare} cosine to {args.model}: mean {cos.mean():.6f}, min {cos.min():.6f},"
        f" share >= 0.99 {np.mean(cos >= 0.99):.3f} over {len(texts)} cards"
    )
    if args.texts == "gene-cards" and args.task and args.task.exists():
        task, labels = task_texts(args.task, args.template)
        base_auc = task_auc(encoder.encode(task, batch_size=args.batch_size), labels)
        fast_auc = task_auc(variant.encode(task, batch_size=args.batch_size), labels)
        print(
            f"{args.task.name}: {len(task)} TFs ({int(labels.sum())} sensitive); ROC-AUC (5-fold"
            f" x 3 seeds) {args.model} {base_auc[0]:.4f} ± {base_auc[1]:.4f}, {args.compare}"
            f" {fast_auc[0]:.4f} ± {fast_auc[1]:.4f}, difference"
            f" {fast_auc[0] - base_auc[0]:+.4f}"
        )


if __name__ == "__main__":
    main()
