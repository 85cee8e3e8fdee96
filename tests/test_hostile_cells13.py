"""Hostile cells, thirteenth sweep: files as a newer anndata writes them (nullable strings),
candidate lists written into files the way users write them (an 'a;b' line, a label-and-id
table), a CSC or repeated-cell file out of core, a dense reference beside a sparse query, numeric
or prefixed gene names, files whose gzip their name misstates, and a label column named like a
gene."""

from __future__ import annotations

import gzip
import io
import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.io import mmwrite

from cellmodel.annotate.ontology import from_user
from cellmodel.classify.pipeline import classify_cells
from cellmodel.cluster.job import _read_names
from cellmodel.io import read as cm_read
from cellmodel.knowledge.genes import NoGeneNamesWarning, require_gene_names
from cellmodel.mtx import read_10x_mtx
from genekb.errors import GenekbError, UsageError
from tests.conftest import blobs, one_line_error, run_cellmodel


def test_a_file_with_nullable_strings_is_written_back(tmp_path) -> None:
    # anndata >= 0.11 writes pd.StringDtype columns when asked; such a file read fine, ran the
    # whole job, then failed writing its output: "unexpected RuntimeError: ...
    # allow_write_nullable_strings is False ...".
    cells = blobs(20, counts=True, dim=12)
    cells.obs["note"] = pd.array([f"n{i}" for i in range(cells.n_obs)], dtype="string")
    cells.obs.loc[cells.obs_names[3], "note"] = pd.NA
    cells.var["symbol"] = pd.array([f"S{i}" for i in range(cells.n_vars)], dtype="string")
    source, out = tmp_path / "cells.h5ad", tmp_path / "out.h5ad"
    with ad.settings.override(allow_write_nullable_strings=True):
        cells.write_h5ad(source)
    result = run_cellmodel(
        "classify", str(source), "--label-key", "group", "--train-fraction", "0.5",
        "--no-refine", "-o", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    back = ad.read_h5ad(out)
    assert list(back.var["symbol"]) == [f"S{i}" for i in range(cells.n_vars)]
    assert back.obs["note"].isna().sum() == 1 and back.obs["note"].iloc[0] == "n0"
    assert "cellmodel_pred" in back.obs


@pytest.mark.parametrize(
    ("lines", "says"),
    [("T cell;B cell;natural killer cell\n", "holds ';'; in a file give one label per line"),
     ("T cell;B cell\nmonocyte;natural killer cell\n", "'T cell;B cell' holds ';'"),
     ("T cell,CL:0000084\r\nB cell,CL:0000236\r\n", "holds a CL id beside other text")],
)  # fmt: skip
def test_a_candidates_file_of_list_or_table_lines_is_refused(tmp_path, lines, says) -> None:
    # The command line's 'a;b;c' written into a file was one label ("needs at least two
    # candidate labels", no word of why), or two labels 'T cell;B cell' that were scored and
    # could be called; a label-and-id table's rows were free text and their ids unread.
    candidates = tmp_path / "candidates.txt"
    candidates.write_bytes(lines.encode())
    out = tmp_path / "named.h5ad"
    cells = tmp_path / "cells.h5ad"
    blobs(10, counts=True, dim=12).write_h5ad(cells)
    line = one_line_error(
        run_cellmodel("annotate", str(cells), "--groupby", "group", "--candidates",
                      str(candidates), "-o", str(out)), 2,
    )  # fmt: skip
    assert says in line and not out.exists()


def test_an_id_alone_or_words_with_commas_stay_candidates() -> None:
    named = from_user(["CL:0000084", "CD4-positive, alpha-beta T cell", "B cell"])
    assert [c.cl_id for c in named] == ["CL:0000084", "CL:0000624", "CL:0000236"]


@pytest.mark.parametrize("flaw", ["csc", "repeated cells"])
def test_an_out_of_core_cluster_refusing_its_file_prints_the_error_alone(tmp_path, flaw) -> None:
    # A CSC matrix (as scanpy leaves X after some steps) or repeated cell names were refused
    # after "note: out of core, cluster fits the structure view only; run `cellmodel embed ...`
    # on the output": two lines, the first about an output that would never be written.
    cells = blobs(10, counts=True, dim=12)
    if flaw == "csc":
        cells.X = sp.csc_matrix(cells.X)
    else:
        cells.obs_names = ["c0"] * 2 + list(cells.obs_names[2:])
    source, out = tmp_path / "cells.h5ad", tmp_path / "out.h5ad"
    cells.write_h5ad(source)
    line = one_line_error(
        run_cellmodel("cluster", str(source), "--chunk-size", "10", "-k", "3", "-o", str(out))
    )
    assert ("stored by columns (CSC)" if flaw == "csc" else "occur more than once") in line
    assert not out.exists()


def test_a_dense_reference_transfers_to_a_sparse_query() -> None:
    # A dense reference (an .h5ad) and a sparse query (a 10x folder, or X left CSC) were
    # stacked with numpy: "unexpected ValueError: all the input array dimensions ...".
    ref, query = blobs(30, counts=True, dim=30, seed=0), blobs(15, counts=True, dim=30, seed=1)
    query.X = sp.csc_matrix(query.X)
    result = classify_cells(query, label_key="group", reference=ref, view="pca", refine_view=False)
    assert result.scores.accuracy == 1.0


@pytest.mark.parametrize(
    "names",
    [
        [str(n) for n in range(1000, 1040)],  # row numbers
        [str(n) for n in range(1, 120, 3)],  # GeneIDs, none high
    ],
)
def test_numeric_gene_names_are_not_sent_to_a_taxon_that_cannot_read_them(names) -> None:
    # The refusal said "or --taxon human|mouse if the names are genes of that species"; with
    # --taxon human the same names were refused again: numbers read as GeneIDs by their values.
    # cluster's warning, that it ran on the expression alone, said "pass taxon=human|mouse" too.
    for taxon in (None, "human"):
        with pytest.raises(UsageError) as refused:
            require_gene_names(names, taxon, "annotate")
        assert "taxon" not in str(refused.value) and "gene_key=COLUMN" in str(refused.value)
        with pytest.warns(NoGeneNamesWarning) as said:
            _read_names(names, taxon, "minilm", use_semantic=True, align_semantic=False)
        assert "taxon" not in str(said[0].message) and "gene_key=COLUMN" in str(said[0].message)


def test_cluster_gives_the_way_out_its_names_need() -> None:
    # Genome-prefixed names (a two-species reference) were told to pass taxon= and gene_key=,
    # neither of which matches them; the annotate refusal already said to strip the prefix.
    names = [f"GRCh38_CD{i}" for i in range(2, 40)]
    with pytest.warns(NoGeneNamesWarning, match="strip the prefix") as said:
        _read_names(names, None, "minilm", use_semantic=True, align_semantic=False)
    assert "taxon=" not in str(said[0].message)


@pytest.mark.parametrize(
    "command",
    [["embed", "--model", "fake"],
     ["annotate", "--model", "fake", "--groupby", "group", "--candidates", "T cell;B cell"]],
)  # fmt: skip
def test_repeated_cell_names_are_refused_out_of_core_by_every_command(tmp_path, command) -> None:
    # In memory, and by cluster out of core, they are refused; embed and annotate out of core
    # ran and wrote an output whose cells the next step refuses.
    cells = blobs(10, counts=True, dim=12)
    cells.obs_names = ["c0"] * 2 + list(cells.obs_names[2:])
    source, out = tmp_path / "cells.h5ad", tmp_path / "out.h5ad"
    cells.write_h5ad(source)
    result = run_cellmodel(
        command[0], str(source), *command[1:], "--root", str(tmp_path / "store"),
        "--chunk-size", "10", "-o", str(out),
    )  # fmt: skip
    assert "cell names occur more than once (e.g. c0)" in one_line_error(result)
    assert not out.exists()


def test_a_10x_file_is_read_by_its_bytes_not_its_gz_name(tmp_path) -> None:
    # A browser or download tool that decompresses on the fly keeps "features.tsv.gz" on plain
    # text ("cannot read ... (Not a gzipped file (b'EN')); copy it again"), and one that saves
    # the stream as sent leaves gzip under "matrix.mtx" ("is not a MatrixMarket file").
    counts = np.random.default_rng(0).poisson(2.0, (30, 12)).astype(np.float32)
    folder = tmp_path / "tenx"
    folder.mkdir()
    text = io.BytesIO()
    mmwrite(text, sp.coo_matrix(counts))
    (folder / "matrix.mtx").write_bytes(gzip.compress(text.getvalue()))
    (folder / "features.tsv.gz").write_text(
        "".join(f"ENSG{i:011d}\tG{i}\tGene Expression\n" for i in range(30))
    )
    (folder / "barcodes.tsv").write_bytes(gzip.compress(b"".join(b"c%d\n" % j for j in range(12))))
    adata = read_10x_mtx(folder)
    assert adata.shape == (12, 30) and list(adata.obs_names[:2]) == ["c0", "c1"]
    assert np.array_equal(adata.X.toarray(), counts.T)
    cut = tmp_path / "cut"  # a real gzip stream cut short is still named as damaged
    cut.mkdir()
    for name in ("features.tsv.gz", "barcodes.tsv"):
        (cut / name).write_bytes((folder / name).read_bytes())
    (cut / "matrix.mtx.gz").write_bytes(gzip.compress(text.getvalue())[:40])
    with pytest.raises(GenekbError, match=r"matrix\.mtx\.gz cannot be read"):
        read_10x_mtx(cut)


@pytest.mark.parametrize("name", ["cells.csv", "cells.csv.gz"])
def test_a_table_is_read_as_gzip_by_its_bytes_not_its_name(tmp_path, name) -> None:
    # Plain text under .csv.gz was "Not a gzipped file (b',G'); its first line must be the
    # header"; gzip under .csv was "not UTF-8 text: invalid start byte".
    text = "cell,G0,G1\n" + "".join(f"c{i},{i % 3},{i % 5}\n" for i in range(6))
    path = tmp_path / name
    path.write_bytes(text.encode() if name.endswith(".gz") else gzip.compress(text.encode()))
    adata = cm_read(path)
    assert adata.shape == (6, 2) and list(adata.var_names) == ["G0", "G1"]


def test_a_workbook_saved_as_csv_is_named_as_one(tmp_path) -> None:
    # was "cannot read table cells.csv (not UTF-8 text: invalid start byte)"
    path = tmp_path / "cells.csv"
    path.write_bytes(b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\xff\xfe")
    with pytest.raises(GenekbError, match=r"is a zip archive \(an Excel .xlsx is one\)"):
        cm_read(path)


def test_a_colour_naming_a_column_and_a_gene_says_which_it_drew(tmp_path) -> None:
    # A label column named like a gene ("CD4" for CD4+ or not) was drawn in the gene's place
    # without a word; scanpy refuses such a key. The command line names a column by flag, so
    # its --plots say nothing.
    import matplotlib

    matplotlib.use("Agg")
    from cellmodel.pl.embedding import AmbiguousColorWarning, umap
    from cli.cluster_cmd import _plots

    cells = blobs(10, counts=True, dim=12)
    cells.obsm["X_cellmodel"] = np.asarray(cells.X)
    cells.obs["cellmodel_cluster"] = cells.obs["group"]
    cells.obs["G1"] = cells.obs["group"]
    with pytest.warns(AmbiguousColorWarning, match=r"color='G1' names an obs column and a gene"):
        umap(cells, ["G1", "G2"], show=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", AmbiguousColorWarning)
        _plots(cells, tmp_path / "plots", "G1", force=False, seed=0)
