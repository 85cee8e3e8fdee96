"""The unsure report: the partition's label-free readings in uns, in --json, and one stderr line
when they say the partition is unsure (`cellmodel.cluster.diagnostics`)."""

from __future__ import annotations

import json
import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from cellmodel.cluster import diagnostics
from cellmodel.cluster.diagnostics import UnsurePartitionWarning, diagnose
from cellmodel.pp.graph import knn_graph
from tests.conftest import FAST_FIT, blobs, run_cellmodel


def _noise(n_cells: int = 150, n_genes: int = 60, seed: int = 0) -> ad.AnnData:
    """Counts with no group in them: every cell draws every gene from one Poisson."""
    rng = np.random.default_rng(seed)
    counts = rng.poisson(3.0, (n_cells, n_genes)).astype(np.float32)
    return ad.AnnData(counts, var=pd.DataFrame(index=[f"G{i}" for i in range(n_genes)]))


def test_separated_groups_read_sure_and_noise_unsure() -> None:
    X, truth = blobs(50, n_classes=4, dim=20)
    adjacency = knn_graph(X, 15).adjacency
    sure = diagnose(truth, X, X, adjacency, seed=0)
    assert sure.agreement > 0.95 and sure.stability > 0.95
    assert not sure.unsure and not sure.unsure_clusters and not sure.reasons

    noise = np.random.default_rng(1).standard_normal((200, 20)).astype(np.float32)
    arbitrary = np.arange(200) % 4  # a partition the data do not hold
    found = diagnose(arbitrary, noise, noise, knn_graph(noise, 15).adjacency, seed=0)
    assert found.unsure and found.agreement < diagnostics.AGREEMENT_FLOOR
    assert found.unsure_clusters == ["0", "1", "2", "3"]
    assert "agreement with Leiden at k" in found.message()
    assert found.to_dict()["thresholds"]["stability"] == diagnostics.STABILITY_FLOOR


def test_large_inputs_are_read_on_a_seeded_sample(monkeypatch) -> None:
    monkeypatch.setattr(diagnostics, "SAMPLE_CELLS", 120)
    X, truth = blobs(60, n_classes=3, dim=10)
    found = diagnose(truth, X, X, knn_graph(X, 15).adjacency, seed=0)
    assert found.n_cells_read == 120 and not found.unsure
    again = diagnose(truth, X, X, knn_graph(X, 15).adjacency, seed=0)
    assert again.agreement == found.agreement and again.stability == found.stability


@pytest.mark.slow
@pytest.mark.usefixtures("one_torch_thread")
def test_the_job_records_a_sure_partition_and_warns_on_noise() -> None:
    from cellmodel.cluster.job import cluster

    groups = blobs(40, n_classes=3, dim=60, counts=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnsurePartitionWarning)
        cluster(groups, None, n_clusters=3, use_semantic=False, seed=0, **FAST_FIT)
    record = groups.uns["cellmodel"]["diagnostics"]
    assert not record["unsure"] and record["agreement"] > 0.9
    assert "diagnostics" in groups.uns["cellmodel"]["pipeline_timings_s"]

    noise = _noise()
    with pytest.warns(UnsurePartitionWarning, match="unsure partition"):
        cluster(noise, None, n_clusters=3, use_semantic=False, seed=0, **FAST_FIT)
    assert noise.uns["cellmodel"]["diagnostics"]["unsure"]


@pytest.mark.slow
@pytest.mark.usefixtures("one_torch_thread")
def test_cli_prints_one_unsure_line_and_reports_the_readings(tmp_path) -> None:
    path = tmp_path / "noise.h5ad"
    _noise().write_h5ad(path)
    fast = [arg for key, value in FAST_FIT.items() for arg in ("--option", f"{key}={value}")]
    result = run_cellmodel("cluster", str(path), "-k", "3", "--no-semantic", "--json", *fast)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)["diagnostics"]
    assert report["unsure"] and report["thresholds"]["agreement"] == diagnostics.AGREEMENT_FLOOR
    lines = [ln for ln in result.stderr.splitlines() if "unsure partition" in ln]
    assert len(lines) == 1 and lines[0].startswith("warning:")
