"""Hostile inputs, CLI contract (11): options that cannot act are refused, cheap refusals come
before the expensive work, the out-of-core classify warns of unseen classes, gene-vector tables
without information are refused, and matrix layouts the readers do not take are named."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest

from tests.conftest import one_line_error, run_cellmodel, run_genekb
from tests.fakes import FakeEmbedding

# --- the out-of-core classify warns of classes its reference cannot predict -----------------


def test_chunked_classify_warns_of_unseen_classes(tmp_path):
    pytest.importorskip("dask")
    from cellmodel.chunked import embed_h5ad
    from cellmodel.chunked.classify import classify_h5ad
    from cellmodel.classify.labels import UnseenClassesWarning
    from cellmodel.datasets.synthetic import write_synthetic_h5ad

    counts = write_synthetic_h5ad(tmp_path / "cells.h5ad", 400, n_genes=120, seed=1)
    genes = list(ad.read_h5ad(counts, backed="r").var_names)
    ev = FakeEmbedding(tmp_path, genes, dim=16)
    query = tmp_path / "query.h5ad"
    embed_h5ad(counts, ev, output=query, chunk_size=150, n_hvg=60)
    whole = ad.read_h5ad(counts)
    missing = sorted(whole.obs["group"].astype(str).unique())[0]
    reference = whole[whole.obs["group"].astype(str) != missing].copy()  # lacks one class
    with pytest.warns(UnseenClassesWarning, match=f"cannot be predicted: {missing}"):
        record = classify_h5ad(
            query, reference, output=tmp_path / "pred.h5ad", reference_label_key="group",
            label_key="group", store=ev, chunk_size=150, workers=1,
        )  # fmt: skip
    assert record["notes"] and missing in record["notes"][0]


# --- gene-vector tables that cannot tell genes apart ----------------------------------------


@pytest.mark.parametrize(
    ("table", "said"),
    [
        ("gene,d0,d1\nCD3E,0.5,0.2\nCD4,0.5,0.2\nCD8A,0.5,0.2\n", "are the same vector"),
        ("gene,d0,d1\nCD3E,1,2\nCD4,2,4\nCD8A,0,0\nMS4A1,3,6\n", "one direction, scaled"),
        ("gene,d0\nCD3E,0.5\nCD4,0.2\nCD8A,0.9\n", "one direction, scaled"),
    ],
)
def test_vectors_without_information_are_refused(tmp_path, table, said):
    # Each imported silently: a version whose every similarity ties (or is only +1 / -1).
    (tmp_path / "v.csv").write_text(table)
    store = tmp_path / "s"
    result = run_genekb("import-vectors", str(tmp_path / "v.csv"), "-m", "x", "--root", str(store))
    line = one_line_error(result)
    assert said in line and "v.csv" in line
    assert not (store / "embeddings").exists() or not any((store / "embeddings").iterdir())


def test_one_dimensional_vectors_are_imported_with_a_warning(tmp_path):
    (tmp_path / "v.csv").write_text("gene,d0\nCD3E,0.5\nCD4,-0.2\nCD8A,0.9\n")
    args = ["import-vectors", str(tmp_path / "v.csv"), "-m", "x", "--root", str(tmp_path / "s")]
    result = run_genekb(*args, "--json")
    assert result.exit_code == 0, result.output
    assert "warning:" in result.stderr and "1 dimension" in result.stderr


# --- kallisto|bustools velocity folders and alevin's binary matrix ---------------------------


def _kb_layer(folder, stem, counts, barcodes, genes, shared=False):
    import scipy.io
    import scipy.sparse as sp

    folder.mkdir(exist_ok=True)
    scipy.io.mmwrite(folder / f"{stem}.mtx", sp.csr_matrix(counts))
    names = "cells_x_genes" if shared else stem
    (folder / f"{names}.barcodes.txt").write_text("\n".join(barcodes) + "\n")
    (folder / f"{names}.genes.txt").write_text("\n".join(genes) + "\n")


GENES = [f"ENSG{i:011d}" for i in range(4)]


def test_kb_velocity_folder_reads_as_the_layers_summed(tmp_path):
    # Was "not a 10x matrix folder: missing matrix.mtx, ...": kb's own velocity output unread.
    from cellmodel.io import read
    from cellmodel.mtx_layouts import VelocityLayersWarning

    rng = np.random.default_rng(0)
    spliced, unspliced = rng.poisson(3, (3, 4)), rng.poisson(2, (2, 4))
    folder = tmp_path / "counts_unfiltered"
    _kb_layer(folder, "spliced", spliced, ["A", "B", "C"], GENES)
    _kb_layer(folder, "unspliced", unspliced, ["C", "D"], GENES)  # its own cells, kb writes so
    with pytest.warns(VelocityLayersWarning, match="spliced \\+ unspliced"):
        adata = read(folder)
    assert list(adata.obs_names) == ["A", "B", "C", "D"] and list(adata.var_names) == GENES
    expected = np.vstack([spliced[:2], spliced[2] + unspliced[0], unspliced[1]])
    assert np.array_equal(adata.X.toarray(), expected)
    with pytest.warns(VelocityLayersWarning, match="the spliced counts only"):
        one = read(folder / "spliced.mtx")
    assert np.array_equal(one.X.toarray(), spliced)
    line = one_line_error(run_cellmodel("cluster", str(tmp_path), "--no-semantic"))
    assert f"holds a matrix folder, not a matrix: pass {folder}" in line  # kb's output folder


def test_kb_nac_folder_sums_its_layers_over_the_shared_names(tmp_path):
    from cellmodel.io import read
    from cellmodel.mtx_layouts import VelocityLayersWarning

    layers = {name: np.full((2, 4), i + 1) for i, name in enumerate(["mature", "nascent"])}
    for name, counts in layers.items():
        _kb_layer(tmp_path / "kb", f"cells_x_genes.{name}", counts, ["A", "B"], GENES, True)
    with pytest.warns(VelocityLayersWarning, match="mature \\+ nascent"):
        adata = read(tmp_path / "kb")
    assert np.array_equal(adata.X.toarray(), np.full((2, 4), 3))


def test_kb_velocity_layers_over_other_genes_are_refused(tmp_path):
    folder = tmp_path / "kb"
    _kb_layer(folder, "spliced", np.ones((2, 4)), ["A", "B"], GENES)
    _kb_layer(folder, "unspliced", np.ones((2, 4)), ["A", "B"], GENES[::-1])
    line = one_line_error(run_cellmodel("cluster", str(folder), "--no-semantic"))
    assert "unspliced.mtx" in line and "genes differ" in line


@pytest.mark.parametrize("given", ["alevin", "alevin/quants_mat.gz"])
def test_alevin_binary_matrix_is_named_and_the_way_out_given(tmp_path, given):
    # Was "not a 10x matrix folder: missing matrix.mtx ..." or "cannot read ...: expected".
    import gzip

    folder = tmp_path / "alevin"
    folder.mkdir()
    (folder / "quants_mat.gz").write_bytes(gzip.compress(np.ones(8).tobytes()))
    (folder / "quants_mat_rows.txt").write_text("A\nB\n")
    (folder / "quants_mat_cols.txt").write_text("G1\nG2\nG3\nG4\n")
    line = one_line_error(run_cellmodel("cluster", str(tmp_path / given), "--no-semantic"))
    assert "alevin's binary matrix" in line and "--dumpMtx" in line


# --- options that cannot act in the run's mode are usage errors -------------------------------


@pytest.fixture
def cells(tmp_path):
    from tests.conftest import blobs

    data = blobs(40, dim=30, counts=True)
    data.var_names = [f"feature{i}" for i in range(data.n_vars)]
    path = tmp_path / "cells.h5ad"
    data.write_h5ad(path)
    return str(path)


@pytest.mark.parametrize(
    ("extra", "named", "off"),
    [
        (["--no-semantic", "--model", "minilm-int8"], "--model", "--no-semantic"),
        (
            ["--no-semantic", "--all-genes", "--no-build"],
            "--no-build, --all-genes",
            "--no-semantic",
        ),
        (["--no-semantic", "--gene-vectors", "random"], "--gene-vectors", "--no-semantic"),
        (["--no-semantic", "--taxon", "human"], "--taxon", "--no-semantic"),
        (
            ["--no-semantic", "--refine", "cell-gene", "--option", "conv=sage"],
            "--option",
            "--refine",
        ),
        (["--chunk-size", "10", "-o", "OUT", "--gene-key", "x"], "--gene-key", "--chunk-size"),
        (["--chunk-size", "10", "-o", "OUT", "--model", "minilm-int8"], "--model", "--chunk-size"),
    ],
)
def test_cluster_refuses_options_its_mode_drops(cells, tmp_path, monkeypatch, extra, named, off):
    # Each was accepted and dropped without a word: the run went on as if not given.
    import cellmodel.cluster.job as job

    monkeypatch.setattr(job, "_run", _never)  # refused before any fit
    extra = [str(tmp_path / "out.h5ad") if e == "OUT" else e for e in extra]
    line = one_line_error(run_cellmodel("cluster", cells, *extra), 2)
    assert f"{named} act" in line and off in line


def test_knowledge_gene_graph_keeps_model_and_taxon_without_the_semantic_view(cells):
    # --model and --taxon still pick the knowledge gene graph's vectors: not refused (the run
    # then stops on the unnamed genes, past the option checks).
    args = ["--no-semantic", "--refine", "cell-gene", "--gene-graph", "knowledge"]
    line = one_line_error(run_cellmodel("cluster", cells, *args, "--taxon", "human", "-k", "3"))
    assert "act on" not in line


# An out-of-core transfer of the semantic view (REF and OUT filled in by the test).
CHUNKED_TRANSFER = ["--reference", "REF", "--view", "semantic", "--chunk-size", "5", "-o", "OUT"]


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (
            ["--label-key", "group", "--train-fraction", "0.5", "--no-refine", "--blend", "0.2"],
            "--blend",
        ),
        (
            [
                "--label-key",
                "group",
                "--train-fraction",
                "0.5",
                "--markers",
                "0",
                "--marker-block",
                "genes",
            ],
            "--marker-block",
        ),
        (["--label-key", "group", "--train-fraction", "0.5", "--model", "minilm-int8"], "--model"),
        (["--reference", "REF", "--small-classes", "cap"], "--small-classes"),
        ([*CHUNKED_TRANSFER, "--markers", "3"], "--markers"),
        ([*CHUNKED_TRANSFER, "--per-class", "3"], "--per-class"),
    ],
)
def test_classify_refuses_options_its_mode_drops(cells, tmp_path, monkeypatch, extra, named):
    import cli.classify_cmd as cmd

    monkeypatch.setattr(cmd, "load_input", _never)  # refused before any data is read
    swap = {"REF": cells, "OUT": str(tmp_path / "out.h5ad")}
    line = one_line_error(run_cellmodel("classify", cells, *[swap.get(e, e) for e in extra]), 2)
    assert f"{named} acts on" in line


def test_annotate_refuses_a_seed_nothing_draws_from(cells, monkeypatch):
    import cli.cellmodel_args as args

    monkeypatch.setattr(args, "load_input", _never)
    line = one_line_error(run_cellmodel("annotate", cells, "--seed", "3"), 2)
    assert "--seed acts on the seeded controls" in line


def test_bench_out_of_core_refuses_the_options_of_the_method_runs(tmp_path, monkeypatch):
    import cellmodel.bench.outofcore as outofcore

    monkeypatch.setattr(outofcore, "run_scale", _never)
    base = ["bench", "--scale", "1000", "--out-of-core", "--out", str(tmp_path / "b")]
    line = one_line_error(run_cellmodel(*base, "--methods", "pca-kmeans", "--seeds", "2"), 2)
    assert "--methods, --seeds act on" in line and "--out-of-core" in line


def _never(*args, **kwargs):
    raise AssertionError("reached the expensive step before the refusal")


# --- cheap refusals come before the load, the fit and the embedding -------------------------


@pytest.mark.parametrize(
    ("command", "patch", "said"),
    [
        (
            ["cluster", "--no-semantic", "--label-key", "nope"],
            "cli.cluster_cmd.load_input",
            "--label-key 'nope'",
        ),
        (
            ["cluster", "--no-semantic", "--batch-key", "nope"],
            "cli.cluster_cmd.load_input",
            "--batch-key 'nope'",
        ),
        (
            ["classify", "--label-key", "nope", "--train-fraction", "0.5"],
            "cli.classify_cmd.load_input",
            "--label-key 'nope'",
        ),
        (
            ["classify", "--label-key", "group", "--train-mask", "nope"],
            "cli.classify_cmd.load_input",
            "--train-mask 'nope'",
        ),
        (
            ["classify", "--reference", "SELF", "--label-key", "nope"],
            "cli.classify_cmd.load_input",
            "of the reference",
        ),
        (["annotate", "--groupby", "nope"], "cli.cellmodel_args.load_input", "--groupby 'nope'"),
        (["explain", "--cluster-key", "nope"], "cellmodel.io.read", "--cluster-key 'nope'"),
    ],
)
def test_a_missing_obs_column_is_refused_before_the_data_is_read(
    cells, monkeypatch, command, patch, said
):
    # Each was refused only after the whole file was read (annotate after its progress line).
    monkeypatch.setattr(patch, _never)
    name, *rest = command
    result = run_cellmodel(name, cells, *[cells if r == "SELF" else r for r in rest])
    line = one_line_error(result, 2)
    assert said in line and "not an obs column" in line


@pytest.mark.parametrize(
    "command",
    [
        ["cluster", "-k", "3", "--model", "human/nope/x"],
        [
            "classify",
            "--label-key",
            "group",
            "--train-fraction",
            "0.5",
            "--view",
            "semantic",
            "--model",
            "human/nope/x",
        ],
        ["annotate", "--model", "human/nope/x"],
        ["embed", "--model", "human/nope/x"],
    ],
)
def test_a_store_version_missing_is_refused_before_the_data_is_read(tmp_path, monkeypatch, command):
    # Was refused once the run reached the semantic view: after the load and the PCA.
    from cellmodel.datasets.synthetic import write_synthetic_h5ad

    source = write_synthetic_h5ad(tmp_path / "syn.h5ad", 60, n_genes=40, seed=0)  # named genes
    for patch in (
        "cli.cluster_cmd.load_input",
        "cli.classify_cmd.load_input",
        "cli.cellmodel_args.load_input",
        "cli.cellmodel_app.load_input",
    ):
        monkeypatch.setattr(patch, _never)
    name, *rest = command
    result = run_cellmodel(name, str(source), *rest, "--root", str(tmp_path / "store"))
    line = one_line_error(result, 2)
    assert "'human/nope/x' is neither an encoder nor a tag" in line
    assert not (tmp_path / "store").exists()  # nothing written for the refusal


def test_a_build_whose_tag_would_not_move_is_refused_before_embedding(tmp_path, monkeypatch):
    # Was refused at the end ("built emb-..., but tag ... points at ..."), after the embedding.
    import sys

    from genekb.build import build
    from genekb.errors import GenekbError
    from genekb.store.store import Store
    from tests.conftest import make_genes

    store = Store.open(tmp_path / "s", create=True)
    build(store, model="fake", gene_table=make_genes())
    monkeypatch.setattr(sys.modules["genekb.build"], "ensure_text_version", _never)
    with pytest.raises(
        GenekbError, match=r"holds 37 gene\(s\) this build lacks.*nothing was built"
    ):
        build(store, model="fake", gene_table=make_genes(), genes=["GENE1", "GENE2", "GENE3"])


def test_classify_plots_without_the_querys_labels_is_refused_first(cells, tmp_path, monkeypatch):
    # With a --reference and no labels in the query, --plots drew nothing, without a word.
    import cli.classify_cmd as cmd

    monkeypatch.setattr(cmd, "load_input", _never)
    plots = ["--plots", str(tmp_path / "plots")]
    line = one_line_error(run_cellmodel("classify", cells, "--reference", cells, *plots), 2)
    assert "--plots draws the confusion matrix of the query's own labels" in line
    query = tmp_path / "query.h5ad"
    unlabelled = ad.read_h5ad(cells)
    unlabelled.obs = unlabelled.obs.rename(columns={"group": "other"})
    unlabelled.write_h5ad(query)
    args = ["classify", str(query), "--reference", cells, "--label-key", "group", *plots]
    line = one_line_error(run_cellmodel(*args), 2)
    assert "whose labels --plots draws" in line


def test_embed_refuses_a_seed_without_a_control(cells, monkeypatch):
    import cli.cellmodel_app as app

    monkeypatch.setattr(app, "load_input", _never)
    line = one_line_error(run_cellmodel("embed", cells, "--seed", "4"), 2)
    assert "--seed acts on the controls" in line and "--gene-vectors" in line
