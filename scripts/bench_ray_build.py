"""A store build on Ray beside the local build: same id, same vectors, and the throughput ratio.

    .venv/bin/python scripts/bench_ray_build.py            # 2,000 genes, writes docs
    .venv/bin/python scripts/bench_ray_build.py --genes 200 --no-docs

Builds the same genes (the 2,000 real symbols of the synthetic cell data,
`cellmodel.bench.data.synthetic_symbols`) with the default encoder into two fresh stores: once
with `engine="local"`, once with `engine="ray"` on a local Ray instance of `--workers` worker
processes (started before the timed build, as a running cluster would be). Prints whether the
embedding ids are equal, the smallest per-gene cosine between the two vector sets, both wall
times (model loading included: each Ray actor loads its own encoder) and the throughput ratio
Ray / local. Writes the figures into docs/benchmarks.md between <!-- ray-build:start/end -->.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
START, END = "<!-- ray-build:start -->", "<!-- ray-build:end -->"
COMMAND = ".venv/bin/python scripts/bench_ray_build.py"


def load() -> str:
    return " / ".join(f"{v:.1f}" for v in os.getloadavg())


def compare(n_genes: int, workers: int, folder: Path) -> dict:
    import numpy as np
    import ray

    from cellmodel.bench.data import synthetic_symbols
    from genekb.build import build
    from genekb.store.store import Store

    genes = synthetic_symbols(n_genes)
    began = time.perf_counter()
    local = build(Store.open(folder / "local", create=True), genes=genes)
    local_s = time.perf_counter() - began
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    try:
        began = time.perf_counter()
        remote = build(
            Store.open(folder / "ray", create=True), genes=genes, engine="ray", num_workers=workers
        )
        ray_s = time.perf_counter() - began
    finally:
        ray.shutdown()
    _, a = Store.open(folder / "local").embedding(local["embedding_id"]).matrix()
    _, b = Store.open(folder / "ray").embedding(remote["embedding_id"]).matrix()
    cosine = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    return {
        "genes": local["n_genes"],
        "model": local["model"],
        "workers": workers,
        "same_id": local["embedding_id"] == remote["embedding_id"],
        "embedding_id": local["embedding_id"],
        "cosine_min": float(cosine.min()),
        "local_s": round(local_s, 1),
        "ray_s": round(ray_s, 1),
        "ratio": round(local_s / ray_s, 2),  # throughput ray / local = time local / time ray
    }


def render(r: dict, meta: dict) -> str:
    return "\n".join(
        [
            START,
            "## Store build on Ray",
            "",
            f"- Command: `{meta['command']}`",
            f"- Date: {meta['date']}",
            f"- Machine: {meta['machine']}; load average {meta['load_start']} at start,"
            f" {meta['load_end']} at end (other work on the machine slows every run)",
            f"- {r['genes']:,} genes, encoder {r['model']}, each build into a fresh store;"
            f" Ray: a local instance of {r['workers']} worker processes, one encoder per actor"
            " (`ray.util.ActorPool` over 256-text shards; Ray Data's `map_batches` was not"
            " measured), started before the timed build",
            "",
            "| build | seconds | genes / s |",
            "| --- | --- | --- |",
            f"| local | {r['local_s']:.1f} | {r['genes'] / r['local_s']:.1f} |",
            f"| ray ({r['workers']} workers) | {r['ray_s']:.1f} | {r['genes'] / r['ray_s']:.1f} |",
            "",
            f"Same embedding id: {'yes' if r['same_id'] else 'NO'} (`{r['embedding_id']}`);"
            f" smallest per-gene cosine between the two builds {r['cosine_min']:.7f}; throughput"
            f" ratio Ray / local {r['ratio']:.2f}x.",
            "",
            END,
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genes", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    from cellmodel.bench.doc_pages import replace_section
    from cellmodel.bench.machine import machine_info

    info = machine_info()
    load_start = load()
    print(f"load average at start: {load_start}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="bench_ray_") as folder:
        result = compare(args.genes, args.workers, Path(folder))
    print(json.dumps(result), file=sys.stderr)
    meta = {
        "command": COMMAND + (f" --genes {args.genes}" if args.genes != 2000 else ""),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{info['cpu_model']}, {info['cpus']} CPU(s) usable, {info['ram_gib']} GiB RAM",
        "load_start": load_start,
        "load_end": load(),
    }
    section = render(result, meta)
    print(section)
    if not args.no_docs:
        replace_section(DOC, section, START, END)
    if not result["same_id"] or result["cosine_min"] < 0.99999:
        raise SystemExit("the Ray build differs from the local build")


if __name__ == "__main__":
    main()
