"""Encoding throughput on gene cards: our backend vs raw SentenceTransformer.encode, same texts.

    .venv/bin/python scripts/bench_encode.py                      # minilm, 1,000 cards
    .venv/bin/python scripts/bench_encode.py --compare minilm-bf16  # + a variant's speed, cosine

Texts are `--n` human genes from the bundled snapshot (fixed seed), rendered with the text
template. Timings alternate backend and raw runs `--repeats` times and keep each one's best, so
a neighbour's load on a shared machine does not decide the ratio.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from genekb.encoders import registry
from genekb.encoders.base import Encoder
from genekb.sources.bundled import load_bundled
from genekb.templates import render


def gene_texts(n: int, template: str, seed: int = 0) -> list[str]:
    table = load_bundled("human").table
    rng = np.random.default_rng(seed)
    rows = table.take(
        np.sort(rng.choice(table.num_rows, size=min(n, table.num_rows), replace=False))
    )
    return render(template, rows.to_pylist())


def best_rate(runs: list[Callable[[], np.ndarray]], n_texts: int, repeats: int) -> list[float]:
    """Texts/s of each run, best of `repeats`, runs interleaved round by round."""
    best = [0.0] * len(runs)
    for _ in range(repeats):
        for i, run in enumerate(runs):
            start = time.perf_counter()
            run()
            best[i] = max(best[i], n_texts / (time.perf_counter() - start))
    return best


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
        "--compare", help="a variant (e.g. minilm-bf16): speed and cosine to --model"
    )
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--template", default="ncbi-card")
    parser.add_argument("--device", default=None)
    args = parser.parse_args()

    import torch

    texts = gene_texts(args.n, args.template)
    encoder = registry.load(args.model, device=args.device)
    tokens = encoder.count_tokens(texts)
    clipped = np.minimum(tokens, encoder.spec.max_length)
    print(
        f"{len(texts)} gene texts (template {args.template}); tokens mean {np.mean(tokens):.0f},"
        f" max {max(tokens)}, {np.mean(np.array(tokens) > encoder.spec.max_length):.1%} truncated"
        f" at {encoder.spec.max_length}; mean after truncation {clipped.mean():.0f}"
    )
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {encoder.device}")
    encoder.encode(texts[:16], batch_size=args.batch_size)  # warm-up
    ours = lambda: encoder.encode(texts, batch_size=args.batch_size)  # noqa: E731
    raw = raw_sentence_transformer(encoder, texts, args.batch_size)
    runs = [ours] if raw is None else [ours, raw]
    rates = best_rate(runs, len(texts), args.repeats)
    print(f"{args.model} backend encode: {rates[0]:.1f} texts/s (best of {args.repeats})")
    if raw is not None:
        print(f"{args.model} raw SentenceTransformer.encode: {rates[1]:.1f} texts/s")
        print(f"ratio backend/raw: {rates[0] / rates[1]:.3f}")
        ours_vectors, raw_vectors = ours(), raw()
        agreement = (ours_vectors * raw_vectors).sum(axis=1)
        print(f"cosine backend vs raw: min {agreement.min():.6f}")

    if args.compare:
        variant = registry.load(args.compare, device=args.device)
        variant.encode(texts[:16], batch_size=args.batch_size)
        fast = lambda: variant.encode(texts, batch_size=args.batch_size)  # noqa: E731
        base_rate, variant_rate = best_rate([ours, fast], len(texts), args.repeats)
        cos = (ours() * fast()).sum(axis=1)
        print(
            f"{args.compare}: {variant_rate:.1f} texts/s vs {args.model} {base_rate:.1f}"
            f" (x{variant_rate / base_rate:.2f}); cosine to {args.model}: mean {cos.mean():.6f},"
            f" min {cos.min():.6f} over {len(texts)} texts"
        )


if __name__ == "__main__":
    main()
