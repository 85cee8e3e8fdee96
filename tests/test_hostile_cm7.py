"""Hostile input to `cellmodel embed`, `explain`, `annotate` and `bench` (the seventh sweep):
each refused in one line that says what is wrong and what to do, in the command line's terms."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from cellmodel.annotate.ontology import from_ontology, parse_candidates
from cellmodel.bench.data import synthetic_counts
from cellmodel.chunked.stats import chunk_stats, seurat_hvg
from cli.common import as_flags
from genekb.errors import GenekbError, UsageError
from tests.conftest import one_line_error, run_cellmodel


def _identical_cells(n_cells: int) -> ad.AnnData:
    """Cells that are copies of one synthetic cell: no gene varies over them."""
    adata = synthetic_counts(60, n_genes=300)
    X = adata.X.toarray() if hasattr(adata.X, "toarray") else np.asarray(adata.X)
    row = X.sum(axis=0, keepdims=True) + 1  # every gene expressed
    same = ad.AnnData(X=np.repeat(row, n_cells, axis=0).astype(np.float32), var=adata.var.copy())
    same.obs_names = [f"c{i}" for i in range(n_cells)]
    return same


def test_seurat_hvg_of_cells_alike_picks_no_gene():
    X = np.log1p(_identical_cells(3).X)
    mask = seurat_hvg(chunk_stats(X, X), 10, np.ones(X.shape[1], dtype=bool))
    assert not mask.any()  # was IndexError: every dispersion is undefined


def test_embed_of_one_cell_says_why_in_memory_and_out_of_core(tmp_path):
    source = tmp_path / "one.h5ad"
    _identical_cells(1).write_h5ad(source)
    root = str(tmp_path / "store")
    for chunked in ([], ["--chunk-size", "5"]):
        out = tmp_path / "out.h5ad"
        result = run_cellmodel(
            "embed", str(source), "-o", str(out), "--model", "fake", "--root", root, *chunked
        )
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output
        errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
        assert len(errors) == 1, result.stderr  # out of core was "unexpected IndexError"
        assert "varies over the cells" in errors[0] and "several cells" in errors[0]
        assert not out.exists()


def test_an_all_zero_matrix_names_the_layer_flag_once(tmp_path):
    adata = synthetic_counts(40, n_genes=60)
    adata.X = np.zeros(adata.shape, np.float32)
    source = tmp_path / "zeros.h5ad"
    adata.write_h5ad(source)
    for chunked in ([], ["--chunk-size", "10"]):
        result = run_cellmodel("embed", str(source), "-o", str(tmp_path / "o.h5ad"), *chunked)
        line = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")][-1]
        assert result.exit_code == 1 and "holds only zeros" in line
        assert line.count("--layer") == 1, line  # was "with --layer (--layer)"


def test_embed_warns_of_few_matched_genes_in_flags(tmp_path):
    adata = synthetic_counts(60, n_genes=200)
    names = list(adata.var_names)
    adata.var_names = names[:70] + [f"NOTAGENE{i}" for i in range(130)]  # a third match
    source = tmp_path / "few.h5ad"
    adata.write_h5ad(source)
    out = tmp_path / "out.h5ad"
    root = str(tmp_path / "store")
    result = run_cellmodel("embed", str(source), "-o", str(out), "--model", "fake", "--root", root)
    assert result.exit_code == 0, result.output
    warning = next(ln for ln in result.stderr.splitlines() if "genes matched" in ln)
    assert "--taxon" in warning and "--gene-key" in warning, warning  # was "taxon= and gene_key="
    assert "taxon=" not in warning


def test_empty_candidates_are_refused_not_read_as_the_working_directory():
    for spec in ("", "  "):
        with pytest.raises(UsageError, match="candidates= is empty"):
            parse_candidates(spec)  # was "candidates file . is a directory"
    assert as_flags("candidates= is empty") == "--candidates is empty"


def test_an_ontology_restriction_names_what_was_given_in_flags():
    with pytest.raises(UsageError, match="tissue= is blank"):
        from_ontology(tissue=" ")  # a blank word matched every term
    with pytest.raises(UsageError, match="ontology_subtree= is blank"):
        from_ontology(subtree="")
    with pytest.raises(UsageError) as caught:
        from_ontology(tissue="xyzzyq")
    line = as_flags(str(caught.value))  # was "(subtree=None, tissue='xyzzyq')" on the command line
    assert "(--tissue 'xyzzyq') leaves 0 term(s)" in line and "subtree" not in line


def test_explain_with_a_wrong_cluster_key_lists_the_columns(tmp_path):
    adata = synthetic_counts(40, n_genes=30)
    source = tmp_path / "cells.h5ad"
    adata.write_h5ad(source)
    line = one_line_error(run_cellmodel("explain", str(source), "--cluster-key", "nope"), 2)
    assert "--cluster-key 'nope' is not an obs column; choose from: group" in line
    line = one_line_error(run_cellmodel("explain", str(source)))
    assert "cellmodel cluster" in line and "--cluster-key (columns: group)" in line


@pytest.mark.parametrize(
    ("batches", "says"),
    [
        (["a"] * 40, "batch key 'plate' has a single value"),
        (["a"] * 20 + ["b"] * 19 + ["c"], "batch 'c' of 'plate' holds one cell"),
    ],
)
def test_bench_refuses_a_batch_column_before_any_run(tmp_path, batches, says):
    adata = synthetic_counts(40, n_genes=30)
    adata.obs["plate"] = batches
    source = tmp_path / "cells.h5ad"
    adata.write_h5ad(source)
    out = tmp_path / "out"
    result = run_cellmodel(
        "bench", "--datasets", str(source), "--label-key", "group", "--batch-key", "plate",
        "--methods", "pca-kmeans", "--seeds", "1", "--out", str(out), "--json",
    )  # fmt: skip
    line = one_line_error(result)  # was: each run started and failed, naming the column 'batch'
    assert says in line and "leave out --batch-key for no correction" in line, line
    assert not out.exists() and result.stdout == ""


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["annotate", "--gene-vectors", "bogus"], "unknown --gene-vectors 'bogus'; choose one of"),
        (["annotate", "--across-groups", "x"], "unknown --across-groups 'x'; choose one of"),
        (["classify", "--small-classes", "x"], "unknown --small-classes 'x'; choose one of"),
    ],
)
def test_a_refused_choice_names_the_flag_not_the_parameter(tmp_path, args, says):
    adata = synthetic_counts(40, n_genes=30)
    source = tmp_path / "cells.h5ad"
    adata.write_h5ad(source)
    classify = ["--label-key", "group", "--train-fraction", "0.5"]
    split = classify if args[0] == "classify" else ["--groupby", "group"]
    line = one_line_error(run_cellmodel(args[0], str(source), *split, *args[1:]), 2)
    assert says in line, line  # was "unknown gene_vectors 'bogus'" (Python's spelling)


@pytest.mark.parametrize(
    ("spoil", "says"),
    [
        (lambda X: X.__setitem__((3, 2), np.nan), "contains NaN or infinite values"),
        (lambda X: X.__setitem__((3, 2), np.inf), "contains NaN or infinite values"),
        (lambda X: X.__imul__(0), "holds only zeros"),
    ],
)
def test_chunked_annotate_refuses_what_the_in_memory_run_refuses(tmp_path, spoil, says):
    from cellmodel.chunked.annotate import annotate_h5ad
    from genekb.store.store import Store
    from tests.test_annotate import ALPHA, BETA, _islets

    data = _islets()
    X = np.asarray(data.X.toarray() if hasattr(data.X, "toarray") else data.X, np.float32)
    spoil(X)
    data.X = X
    path, out = tmp_path / "islets.h5ad", tmp_path / "out.h5ad"
    data.write_h5ad(path)
    store = Store.open(tmp_path / "store", create=True)
    with pytest.raises(GenekbError, match=says):  # was named and written, NaN and all
        annotate_h5ad(path, store, output=out, groupby="kind", candidates=[BETA, ALPHA],
                      chunk_size=7, workers=1)  # fmt: skip
    assert not out.exists()


def test_chunked_classify_refusing_its_query_prints_the_error_line_alone(tmp_path):
    adata = synthetic_counts(40, n_genes=30)
    query, reference = tmp_path / "query.h5ad", tmp_path / "ref.h5ad"
    adata.write_h5ad(query)  # no obsm X_semantic_w: refused
    adata.write_h5ad(reference)
    out = tmp_path / "out.h5ad"
    result = run_cellmodel(
        "classify", str(query), "--reference", str(reference), "--label-key", "group",
        "--view", "semantic", "--chunk-size", "10", "-o", str(out),
        "--root", str(tmp_path / "store"),
    )  # fmt: skip
    line = one_line_error(result)  # was preceded by the "chunked: the unrefined kNN ..." notice
    assert "has no obsm['X_semantic_w']" in line and not out.exists()


def test_classify_refuses_an_unknown_device_without_refinement(tmp_path):
    adata = synthetic_counts(40, n_genes=30)
    source = tmp_path / "cells.h5ad"
    adata.write_h5ad(source)
    args = ["classify", str(source), "--label-key", "group", "--train-fraction", "0.5"]
    args += ["--small-classes", "cap", "--no-refine"]
    assert run_cellmodel(*args, "--device", "cpu").exit_code == 0
    line = one_line_error(run_cellmodel(*args, "--device", "tpu"), 2)
    assert "unknown device 'tpu'" in line  # was accepted: no refinement needed a device


def test_force_does_not_let_an_output_replace_an_input_of_another_kind(tmp_path):
    adata = synthetic_counts(40, n_genes=30)
    cells, reference = tmp_path / "cells.h5ad", tmp_path / "ref.h5ad"
    adata.write_h5ad(cells)
    adata.write_h5ad(reference)
    before = cells.read_bytes(), reference.read_bytes()
    line = one_line_error(
        run_cellmodel("annotate", str(cells), "--groupby", "group", "--markdown", str(cells),
                      "--force"), 2,
    )  # fmt: skip
    assert "--markdown" in line and "is the input file" in line  # was replaced by the report
    args = ["classify", str(cells), "--reference", str(reference), "--label-key", "group"]
    line = one_line_error(run_cellmodel(*args, "-o", str(reference), "--force"), 2)
    assert "is the --reference file" in line  # was replaced by the query's predictions
    assert (cells.read_bytes(), reference.read_bytes()) == before


def test_bench_on_a_file_without_cells_says_so(tmp_path):
    source = tmp_path / "empty.h5ad"
    synthetic_counts(40, n_genes=30)[:0].copy().write_h5ad(source)
    result = run_cellmodel(
        "bench", "--datasets", str(source), "--label-key", "group", "--methods", "pca-kmeans",
        "--seeds", "1", "--out", str(tmp_path / "out"),
    )  # fmt: skip
    line = one_line_error(result)
    assert "holds no cells" in line  # was "label key 'group' holds no labels (every value ...)"


def test_explain_of_a_file_never_clustered_does_not_claim_it_was(tmp_path):
    source = tmp_path / "cells.h5ad"
    synthetic_counts(40, n_genes=30).write_h5ad(source)
    result = run_cellmodel("explain", str(source), "--cluster-key", "group", "--top", "2")
    assert result.exit_code == 0, result.output
    assert "neither clustered nor embedded by cellmodel" in result.stderr  # it said "clustered"


def test_bench_progress_lines_name_flags(tmp_path, monkeypatch):
    from cellmodel import bench

    table = tmp_path / "bench.md"
    table.write_text("| table |\n")

    def fake_run_bench(config, log):  # a run failing as a dataset with repeated genes does
        log("[1/1] x × pca-kmeans: FAILED (GenekbError: ... or choose another gene_key=)")
        return {"files": {"markdown": str(table)}, "failures": []}

    monkeypatch.setattr(bench, "run_bench", fake_run_bench)
    args = ["--datasets", "synthetic-30", "--methods", "pca-kmeans", "--seeds", "1"]
    result = run_cellmodel("bench", *args, "--out", str(tmp_path / "out"), "--no-warm")
    assert result.exit_code == 0, result.output
    assert "choose another --gene-key)" in result.stderr  # was "gene_key=" in the progress line


def test_a_batch_column_with_missing_values_is_refused():
    from cellmodel.cluster.batch_column import batch_values

    adata = synthetic_counts(40, n_genes=30)
    adata.obs["plate"] = pd.Categorical(["a"] * 15 + ["b"] * 15 + [np.nan] * 10)
    with pytest.raises(GenekbError, match="'plate' has no value for 10 of 40 cells"):
        batch_values(adata, "plate")  # was a batch named 'nan' of those ten cells


def test_grouping_by_an_output_column_names_the_flag(tmp_path):
    adata = synthetic_counts(40, n_genes=30)
    adata.obs["cellmodel_annotation"] = adata.obs["group"]
    source = tmp_path / "cells.h5ad"
    adata.write_h5ad(source)
    result = run_cellmodel("annotate", str(source), "--groupby", "cellmodel_annotation")
    line = one_line_error(result, 2)  # was "groupby 'cellmodel_annotation' is a column ..."
    assert "--groupby 'cellmodel_annotation' is a column annotate writes" in line


def test_names_that_are_no_genes_do_not_send_a_user_who_gave_taxon_back_to_it():
    from cellmodel.knowledge.genes import require_gene_names

    rows = [str(i) for i in range(300)]  # row numbers, whatever the species
    with pytest.raises(UsageError) as caught:
        require_gene_names(rows, "human", "annotate")
    assert "gene_key=COLUMN" in str(caught.value) and "taxon=" not in str(caught.value)
    with pytest.raises(UsageError) as caught:  # numbers read by value, whatever taxon= says
        require_gene_names(rows, None, "annotate")
    assert "taxon=" not in str(caught.value)
    with pytest.raises(UsageError, match=r"or taxon=human\|mouse"):
        require_gene_names(["acss1", "gad1"], None, "annotate")  # not given: still a way out
