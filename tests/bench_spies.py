"""Bench methods for the tests (a spy that fails if it sees a label, one that always fails).

Importing this module registers them, in the test process and in each bench worker process (a
worker imports the method's module); the `spies` fixture of test_bench.py imports it and restores
the registry afterwards."""

from __future__ import annotations

import os

import anndata as ad
import numpy as np
import pandas as pd

from cellmodel import bench

SPY = "test-spy"
BROKEN = "test-broken"


def labels_visible(adata: ad.AnnData, truth: pd.Series) -> list[str]:
    """Every place in `adata` where the reference labels (or a copy of them) can be read."""
    values = truth.astype(str).to_numpy()
    found = []
    for column in adata.obs.columns:
        if (adata.obs[column].astype(str).to_numpy() == values).mean() > 0.5:
            found.append(f"obs[{column!r}]")
    names = adata.obs_names.to_numpy().astype(str)
    if any(label in name for name, label in zip(names, values, strict=True)):
        found.append("obs_names")
    found += [f"uns[{k!r}]" for k in adata.uns]
    found += [f"obsm[{k!r}]" for k in adata.obsm]
    return found


@bench.register_method(SPY, "fails if any label is visible to it")
def _spy(inp: bench.MethodInput) -> bench.MethodOutput:
    # The synthetic data is deterministic, so the spy can rebuild the truth on its own.
    truth = bench.synthetic_counts(inp.adata.n_obs).obs[bench.SYNTHETIC_LABEL_KEY]
    leaks = labels_visible(inp.adata, truth)
    if leaks:
        raise AssertionError(f"labels visible to the method: {leaks}")
    labels = np.arange(inp.adata.n_obs) % inp.n_classes
    extras = {"pid": os.getpid(), "n_classes_seen": inp.n_classes, "vectors": inp.gene_vectors}
    return bench.MethodOutput(labels, extras)


@bench.register_method(BROKEN, "always fails")
def _broken(inp: bench.MethodInput) -> bench.MethodOutput:
    raise ValueError("boom")
