"""The worker side: one (dataset, method) in a fresh process, every seed timed on its own, peak
memory of the process."""

from __future__ import annotations

import importlib
import json
import resource
import sys
import time
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from cellmodel.bench.data import DatasetRef, hide_labels, load_dataset, reference_labels
from cellmodel.bench.registry import MethodInput, get_method
from cellmodel.bench.report import jsonable, write_json
from cellmodel.bench.settings import BATCH_COLUMN, METRICS, PRELOAD
from cellmodel.embed import embed
from cellmodel.io import check_expression, gene_names
from cellmodel.knowledge.genes import read_gene_names
from cellmodel.metrics import cluster_metrics
from genekb.errors import GenekbError
from genekb.store.store import Store


def peak_rss_mb() -> tuple[float, float]:
    """(peak resident MB of this process since its exec, ru_maxrss MB) — see the module doc."""
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ru_mb = usage / 2**20 if sys.platform == "darwin" else usage / 1024
    try:
        status = Path("/proc/self/status").read_text()
        hwm = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
        return int(hwm.split()[1]) / 1024, ru_mb
    except (OSError, StopIteration, ValueError):
        return ru_mb, ru_mb


def _reset(blind: ad.AnnData, var: pd.DataFrame, layers: set[str]) -> None:
    """Undo what a seed's run wrote, so the next seed starts from the same label-free input."""
    for column in [c for c in blind.obs.columns if c != BATCH_COLUMN]:
        del blind.obs[column]
    for mapping in (blind.obsm, blind.obsp, blind.varm):
        for key in list(mapping.keys()):
            del mapping[key]
    for key in [k for k in blind.layers if k not in layers]:
        del blind.layers[key]
    blind.uns.clear()
    blind.var = var.copy()


def _preload() -> None:
    """Import what the methods use before any timing, so seed 0 does not pay for imports (every
    method's process then also starts from the same memory baseline)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for module in PRELOAD:
            importlib.import_module(module)


def run_cell(job: dict[str, Any]) -> dict[str, Any]:
    """One (dataset, method) with all its seeds; the body of a worker process."""
    importlib.import_module(job["method_module"])
    method = get_method(job["method"])
    if job.get("preload", True):
        _preload()
    ref = DatasetRef(**job["dataset"])
    tick = time.perf_counter()
    try:
        labels, mask, k, blind = _blind_input(ref, job)
    except GenekbError as exc:  # the data itself: every other method would be refused alike
        print(f"the data was refused: {_error_line(exc)}")  # into the run's log
        return {"status": "failed", "error": _error_line(exc), "data_error": True}
    load_seconds = time.perf_counter() - tick
    baseline_mb, _ = peak_rss_mb()
    var, layers = blind.var.copy(), set(blind.layers.keys())

    runs = []
    for seed in job["seeds"]:
        _reset(blind, var, layers)
        inp = MethodInput(
            adata=blind,
            n_classes=k,
            seed=int(seed),
            root=job.get("root"),
            model=job.get("model", "minilm"),
            device=job.get("device"),
            layer=job.get("layer"),
            gene_key=job.get("gene_key"),
            gene_vectors=job.get("gene_vectors", "real"),
        )
        tick = time.perf_counter()
        out = method.run(inp)
        seconds = time.perf_counter() - tick
        predicted = np.asarray(out.labels)
        if predicted.shape != (blind.n_obs,):
            raise GenekbError(
                f"method {method.name} returned {predicted.shape} labels for {blind.n_obs} cells"
            )
        # Labels are read only here, after the run has ended.
        scores = cluster_metrics(labels[mask], predicted[mask])
        runs.append(
            {
                "seed": int(seed),
                **{m: round(float(scores[m]), 6) for m in METRICS},
                "seconds": round(seconds, 4),
                "n_clusters": len(np.unique(predicted)),
                "extras": jsonable(out.extras),
            }
        )
    peak_mb, ru_mb = peak_rss_mb()
    return {
        "status": "ok",
        "n_cells": int(blind.n_obs),
        "n_labelled": int(mask.sum()),
        "n_classes": int(k),
        "load_seconds": round(load_seconds, 3),
        "baseline_rss_mb": round(baseline_mb, 1),
        "peak_rss_mb": round(peak_mb, 1),
        "ru_maxrss_mb": round(ru_mb, 1),
        "runs": runs,
    }


def _blind_input(
    ref: DatasetRef, job: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray, int, ad.AnnData]:
    """The reference labels and the label-free input, its matrix and genes checked as the
    methods would check them."""
    adata = load_dataset(ref, job.get("root"))
    assert ref.label_key is not None
    labels, mask, k = reference_labels(adata, ref.label_key)
    blind = hide_labels(adata, ref.batch_key)
    check_expression(blind, layer=job.get("layer"), gene_key=job.get("gene_key"))
    return labels, mask, k, blind


def _error_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0]


def run_warmup(job: dict[str, Any]) -> dict[str, Any]:
    """Warm the store (vectors for the data's genes) and the sentence cache, label-free."""
    ref = DatasetRef(**job["dataset"])
    adata = load_dataset(ref, job.get("root"))
    blind = hide_labels(adata)
    del adata
    # The names alone decide (no normalisation): `.raw` keeps its own var when it is the layer.
    var = blind.raw.var if job.get("layer") == "raw" and blind.raw is not None else blind.var
    names = read_gene_names(gene_names(var, job.get("gene_key"), "var"))
    if not names.named:  # the methods will run on the expression alone: nothing to warm
        return {"status": "ok", "steps": [], "skipped": names.note, "peak_rss_mb": 0.0}
    store = Store.open(job.get("root"), create=True)
    steps = []
    var = blind.var.copy()
    for gene_vectors, seed in job["controls"]:
        _reset(blind, var, set(blind.layers.keys()))
        tick = time.perf_counter()
        embed(
            blind,
            store,
            model=job.get("model", "minilm"),
            gene_key=job.get("gene_key"),
            layer=job.get("layer"),
            gene_vectors=gene_vectors,
            seed=int(seed),
            **({} if job.get("sentences", True) else {"sentence_top_n": 0}),
        )
        sentences = blind.uns["cellmodel"].get("sentences", {})
        steps.append(
            {
                "gene_vectors": gene_vectors,
                "seed": int(seed),
                "seconds": round(time.perf_counter() - tick, 3),
                "sentences_embedded": sentences.get("n_embedded", sentences.get("embedded")),
            }
        )
    peak_mb, ru_mb = peak_rss_mb()
    return {
        "status": "ok",
        "steps": steps,
        "peak_rss_mb": round(peak_mb, 1),
        "ru_maxrss_mb": round(ru_mb, 1),
    }


def worker_main(argv: Sequence[str] | None = None) -> None:
    """Entry of a worker process: run the job file's job and write its result file."""
    args = list(sys.argv[1:] if argv is None else argv)
    job = json.loads(Path(args[0]).read_text())
    try:
        result = run_warmup(job) if job.get("kind") == "warmup" else run_cell(job)
        code = 0
    except BaseException as exc:  # the parent must learn why, whatever it was
        traceback.print_exc()
        result = {"status": "failed", "error": _error_line(exc)}
        code = 1
    write_json(Path(job["result_path"]), result)
    sys.exit(code)
