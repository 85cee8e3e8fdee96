"""Hostile but plausible options of `cellmodel cluster` / `embed` and of `cm.tl.cluster` (the
eleventh sweep): numpy's integers where Python's are expected, switches and seeds named as the
caller named them, options the run would not read refused, and each warning said once."""

from __future__ import annotations

import json

import numpy as np
import pytest

import cellmodel as cm
from genekb.errors import UsageError
from tests.conftest import FAST_FIT, blobs, one_line_error, run_cellmodel, run_genekb


@pytest.fixture
def cells():
    return blobs(20, dim=30, counts=True)


@pytest.fixture
def cells_file(cells, tmp_path):
    path = tmp_path / "cells.h5ad"
    cells.write_h5ad(path)
    return path


def test_a_numpy_seed_clusters_as_a_python_one(cells, one_torch_thread):
    # torch's generator refused np.int64: "TypeError: an integer is required" after the PCA.
    twin = cells.copy()
    cm.tl.cluster(cells, n_clusters=3, use_semantic=False, seed=np.int64(3), **FAST_FIT)
    cm.tl.cluster(twin, n_clusters=3, use_semantic=False, seed=3, **FAST_FIT)
    assert (cells.obs["cellmodel_cluster"] == twin.obs["cellmodel_cluster"]).all()


@pytest.mark.parametrize(
    ("setting", "says"),
    [({"build": "no"}, "build='no' must be True or False"),  # was truthy: the store was built
     ({"control_seed": -1}, "control_seed=-1 must be a whole number"),  # was "seed=-1", or none
     ({"control_seed": 2.5}, "control_seed=2.5 must be a whole number")],
)  # fmt: skip
def test_cluster_names_a_bad_build_switch_or_control_seed(cells, setting, says):
    with pytest.raises(UsageError, match=says):
        cm.tl.cluster(cells, n_clusters=3, use_semantic=False, **setting)
    assert "cellmodel_cluster" not in cells.obs


def test_out_of_core_cluster_refuses_plots_it_would_not_draw(cells_file, tmp_path):
    # exit 0 and no picture: --plots was dropped without a word out of core.
    plots, out = tmp_path / "plots", tmp_path / "out.h5ad"
    args = ["cluster", str(cells_file), "-o", str(out), "--chunk-size", "20", "--plots", str(plots)]
    line = one_line_error(run_cellmodel(*args), code=2)
    assert "--plots draws in memory only; drop --chunk-size" in line
    assert not out.exists() and not plots.exists()


@pytest.mark.parametrize("command", ["cluster", "embed", "classify"])
@pytest.mark.parametrize(("flag", "value"), [("--sep", ";"), ("--orientation", "genes-by-cells")])
def test_out_of_core_runs_refuse_table_options_as_in_memory(
    cells_file, tmp_path, command, flag, value
):
    # Read in memory, an .h5ad with --sep is refused; with --chunk-size the option was ignored.
    out, ref = tmp_path / "out.h5ad", tmp_path / "reference.h5ad"
    ref.write_bytes(cells_file.read_bytes())
    reference = ["--reference", str(ref), "--label-key", "group", "--view", "semantic"]
    extra = reference if command == "classify" else []
    args = [command, str(cells_file), "-o", str(out), "--chunk-size", "20", flag, value, *extra]
    line = one_line_error(run_cellmodel(*args), code=2)
    assert f"{flag} reads CSV/TSV tables; {cells_file} is not one: leave it out" in line
    assert not out.exists()


@pytest.mark.parametrize("chunked", [[], ["--chunk-size", "20"]])
def test_embed_says_a_low_gene_match_once(tmp_path, chunked):
    # The warning was printed when the genes were matched and again in the closing report.
    from cellmodel.bench.data import synthetic_counts

    adata = synthetic_counts(40, n_genes=60)
    adata.var_names = list(adata.var_names[:20]) + [f"NOTAGENE{i}" for i in range(40)]
    source = tmp_path / "few.h5ad"
    adata.write_h5ad(source)
    root = str(tmp_path / "store")
    for json_ in ([], ["--json"]):
        out = tmp_path / f"out{len(json_)}.h5ad"
        args = ["embed", str(source), "-o", str(out), "--model", "fake", "--root", root]
        result = run_cellmodel(*args, *chunked, *json_)
        assert result.exit_code == 0, result.output
        said = [ln for ln in result.stderr.splitlines() if ln.startswith("warning:")]
        assert len(said) == 1 and "only 33.3% of genes matched" in said[0], result.stderr
    assert json.loads(result.stdout)["warnings"][0].startswith("only 33.3% of genes matched")


@pytest.mark.parametrize(
    ("args", "says"),
    [(["-k", "3", "-k", "4"], "--n-clusters is given more than once"),  # k=4 ran
     (["-o", "{a}", "--output", "{b}"], "--output is given more than once"),  # b only
     (["--no-semantic", "--semantic"], "--semantic/--no-semantic is given more than once")],
)  # fmt: skip
def test_an_option_of_one_value_given_twice_is_a_usage_error(cells_file, tmp_path, args, says):
    a, b = tmp_path / "a.h5ad", tmp_path / "b.h5ad"
    args = [arg.format(a=a, b=b) for arg in args]
    result = run_cellmodel("cluster", str(cells_file), "--root", str(tmp_path / "store"), *args)
    line = one_line_error(result, code=2)
    assert says in line and "give it once" in line
    assert not a.exists() and not b.exists()


def test_a_repeatable_option_repeats_but_not_one_of_its_keys(cells_file):
    # `--option hidden_dim=64 --option hidden_dim=32` ran with 32, the first dropped unsaid.
    twice = ["--option", "hidden_dim=64", "--option", "hidden_dim=32"]
    line = one_line_error(run_cellmodel("cluster", str(cells_file), *twice), code=2)
    assert "--option hidden_dim is given more than once; give it once" in line
    two_keys = ["--option", "hidden_dim=64", "--option", "latent_dim=0"]  # read: its range refused
    line = one_line_error(run_cellmodel("cluster", str(cells_file), *two_keys), code=2)
    assert "latent_dim must be a whole number of at least 1" in line


def test_a_subcommand_of_a_group_refuses_an_option_given_twice(tmp_path):
    # `datasets fetch NAME --root a --root b` fetched into b without a word; `remote ls` alike.
    twice = ["--root", str(tmp_path / "a"), "--root", str(tmp_path / "b")]
    line = one_line_error(run_cellmodel("datasets", "fetch", "pbmc68k-reduced", *twice), code=2)
    assert "--root is given more than once; give it once" in line
    assert "datasets fetch --help" in line  # the usage line names the subcommand's help
    line = one_line_error(run_genekb("remote", "ls", str(tmp_path), "--json", "--json"), code=2)
    assert "--json is given more than once" in line
