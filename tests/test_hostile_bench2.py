"""Hostile round on `cellmodel bench` and `cellmodel datasets` (h31): a methods developer's own
files, settings and interruptions; each refusal comes before any run and leaves no folder."""

from __future__ import annotations

import importlib
import json
import math
import sys
from pathlib import Path
from typing import Any

import anndata as ad
import pytest

from cellmodel import bench
from cellmodel.bench import outofcore, report
from genekb.errors import GenekbError, IntegrityError, UnknownNameError, UsageError
from tests.conftest import one_line_error, run_cellmodel


@pytest.fixture
def spies() -> Any:
    """The test methods of tests/bench_spies.py, registered for one test."""
    methods, builtin = dict(bench.METHODS), list(bench.BUILTIN_METHODS)
    sys.modules.pop("tests.bench_spies", None)
    yield importlib.import_module("tests.bench_spies")
    sys.modules.pop("tests.bench_spies", None)
    bench.METHODS.clear()
    bench.METHODS.update(methods)
    bench.BUILTIN_METHODS[:] = builtin


def _toy(path: Path, n: int = 60) -> Path:
    """A labelled synthetic file (real gene symbols as var_names)."""
    adata = bench.synthetic_counts(n)
    adata.obs["cell_type"] = adata.obs[bench.SYNTHETIC_LABEL_KEY].astype(str).to_numpy()
    adata.write_h5ad(path)
    return path


def _config(out: Path, refs: list[bench.DatasetRef], **kw: Any) -> bench.BenchConfig:
    kw.setdefault("methods", ["pca-kmeans"])
    kw.setdefault("seeds", [0])
    return bench.BenchConfig(refs, out=out, warm=False, preload=False, model=None, **kw)  # type: ignore[arg-type]


def test_bench_json_stays_strict_json_with_an_infinite_timeout(tmp_path: Path, spies: Any) -> None:
    # --timeout inf (no limit) wrote "timeout_s": Infinity into bench.json: no JSON reader takes it.
    config = _config(tmp_path / "out", bench.parse_datasets("synthetic-40"), methods=[spies.SPY])
    config.timeout_s = math.inf
    bench.run_bench(config, log=lambda _: None)

    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    document = json.loads((tmp_path / "out" / "bench.json").read_text(), parse_constant=refuse)
    assert document["config"]["timeout_s"] is None


def test_a_corrupt_cached_registry_dataset_is_refused_before_the_output_folder(
    tmp_path: Path,
) -> None:
    # The fetch came after the plan line and the output folder (with logs/) were made.
    cache = tmp_path / "root" / "datasets"
    cache.mkdir(parents=True)
    (cache / "wu2020-200.h5ad").write_bytes(b"not the pinned file")
    config = _config(tmp_path / "out", bench.parse_datasets("wu2020-200"))
    config.root = str(tmp_path / "root")
    lines: list[str] = []
    with pytest.raises(IntegrityError, match="pinned"):
        bench.run_bench(config, log=lines.append)
    assert not (tmp_path / "out").exists() and lines == []


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--layer", "counts"], "layer 'counts' is not in the input"),
        (["--gene-key", "symbol"], "gene key 'symbol' is not a var column"),
        ([], "gene names occur more than once"),
    ],
)
def test_a_missing_layer_gene_key_or_repeated_genes_is_refused_before_any_run(
    tmp_path: Path, flags: list[str], says: str
) -> None:
    # Each method's process failed on it in turn: a table of failures after the whole run.
    path = _toy(tmp_path / "toy.h5ad")
    if not flags:  # the repeated-genes case
        adata = ad.read_h5ad(path)
        adata.var_names = ["CD3E"] * adata.n_vars
        adata.write_h5ad(path)
    out = tmp_path / "out"
    result = run_cellmodel(
        "bench", "--datasets", str(path), "--label-key", "cell_type", "--methods", "pca-kmeans",
        "--seeds", "1", "--out", str(out), "--root", str(tmp_path / "root"), *flags,
    )  # fmt: skip
    line = one_line_error(result)
    assert says in line and "no method was run" in line and str(path) in line
    assert not out.exists()


def test_the_summary_says_when_a_method_is_averaged_over_fewer_datasets() -> None:
    # A method that failed on the hard dataset showed a higher mean ARI than those that ran it.
    def row(dataset: str, method: str, ari: float | None) -> dict[str, Any]:
        status = "failed" if ari is None else "ok"
        return {"dataset": dataset, "method": method, "status": status, "ari": {"mean": ari}}

    summary = [
        row("easy", "pca-kmeans", 0.8),
        row("hard", "pca-kmeans", 0.1),
        row("easy", "cellmodel", 0.9),
        row("hard", "cellmodel", None),
    ]
    lines = report.render_standings(report.standings(summary))
    ours = next(line for line in lines if line.startswith("| cellmodel |"))
    theirs = next(line for line in lines if line.startswith("| pca-kmeans |"))
    assert "0.900 (over 1 of 2 datasets)" in ours
    assert "over" not in theirs


def test_one_file_named_twice_is_one_dataset(tmp_path: Path) -> None:
    # ./toy.h5ad and toy.h5ad: "two datasets share the name; rename one of the files".
    path = _toy(tmp_path / "toy.h5ad")
    other = tmp_path / "sub" / ".." / "toy.h5ad"
    (tmp_path / "sub").mkdir()
    refs = bench.parse_datasets(f"{path},synthetic-40,{other}", "cell_type")
    assert [r.name for r in refs] == ["toy", "synthetic-40"]
    (tmp_path / "sub" / "toy.h5ad").write_bytes(path.read_bytes())
    with pytest.raises(UsageError, match="share the name"):  # two files: still refused
        bench.parse_datasets(f"{path},{tmp_path / 'sub' / 'toy.h5ad'}", "cell_type")


def test_out_of_core_refuses_an_unknown_device_before_writing_the_files(tmp_path: Path) -> None:
    # It wrote each synthetic file (up to tens of GB), then every run failed on the device.
    with pytest.raises(UsageError, match="unknown device 'tpu'"):
        outofcore.run_scale([60], tmp_path / "x", device="tpu", log=lambda _: None)
    assert not (tmp_path / "x").exists()


def test_out_of_core_into_a_file_says_it_is_not_a_folder(tmp_path: Path) -> None:
    # "…: File exists; nothing half-written was published" (an OSError of mkdir).
    (tmp_path / "x").write_text("mine")
    with pytest.raises(GenekbError, match="is not a directory; give a folder"):
        outofcore.run_scale([60], tmp_path / "x", log=lambda _: None)
    assert (tmp_path / "x").read_text() == "mine"


@pytest.mark.parametrize(
    ("seeds", "says"),
    [([-1], "seed=-1 must be a whole number"), ([2**40], "must be a whole number"),
     ([0, 0], "repeats a seed")],
)  # fmt: skip
def test_library_seeds_are_checked_before_any_run(
    tmp_path: Path, seeds: list[int], says: str
) -> None:
    # Negative or huge seeds failed every worker deep in scikit-learn; a repeated seed gave a
    # spread over copies of one run.
    refs = bench.parse_datasets("synthetic-40")
    with pytest.raises(UsageError, match=says):
        bench.run_bench(_config(tmp_path / "out", refs, seeds=seeds), log=lambda _: None)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("datasets", "methods", "error"),
    [("synthetic-40", [], UsageError), (None, ["pca-kmeans"], UsageError),
     ("synthetic-40", ["pca-kmean"], UnknownNameError)],
)  # fmt: skip
def test_library_empty_or_unknown_choices_publish_nothing(
    tmp_path: Path, datasets: str | None, methods: list[str], error: type[Exception]
) -> None:
    # No methods or no datasets published an empty report as a result; an unknown method left
    # an output folder behind.
    refs = bench.parse_datasets(datasets) if datasets else []
    with pytest.raises(error):
        bench.run_bench(_config(tmp_path / "out", refs, methods=methods), log=lambda _: None)
    assert not (tmp_path / "out").exists()


def test_a_file_named_with_a_bar_keeps_its_table_columns() -> None:
    # "a|b.h5ad" is dataset a|b: its header cell split in two and shifted every column after it.
    summary = [{"dataset": "a|b", "method": "pca-kmeans", "status": "ok", "ari": {"mean": 0.5}}]
    lines = report.render_standings(report.standings(summary))
    header = next(line for line in lines if line.startswith("| method |"))
    assert "a\\|b" in header
    assert header.count("|") - header.count("\\|") == 6  # five cells


@pytest.mark.slow  # three worker processes
def test_an_interrupted_bench_resumes_where_it_stopped(
    tmp_path: Path, spies: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ctrl-C or SIGTERM lost every finished (dataset, method) run: the rerun measured all again.
    from cellmodel.bench import runner

    out = tmp_path / "out"
    config = _config(out, bench.parse_datasets("synthetic-40,synthetic-50"), methods=[spies.SPY])
    real, spawned = runner._spawn, []

    def spawn(job: dict[str, Any], *args: Any) -> Any:
        spawned.append(job["dataset"]["name"])
        if len(spawned) == 2 and stop:
            raise KeyboardInterrupt  # the user's Ctrl-C, during the second run
        return real(job, *args)

    monkeypatch.setattr(runner, "_spawn", spawn)
    stop = True
    with pytest.raises(KeyboardInterrupt):
        bench.run_bench(config, log=lambda _: None)
    assert not (out / "bench.json").exists()
    spawned.clear()
    stop = False
    lines: list[str] = []
    result = bench.run_bench(config, log=lines.append)
    assert spawned == ["synthetic-50"]  # the first run was kept, not measured again
    first, second = result["cells"]
    assert first["resumed"] and first["status"] == "ok" and not second.get("resumed")
    assert [r["dataset"] for r in result["runs"]] == ["synthetic-40", "synthetic-50"]
    assert any("kept from the interrupted run" in line for line in lines)
    assert "Kept from the interrupted run before: 1" in (out / "bench.md").read_text()
    assert not list((out / "logs").glob("*.result.json"))  # a later --force run measures anew


def test_a_kept_run_is_not_taken_for_an_edited_file(tmp_path: Path) -> None:
    # The same file name with other contents is another run: its kept scores would be wrong.
    from cellmodel.bench import resume

    path = _toy(tmp_path / "toy.h5ad")
    job = {"dataset": {"name": "toy", "path": str(path)}, "method_module": "cellmodel.bench"}
    before = resume.run_key(job, None)
    assert resume.run_key(job, None) == before
    _toy(path, n=70)
    assert resume.run_key(job, None) != before
    assert resume.run_key(job, 1) != resume.run_key(job, None)


@pytest.mark.parametrize(("flag", "value"), [("layer", "counts"), ("gene_key", "symbol")])
def test_a_layer_or_gene_key_a_registry_or_synthetic_dataset_lacks_is_refused_first(
    tmp_path: Path, flag: str, value: str
) -> None:
    # Their datasets load with a fixed layout: every method's process failed on the flag in turn.
    config = _config(tmp_path / "out", bench.parse_datasets("synthetic-40"), **{flag: value})
    with pytest.raises(GenekbError, match=f"synthetic-40: .*'{value}'.*no method was run"):
        bench.run_bench(config, log=lambda _: None)
    assert not (tmp_path / "out").exists()


def test_a_damaged_bundled_dataset_says_to_reinstall_scanpy_not_to_fetch_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "delete it and fetch again": deleting scanpy's own file makes it missing, and fetch never
    # downloads it (it ships inside scanpy).
    from scanpy.datasets import _datasets

    from cellmodel import datasets

    (tmp_path / "10x_pbmc68k_reduced.h5ad").write_bytes(b"damaged")
    monkeypatch.setattr(_datasets, "__file__", str(tmp_path / "_datasets.py"))
    with pytest.raises(IntegrityError) as caught:
        datasets.fetch("pbmc68k-reduced")
    assert "reinstall scanpy" in str(caught.value) and "fetch again" not in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_file_whose_name_holds_a_comma_can_be_benched(tmp_path: Path) -> None:
    # --datasets "run 1,2.h5ad" was split into 'run 1' and '2.h5ad': "unknown dataset".
    path = _toy(tmp_path / "run 1,2.h5ad")
    refs = bench.parse_datasets(f"{path},synthetic-40", "cell_type")
    assert [(r.name, r.path) for r in refs] == [("run 1,2", str(path)), ("synthetic-40", None)]


def test_a_file_named_logs_in_the_output_folder_is_refused_before_the_plan(tmp_path: Path) -> None:
    # mkdir said "…/logs: File exists; nothing half-written was published", after the plan line.
    out = tmp_path / "out"
    out.mkdir()
    (out / "logs").write_text("mine")
    lines: list[str] = []
    config = _config(out, bench.parse_datasets("synthetic-40"))
    with pytest.raises(GenekbError, match=r"logs is not a folder.*choose another output folder"):
        bench.run_bench(config, log=lines.append)
    assert lines == [] and (out / "logs").read_text() == "mine"


def test_a_damaged_cached_dataset_is_not_blamed_on_upstream(tmp_path: Path) -> None:
    # "the upstream file changed … or update the pin": the copy matched its pin when fetched, and
    # a new pin would bless the damage.
    from cellmodel import datasets

    (tmp_path / "wu2020-200.h5ad").write_bytes(b"damaged")
    with pytest.raises(IntegrityError) as caught:
        datasets.fetch("wu2020-200", cache_dir=tmp_path)
    message = str(caught.value)
    assert "cached copy is damaged; delete it and fetch wu2020-200 again" in message
    assert "pin)" not in message and "upstream" not in message
