"""What the read-path hash check costs: reading a version's vectors with and without it.

    .venv/bin/python scripts/bench_store_read.py [--genes 19575 --dim 384 --repeats 5]

Writes one embedding version of random unit vectors (the size of a whole-dataset store: Baron
human's 19,575 gene cards by default) through the store's own write path, then times, in one run:
- `EmbeddingVersion.matrix()` as readers call it (bytes read, sha256-checked, Parquet decoded);
- the same decode straight from the file with no check (the reference);
- `Version.check()` cold (hashes every file) and warm (a recorded stat per file).
Prints each median and the ratio to the reference.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from genekb.encoders.base import Encoder, EncoderSpec, Progress
from genekb.records import GeneTable, Snapshot
from genekb.store.integrity import VERIFIED_DIR
from genekb.store.store import Store
from genekb.store.versions import ensure_embedding_version, ensure_text_version
from genekb.templates import resolve as resolve_template


class RandomEncoder(Encoder):
    """Unit vectors from a seeded generator: the bench measures reading, not encoding."""

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [8] * len(texts)

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: Progress | None = None
    ) -> np.ndarray:
        x = np.random.default_rng(0).standard_normal((len(texts), self.dim)).astype(np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)


def gene_table(n: int) -> GeneTable:
    ids = list(range(1, n + 1))
    rows = {
        "gene_id": ids,
        "taxon": [9606] * n,
        "symbol": [f"G{i}" for i in ids],
        "name": [f"gene {i}" for i in ids],
        "gene_type": ["protein-coding"] * n,
        "map_location": ["1q1"] * n,
        "aliases": [[] for _ in ids],
        "ensembl": [[] for _ in ids],
        "summary": [None] * n,
        "go_bp": [[] for _ in ids],
        "go_mf": [[] for _ in ids],
        "go_cc": [[] for _ in ids],
    }
    return GeneTable(
        pa.table(rows),
        Snapshot(source="bench", taxon=9606, date="2026-01-01", description="bench genes"),
    )


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genes", type=int, default=19_575)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    spec = EncoderSpec(name="random", backend="random", model_id="random", dim=args.dim)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / "store", create=True)
        text, _ = ensure_text_version(store, gene_table(args.genes), resolve_template("name-only"))
        version, _ = ensure_embedding_version(store, text, spec, lambda: RandomEncoder(spec))
        path = version.path / "vectors.parquet"

        def checked() -> None:
            store.embedding(version.id).matrix()

        def unchecked() -> None:
            table = pq.read_table(path, columns=["gene_id", "vector"])
            flat = table.column("vector").combine_chunks().flatten().to_numpy()
            flat.reshape(table.num_rows, args.dim)

        def check_cold() -> None:
            for record in (store.root / VERIFIED_DIR).glob("*.json"):
                record.unlink()
            version.check()

        reference = median_seconds(unchecked, args.repeats)
        rows = [
            ("matrix() with hash check (every read)", median_seconds(checked, args.repeats)),
            ("same decode, no check (reference)", reference),
            ("check() cold: hash every file", median_seconds(check_cold, args.repeats)),
            ("check() warm: stat per file", median_seconds(version.check, args.repeats)),
        ]
        size_mb = path.stat().st_size / 1e6
    print(f"{args.genes} genes x {args.dim} dims, vectors.parquet {size_mb:.1f} MB")
    print("| read | median ms | ratio to reference |\n|---|---|---|")
    for label, seconds in rows:
        print(f"| {label} | {seconds * 1e3:.1f} | {seconds / reference:.2f} |")


if __name__ == "__main__":
    main()
