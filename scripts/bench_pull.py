"""Pulling one large version from a local HTTP server, beside importing its export file.

The version: every gene of the bundled human table (77,614 genes, `ncbi-card` texts) with one
384-d float32 vector each, the size of an all-MiniLM-L6-v2 version. Embedding 77k texts with
MiniLM takes too long on a small shared CPU for a benchmark of moving bytes, so the vectors are
seeded random unit vectors brought in by `genekb import-vectors` (the same Parquet layout and
size as MiniLM's: random float32 compresses no better than real embeddings). The text version is
the real one.

Measured, each from an empty store, `--repeats` times alternately (mean ± std):
- `pull`: `genekb.store.pull.pull` of the version's tag from `python -m http.server` (a separate
  process on 127.0.0.1) serving a folder `genekb publish` wrote, then the catalog rebuilt;
- `import`: `genekb.store.sharing.import_file` of `genekb export`'s plain tar of the same
  version, then the catalog rebuilt;
- `pull, up to date`: the same pull into a store that already holds the version.

    python scripts/bench_pull.py [--repeats 3] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from genekb.sources import load_source
from genekb.store import catalog
from genekb.store.foreign import import_vectors
from genekb.store.publish import publish
from genekb.store.pull import pull
from genekb.store.sharing import export_version, import_file
from genekb.store.store import Store

TAG = "human/bench/minilm-sized"
DIM = 384


def make_source(work: Path) -> Store:
    """A store holding the 77k-gene, 384-d version (built once per work folder)."""
    store = Store.open(work / "source", create=True)
    if TAG in (store.tags() if not store.is_new else {}):
        return store
    genes = load_source("bundled", "human")
    ids = genes.table.column("gene_id").to_pylist()
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((len(ids), DIM)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    vectors = work / "vectors.npz"
    np.savez(vectors, names=np.array([str(i) for i in ids]), vectors=matrix)
    t0 = time.perf_counter()
    import_vectors(store, vectors, model="minilm-sized-random", tag=TAG, gene_table=genes)
    print(f"built the source version in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return store


def serve(folder: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
         "--directory", str(folder)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    return process, f"http://127.0.0.1:{port}"


def timed(fn, repeats: int) -> tuple[list[float], object]:
    seconds, result = [], None
    for i in range(repeats):
        t0 = time.perf_counter()
        result = fn(i)
        seconds.append(time.perf_counter() - t0)
    return seconds, result


def summary(name: str, seconds: list[float], moved: int) -> dict:
    return {
        "method": name,
        "seconds_mean": round(statistics.mean(seconds), 3),
        "seconds_std": round(statistics.stdev(seconds), 3) if len(seconds) > 1 else 0.0,
        "repeats": len(seconds),
        "seconds": [round(x, 2) for x in seconds],
        "bytes_moved": moved,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--work", type=Path, default=None, help="Keep the source store here.")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-pull-"))
    work.mkdir(parents=True, exist_ok=True)
    source = make_source(work)
    version = source.embedding(TAG)
    shutil.rmtree(work / "pub", ignore_errors=True)
    publish(source, str(work / "pub"), [TAG])
    export = work / "version.tar"
    export_version(source, TAG, export, force=True)
    server, url = serve(work / "pub")
    rows = []
    try:

        def pulled(i: int) -> dict:
            store = Store.open(work / f"pull-{i}", create=True)
            report = pull(store, url, [TAG])
            catalog.rebuild(store)
            return report

        def imported(i: int) -> dict:
            store = Store.open(work / f"import-{i}", create=True)
            report = import_file(store, export)
            catalog.rebuild(store)
            return report

        def up_to_date(i: int) -> dict:
            store = Store.open(work / "pull-0")
            report = pull(store, url, [TAG])
            catalog.rebuild(store)
            return report

        for target in work.glob("pull-*"):
            shutil.rmtree(target)
        for target in work.glob("import-*"):
            shutil.rmtree(target)
        # Alternated, so that load from other processes on a shared machine falls on both.
        pull_seconds, import_seconds, report = [], [], {}
        for i in range(args.repeats):
            seconds, report = timed(lambda _, i=i: pulled(i), 1)
            pull_seconds += seconds
            seconds, _ = timed(lambda _, i=i: imported(i), 1)
            import_seconds += seconds
        rows.append(summary("pull (HTTP, empty store)", pull_seconds, report["bytes_fetched"]))
        rows.append(summary("import (export file)", import_seconds, export.stat().st_size))
        seconds, report = timed(up_to_date, args.repeats)
        rows.append(summary("pull (HTTP, up to date)", seconds, report["bytes_fetched"]))
    finally:
        server.terminate()
        server.wait(10)
    print(json.dumps({
        "version": version.id, "genes": len(version.matrix()[0]), "dim": DIM,
        "version_bytes": sum(e["bytes"] for e in version.manifest["files"].values()),
        "text_bytes": sum(e["bytes"] for e in version.text.manifest["files"].values()),
        "rows": rows,
        "load_average_1min": round(os.getloadavg()[0], 2),  # other processes on the same cores
        "cpus": os.cpu_count(),
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
