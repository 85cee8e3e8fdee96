"""The cellmodel command line: bad input gets one line, no traceback; outputs never clobbered."""

from __future__ import annotations

import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from tests.conftest import blobs, one_line_error
from tests.conftest import run_cellmodel as run


@pytest.fixture
def blob_file(tmp_path):
    path = tmp_path / "blobs.h5ad"
    blobs(40, dim=60, counts=True).write_h5ad(path)
    return path


def test_cluster_without_semantic_scores_after_the_run(blob_file, tmp_path):
    out = tmp_path / "out.h5ad"
    result = run(
        "cluster",
        str(blob_file),
        "--no-semantic",
        "-k",
        "3",
        "--label-key",
        "group",
        "-o",
        str(out),
        "--json",
        "--option",
        "pretrain_steps=60",
        "--option",
        "min_pretrain_steps=20",
        "--option",
        "cluster_steps=20",
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["n_clusters"] == 3 and doc["metrics"]["ari"] > 0.95
    written = ad.read_h5ad(out)
    assert written.obs["cellmodel_cluster"].dtype == "category"
    assert {"X_cellmodel", "X_structure"} <= set(written.obsm)
    assert written.uns["cellmodel"]["metrics"]["ari"] == doc["metrics"]["ari"]
    # A second run refuses to overwrite the output.
    again = run("cluster", str(blob_file), "--no-semantic", "-k", "3", "-o", str(out))
    assert "--force" in one_line_error(again)


def test_k_larger_than_cells(blob_file):
    assert "between 1 and the 120 cells" in one_line_error(
        run("cluster", str(blob_file), "--no-semantic", "-k", "500"), 2
    )


def test_missing_label_key_fails_before_the_run(blob_file):
    args = ("cluster", str(blob_file), "--no-semantic", "--label-key", "nope")
    line = one_line_error(run(*args), 2)  # a column the file lacks is bad usage, as elsewhere
    assert "--label-key 'nope' is not an obs column" in line and "group" in line


def test_one_cell_file(tmp_path):
    path = tmp_path / "one.h5ad"
    blobs(40, dim=60, counts=True)[:1].copy().write_h5ad(path)
    assert "at least 3" in one_line_error(run("cluster", str(path), "--no-semantic"))


def test_all_zero_cells(tmp_path):
    adata = blobs(40, dim=60, counts=True)
    adata.X = np.zeros_like(adata.X)
    path = tmp_path / "zeros.h5ad"
    adata.write_h5ad(path)
    line = one_line_error(run("cluster", str(path), "--no-semantic"))
    assert "zero" in line


def test_not_an_input(tmp_path):
    bogus = tmp_path / "x.h5ad"
    bogus.write_text("not hdf5")
    one_line_error(run("cluster", str(bogus), "--no-semantic"))
    assert "neither a file nor a dataset" in one_line_error(run("cluster", "no-such-dataset"))


def test_unknown_cluster_option(blob_file):
    line = one_line_error(run("cluster", str(blob_file), "--no-semantic", "--option", "nope=1"), 2)
    assert "unknown cluster option 'nope'" in line


@pytest.mark.parametrize(
    ("option", "says"),
    [
        ("kmeans_restarts=0", "kmeans_restarts must be a whole number of at least 1 (got 0)"),
        ("lr=nan", "lr must be a finite number"),
        ("dropout=2", "dropout must be in [0, 1)"),
        ("feature_noise=1e30", "feature_noise must be in [0, 10]"),
        ("layer_norm=maybe", "layer_norm='maybe' is not a bool"),
        ("positives=friends", "positives must be self or neighbour"),
    ],
)
def test_a_cluster_option_out_of_range_is_a_usage_error_before_any_work(
    blob_file, monkeypatch, option, says
):
    def boom(*args, **kwargs):
        raise AssertionError("the data was read before the options were checked")

    monkeypatch.setattr("cli.cluster_cmd.load_input", boom)
    line = one_line_error(run("cluster", str(blob_file), "--no-semantic", "--option", option), 2)
    assert says in line


@pytest.mark.parametrize("command", ["cluster", "classify", "annotate", "embed"])
@pytest.mark.parametrize("seed", ["-1", "4294967296"])
def test_a_seed_numpy_cannot_take_is_a_usage_error(blob_file, command, seed):
    line = one_line_error(run(command, str(blob_file), "--seed", seed), 2)
    assert "Invalid value for '--seed'" in line


@pytest.mark.parametrize(
    ("command", "flag"),
    [("cluster", "--plots"), ("classify", "--plots"), ("annotate", "--markdown")],
)
def test_two_outputs_at_one_path_are_refused(blob_file, tmp_path, command, flag):
    target = tmp_path / "out.h5ad"
    line = one_line_error(run(command, str(blob_file), "-o", str(target), flag, str(target)), 2)
    assert f"--output and {flag} name the same path" in line
    assert not target.exists()


def test_datasets_list_json():
    result = run("datasets", "list", "--json")
    names = {d["name"] for d in json.loads(result.stdout)["datasets"]}
    assert {"pbmc68k-reduced", "baron-human", "wu2020-200"} <= names


def test_classify_few_labels(blob_file, tmp_path):
    out = tmp_path / "pred.h5ad"
    result = run(
        "classify",
        str(blob_file),
        "--label-key",
        "group",
        "--per-class",
        "5",
        "-o",
        str(out),
        "--json",
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["scores"]["accuracy"] > 0.95
    written = ad.read_h5ad(out)
    assert "cellmodel_pred" in written.obs and "cellmodel_pred_confidence" in written.obs


def test_classify_plots_the_confusion_of_held_out_cells(blob_file, tmp_path):
    plots = tmp_path / "plots"
    args = (
        "classify",
        str(blob_file),
        "--label-key",
        "group",
        "--per-class",
        "5",
        "--no-refine",
        "--plots",
        str(plots),
        "--json",
    )
    result = run(*args)
    assert result.exit_code == 0, result.output
    target = plots / "classify_confusion.png"
    assert json.loads(result.stdout)["plots"] == [str(target)]
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    before = target.stat().st_mtime_ns
    assert "--force" in one_line_error(run(*args))
    assert target.stat().st_mtime_ns == before


def test_classify_vote_and_markers_are_recorded(blob_file):
    args = ("classify", str(blob_file), "--label-key", "group", "--per-class", "5", "--json")
    result = run(*args, "--vote", "balanced", "--markers", "3", "--no-refine")
    assert result.exit_code == 0, result.output
    params = json.loads(result.stdout)["params"]
    assert params["options"]["vote"] == "balanced"
    assert params["markers"]["n_per_class"] == 3 and params["markers"]["top"]
    plain = json.loads(run(*args, "--markers", "0", "--no-refine").stdout)["params"]
    assert plain.get("markers") is None
    assert plain["options"]["vote"] == "mass"  # --vote auto within one file
    assert "unknown vote 'most'" in one_line_error(run(*args, "--vote", "most"), 2)
    genes = run(*args, "--markers", "3", "--marker-block", "genes", "--no-refine")
    assert json.loads(genes.stdout)["params"]["markers"]["block"] == "genes"
    assert "unknown marker block" in one_line_error(run(*args, "--marker-block", "go"), 2)
    assert "blend must lie in [0, 1]" in one_line_error(run(*args, "--blend", "2"), 2)


def test_classify_reference_to_query_with_markers(tmp_path):
    reference, query = tmp_path / "ref.h5ad", tmp_path / "query.h5ad"
    blobs(40, dim=60, seed=0, counts=True).write_h5ad(reference)
    other = blobs(20, dim=60, seed=1, counts=True)
    other = other[:, ::-1].copy()  # the same genes in another order: matched by name
    other.write_h5ad(query)
    args = ("classify", str(query), "--reference", str(reference), "--label-key", "group")
    result = run(*args, "--markers", "5", "--no-refine", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["scores"]["accuracy"] == 1.0
    assert doc["params"]["markers"]["n_genes"] <= 15 and doc["params"]["n_query"] == 60
    # --vote auto: a query's class proportions are unknown, so votes count as they fall.
    assert doc["params"]["options"]["vote"] == "frequency"


def test_classify_reads_the_layer_and_gene_key_it_is_given(tmp_path):
    adata = blobs(40, dim=60, counts=True)
    adata.layers["counts"] = adata.X.copy()
    adata.X = adata.X - adata.X.mean(axis=0)  # scaled values in X: not what classify reads
    adata.var["symbol"] = [f"S{i}" for i in range(adata.n_vars)]
    adata.write_h5ad(tmp_path / "scaled.h5ad")
    args = ("classify", str(tmp_path / "scaled.h5ad"), "--label-key", "group", "--per-class",
            "5", "--no-refine", "--markers", "3", "--json")  # fmt: skip
    assert "negative values" in one_line_error(run(*args))
    result = run(*args, "--layer", "counts", "--gene-key", "symbol")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["scores"]["accuracy"] > 0.95
    assert all(g.startswith("S") for g in doc["params"]["markers"]["top"]["gene"])
    out = str(tmp_path / "out.h5ad")
    chunked = ("--view", "semantic", "--chunk-size", "10", "--reference", str(tmp_path / "x"))
    line = one_line_error(run(*args[:4], "--layer", "counts", *chunked, "-o", out), code=2)
    assert "give --layer / --gene-key to `cellmodel embed --chunk-size`" in line


def test_classify_bad_split(blob_file):
    assert "strictly between 0 and 1" in one_line_error(
        run("classify", str(blob_file), "--label-key", "group", "--train-fraction", "1.5"), 2
    )


def test_batch_key_corrects_and_bad_batch_keys_fail(tmp_path):
    rng = np.random.default_rng(1)
    groups = np.repeat(np.arange(3), 60)
    donor = np.tile(["d1", "d2"], 90)
    means = np.ones((180, 60))
    for g in range(3):
        means[groups == g, g * 20 : g * 20 + 20] = 2.0
    # A donor effect stronger than the groups on half the genes: uncorrected, it splits them.
    means[donor == "d2"] *= np.where(rng.random(60) < 0.3, 8.0, 1.0)
    data = ad.AnnData(rng.poisson(means).astype(np.float32))
    data.var_names = [f"G{i}" for i in range(60)]
    data.obs["group"] = pd.Categorical(groups.astype(str))
    data.obs["donor"] = pd.Categorical(donor)
    path = tmp_path / "donors.h5ad"
    data.write_h5ad(path)
    args = ("cluster", str(path), "--no-semantic", "-k", "3", "--label-key", "group", "--json")
    corrected = run(*args, "--batch-key", "donor")
    assert corrected.exit_code == 0, corrected.output
    report = json.loads(corrected.stdout)
    plain = json.loads(run(*args).stdout)
    assert report["batch_key"] == "donor" and plain["batch_key"] is None
    assert report["batch_choice"]["chosen"] in {"reconstruction", "link", "leiden"}
    assert plain["batch_choice"] is None
    alone = json.loads(run(*args, "--batch-key", "donor", "--no-batch-choice").stdout)
    assert alone["batch_choice"] is None and "batch_choice" not in alone["timings_s"]
    # On the encoder's 8-neighbour graph this noisy toy scores 0.934 corrected, 0.749 plain (0.966
    # and 0.824 on 15 neighbours): the correction's margin is what is checked.
    assert report["metrics"]["ari"] > 0.9 > plain["metrics"]["ari"] + 0.1, (report, plain)
    assert "not an obs column" in one_line_error(run(*args, "--batch-key", "site"), 2)
    data.obs["lonely"] = pd.Categorical(["a"] + ["b"] * (data.n_obs - 1))
    data.write_h5ad(path)
    assert "one cell" in one_line_error(run(*args, "--batch-key", "lonely"))


# The toy GeneIDs 1..60 are real human GeneIDs too, so the store grows from the bundled snapshot
# and few toy names still match: fine here, where only the control's plumbing is checked.
@pytest.mark.filterwarnings("ignore:only .* of genes matched")
def test_classify_semantic_view_with_a_control(tmp_path):
    from cellmodel.datasets.synthetic import synthetic_symbols
    from genekb.build import build
    from genekb.store.store import Store
    from tests.conftest import make_genes

    root = tmp_path / "store"
    build(Store.open(root, create=True), model="fake", gene_table=make_genes(60))
    data = blobs(40, dim=60, counts=True)
    # Real human symbols: the semantic view matches names against the bundled snapshot.
    data.var_names = synthetic_symbols(60)
    path = tmp_path / "genes.h5ad"
    data.write_h5ad(path)
    args = ("classify", str(path), "--label-key", "group", "--per-class", "5", "--json")
    result = run(*args, "--view", "semantic", "--model", "fake", "--root", str(root),
                 "--gene-vectors", "random")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["gene_vectors"] == "random"
    assert "--view semantic" in one_line_error(run(*args, "--gene-vectors", "random"), 2)
    # The fused view: PCA and semantic side by side; within one file and across two.
    out = tmp_path / "fused.h5ad"
    store = ("--model", "fake", "--root", str(root))
    result = run(*args, "--view", "fused", *store, "-o", str(out))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["gene_vectors"] == "real"
    assert ad.read_h5ad(out).obsm["X_classify"].shape[0] == data.n_obs
    query = blobs(10, dim=60, seed=1, counts=True)
    query.var_names = data.var_names
    query_path = tmp_path / "query.h5ad"
    query.write_h5ad(query_path)
    result = run("classify", str(query_path), "--reference", str(path), "--label-key", "group",
                 "--view", "fused", *store, "--no-refine", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["params"]["n_query"] == 30
    assert "choose pca, semantic or fused" in one_line_error(run(*args, "--view", "umap"), 2)


def test_align_semantic_needs_the_semantic_view(blob_file):
    line = one_line_error(
        run("cluster", str(blob_file), "--no-semantic", "--align-semantic", "-k", "3"), 2
    )
    assert "--align-semantic" in line


def test_demo_refuses_a_root_that_is_not_a_store_in_one_line(tmp_path, monkeypatch, capsys):
    """`make demo` with a store root holding other files: one error line and exit 1, no traceback,
    and the files left as they were."""
    import cli.demo as demo

    (tmp_path / "mine.txt").write_text("a user's own file\n")
    monkeypatch.setattr(demo, "ROOT", tmp_path)
    assert demo.run() == 1
    err = capsys.readouterr().err
    assert "not a genekb store" in err and "Traceback" not in err
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]


def test_thesummary_says_how_an_estimated_k_was_reached(capsys):
    from cli.cluster_report import summary

    report = {
        "n_clusters": 8, "n_cells": 700, "seconds": 6.5, "gene_match_rate": None, "metrics": {},
        "batch_choice": None, "notes": [],
        "merge_split": {"n_moves": 1, "merges": {"n_moves": 2, "moves": {}, "stopped": "x"}},
    }  # fmt: skip
    summary(report, None)
    err = capsys.readouterr().err
    assert "1 move(s) kept" in err and "k estimated: 10 Leiden communities, 2 pair(s)" in err
    report["merge_split"] = {"n_moves": 0}  # k given: no merges, no line about them
    summary(report, None)
    assert "k estimated" not in capsys.readouterr().err


@pytest.mark.parametrize("split", [["--train-fraction", "0.5"], ["--per-class", "3"]])
def test_a_split_beside_a_reference_is_refused_not_ignored(blob_file, split):
    args = ["classify", str(blob_file), "--reference", str(blob_file), "--label-key", "group"]
    line = one_line_error(run(*args, *split, "--no-refine"), 2)
    assert f"{split[0]} splits one labelled file; with a reference" in line


def test_embed_says_what_it_made_and_reports_a_low_gene_match(capsys):
    from cli.cellmodel_app import _embed_report

    record = {
        "embedding_id": "emb-1", "input": {"kind": "counts"}, "params": {}, "timings_s": {},
        "gene_match": {"match_rate": 0.108, "warnings": ["only 10.8% of genes matched"]},
    }  # fmt: skip
    _embed_report(record, None, 100, {"X_semantic_w": [100, 384]}, json_=False)
    err = capsys.readouterr().err
    # Said once, by the gene match as it happens (tests/test_hostile_cm11.py), not again here.
    assert "warning:" not in err
    assert "semantic view of 100 cells: X_semantic_w (100 × 384); 10.8% of genes matched" in err
    assert "{" not in err  # no JSON dump on stderr
    _embed_report(record, None, 100, {}, json_=True)
    report = json.loads(capsys.readouterr().out)
    assert report["warnings"] == ["only 10.8% of genes matched"]
