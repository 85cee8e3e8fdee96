"""Hostile inputs to `cellmodel cluster` with batches, an estimated k and the out-of-core path
(h35): a batch column with blanks or R's "NA", the label column or a copy of it given as the
batch, `batch_key='auto'` on a file with donor columns, ComBat's print on stdout under --json,
a list as batch_key, `cluster_h5ad`'s arguments of the wrong type or the in-memory ones, the
out-of-core JSON's fields, and the refusals of a run that went out of core by itself."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genekb.errors import GenekbError, UsageError
from tests.conftest import FAST_FIT, blobs, run_cellmodel

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _cells(n: int = 30):
    """90 cells of 3 groups (obs["group"]) with a donor column cutting across them."""
    adata = blobs(n, dim=24, counts=True)
    adata.obs["donor"] = ["d1", "d2"] * (adata.n_obs // 2)
    return adata


def _cluster(adata, **kwargs):
    from cellmodel.cluster.job import cluster

    return cluster(adata, None, use_semantic=False, n_clusters=3, **FAST_FIT, **kwargs)


@pytest.mark.parametrize("gap", ["", "  ", "NA", "nan", "<NA>"])
def test_a_batch_written_as_missing_is_refused_not_corrected_as_a_batch(gap):
    """A blank donor, or one as R writes a missing value ("NA"), was corrected as a batch of its
    own (ComBat on the cells nobody knew the donor of); now refused as a missing value is."""
    adata = _cells()
    adata.obs["donor"] = adata.obs["donor"].astype(object)
    adata.obs.iloc[:4, adata.obs.columns.get_loc("donor")] = gap
    with pytest.raises(GenekbError, match="'donor' has no value for 4 of 90 cells"):
        _cluster(adata, batch_key="donor")
    from cellmodel.cluster.batch_column import refuse_missing

    refuse_missing(pd.Series(["d1", "unknown"] * 2), "donor")  # the fill the refusal advises


def test_the_label_column_as_the_batch_is_refused():
    """batch_key = label_key: ComBat removed the very differences the labels scored (ARI ~0),
    silently."""
    with pytest.raises(UsageError, match="same column 'group'"):
        _cluster(_cells(), batch_key="group", label_key="group")


@pytest.mark.slow  # the whole command: ~15 s on a shared 2-core machine
def test_a_batch_confounded_with_the_labels_is_warned_of_once(h5ad_file, tmp_path):
    """A batch column holding one label per batch (each type from its own donor) removes the
    types with the batch: said once, before any work (the command checks the columns twice)."""
    import anndata as ad

    from cellmodel.cluster.batch_column import ConfoundedBatchWarning

    adata = ad.read_h5ad(h5ad_file)
    adata.obs["sample"] = "s" + adata.obs["group"].astype(str)
    source = tmp_path / "confounded.h5ad"
    adata.write_h5ad(source)
    fast = [f"--option={k}={v}" for k, v in FAST_FIT.items()]
    result = run_cellmodel(
        "cluster", str(source), "-k", "3", "--batch-key", "sample", "--label-key", "group",
        "--no-semantic", "--no-batch-choice", "--no-merge-split", *fast,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stderr.count("every batch of 'sample' holds a single label of 'group'") == 1
    with warnings.catch_warnings():  # a donor cutting across the types: no word
        warnings.simplefilter("error", ConfoundedBatchWarning)
        _cluster(adata, batch_key="donor", label_key="group", batch_choice=False)


def test_auto_names_the_donor_columns_it_does_not_correct_for():
    """`batch_key='auto'` on a user's file reads only a registry column: with 'donor' and
    'batch' in obs it corrected for neither and said nothing."""
    from cellmodel.cluster.batch_column import resolve_batch_key

    adata = _cells()
    adata.obs["batch"] = "b1"
    key, notes = resolve_batch_key(adata, "auto")
    assert key is None and len(notes) == 1
    assert "no batch correction" in notes[0] and "'donor', 'batch'" in notes[0]
    assert resolve_batch_key(adata, "none") == (None, [])


def test_combat_prints_nothing_on_stdout(capsys):
    """scanpy's ComBat printed "Found N genes with zero variance." on stdout, before the one
    JSON document of `cluster --json` (many small batches leave such genes)."""
    from cellmodel.pp.graph import combat

    X = np.random.default_rng(0).normal(size=(8, 5)).astype(np.float32)
    X[:, 0] = np.repeat([1.0, 2.0, 3.0, 4.0], 2)  # constant within each batch
    out = combat(X, np.repeat(["a", "b", "c", "d"], 2))
    assert out.shape == (8, 5)
    assert capsys.readouterr().out == ""


def test_a_list_as_the_batch_key_is_one_clear_error():
    """batch_key=["donor"] failed with pandas' TypeError: unhashable type: 'list'."""
    with pytest.raises(UsageError, match="batch_key= names an obs column, not its values"):
        _cluster(_cells(), batch_key=["donor"])


@pytest.fixture(scope="module")
def h5ad_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ooc") / "cells.h5ad"
    _cells().write_h5ad(path)
    return path


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_clusters": 2.5}, "n_clusters=2.5 must be a whole number"),  # had run as k = 2
        ({"seed": "x"}, "seed='x' must be a whole number"),  # numpy's TypeError
        ({"chunk_size": 10.5}, "chunk_size=10.5 must be a whole number"),  # a TypeError
        ({"chunk_size": "10"}, "chunk_size='10' must be a whole number"),  # a TypeError
        ({"merge_split": "no"}, "merge_split='no' must be True or False"),  # ran as on
        ({"n_hvg": 0}, "n_hvg=0 must be a whole number, at least 1"),  # ran
        ({"batch_key": "donor"}, "batch_key: not out of core"),  # "unknown option(s)"
        ({"use_semantic": True}, "use_semantic: not out of core"),
    ],
)
def test_cluster_h5ad_refuses_what_the_in_memory_call_refuses(h5ad_file, tmp_path, kwargs, match):
    from cellmodel.chunked.cluster import cluster_h5ad

    out = tmp_path / "out.h5ad"
    with pytest.raises(UsageError, match=match):
        cluster_h5ad(h5ad_file, output=out, **{"n_clusters": 3, "chunk_size": 30, **kwargs})
    assert not out.exists()


@pytest.mark.slow  # the whole command out of core: ~20 s on a shared 2-core machine
def test_out_of_core_json_has_the_in_memory_fields(h5ad_file, tmp_path):
    """The out-of-core --json lacked cluster_sizes (and batch_key, plots, ...), so a script
    reading the in-memory report failed on a large file's."""
    out = tmp_path / "out.h5ad"
    fast = [f"--option={k}={v}" for k, v in FAST_FIT.items()]
    result = run_cellmodel(
        "cluster", str(h5ad_file), "-k", "3", "--chunk-size", "30", "-o", str(out), "--json",
        "--no-semantic", *fast,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert sum(report["cluster_sizes"].values()) == 90 and len(report["cluster_sizes"]) == 3
    for key in ("batch_key", "batch_choice", "gene_names", "embedding_id", "plots"):
        assert key in report


@pytest.mark.parametrize(
    ("flag", "value"), [("--batch-key", "donor"), ("--plots", "plots"), ("--ensemble", None)]
)
def test_a_run_out_of_core_by_itself_does_not_say_drop_chunk_size(
    h5ad_file, tmp_path, monkeypatch, flag, value
):
    """A file past the machine's memory goes out of core without --chunk-size; its in-memory
    options were refused with "drop --chunk-size", a flag the user never gave."""
    import cellmodel.chunked.limits as limits

    monkeypatch.setattr(limits, "cluster_plan", lambda path: (True, "note: out of core"))
    if flag == "--plots":
        value = str(tmp_path / value)
    extra = [flag] if value is None else [flag, value]
    result = run_cellmodel(
        "cluster", str(h5ad_file), "-o", str(tmp_path / "out.h5ad"), "--no-semantic", *extra
    )
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    line = result.stderr.strip().splitlines()[-1]  # after the notice that it goes out of core
    assert line.startswith("error:") and "too large for memory" in line
    assert "--chunk-size" not in line


def test_out_of_core_on_a_clustered_file_forgets_the_old_run(h5ad_file, tmp_path):
    """Out of core, the output kept the old run's uns record (its metrics read as this run's,
    with no --label-key given) and the names of the old clusters, which docs/cellmodel.md says
    a new cluster removes (as the in-memory run does)."""
    import anndata as ad

    from cellmodel.chunked.cluster import cluster_h5ad

    old = ad.read_h5ad(h5ad_file)
    old.obs["cellmodel_cluster"] = pd.Categorical(old.obs["group"].astype(str))
    old.obs["cellmodel_annotation"] = "T cell"
    old.uns["cellmodel"] = {
        "metrics": {"ari": 0.99}, "label_key": "group", "batch_key": "donor",
        "annotate": {"params": {"groupby": "cellmodel_cluster"}},
    }  # fmt: skip
    old.uns["kept"] = {"mine": 1}
    source = tmp_path / "clustered.h5ad"
    old.write_h5ad(source)
    out = tmp_path / "again.h5ad"
    record = cluster_h5ad(source, output=out, n_clusters=2, chunk_size=30, **FAST_FIT)
    new = ad.read_h5ad(out)
    assert {"metrics", "label_key", "batch_key", "annotate"}.isdisjoint(new.uns["cellmodel"])
    assert "cellmodel_annotation" not in new.obs and new.uns["kept"] == {"mine": 1}
    assert new.obs["cellmodel_cluster"].cat.categories.tolist() == ["0", "1"]
    assert any("names of the previous clusters were removed" in n for n in record["notes"])


def test_one_cluster_with_a_batch_skips_the_batch_choice():
    """-k 1 with a batch column fitted the link candidate and ran Leiden (more than twice the
    fit's time) to compare three single clusters, each with AMI 0 with the batch."""
    from cellmodel.cluster.job import cluster

    adata = _cells()
    cluster(adata, None, use_semantic=False, n_clusters=1, batch_key="donor", **FAST_FIT)
    record = adata.uns["cellmodel"]
    assert record["batch_key"] == "donor" and record["n_clusters"] == 1
    assert record.get("batch_choice") is None
    assert "batch_choice" not in record["pipeline_timings_s"]


def test_out_of_core_refuses_its_own_cluster_column_as_the_labels(tmp_path):
    """In memory refused; out of core, label_key='cellmodel_cluster' scored the new clusters
    against the old run's and recorded those metrics beside the new column."""
    from cellmodel.chunked.cluster import cluster_h5ad

    adata = _cells()
    adata.obs["cellmodel_cluster"] = pd.Categorical(adata.obs["group"].astype(str))
    source = tmp_path / "clustered.h5ad"
    adata.write_h5ad(source)
    out = tmp_path / "out.h5ad"
    with pytest.raises(UsageError, match="scored against themselves"):
        cluster_h5ad(source, output=out, n_clusters=3, label_key="cellmodel_cluster")
    assert not out.exists()


def test_the_summary_notes_name_flags_not_parameters(capsys):
    """The command's notes read `batch_key='auto'` and `batch_key=`, a Python caller's words,
    where the command line has --batch-key."""
    from cellmodel.cluster.batch_column import resolve_batch_key
    from cli.cluster_report import summary

    _, notes = resolve_batch_key(_cells(), "auto")
    report = {
        "n_clusters": 3, "n_cells": 90, "seconds": 1.0, "metrics": None, "merge_split": None,
        "notes": notes,
    }  # fmt: skip
    summary(report, None)
    err = capsys.readouterr().err
    assert "--batch-key 'auto'" in err and "--batch-key none" in err and "batch_key" not in err


def test_out_of_core_notes_the_cells_without_expression(tmp_path):
    """In memory, cells without any count get a note (clustered by graph only); out of core
    the same file was clustered without a word."""
    from cellmodel.chunked.cluster import cluster_h5ad

    adata = _cells()
    adata.X[:4] = 0
    source = tmp_path / "empty_cells.h5ad"
    adata.write_h5ad(source)
    record = cluster_h5ad(
        source, output=tmp_path / "o.h5ad", n_clusters=3, chunk_size=30, **FAST_FIT
    )
    assert (
        "4 cell(s) have no expression at all; they are clustered by graph only" in record["notes"]
    )


def test_a_chunk_size_of_a_few_cells_on_many_cells_is_warned_of(h5ad_file, tmp_path, monkeypatch):
    """chunk_size=1 makes a Dask task per cell in every pass: on 10^6 cells, hours of overhead
    without a word (here the line is lowered to the test file's 90 chunks)."""
    import cellmodel.chunked.limits as limits
    from cellmodel.chunked.cluster import cluster_h5ad
    from cellmodel.chunked.limits import SmallChunksWarning

    monkeypatch.setattr(limits, "MANY_CHUNKS", 50)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SmallChunksWarning)  # stops the run at the warning
        with pytest.raises(SmallChunksWarning, match="into 90 chunks"):
            cluster_h5ad(h5ad_file, output=tmp_path / "o.h5ad", n_clusters=3, chunk_size=1)


def test_the_previous_clusters_as_the_batch_are_refused():
    """batch_key='cellmodel_cluster' (a file clustered before) was corrected for: ComBat removed
    the old clusters' differences, then the column was overwritten."""
    adata = _cells()
    adata.obs["cellmodel_cluster"] = pd.Categorical(adata.obs["group"].astype(str))
    with pytest.raises(UsageError, match="holds a previous run's clusters"):
        _cluster(adata, batch_key="cellmodel_cluster")
