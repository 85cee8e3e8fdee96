"""`cellmodel cluster --chunk-size N`: the out-of-core run (`cellmodel.chunked.cluster`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cli.cellmodel_args import check_chunked
from cli.cluster_report import summary
from cli.common import info, print_json
from genekb.errors import UsageError


def check_in_core_only(
    *, align_semantic: bool, ensemble: bool, batch_key: str | None, plots: Path | None,
    too_large: bool = False,
) -> None:  # fmt: skip
    """Options the out-of-core run does not have: refused, never silently dropped. `too_large`:
    the run went out of core by itself (no --chunk-size to drop), so the way out differs."""
    drop = "drop --chunk-size"
    if too_large:
        drop = "the file is too large for memory, so it is clustered out of core; drop the option"
    if align_semantic or ensemble:
        raise UsageError(f"--align-semantic and --ensemble run in memory only; {drop}")
    if plots is not None:  # the layout reads every cell's latent at once
        raise UsageError(
            f"--plots draws in memory only; {drop}, or draw the output's clusters with cm.pl.umap"
        )
    if batch_key is not None and batch_key.lower() != "none":
        raise UsageError(f"batch correction (--batch-key) runs in memory only; {drop}")


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
        **_in_memory_fields(Path(str(output))),
    }
    if json_:
        print_json(report)
        return
    summary(report, kwargs.get("label_key"))


def _in_memory_fields(output: Path) -> dict[str, Any]:
    """The in-memory report's fields the out-of-core run has too (the cluster sizes, read back
    from the output's obs) or lacks (None, or no plots), so one script reads both reports."""
    from cellmodel._settings import CLUSTER_KEY
    from cellmodel.chunked.h5 import read_frame

    clusters = read_frame(output, "obs")[CLUSTER_KEY]
    return {
        "cluster_sizes": clusters.value_counts().sort_index().to_dict(),
        "gene_match_rate": None, "gene_names": None, "batch_key": None, "batch_choice": None,
        "embedding_id": None, "plots": [],
    }  # fmt: skip
