"""Cached expression-only clusters (cellmodel.bench.clusters), as the annotate harnesses use."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cellmodel.bench import clusters
from cellmodel.datasets.synthetic import synthetic_counts


def test_cached_cluster_reuses_its_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def fake_cluster(adata, store, *, use_semantic, seed, copy):
        # the pipeline has its own tests; this one checks the cache around it
        calls.append((store, use_semantic, seed, copy))
        out = adata.copy()
        out.obs["cellmodel_cluster"] = pd.Categorical([str(i % 3) for i in range(out.n_obs)])
        return out

    monkeypatch.setattr(clusters, "cluster", fake_cluster)
    adata = synthetic_counts(60, n_genes=50, n_groups=3, seed=1)
    first, seconds = clusters.cached_cluster(adata, "syn", tmp_path, seed=2)
    assert seconds is not None and calls == [(None, False, 2, True)]
    assert "cellmodel_cluster" not in adata.obs  # the caller's data is left as it was
    (saved,) = tmp_path.glob("clusters-syn-seed2-*.csv")
    assert clusters.cluster_defaults_id() in saved.name
    assert saved == clusters.cache_file(tmp_path, "syn", seed=2)
    again, seconds = clusters.cached_cluster(adata.copy(), "syn", tmp_path, seed=2)
    assert seconds is None and len(calls) == 1
    assert list(again.obs["cellmodel_cluster"]) == list(first.obs["cellmodel_cluster"])
    clusters.cached_cluster(adata, "syn", None, seed=2)  # no cache: runs, writes nothing
    assert len(calls) == 2 and len(list(tmp_path.iterdir())) == 1


def test_cluster_defaults_id_follows_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    before = clusters.cluster_defaults_id()
    assert len(before) == 12 and before == clusters.cluster_defaults_id()
    monkeypatch.setattr(clusters, "cluster", lambda adata, *, seed=1: adata)
    assert clusters.cluster_defaults_id() != before
