"""`cellmodel cluster --chunk-size N`: the out-of-core run (`cellmodel.chunked.cluster`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cli.cellmodel_args import check_chunked
from cli.cluster_report import summary
from cli.common import info, print_json
from genekb.errors import UsageError


def check_in_core_only(
    *, align_semantic: bool, ensemble: bool, batch_key: str | None, plots: Path | None
) -> None:
    """Options the out-of-core run does not have: refused, never silently dropped."""
    if align_semantic or ensemble:
        raise UsageError("--align-semantic and --ensemble run in memory only; drop --chunk-size")
    if plots is not None:  # the layout reads every cell's latent at once
        raise UsageError(
            "--plots draws in memory only; drop --chunk-size, or draw the output's clusters"
            " with cm.pl.umap"
        )
    if batch_key is not None and batch_key.lower() != "none":
        raise UsageError("batch correction (--batch-key) runs in memory only; drop --chunk-size")


def run_chunked(
    source: str,
    output: Path | None,
    *,
    semantic: bool,
    json_: bool,
    progress: Any,
    orientation: str = "auto",
    sep: str | None = None,
    **kwargs: Any,
) -> None:
    """Cluster `source` out of core into `output` and report as the in-memory command does."""
    from cellmodel.chunked.cluster import cluster_h5ad

    path = check_chunked(source, output, "the clusters", orientation, sep)
    record = cluster_h5ad(path, output=output, progress=progress, **kwargs)  # type: ignore[arg-type]
    if semantic:  # said after the run: a file the run refuses gets its error line alone
        info(
            "note: out of core, cluster fits the structure view only; run `cellmodel embed"
            " --chunk-size` on the output for the semantic view"
        )
    report = {
        "input": source,
        "output": str(output),
        "n_cells": record["input"]["n_cells"],
        "n_clusters": record["n_clusters"],
        "k_estimated": record["k_estimated"],
        "metrics": record.get("metrics"),
        "merge_split": record.get("merge_split"),
        "diagnostics": record.get("diagnostics"),
        "seconds": record["pipeline_timings_s"]["total"],
        "timings_s": record["pipeline_timings_s"],
        "chunked": record["chunked"],
        "notes": record.get("notes", []),
    }
    if json_:
        print_json(report)
        return
    summary(report, kwargs.get("label_key"))
