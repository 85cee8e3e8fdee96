"""Scale benchmark of the weighted semantic view: out of core (chunked, Dask) beside in memory.

    .venv/bin/python scripts/bench_scale.py                       # 1e5 and 1e6 cells, writes docs
    .venv/bin/python scripts/bench_scale.py --sizes 20000 --no-docs   # a quick look

Generates synthetic NB counts (2,000 real gene symbols, `cellmodel.datasets.synthetic`, written in
chunks) at each size, then runs each path in a child process and reads the child's wall time
and peak RSS (`os.wait4`): `embed_h5ad` (chunked) at every size, `embed` (in memory, weighted
path only: sentence_top_n=0) at the sizes up to --in-memory-max. On the --equal-cells file both
run and the largest absolute difference of obsm X_semantic_w is printed. 10^7 cells is
extrapolated from a least-squares line through the measured chunked sizes (when they span 5x or
more). The gene vectors (minilm)
are built once into --root by the first run and read by every later one, so no run times the
encoder. Writes the table into docs/benchmarks.md between <!-- scale-ooc:start/end -->.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "benchmarks.md"
START, END = "<!-- scale-ooc:start -->", "<!-- scale-ooc:end -->"
COMMAND = ".venv/bin/python scripts/bench_scale.py"
EXTRAPOLATE_TO = 10_000_000
MIN_SPAN = 5  # the measured sizes must span this factor for a slope worth extrapolating


def child(mode: str, data: str, out: str, root: str, chunk_size: int, workers: int) -> None:
    """One measured run (in its own process, so its peak RSS is its own)."""
    from genekb.store.store import Store

    store = Store.open(root, create=True)
    if mode == "chunked":
        from cellmodel.chunked import embed_h5ad

        embed_h5ad(data, store, output=out, chunk_size=chunk_size, workers=workers)
    else:
        import anndata as ad

        from cellmodel.embed import embed

        adata = ad.read_h5ad(data)
        embed(adata, store, sentence_top_n=0)
        adata.write_h5ad(out)


def measure(args: list[str]) -> dict[str, float]:
    began = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--child", *args])
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - began
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"child {args[0]} failed on {args[1]}")
    return {"seconds": round(seconds, 1), "peak_rss_mb": round(usage.ru_maxrss / 1024)}


def max_abs_diff(a: str, b: str) -> float:
    import anndata as ad
    import numpy as np

    x = ad.read_h5ad(a, backed="r").obsm["X_semantic_w"]
    y = ad.read_h5ad(b, backed="r").obsm["X_semantic_w"]
    return float(np.abs(np.asarray(x) - np.asarray(y)).max())


def extrapolate(chunked: list[dict], target: int = EXTRAPOLATE_TO) -> dict:
    """Seconds and peak RSS at `target` cells from a least-squares line through the measured
    chunked runs; none unless they span at least MIN_SPAN in cells (two close sizes give a
    slope that is mostly noise and start-up)."""
    import numpy as np

    cells = np.array([r["cells"] for r in chunked], dtype=np.float64)
    if len(cells) < 2 or cells.max() < MIN_SPAN * cells.min():
        return {}
    out: dict = {"cells": target, "from": ", ".join(f"{int(c):,}" for c in cells)}
    for key in ("seconds", "peak_rss_mb"):
        slope, intercept = np.polyfit(cells, [r[key] for r in chunked], 1)
        # Never below the largest measured figure: the work only grows with the cells.
        out[key] = max(float(intercept + slope * target), max(r[key] for r in chunked))
        out[f"{key}_per_million"] = float(slope * 1e6)
    out["peak_rss_mb"] = round(out["peak_rss_mb"])
    return out


def load() -> str:
    return " / ".join(f"{v:.1f}" for v in os.getloadavg())


def ensure_data(folder: Path, n: int) -> Path:
    from cellmodel.datasets.synthetic import write_synthetic_h5ad

    path = folder / f"synthetic-{n}.h5ad"
    if not path.exists():
        began = time.perf_counter()
        write_synthetic_h5ad(path, n)
        print(f"generated {path} in {time.perf_counter() - began:.0f} s", file=sys.stderr)
    return path


def render(rows: list[dict], equal: dict, extrapolated: dict, meta: dict) -> str:
    lines = [
        START,
        "## Scale out of core (weighted semantic view)",
        "",
        f"- Command: `{meta['command']}`",
        f"- Date: {meta['date']}",
        f"- Machine: {meta['machine']}; load average {meta['load_start']} at start,"
        f" {meta['load_end']} at end (other work on the machine slows every run)",
        "- Data: synthetic NB counts, 2,000 real gene symbols, 10 groups"
        " (`cellmodel.datasets.synthetic`, written in chunks); encoder minilm, vectors built"
        " before the timed runs",
        "- Chunked: `cellmodel.chunked.embed_h5ad` (three passes of"
        f" {meta['chunk_size']:,}-cell chunks on Dask's local threads, {meta['workers']} workers),"
        " writing obsm in chunks into a copy of the input; in memory: `cellmodel.embed.embed`"
        " with the sentence path off (the same view), reading and writing the whole AnnData",
        "- Seconds and peak RSS are of a child process per run (`os.wait4`), start-up included",
        "",
        "| path | cells | seconds | peak RSS MB | kind |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['path']} | {r['cells']:,} | {r['seconds']:.1f} | {r['peak_rss_mb']:,} |"
            " measured |"
        )
    if extrapolated:
        e = extrapolated
        lines.append(
            f"| chunked | {e['cells']:,} | {e['seconds']:.0f} | {e['peak_rss_mb']:,} |"
            f" extrapolated (least-squares line through {e['from']} cells) |"
        )
    lines.append("")
    if equal:
        lines.append(
            f"Out of core against in memory on {equal['cells']:,} cells: largest absolute"
            f" difference of obsm X_semantic_w {equal['max_abs_diff']:.2e}."
        )
        lines.append("")
    lines.append(END)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--in-memory-max", type=int, default=100_000)
    parser.add_argument("--equal-cells", type=int, default=50_000)
    parser.add_argument("--chunk-size", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data", type=Path, default=Path("/tmp/bench_scale_ooc"))
    parser.add_argument("--root", type=Path, default=Path("/tmp/bench_scale_ooc/store"))
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, data, out, root, chunk, workers = args.child
        child(mode, data, out, root, int(chunk), int(workers))
        return
    from cellmodel.bench.doc_pages import replace_section
    from cellmodel.bench.machine import machine_info

    info = machine_info()
    args.data.mkdir(parents=True, exist_ok=True)
    root = str(args.root)
    sizes = [int(s) for s in args.sizes.split(",")]
    load_start = load()
    print(f"load average at start: {load_start}", file=sys.stderr)

    def run(mode: str, n: int) -> dict:
        data = ensure_data(args.data, n)
        out = str(args.data / f"out-{mode}-{n}.h5ad")
        result = measure([mode, str(data), out, root, str(args.chunk_size), str(args.workers)])
        row = {"path": mode, "cells": n, **result, "load": load()}
        print(json.dumps(row), file=sys.stderr)
        return row

    equal: dict = {}
    if args.equal_cells:
        # The in-memory run comes first: it builds the gene vectors every later run reads.
        run("in-memory", args.equal_cells)
        run("chunked", args.equal_cells)
        e = args.equal_cells
        diff = max_abs_diff(
            str(args.data / f"out-in-memory-{e}.h5ad"), str(args.data / f"out-chunked-{e}.h5ad")
        )
        equal = {"cells": e, "max_abs_diff": diff}
        print(json.dumps(equal), file=sys.stderr)
    rows = []
    for n in sizes:
        if n <= args.in_memory_max:
            rows.append(run("in-memory", n))
        rows.append(run("chunked", n))
    extrapolated = extrapolate([r for r in rows if r["path"] == "chunked"])
    if extrapolated:
        print(json.dumps({"extrapolated": extrapolated}), file=sys.stderr)
    machine = (
        f"{info['cpu_model']}, {info['cpus']} CPU(s) usable, {info['ram_gib']} GiB RAM;"
        f" Python {info['python']}"
    )
    meta = {
        "command": COMMAND + (f" --sizes {args.sizes}" if args.sizes != "100000,1000000" else ""),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine,
        "load_start": load_start,
        "load_end": load(),
        "chunk_size": args.chunk_size,
        "workers": args.workers,
    }
    section = render(rows, equal, extrapolated, meta)
    print(section)
    if not args.no_docs:
        replace_section(DOC, section, START, END)


if __name__ == "__main__":
    main()
