"""cellmodel bench: label hiding (a spy method), aggregation, outputs, errors, and a tiny run
through the CLI with each (dataset, method) in its own worker process."""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp
from typer.testing import CliRunner

from cellmodel import bench
from cellmodel.bench import docs as bench_docs
from genekb.errors import GenekbError, UsageError
from tests.bench_spies import labels_visible

SPY_CELLS = 60


@pytest.fixture
def spies() -> Any:
    """Register the test methods (tests/bench_spies.py) for one test, then restore the registry."""
    methods, builtin = dict(bench.METHODS), list(bench.BUILTIN_METHODS)
    sys.modules.pop("tests.bench_spies", None)  # a fresh import registers them again
    yield importlib.import_module("tests.bench_spies")
    sys.modules.pop("tests.bench_spies", None)
    bench.METHODS.clear()
    bench.METHODS.update(methods)
    bench.BUILTIN_METHODS[:] = builtin


def _labelled(n: int = SPY_CELLS) -> ad.AnnData:
    adata = bench.synthetic_counts(n)
    truth = adata.obs[bench.SYNTHETIC_LABEL_KEY]
    adata.obs["copy_of_labels"] = truth.astype(str).to_numpy()
    adata.obs_names = [f"{label}_{i}" for i, label in enumerate(truth)]
    adata.obsm["X_umap_orig"] = np.zeros((n, 2), dtype=np.float32)
    adata.uns["dataset"] = {"label_key": bench.SYNTHETIC_LABEL_KEY}
    return adata


def test_spy_sees_labels_in_the_raw_data_but_not_after_hiding() -> None:
    adata = _labelled()
    truth = adata.obs[bench.SYNTHETIC_LABEL_KEY]
    assert {"obs['group']", "obs['copy_of_labels']", "obs_names"} <= set(
        labels_visible(adata, truth)
    )
    blind = bench.hide_labels(adata)
    assert labels_visible(blind, truth) == []
    assert blind.obs.shape[1] == 0 and len(blind.uns) == 0 and len(blind.obsm) == 0
    assert (blind.X != adata.X).nnz == 0
    assert list(blind.var_names) == list(adata.var_names)
    adata.raw = adata.copy()  # an expression matrix in .raw travels; its obs does not
    blind = bench.hide_labels(adata)
    assert blind.raw is not None and (blind.raw.X != adata.X).nnz == 0
    assert labels_visible(blind, truth) == []


def test_only_the_batch_column_travels_and_carries_no_labels() -> None:
    adata = _labelled()
    truth = adata.obs[bench.SYNTHETIC_LABEL_KEY]
    adata.obs["donor"] = np.tile(["d1", "d2"], adata.n_obs // 2)
    blind = bench.hide_labels(adata, "donor")
    assert list(blind.obs.columns) == [bench.BATCH_COLUMN]
    assert list(blind.obs[bench.BATCH_COLUMN]) == list(adata.obs["donor"])
    assert labels_visible(blind, truth) == []
    with pytest.raises(GenekbError, match="batch_key='site' is not an obs column"):
        bench.hide_labels(adata, "site")


def test_spy_method_in_a_worker_process_never_sees_labels(tmp_path: Path, spies: Any) -> None:
    config = bench.BenchConfig(
        datasets=bench.parse_datasets(f"synthetic-{SPY_CELLS}"),
        methods=[spies.SPY],
        seeds=[0, 1],
        out=tmp_path / "out",
        warm=False,
        threads=1,
        preload=False,  # plumbing only: no need to import torch and scanpy first
        gene_vectors="random",
    )
    report = bench.run_bench(config, log=lambda _: None)
    cell = report["cells"][0]
    assert cell["status"] == "ok", Path(cell["log"]).read_text()[-2000:]
    assert report["config"]["gene_vectors"] == "random"
    assert all(r["extras"]["vectors"] == "random" for r in report["runs"])
    runs = report["runs"]
    assert [r["seed"] for r in runs] == [0, 1]
    k = len(bench.synthetic_counts(SPY_CELLS).obs[bench.SYNTHETIC_LABEL_KEY].unique())
    assert all(r["extras"]["n_classes_seen"] == k for r in runs)  # the count, not the labels
    assert runs[0]["extras"]["pid"] != os.getpid()  # it really ran in another process
    assert cell["peak_rss_mb"] > 20 and cell["n_cells"] == SPY_CELLS


def test_a_failing_method_is_reported_not_hidden(tmp_path: Path, spies: Any) -> None:
    config = bench.BenchConfig(
        datasets=bench.parse_datasets("synthetic-40"),
        methods=[spies.BROKEN],
        seeds=[0],
        out=tmp_path,
        warm=False,
        preload=False,
    )
    report = bench.run_bench(config, log=lambda _: None)
    assert report["cells"][0]["status"] == "failed"
    assert report["failures"][0]["error"] == "ValueError: boom"
    assert "boom" in Path(report["cells"][0]["log"]).read_text()  # the traceback is kept
    assert "- synthetic-40 × test-broken: ValueError: boom" in (tmp_path / "bench.md").read_text()


def test_data_refused_once_is_not_run_again_by_the_next_methods(tmp_path: Path, spies: Any) -> None:
    adata = _labelled()
    # Only zeros: a data error the runs find (NaN is refused before any run: test_followups18)
    adata.X = np.zeros(adata.shape, dtype=np.float32)
    adata.write_h5ad(tmp_path / "nan.h5ad")
    lines: list[str] = []
    config = bench.BenchConfig(
        datasets=bench.parse_datasets(str(tmp_path / "nan.h5ad"), label_key="copy_of_labels"),
        methods=[spies.SPY, spies.BROKEN],
        seeds=[0],
        out=tmp_path / "out",
        warm=False,
        preload=False,
    )
    report = bench.run_bench(config, log=lines.append)
    first, second = report["cells"]
    assert "holds only zeros" in first["error"] and first["process_seconds"] > 0
    assert "the data was refused: GenekbError" in Path(first["log"]).read_text()
    assert second["error"] == f"not run: {first['error']}" and second["process_seconds"] == 0
    assert "not run (the data: GenekbError: the expression matrix" in lines[-1]
    assert len(report["failures"]) == 2


def _runs(values: dict[tuple[str, str], list[float]]) -> list[dict[str, Any]]:
    runs = []
    for (dataset, method), aris in values.items():
        for seed, ari in enumerate(aris):
            runs.append(
                {
                    "dataset": dataset,
                    "method": method,
                    "seed": seed,
                    "acc": ari + 0.1,
                    "nmi": ari,
                    "ari": ari,
                    "f1": ari - 0.1,
                    "seconds": 2.0 + seed,
                    "n_clusters": 4,
                }
            )
    return runs


def _cells(keys: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [
        {
            "dataset": d,
            "method": m,
            "status": "ok",
            "n_cells": 100,
            "n_classes": 4,
            "peak_rss_mb": 512.0,
        }
        for d, m in keys
    ]


def test_mean_and_sample_std() -> None:
    assert bench.mean_std([0.5, 0.7, 0.9]) == pytest.approx((0.7, 0.2))
    assert bench.mean_std([0.4]) == (0.4, None)
    values = {("d1", "pca-kmeans"): [0.5, 0.7, 0.9], ("d1", "leiden"): [0.3]}
    rows = bench.summarize(_runs(values), _cells(list(values)))
    first, second = rows
    assert first["ari"] == {"mean": pytest.approx(0.7), "std": pytest.approx(0.2)}
    assert first["acc"]["mean"] == pytest.approx(0.8)
    assert first["seconds"] == {"mean": pytest.approx(3.0), "std": pytest.approx(1.0)}
    assert first["n_seeds"] == 3 and first["peak_rss_mb"] == 512.0
    assert second["ari"] == {"mean": pytest.approx(0.3), "std": None}


def _report(tmp_path: Path) -> dict[str, Any]:
    values = {
        ("d1", "pca-kmeans"): [0.5, 0.7, 0.9],
        ("d1", "leiden"): [0.4, 0.4, 0.4],
        ("d2", "pca-kmeans"): [0.2, 0.4, 0.6],
        ("d2", "leiden"): [],
    }
    cells = _cells(list(values))
    cells[-1].update(status="failed", error="RuntimeError: out of patience")
    for cell in cells:  # d2 has unlabelled cells: the scores are of the labelled ones
        cell["n_labelled"] = 100 if cell["dataset"] == "d1" else 90
    return {
        "format": bench.REPORT_FORMAT,
        "created": "2026-01-01T00:00:00+00:00",
        "command": "cellmodel bench --datasets d1,d2",
        "machine": bench.machine_info(),
        "config": {"seeds": [0, 1, 2], "device": "cpu"},
        "protocol": bench.PROTOCOL,
        "warmup": [
            {"dataset": "d1", "status": "ok", "steps": [{"seconds": 4.0}], "peak_rss_mb": 900.0}
        ],
        "cells": cells,
        "runs": _runs(values),
        "summary": bench.summarize(_runs(values), cells),
        "failures": [
            {"dataset": "d2", "method": "leiden", "error": "RuntimeError: out of patience"}
        ],
        "total_seconds": 42.0,
    }


def test_markdown_and_json_shape(tmp_path: Path) -> None:
    report = _report(tmp_path)
    text = bench.render_markdown(report)
    lines = text.splitlines()
    assert "| method | d1 | d2 |" in lines
    # The summary table puts each method's seconds per seed beside its ARI.
    assert "| pca-kmeans | 0.700 ± 0.200 (3.0 s) | 0.400 ± 0.200 (3.0 s) |" in lines
    assert "| leiden | 0.400 ± 0.000 (3.0 s) | failed |" in lines
    row = "| pca-kmeans | 0.800 ± 0.200 | 0.700 ± 0.200 | 0.700 ± 0.200 | 0.600 ± 0.200 |"
    assert f"{row} 3.00 ± 1.00 | 512 | 4.0 ± 0.0 |" in lines
    assert "- d2 × leiden: RuntimeError: out of patience" in lines
    assert "| d1 | 1 | 4.0 | 900 |" in lines
    assert "**d1** (100 cells, k = 4 label classes):" in lines
    assert "**d2** (100 cells, 90 labelled, k = 4 label classes):" in lines
    files = bench.write_outputs(report, tmp_path)
    loaded = json.loads(files["json"].read_text())
    assert {"runs", "summary", "cells", "machine", "command", "protocol", "failures"} <= set(loaded)
    assert loaded["summary"][0]["ari"]["mean"] == pytest.approx(0.7)
    assert files["markdown"].read_text() == text
    assert files["chart"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_docs_keep_the_other_section(tmp_path: Path) -> None:
    path = tmp_path / "docs" / "benchmarks.md"
    report = _report(tmp_path)
    bench_docs.write_docs(report, path)
    first = path.read_text()
    assert "`cellmodel bench --datasets d1,d2`" in first
    assert "No scale run recorded yet." in first
    assert report["machine"]["cpu_model"] in first
    assert all(f"| `{m}` |" in first for m in bench.BUILTIN_METHODS)
    scale = dict(report, command="cellmodel bench --scale 100,200")
    scale["scale"] = bench.scale_summary(report["summary"], [])
    bench_docs.write_docs(scale, path)
    both = path.read_text()
    assert "`cellmodel bench --datasets d1,d2`" in both  # the bench section survived
    assert "`cellmodel bench --scale 100,200`" in both
    assert "No scale run recorded yet." not in both


def test_growth_exponent() -> None:
    sizes = [1000, 3000, 10000]
    assert bench.growth_exponent(sizes, [0.002 * n**1.5 for n in sizes]) == pytest.approx(1.5)
    assert bench.growth_exponent([1000], [1.0]) is None


def test_unknown_names_list_the_choices() -> None:
    with pytest.raises(UsageError) as caught:
        bench.parse_methods("pca-kmeans,kmeans-magic")
    assert "kmeans-magic" in str(caught.value)
    assert "leiden-k" in str(caught.value) and "cellmodel-no-ot" in str(caught.value)
    with pytest.raises(UsageError, match="baron-human"):
        bench.parse_datasets("no-such-set")


def test_h5ad_path_needs_a_real_label_key(tmp_path: Path) -> None:
    path = tmp_path / "cells.h5ad"
    _labelled(40).write_h5ad(path)
    with pytest.raises(UsageError, match="label_key="):
        bench.parse_datasets(str(path))
    with pytest.raises(GenekbError, match="not an obs column"):
        bench.parse_datasets(str(path), "celltype")
    (ref,) = bench.parse_datasets(str(path), "group")
    assert (ref.name, ref.kind, ref.label_key) == ("cells", "file", "group")
    assert ref.batch_key is None


def test_a_file_names_its_batch_column_as_a_registry_entry_does(tmp_path: Path) -> None:
    path = tmp_path / "cells.h5ad"
    adata = _labelled(40)
    adata.obs["plate"] = np.array(["p1", "p2"])[np.arange(40) % 2]
    adata.write_h5ad(path)
    (ref,) = bench.parse_datasets(str(path), "group", "plate")
    assert ref.batch_key == "plate" and ref.to_dict()["batch_key"] == "plate"
    assert bench.BATCH_COLUMN in bench.hide_labels(adata, ref.batch_key).obs  # what methods get
    with pytest.raises(GenekbError, match="batch_key='lane' is not an obs column"):
        bench.parse_datasets(str(path), "group", "lane")
    with pytest.raises(UsageError, match="is the label column"):
        bench.parse_datasets(str(path), "group", "group")


def test_every_builtin_method_is_registered_with_a_description() -> None:
    expected = {
        "pca-kmeans", "leiden", "leiden-k", "semantic-w", "semantic-s", "semantic", "structure",
        "cellmodel", "cellmodel-auto", "cellmodel-ensemble", "cellmodel-no-ot", "cellmodel-aligned",
        "cellmodel-concat",
        "cellmodel-aligned-random", "cellmodel-aligned-shuffled", "semantic-random",
        "semantic-shuffled",
    }  # fmt: skip
    assert set(bench.BUILTIN_METHODS) == expected
    assert bench.parse_methods(None) == bench.BUILTIN_METHODS
    assert not bench.get_method("leiden").uses_k and bench.get_method("pca-kmeans").uses_k
    # The default fit needs store vectors only; its warm-up must not embed every cell's sentence.
    assert not bench.get_method("cellmodel").sentences and bench.get_method("semantic").sentences
    controls = bench.warmup_controls(["semantic", "cellmodel-aligned-random"], [3, 4])
    # Controls are drawn once (CONTROL_SEED) whatever the run seeds; real sentences need no seed.
    assert controls == [("real", 3), ("random", bench.CONTROL_SEED)]
    # --gene-vectors shuffled: the methods on real vectors need the shuffled control instead.
    controls = bench.warmup_controls(["semantic", "cellmodel-aligned-random"], [3], "shuffled")
    assert controls == [("shuffled", bench.CONTROL_SEED), ("random", bench.CONTROL_SEED)]


def test_synthetic_counts_are_counts_with_known_groups() -> None:
    a = bench.synthetic_counts(300, n_genes=500, n_groups=5)
    b = bench.synthetic_counts(300, n_genes=500, n_groups=5)
    assert a.shape == (300, 500) and sp.issparse(a.X)
    assert (a.X != b.X).nnz == 0  # deterministic
    assert np.allclose(a.X.data, np.round(a.X.data)) and a.X.data.min() > 0
    assert a.obs[bench.SYNTHETIC_LABEL_KEY].nunique() == 5
    from genekb.sources.bundled import load_bundled

    symbols = set(load_bundled("human").table.column("symbol").to_pylist())
    assert set(a.var_names) <= symbols


def test_leiden_to_k_reaches_the_asked_count() -> None:
    # Six 15-cell cliques joined in a ring by single edges.
    blocks = [np.ones((15, 15)) - np.eye(15) for _ in range(6)]
    dense = sp.block_diag(blocks).toarray()
    for b in range(6):
        i, j = b * 15, ((b + 1) % 6) * 15 + 1
        dense[i, j] = dense[j, i] = 1
    adjacency = sp.csr_matrix(dense)
    labels, resolution, calls = bench.leiden_to_k(adjacency, 6, seed=0)
    assert len(np.unique(labels)) == 6 and calls >= 1
    labels, resolution, _ = bench.leiden_to_k(adjacency, 3, seed=0)
    assert len(np.unique(labels)) == 3 and resolution < 1.0


def test_cli_bench_end_to_end(tmp_path: Path) -> None:
    from cli.cellmodel_app import app

    data = tmp_path / "toy.h5ad"
    _labelled(800).write_h5ad(data)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "bench",
            "--datasets", str(data),
            "--label-key", "group",
            "--methods", "pca-kmeans,leiden",
            "--seeds", "2",
            "--out", str(out),
            "--threads", "1",
            "--json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [c["status"] for c in report["cells"]] == ["ok", "ok"]
    assert len(report["runs"]) == 4
    rows = {r["method"]: r for r in report["summary"]}
    # Measured on these data: pca-kmeans ARI 0.62 / 0.63 (seeds 0, 1), leiden 0.85 / 0.85.
    assert rows["pca-kmeans"]["ari"]["mean"] > 0.5
    assert rows["leiden"]["ari"]["mean"] > 0.7
    assert rows["pca-kmeans"]["ari"]["std"] is not None
    assert all(r["seconds"] > 0 for r in report["runs"])
    assert all(c["peak_rss_mb"] > 50 for c in report["cells"])
    assert "--methods pca-kmeans,leiden --seeds 2" in report["command"]
    assert report["config"]["threads"] == 1
    for name in ("bench.json", "bench.md", "ari.png"):
        assert (out / name).stat().st_size > 0
    assert "| pca-kmeans |" in (out / "bench.md").read_text()


def test_cli_unknown_method_exits_2(tmp_path: Path) -> None:
    from cli.cellmodel_app import app

    result = CliRunner().invoke(
        app, ["bench", "--datasets", "synthetic-40", "--methods", "magic", "--out", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "pca-kmeans" in result.output and "magic" in result.output


def test_the_pipeline_method_reports_which_batch_candidate_it_kept() -> None:
    from tests.conftest import blobs

    adata = blobs(40, dim=30, counts=True)
    adata.obs = adata.obs[[]].assign(**{bench.BATCH_COLUMN: np.tile(["d1", "d2"], 60)})
    out = bench.get_method("structure").run(bench.MethodInput(adata, n_classes=3, seed=0))
    assert out.extras["batch_choice"] in {"reconstruction", "link", "leiden"}
    assert out.extras["batch_choice"] == adata.uns["cellmodel"]["batch_choice"]["chosen"]
