"""The parent side: the configuration, the warm-up, one subprocess per (dataset, method), the
report."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cellmodel import datasets
from cellmodel.arguments import check_seed
from cellmodel.bench import resume
from cellmodel.bench.aggregate import mean_std, scale_summary, standings, summarize
from cellmodel.bench.data import DatasetRef, check_matrix_names, refuse_non_finite
from cellmodel.bench.machine import machine_info
from cellmodel.bench.registry import get_method
from cellmodel.bench.report import BENCH_FILES, fmt_value, write_json, write_outputs
from cellmodel.bench.settings import (
    CONTROL_SEED,
    DEFAULT_TIMEOUT_S,
    REPORT_FORMAT,
    THREAD_VARIABLES,
)
from genekb.errors import GenekbError, UsageError
from genekb.output_paths import check_output_dir


@dataclass
class BenchConfig:
    datasets: list[DatasetRef]
    methods: list[str]
    seeds: list[int]
    out: Path
    root: str | None = None
    model: str = "minilm"
    device: str | None = None
    layer: str | None = None
    gene_key: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    warm: bool = True
    command: str = ""
    scale: bool = False
    threads: int | None = None  # BLAS/OpenMP/torch threads per worker; None: library defaults
    gene_vectors: str = "real"  # a control here replaces the real vectors of every method
    preload: bool = True  # import the methods' libraries before timing (tests of plumbing skip it)
    force: bool = False  # overwrite a finished run's outputs in `out`


Log = Callable[[str], None]


def _spawn(
    job: dict[str, Any], log_path: Path, timeout_s: float, threads: int | None = None
) -> tuple[dict[str, Any], float]:
    """Run one job in a fresh interpreter; returns its result and the process's wall seconds."""
    with tempfile.TemporaryDirectory(prefix="cellmodel-bench-") as tmp:
        job_path, result_path = Path(tmp) / "job.json", Path(tmp) / "result.json"
        write_json(job_path, {**job, "result_path": str(result_path)})
        env = dict(os.environ)
        # The worker must import exactly what this process can (the repo, a test's spy module).
        paths = [p for p in sys.path if p] + env.get("PYTHONPATH", "").split(os.pathsep)
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(p for p in paths if p))
        if threads is not None:
            # Read by OpenBLAS, MKL, OpenMP and torch when the worker starts.
            env.update({name: str(threads) for name in THREAD_VARIABLES})
        code = "from cellmodel.bench import worker_main; worker_main()"
        tick = time.perf_counter()
        with log_path.open("w") as log:
            try:
                done = subprocess.run(
                    [sys.executable, "-c", code, str(job_path)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    timeout=timeout_s,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                return {"status": "failed", "error": f"timed out after {timeout_s:.0f} s"}, (
                    time.perf_counter() - tick
                )
        wall = time.perf_counter() - tick
        if result_path.exists():
            return json.loads(result_path.read_text()), wall
        return {
            "status": "failed",
            "error": f"the worker died with exit code {done.returncode} (out of memory?)",
        }, wall


def warmup_controls(
    methods: Sequence[str], seeds: Sequence[int], gene_vectors: str = "real"
) -> list[tuple[str, int]]:
    """(gene_vectors, seed) pairs whose sentences the selected methods will need; with a control
    as `gene_vectors`, the methods on real vectors need that control instead."""
    wanted = {get_method(m).gene_vectors for m in methods} - {None}
    if gene_vectors != "real" and "real" in wanted:
        wanted = (wanted - {"real"}) | {gene_vectors}
    pairs: list[tuple[str, int]] = []
    if "real" in wanted:
        pairs.append(("real", int(seeds[0])))  # real sentences do not depend on the seed
    for control in ("shuffled", "random"):
        if control in wanted:
            pairs.append((control, CONTROL_SEED))
    return pairs


def check_settings(config: BenchConfig) -> None:
    """Refuse a file of NaN or infinite values, an unknown model or device before any process
    starts: each run would fail alone, after the warm-up, and leave a table of failures. A
    registry dataset is fetched (once, before any timing) here too: offline or corrupt, it is
    refused before the output folder is made."""
    from cellmodel.knowledge.vectors import store_version
    from genekb.device import resolve_device
    from genekb.store.store import Store

    # A finished report in `out` is another run's result: replaced only when asked (the CLI
    # checks with --force too, before it builds the config).
    check_output_dir(config.out, force=config.force, flag="out", files=BENCH_FILES, parents=True)
    logs = config.out / "logs"
    if logs.exists() and not logs.is_dir():  # mkdir said only "File exists", after the plan
        raise GenekbError(
            f"{logs} is not a folder, and the bench writes each run's log into it; move it or"
            " choose another output folder"
        )
    for ref in config.datasets:
        if ref.kind == "registry":
            datasets.fetch(ref.name, cache_dir=datasets.default_cache_dir(config.root))
        check_matrix_names(ref, config.layer, config.gene_key, config.root)
        refuse_non_finite(ref, config.layer)
    resolve_device(config.device)
    if config.model is not None:
        store_version(Store.open(config.root, create=True), config.model)


def run_bench(config: BenchConfig, log: Log = print) -> dict[str, Any]:
    """Warm up, run every (dataset, method) in its own process, aggregate, write the outputs."""
    if not config.datasets or not config.methods:  # a report of no runs, published as a result
        empty = "datasets" if not config.datasets else "methods"
        raise UsageError(f"{empty}= is empty; give at least one")
    for method in config.methods:  # an unknown one found only after the output folder is made
        get_method(method)
    if not config.seeds:
        raise UsageError("seeds= must hold at least 1 seed")
    for seed in config.seeds:  # each worker would fail on it alike, deep in scikit-learn
        check_seed(seed)
    if len(set(config.seeds)) != len(config.seeds):  # a repeat is no new sample of the spread
        raise UsageError(f"seeds={config.seeds} repeats a seed; give each seed once")
    check_settings(config)  # before the plan's line: a refusal is the only line printed
    log(
        f"bench: {len(config.datasets)} dataset(s) × {len(config.methods)} method(s)"
        f" × {len(config.seeds)} seed(s), each (dataset, method) in a fresh process;"
        f" outputs in {config.out}"
    )
    started = time.perf_counter()
    machine = machine_info()  # the load average before the bench adds its own
    config.out.mkdir(parents=True, exist_ok=True)
    logs = config.out / "logs"
    logs.mkdir(exist_ok=True)
    common = {
        "root": config.root,
        "model": config.model,
        "device": config.device,
        "layer": config.layer,
        "gene_key": config.gene_key,
        "gene_vectors": config.gene_vectors,
    }
    warmups = _warm_up(config, common, logs, log)
    cells, runs = _run_cells(config, common, logs, log)
    report = {
        "format": REPORT_FORMAT,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": config.command,
        "machine": machine,
        "config": {
            "datasets": [r.to_dict() for r in config.datasets],
            "methods": list(config.methods),
            "seeds": list(config.seeds),
            **{k: v for k, v in common.items()},
            "warm": config.warm,
            "timeout_s": config.timeout_s,
            "threads": config.threads,
        },
        "protocol": PROTOCOL,
        "methods": {m: get_method(m).description for m in config.methods},
        "warmup": warmups,
        "cells": cells,
        "runs": runs,
        "summary": summarize(runs, cells),
        "failures": _failures(cells, warmups),
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    if config.scale:
        report["scale"] = scale_summary(report["summary"], warmups)
    report["standings"] = standings(report["summary"])
    write_outputs(report, config.out)
    resume.forget_runs(logs)  # the report holds them: a later run measures anew
    return report


def _warm_up(
    config: BenchConfig, common: dict[str, Any], logs: Path, log: Log
) -> list[dict[str, Any]]:
    """One warm-up process per dataset (store vectors, sentence cache), when asked and needed."""
    warmups: list[dict[str, Any]] = []
    controls = warmup_controls(config.methods, config.seeds, config.gene_vectors)
    if not (config.warm and controls):
        return warmups
    for ref in config.datasets:
        log(f"warm-up {ref.name}: store vectors and sentence cache ({len(controls)} passes)")
        job = {
            "kind": "warmup",
            "dataset": ref.to_dict(),
            "controls": controls,
            # Sentences cost a pass of the encoder per cell: warm them only when a method
            # selected here embeds them.
            "sentences": any(
                get_method(m).sentences for m in config.methods if get_method(m).gene_vectors
            ),
            **common,
        }
        result, wall = _spawn(
            job, logs / f"{ref.name}__warmup.log", config.timeout_s, config.threads
        )
        warmups.append({"dataset": ref.name, "process_seconds": round(wall, 2), **result})
        if result["status"] != "ok":
            log(f"  warm-up failed: {result['error']} (see {logs / ref.name}__warmup.log)")
    return warmups


def _run_cells(
    config: BenchConfig, common: dict[str, Any], logs: Path, log: Log
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Each (dataset, method) in its own process: one cell record each, and every seed's run."""
    cells: list[dict[str, Any]] = []
    runs: list[dict[str, Any]] = []
    total = len(config.datasets) * len(config.methods)
    for ref in config.datasets:
        refused: str | None = None  # the data's own error: the other methods are not run
        for method in config.methods:
            log_path = logs / f"{ref.name}__{method}.log"
            if refused is not None:
                cells.append(_not_run(ref.name, method, refused, log_path))
                log(f"[{len(cells)}/{total}] {ref.name} × {method}: not run (the data: {refused})")
                continue
            m = get_method(method)
            job = {
                "dataset": ref.to_dict(),
                "method": method,
                "method_module": m.module,
                "seeds": list(config.seeds),
                "preload": config.preload,
                **common,
            }
            key = resume.run_key(job, config.threads)
            kept = resume.kept_run(log_path, key)  # finished before an interruption
            if kept is not None:
                cell, cell_runs = kept
            else:
                result, wall = _spawn(job, log_path, config.timeout_s, config.threads)
                if result.pop("data_error", False):
                    refused = result.get("error")
                cell_runs = result.pop("runs", [])
                cell = {
                    "dataset": ref.name,
                    "method": method,
                    "process_seconds": round(wall, 2),
                    "log": str(log_path),
                    **result,
                }
                resume.keep_run(log_path, key, cell, cell_runs)
            cells.append(cell)
            runs += [{"dataset": ref.name, "method": method, **r} for r in cell_runs]
            log(f"[{len(cells)}/{total}] {ref.name} × {method}: " + _cell_line(cell, cell_runs))
    return cells, runs


def _not_run(dataset: str, method: str, error: str | None, log_path: Path) -> dict[str, Any]:
    log_path.write_text(f"not run: the data was refused by an earlier method's process: {error}\n")
    return {
        "dataset": dataset,
        "method": method,
        "process_seconds": 0.0,
        "log": str(log_path),
        "status": "failed",
        "error": f"not run: {error}",
    }


def _failures(cells: list[dict[str, Any]], warmups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    failed = [
        {"dataset": c["dataset"], "method": c["method"], "error": c.get("error")}
        for c in cells
        if c["status"] != "ok"
    ]
    return failed + [
        {"dataset": w["dataset"], "method": "warm-up", "error": w.get("error")}
        for w in warmups
        if w["status"] != "ok"
    ]


def _cell_line(cell: dict[str, Any], runs: list[dict[str, Any]]) -> str:
    if cell["status"] != "ok":
        return f"FAILED ({cell.get('error')}); log {cell['log']}"
    if cell.get("resumed"):
        return "kept from the interrupted run before (same job, same file)"
    ari = mean_std([r["ari"] for r in runs])
    secs = mean_std([r["seconds"] for r in runs])
    return (
        f"ARI {fmt_value(ari)}, {fmt_value(secs, 1)} s/seed, peak {cell['peak_rss_mb']:.0f} MB,"
        f" process {cell['process_seconds']:.0f} s"
    )


PROTOCOL = {
    "labels": "each method gets the expression without obs columns, obsm, obsp, uns or cell"
    " names; labels are read only to score a finished run",
    "batch": "where the registry (baron-human: donor) or --batch-key for a file names a technical"
    " batch column, every method gets it and corrects for it alike: ComBat before the PCA,"
    " per-batch centring of semantic views",
    "k": "methods that take k get the number of label classes (the count, not the labels), the"
    " protocol of the published peers; leiden and cellmodel-auto find their own",
    "isolation": "each (dataset, method) runs in a fresh process with all its seeds inside",
    "seconds": "wall seconds of the method call per seed (no imports, no data loading, no scoring)",
    "memory": "peak resident memory (VmHWM) of that process, imports and data loading included"
    " (every method's process preloads the same libraries, so baselines match)",
    "warm-up": "store vectors for the data's genes and the sentence cache (real and control gene"
    " vectors) are computed once up front in their own process and reported apart",
    "std": "sample standard deviation over seeds (ddof=1); none with a single seed",
}
