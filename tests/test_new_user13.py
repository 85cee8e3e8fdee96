"""A notebook user's loose ends (h13): annotate's `key_added`, warnings that point at the
user's line, early refusals of `-k` for every format that tells its cell count cheaply,
unlabelled values read from a user's file, and Seurat / Matilda files given by path."""

from __future__ import annotations

import json
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from tests.conftest import one_line_error
from tests.conftest import run_cellmodel as run
from tests.test_annotate import ALPHA, BETA, DELTA, _islets, _planted, _TextEncoder

CANDS = [BETA, ALPHA, DELTA]
FAST = dict(n_markers=5, top_k=2, n_background=200, load_encoder=_TextEncoder, model="fake")


# ------------------------------------------------------------------ 1. annotate's key_added


def test_key_added_keeps_the_first_annotation_beside_the_second(fake_spec) -> None:
    from cellmodel.annotate import annotate, report_of

    store = _planted(fake_spec)
    adata = _islets()
    annotate(adata, store, groupby="kind", candidates=CANDS, per_cell=True, **FAST)
    first = adata.obs["cellmodel_annotation"].copy()
    first_report = adata.uns["cellmodel"]["annotate"]["report_json"]
    adata.obs["truth_groups"] = adata.obs["truth"]
    annotate(
        adata, store, groupby="truth_groups", candidates=CANDS, key_added="truth_names",
        per_cell=True, **FAST,
    )  # fmt: skip
    # the first annotation is untouched, the second sits beside it
    assert adata.obs["cellmodel_annotation"].equals(first)
    assert adata.uns["cellmodel"]["annotate"]["report_json"] == first_report
    assert "cellmodel_annotation_cell" in adata.obs
    assert {"truth_names", "truth_names_cell", "truth_names_cell_score"} <= set(adata.obs)
    assert report_of(adata, "truth_names")["groupby"] == "truth_groups"
    assert report_of(adata)["groupby"] == "kind"
    assert report_of(adata, "truth_names")["params"]["key_added"] == "truth_names"
    from genekb.errors import GenekbError, UsageError

    with pytest.raises(GenekbError, match="key_added='nothing'"):
        report_of(adata, "nothing")
    for bad in ("cellmodel", "cellmodel_cluster", "", "a/b", 3):
        with pytest.raises(UsageError, match="key_added"):
            annotate(adata, store, groupby="kind", candidates=CANDS, key_added=bad, **FAST)
    with pytest.raises(UsageError, match="key_added='kind'"):  # the groups would be overwritten
        annotate(adata, store, groupby="kind", candidates=CANDS, key_added="kind", **FAST)


def test_tl_and_pl_take_key_added(fake_spec, monkeypatch) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import cellmodel as cm
    import cellmodel.tools

    store = _planted(fake_spec)
    monkeypatch.setattr(cellmodel.tools, "_store", lambda given: given)  # the planted store
    adata = _islets()
    cm.tl.annotate(adata, store, groupby="kind", candidates=CANDS, key_added="names", **FAST)
    assert "names" in adata.obs and "cellmodel_annotation" not in adata.obs
    assert len(cm.pl.calls(adata, key_added="names", show=False)) == 3
    cm.pl.markers(adata, key_added="names", show=False)
    with pytest.raises(Exception, match="key_added='names'"):  # the default key holds nothing
        cm.pl.calls(_islets(), key_added="names", show=False)


def test_reclustering_drops_an_annotation_of_the_old_clusters_under_its_own_key() -> None:
    from cellmodel.cluster.outputs import forget_previous_run

    adata = _islets()
    adata.obs["cellmodel_cluster"] = adata.obs["kind"]
    record = {"params": {"groupby": "cellmodel_cluster"}, "report_json": "{}"}
    adata.uns["old_names"] = record
    adata.uns["label_names"] = {"params": {"groupby": "truth"}, "report_json": "{}"}
    adata.obs["old_names"] = adata.obs["kind"]
    adata.obs["old_names_confidence"] = 1.0
    adata.obs["label_names"] = adata.obs["truth"]
    notes = forget_previous_run(adata)
    assert "old_names" not in adata.uns and "old_names" not in adata.obs
    assert "old_names_confidence" not in adata.obs
    assert "label_names" in adata.uns and "label_names" in adata.obs  # another column's names
    assert any("old_names" in n for n in notes)


def test_cli_key_added(tmp_path: Path) -> None:
    src = tmp_path / "islets.h5ad"
    _islets().write_h5ad(src)
    out = tmp_path / "out.h5ad"
    args = [
        "annotate", str(src), "--groupby", "kind", "--root", str(tmp_path / "store"),
        "--model", "fake", "--candidates", "type B pancreatic cell;pancreatic A cell;CL:0000173",
    ]  # fmt: skip
    result = run(*args, "--key-added", "kind_names", "-o", str(out), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["params"]["key_added"] == "kind_names"
    written = ad.read_h5ad(out)
    assert "kind_names" in written.obs and "cellmodel_annotation" not in written.obs
    assert json.loads(written.uns["kind_names"]["report_json"])["n_groups"] == 3
    assert "key_added" in one_line_error(run(*args, "--key-added", "cellmodel_pred"), 2)


# ------------------------------------------------------------------ 2. warnings at the user's line


def test_warnings_from_cm_tl_point_at_the_callers_line(fake_spec, monkeypatch) -> None:
    import cellmodel as cm
    import cellmodel.tools
    from cellmodel.annotate.signatures import UncheckedLineageWarning

    monkeypatch.setattr(cellmodel.tools, "_store", lambda given: given)
    with pytest.warns(UncheckedLineageWarning) as caught:
        cm.tl.annotate(_islets(), _planted(fake_spec), groupby="kind", candidates=CANDS, **FAST)
    assert {Path(w.filename) for w in caught} == {Path(__file__)}, [w.filename for w in caught]


def test_warnings_from_cm_pp_read_point_at_the_callers_line(tmp_path: Path) -> None:
    import cellmodel as cm
    from cellmodel.orientation import TableOrientationWarning

    genes = ["CD3E", "CD19", "MS4A1", "LYZ", "CD14", "NKG7", "GNLY", "CD8A"]
    table = pd.DataFrame(
        np.random.default_rng(0).poisson(3.0, (len(genes), 40)),
        index=genes, columns=[f"cell{i}" for i in range(40)],
    )  # fmt: skip
    path = tmp_path / "genes_in_rows.csv"
    table.to_csv(path)
    with pytest.warns(TableOrientationWarning) as caught:
        adata = cm.pp.read(str(path))
    assert adata.n_obs == 40
    assert {Path(w.filename) for w in caught} == {Path(__file__)}, [w.filename for w in caught]


def test_the_warn_helper_skips_every_library_frame_and_contextlib() -> None:
    import warnings

    from cellmodel.classify.views import said_of
    from genekb.errors import GenekbWarning, warn

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn(GenekbWarning("an instance"))
        with said_of("the reference"):  # a library context manager that warns on its way out
            warn("inner")
    assert [Path(w.filename) for w in caught] == [Path(__file__)] * 2, caught
    assert str(caught[1].message) == "the reference: inner"
    assert all(issubclass(w.category, GenekbWarning) for w in caught)


# ------------------------------------------------------------------ 3. -k refused before the read

N_CELLS, N_GENES = 20, 50


def _loom(path: Path) -> Path:
    import h5py

    with h5py.File(path, "w") as f:
        f["matrix"] = np.ones((N_GENES, N_CELLS), np.float32)
        f.create_group("row_attrs")["Gene"] = np.array([f"G{i}" for i in range(N_GENES)], "S")
        f.create_group("col_attrs")["CellID"] = np.array([f"c{i}" for i in range(N_CELLS)], "S")
    return path


def _cell_ranger_h5(path: Path) -> Path:
    import h5py

    with h5py.File(path, "w") as f:
        m = f.create_group("matrix")
        m["data"], m["indices"] = np.ones(N_CELLS, np.int32), np.zeros(N_CELLS, np.int64)
        m["indptr"], m["shape"] = np.arange(N_CELLS + 1), np.array([N_GENES, N_CELLS])
        m["barcodes"] = np.array([f"c{i}" for i in range(N_CELLS)], "S")
        feats = m.create_group("features")
        feats["id"] = feats["name"] = np.array([f"G{i}" for i in range(N_GENES)], "S")
    return path


def _mtx_folder(folder: Path, prefix: str = "") -> Path:
    import gzip

    folder.mkdir()
    header = f"%%MatrixMarket matrix coordinate integer general\n{N_GENES} {N_CELLS} 1\n1 1 1\n"
    with gzip.open(folder / f"{prefix}matrix.mtx.gz", "wt") as fh:
        fh.write(header)
    (folder / f"{prefix}barcodes.tsv").write_text("".join(f"c{i}\n" for i in range(N_CELLS)))
    (folder / f"{prefix}features.tsv").write_text("".join(f"G{i}\tG{i}\n" for i in range(N_GENES)))
    return folder


@pytest.mark.parametrize(
    "make",
    [
        lambda d: _loom(d / "cells.loom"),
        lambda d: _cell_ranger_h5(d / "filtered_feature_bc_matrix.h5"),
        lambda d: _mtx_folder(d / "sample"),
        lambda d: _mtx_folder(d / "geo", "GSM1_") / "GSM1_matrix.mtx.gz",
    ],
    ids=["loom", "cellranger-h5", "mtx-folder", "mtx-file"],
)
def test_k_past_the_cells_is_refused_before_the_matrix_is_read(tmp_path, monkeypatch, make):
    import cellmodel.io

    def no_read(*_: object) -> None:
        raise AssertionError("the matrix was read before -k was checked")

    monkeypatch.setattr(cellmodel.io, "read_hdf5", no_read)
    monkeypatch.setattr(cellmodel.io, "read_matrix_folder", no_read)
    source = make(tmp_path)
    result = run("cluster", str(source), "-k", str(N_CELLS + 5), "--root", str(tmp_path / "s"))
    assert f"the {N_CELLS} cells" in one_line_error(result, 2)


def test_cell_counts_left_to_the_load() -> None:
    from cellmodel.chunked.limits import n_cells

    assert n_cells("pbmc68k-reduced") is None  # a registry name: its loader checks
    assert n_cells(Path(__file__)) is None  # not a format that tells its cells cheaply


# ------------------------------------------------------------------ 4. "NA" labels are no class


def _loom_with_na(path: Path) -> tuple[Path, int]:
    """A loom of three groups whose label column calls some cells "NA", as R writes a missing
    label and as the STARmap loom of the registry holds it."""
    import h5py

    from tests.conftest import blobs

    adata = blobs({"a": 40, "b": 40, "c": 40}, counts=True)
    labels = adata.obs["group"].astype(str).to_numpy().astype(object)
    labels[::10] = "NA"
    with h5py.File(path, "w") as f:
        f["matrix"] = np.asarray(adata.X, np.float32).T
        f.create_group("row_attrs")["Gene"] = np.array(list(adata.var_names), "S")
        cols = f.create_group("col_attrs")
        cols["CellID"] = np.array([f"c{i}" for i in range(adata.n_obs)], "S")
        cols["Clusters"] = np.array(list(labels), "S")
    return path, int((labels == "NA").sum())


def test_na_labels_of_a_loom_read_by_path_are_no_class_in_classify(tmp_path) -> None:
    import cellmodel as cm
    from cellmodel.arguments import UnlabelledCellsWarning

    path, n_na = _loom_with_na(tmp_path / "cells.loom")
    adata = cm.pp.read(str(path))
    assert (adata.obs["Clusters"] == "NA").sum() == n_na  # the reader keeps the file's text
    with pytest.warns(UnlabelledCellsWarning, match=f"^{n_na} cell\\(s\\) of obs\\['Clusters'\\]"):
        cm.tl.classify(adata, "Clusters", per_class=5, refine=False, n_markers=0)
    record = adata.uns["cellmodel_classify"]
    text = json.dumps(record, default=str)
    assert "'NA'" not in text and '"NA"' not in text  # no class "NA" anywhere in the record
    assert not adata.obs["cellmodel_pred_train"][adata.obs["Clusters"] == "NA"].any()
    assert set(adata.obs["cellmodel_pred"].astype(str)) == {"a", "b", "c"}


def test_na_labels_are_left_out_of_the_scores_with_a_count() -> None:
    from cellmodel.arguments import UnlabelledCellsWarning
    from cellmodel.metrics import check_labels, cluster_metrics

    truth = pd.Series(["a"] * 10 + ["b"] * 10 + ["NA"] * 5 + ["Unknown"] * 2)
    pred = ["0"] * 10 + ["1"] * 10 + ["2"] * 7
    with pytest.warns(UnlabelledCellsWarning, match="^7 cell.*'NA', 'Unknown'.*the scores"):
        mask = check_labels(truth, "cell_type")
    assert mask.sum() == 20
    assert cluster_metrics(truth, pred)["acc"] == 1.0  # "NA" was a third class before


def test_the_chunked_transfer_says_so_too(tmp_path) -> None:
    from cellmodel.arguments import UnlabelledCellsWarning
    from cellmodel.chunked.classify import _query_truth

    query = ad.AnnData(np.ones((4, 2), np.float32))
    query.obs["cell_type"] = ["a", "NA", "b", "NA"]
    query.write_h5ad(tmp_path / "query.h5ad")
    with pytest.warns(UnlabelledCellsWarning, match="^2 cell"):
        truth = _query_truth(tmp_path / "query.h5ad", "cell_type", "cellmodel_pred")
    assert list(truth) == ["a", None, "b", None]


def test_the_annotate_experiments_read_the_one_unlabelled_set() -> None:
    from cellmodel.arguments import UNLABELLED, unlabelled
    from cellmodel.bench.annotate_eval import ontology_runs

    assert not hasattr(ontology_runs, "UNLABELLED")  # one home, not a copy
    assert {"NA", "Unknown", "", "nan"} <= UNLABELLED
    assert list(unlabelled(["NA", " NA ", None, "T cell", np.nan])) == [
        True,
        True,
        True,
        False,
        True,
    ]


# ------------------------------------------------------------------ 5. Seurat and Matilda by path


def _matilda_h5(path: Path, n_genes: int = 30, n_cells: int = 12) -> Path:
    import h5py

    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        m = f.create_group("matrix")
        m["data"] = rng.poisson(2.0, (n_genes, n_cells)).astype(np.float64)  # genes × cells
        m["features"] = np.array([f"G{i}" for i in range(n_genes)], "S")
        m["barcodes"] = np.array([f"cell{i}" for i in range(n_cells)], "S")
    return path


def test_a_matilda_h5_reads_by_path(tmp_path) -> None:
    import h5py

    import cellmodel as cm
    from cellmodel.datasets.layouts import read_h5_csv

    path = _matilda_h5(tmp_path / "matilda.h5")
    adata = cm.pp.read(str(path))
    assert adata.shape == (12, 30) and adata.obs_names[0] == "cell0"
    with h5py.File(path) as f:
        assert np.allclose(adata.X.toarray(), f["matrix/data"][()].T)
    labels = tmp_path / "labels.csv"  # the registry's reader: the same matrix, its labels beside
    pd.DataFrame({"x": ["a", "b"] * 6}, index=range(1, 13)).to_csv(labels)
    registry = read_h5_csv(path, labels, "cell_type")
    assert np.allclose(registry.X.toarray(), adata.X.toarray())
    assert list(registry.obs["cell_type"][:2]) == ["a", "b"]
    line = one_line_error(run("cluster", str(path), "-k", "20", "--root", str(tmp_path / "s")), 2)
    assert "the 12 cells" in line  # counted before the read too


def test_a_seurat_rds_reads_by_path(tmp_path, monkeypatch) -> None:
    import anndata as ad

    import cellmodel as cm
    from cellmodel.datasets import rfiles

    given = []

    def seurat(path: Path, label_key: str) -> ad.AnnData:  # rdata cannot write a Seurat object
        given.append((path, label_key))
        obs = pd.DataFrame({label_key: ["a"] * 7}, index=[f"c{i}" for i in range(7)])
        return ad.AnnData(np.ones((7, 4), np.float32), obs=obs)

    monkeypatch.setattr(rfiles, "read_seurat_rds", seurat)
    path = tmp_path / "pbmc.rds"
    path.write_bytes(b"X\n")
    assert cm.pp.read(str(path)).obs.columns.tolist() == ["ident"]
    assert given == [(path, "ident")]
    line = one_line_error(run("cluster", str(path), "-k", "9", "--root", str(tmp_path / "s")), 2)
    assert "the 7 cells" in line  # the command read it as cm.pp.read does


def test_r_files_that_are_no_seurat_object_are_refused_in_one_line(tmp_path) -> None:
    import rdata

    frame = pd.DataFrame({"a": ["x", "y"]})
    rdata.write_rds(str(tmp_path / "frame.rds"), frame)
    rdata.write_rda(str(tmp_path / "objects.rda"), {"frame": frame})
    (tmp_path / "junk.rds").write_bytes(b"not R at all")
    for name in ("frame.rds", "objects.rda", "junk.rds"):
        line = one_line_error(run("cluster", str(tmp_path / name), "--root", str(tmp_path / "s")))
        assert "convert it to .h5ad in R" in line, line
    missing = one_line_error(run("cluster", str(tmp_path / "gone.rds")))
    assert "does not exist" in missing  # a path, not an unknown dataset name


# ------------------------------------------------------------------ the tutorial, cell by cell


def test_the_tutorials_scoring_cell_shows_scores(tmp_path, monkeypatch) -> None:
    """The cell after the labels come back printed `{}`: the clustering was (rightly) given no
    labels, so its record has no metrics to show."""
    import re

    import matplotlib

    matplotlib.use("Agg")
    import cellmodel as cm

    source = (Path(__file__).parents[1] / "docs" / "tutorial.py").read_text()
    cells = re.split(r"(?m)^# %%.*$", source)
    cell = next(c for c in cells if 'save=FIGURES / "confusion.png"' in c)
    first = next(c for c in cells if "import cellmodel as cm" in c)
    adata = ad.AnnData(np.ones((6, 2), np.float32))
    adata.obs["bulk_labels"] = ["a", "a", "a", "b", "b", "b"]
    adata.obs["cellmodel_cluster"] = ["0", "0", "0", "1", "1", "1"]
    adata.uns["cellmodel"] = {}  # as cm.tl.cluster leaves it without label_key
    monkeypatch.setenv("TUTORIAL_FIGURES", str(tmp_path))
    monkeypatch.setenv("GENEKB_HOME", str(tmp_path / "store"))  # no folder left in /tmp
    namespace: dict = {"__name__": "__tutorial__"}
    exec(compile(first, "tutorial", "exec"), namespace)
    namespace.update(adata=adata, SHOW=False, cm=cm)
    *body, last = cell.strip().splitlines()
    exec(compile("\n".join(body), "tutorial", "exec"), namespace)
    shown = eval(compile(last, "tutorial", "eval"), namespace)  # what the notebook displays
    assert shown and shown["ari"] == 1.0
