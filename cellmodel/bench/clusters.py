"""Expression-only `cellmodel cluster` runs kept on disk, for evaluations that cluster the same
dataset again and again (the annotate harnesses in scripts/): a cached run is reused only under
the cluster defaults that made it."""

from __future__ import annotations

import inspect
import time
from dataclasses import asdict
from pathlib import Path

import anndata as ad
import pandas as pd

from cellmodel.cluster.job import cluster
from cellmodel.cluster.options import ClusterOptions
from genekb.store.hashing import sha256_json


def cluster_defaults_id() -> str:
    """A hash of every default `cellmodel cluster` runs with (the pipeline's keyword defaults and
    `ClusterOptions`), so cached clusters are reused only under the default that made them."""
    defaults = {
        name: p.default
        for name, p in inspect.signature(cluster).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    return sha256_json([defaults, asdict(ClusterOptions())])[:12]


def cache_file(cache: Path, name: str, seed: int = 0) -> Path:
    """Where `cached_cluster` keeps dataset `name`'s clusters of `seed` under today's defaults."""
    return cache / f"clusters-{name}-seed{seed}-{cluster_defaults_id()}.csv"


def cached_cluster(
    adata: ad.AnnData, name: str, cache: Path | None, seed: int = 0
) -> tuple[ad.AnnData, float | None]:
    """`cellmodel cluster` (expression only, label-free) on a copy of `adata`, and its seconds;
    with `cache`, the clusters are kept there as CSV and read back on the next call (seconds
    None). `name` names the dataset in the cache file."""
    path = None if cache is None else cache_file(cache, name, seed)
    if path is not None and path.exists():
        saved = pd.read_csv(path, index_col=0)["cellmodel_cluster"].astype(str)
        out = adata.copy()
        out.obs["cellmodel_cluster"] = pd.Categorical(saved.reindex(out.obs_names).to_numpy())
        return out, None
    began = time.perf_counter()
    out = cluster(adata, None, use_semantic=False, seed=seed, copy=True)
    if path is not None:
        out.obs[["cellmodel_cluster"]].to_csv(path)
    return out, round(time.perf_counter() - began, 1)
