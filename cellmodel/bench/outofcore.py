"""The out-of-core scale run: synthetic files of 10⁵-10⁶ cells written to disk in chunks
(`cellmodel.datasets.synthetic`), each clustered by `cellmodel.chunked.cluster` in a fresh process
(wall seconds, peak RSS, ARI against the planted groups), and the first `subsample` cells of the
largest file clustered in memory the same way, to compare quality.

Labels are read only to score a finished run; both runs get the number of planted groups as k
(the scale protocol of `cellmodel bench --scale`).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cellmodel.bench.data import check_synthetic_cells
from cellmodel.bench.settings import SYNTHETIC_GROUPS, SYNTHETIC_LABEL_KEY
from cellmodel.bench.worker import peak_rss_mb
from cellmodel.chunked import h5
from cellmodel.chunked.cluster import cluster_h5ad
from cellmodel.cluster.job import cluster
from cellmodel.datasets.synthetic import write_synthetic_h5ad
from genekb.device import resolve_device
from genekb.output_paths import check_output_dir

SUBSAMPLE = 100_000


def _child(job: dict[str, Any]) -> dict[str, Any]:
    """The body of one measured process: cluster a file (out of core or in memory), score it."""
    tick = time.perf_counter()
    if job["mode"] == "chunked":
        record = cluster_h5ad(
            job["path"],
            output=job["output"],
            n_clusters=SYNTHETIC_GROUPS,
            seed=job["seed"],
            chunk_size=job["chunk_size"],
            label_key=SYNTHETIC_LABEL_KEY,
            device=job.get("device"),
        )
        metrics = record["metrics"]
        extra = {
            "timings_s": record["pipeline_timings_s"],
            "fit_timings_s": record["fit_timings_s"],
        }
    else:
        metrics, extra = _in_memory(job)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "seconds": round(time.perf_counter() - tick, 1),
        # CPU seconds (all threads): what the run costs whatever else shares the machine.
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "peak_rss_mb": round(peak_rss_mb()[0], 1),
        "ari": metrics["ari"],
        "nmi": metrics["nmi"],
        **extra,
    }


def _in_memory(job: dict[str, Any]) -> tuple[dict[str, float], dict[str, Any]]:
    """The first `n` cells of the file, read and clustered in memory (structure view)."""
    import anndata as ad

    ref = h5.pick(job["path"], None)
    with h5.ChunkReader(ref) as reader:
        X = reader.rows(0, job["n"])
    obs = h5.read_frame(job["path"], "obs").iloc[: job["n"]]
    adata = ad.AnnData(X=X, obs=obs)
    cluster(
        adata,
        None,
        use_semantic=False,
        n_clusters=SYNTHETIC_GROUPS,
        seed=job["seed"],
        label_key=SYNTHETIC_LABEL_KEY,
        device=job.get("device"),
    )
    record = adata.uns["cellmodel"]
    return record["metrics"], {
        "timings_s": record["pipeline_timings_s"],
        "fit_timings_s": record["fit_timings_s"],  # pretraining, k-means, refinement
    }


def measure(job: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    """Run `job` in a fresh interpreter; its result, or why it failed."""
    code = "import json,sys; from cellmodel.bench.outofcore import _child;" + (
        " print('RESULT ' + json.dumps(_child(json.loads(sys.argv[1]))))"
    )
    tick = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-c", code, json.dumps(job)],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {**job, "status": "failed", "error": f"timed out after {timeout_s:.0f} s"}
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
    wall = round(time.perf_counter() - tick, 1)
    if done.returncode or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {**job, "status": "failed", "exit_code": done.returncode, "error": tail}
    return {**job, "status": "ok", "process_seconds": wall, **json.loads(lines[-1][7:])}


def run_scale(
    sizes: list[int],
    folder: Path,
    *,
    seed: int = 0,
    chunk_size: int = 20_000,
    subsample: int | None = SUBSAMPLE,
    device: str | None = None,
    timeout_s: float = 3600,
    log: Any = print,
    flag: str = "folder",
) -> list[dict[str, Any]]:
    """Write (once) and cluster each size out of core; then the subsample in memory. Results
    are appended to folder/outofcore.jsonl as they come."""
    for n in sizes:
        check_synthetic_cells(n, "sizes", out_of_core=True)
    # Before any file is written (up to tens of GB): each run would fail on these alike.
    resolve_device(device)
    check_output_dir(folder, force=True, flag=flag, parents=True)
    folder.mkdir(parents=True, exist_ok=True)
    results = []
    for n in sizes:
        path = folder / f"synthetic-{n}.h5ad"
        if not path.exists():
            tick = time.perf_counter()
            write_synthetic_h5ad(path, n, seed=seed)
            log(f"wrote {path} in {time.perf_counter() - tick:.0f} s")
        jobs = [{"mode": "chunked", "n": n, "chunk_size": chunk_size}]
        if subsample and n == max(sizes):
            jobs.append({"mode": "memory", "n": min(n, subsample)})
        for job in jobs:
            job.update(path=str(path), output=str(folder / f"out-{n}.h5ad"), seed=seed)
            job["device"] = device
            result = measure(job, timeout_s)
            log(json.dumps(result))
            with (folder / "outofcore.jsonl").open("a") as fh:
                fh.write(json.dumps(result) + "\n")
            results.append(result)
    return results
