"""Hostile input to `cellmodel` (the eighth sweep): a column the file lacks is refused alike by
every command, `bench --scale` is bounded, and annotate's report names genes by symbol."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cellmodel.arguments import check_obs_column
from cellmodel.bench.data import synthetic_counts
from genekb.errors import UsageError
from tests.conftest import one_line_error, run_cellmodel


@pytest.fixture(scope="module")
def cells(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cm8") / "cells.h5ad"
    synthetic_counts(40, n_genes=30).write_h5ad(path)  # obs: "group" alone
    return path


@pytest.mark.parametrize(
    ("command", "flag"),
    [
        (["cluster", "--no-semantic", "--label-key"], "--label-key"),
        (["cluster", "--no-semantic", "--batch-key"], "--batch-key"),
        (["classify", "--label-key"], "--label-key"),
        (["classify", "--label-key", "group", "--train-mask"], "--train-mask"),
        (["explain", "--cluster-key"], "--cluster-key"),
        (["annotate", "--model", "fake", "--groupby"], "--groupby"),
    ],
)
def test_a_missing_column_is_one_usage_error_naming_the_flag(
    cells: Path, tmp_path: Path, command: list[str], flag: str
) -> None:
    root = ["--root", str(tmp_path / "store")] if command[0] == "annotate" else []
    result = run_cellmodel(command[0], str(cells), *root, *command[1:], "nope")
    line = one_line_error(result, 2)  # cluster and classify exited 1, explain and annotate 2
    assert f"{flag} 'nope' is not an obs column; choose from: group" in line


def test_bench_names_the_flag_and_the_file(cells: Path) -> None:
    result = run_cellmodel("bench", "--datasets", str(cells), "--label-key", "nope")
    line = one_line_error(result, 2)
    assert f"--label-key 'nope' is not an obs column of {cells}; choose from: group" in line


def test_a_reference_without_the_column_names_the_flag(cells: Path, tmp_path: Path) -> None:
    reference = synthetic_counts(40, n_genes=30)
    reference.obs = reference.obs.rename(columns={"group": "kind"})
    path = tmp_path / "reference.h5ad"
    reference.write_h5ad(path)
    result = run_cellmodel("classify", str(cells), "--reference", str(path), "--label-key", "group")
    line = one_line_error(result, 2)  # was exit 1, "the reference needs a label column"
    assert "--label-key 'group' is not an obs column of the reference; choose from: kind" in line


def test_the_library_names_the_parameter_and_shortens_a_long_list() -> None:
    obs = pd.DataFrame(columns=[f"c{i}" for i in range(25)])
    with pytest.raises(UsageError) as caught:
        check_obs_column(obs, "nope", "label_key")
    message = str(caught.value)
    assert message.startswith("label_key='nope' is not an obs column; choose from: c0, c1,")
    assert "c19, … 5 more" in message and "c20" not in message
    check_obs_column(obs, "c24", "label_key")  # present: no error
    with pytest.raises(UsageError, match="choose from: none"):
        check_obs_column([], "x", "groupby")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--scale", "1000,3000000"], "more than the 2,000,000 a run holds in memory"),
        (["--scale", "9" * 30], "more than the 2,000,000 a run holds in memory"),
        (["--scale", "20000000", "--out-of-core"], "the 10,000,000 a run writes out of core"),
        (["--datasets", "synthetic-5000000"], "synthetic-5000000: 5,000,000 synthetic cells"),
    ],
)
def test_bench_refuses_more_synthetic_cells_than_a_machine_holds(
    tmp_path: Path, args: list[str], says: str
) -> None:
    out = tmp_path / "out"
    line = one_line_error(run_cellmodel("bench", *args, "--out", str(out)), 2)
    assert says in line and not out.exists()  # was: drawing the counts until memory ran out


def test_the_library_bounds_synthetic_sizes_alike(tmp_path: Path) -> None:
    from cellmodel.bench import parse_datasets
    from cellmodel.bench.outofcore import run_scale
    from cellmodel.bench.settings import MAX_OUT_OF_CORE_CELLS, MAX_SYNTHETIC_CELLS

    (ref,) = parse_datasets(f"synthetic-{MAX_SYNTHETIC_CELLS}")  # the bound itself is allowed
    assert ref.n_cells == MAX_SYNTHETIC_CELLS
    with pytest.raises(UsageError, match="holds in memory"):
        parse_datasets(f"synthetic-{MAX_SYNTHETIC_CELLS + 1}")
    folder = tmp_path / "scale"
    with pytest.raises(UsageError, match="out of core"):
        run_scale([1000, MAX_OUT_OF_CORE_CELLS + 1], folder)
    assert not folder.exists()  # refused before the first file was written


@pytest.mark.filterwarnings("ignore::cellmodel.annotate.signatures.UncheckedLineageWarning")
def test_annotate_names_the_genes_behind_a_call_by_symbol_on_ensembl_ids(fake_spec) -> None:
    from cellmodel.annotate import annotate, report_of, to_markdown
    from genekb.sources.bundled import load_bundled
    from tests.test_annotate import ALPHA, BETA, DELTA, _islets, _planted, _TextEncoder

    table = load_bundled("human").table.select(["symbol", "ensembl"]).to_pandas()
    table = table[table["ensembl"].map(len) > 0].drop_duplicates("symbol")
    ensembl = dict(zip(table["symbol"], table["ensembl"].map(lambda ids: ids[0]), strict=True))
    adata = _islets()
    adata.var_names = [ensembl[s] for s in adata.var_names]
    insulin = ensembl["INS"]
    out = annotate(
        adata, _planted(fake_spec), groupby="kind", candidates=[BETA, ALPHA, DELTA],
        n_markers=5, top_k=2, n_background=200, load_encoder=_TextEncoder, model="fake",
        per_cell=True,
    )  # fmt: skip
    report = report_of(out)
    beta = next(e for e in report["groups"] if e["group"] == "b")
    assert {"INS", "IAPP"} <= set(beta["signature"]) and "INS" in beta["markers"]
    assert not any(g.startswith("ENSG") for g in beta["signature"])  # were the Ensembl ids
    assert insulin in beta["signature_data_names"]  # what the per-cell calls look up
    assert insulin in report["per_cell"]["signatures"][beta["label"]]  # the id's CL label
    carried = [ln for ln in to_markdown(report).splitlines() if "carried the call" in ln]
    assert len(carried) == 3 and not any("ENSG" in ln for ln in carried)
    assert any("INS" in ln for ln in carried)
