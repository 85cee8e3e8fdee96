"""Hostile input to the commands the earlier sweeps left alone (genekb build options, damaged
manifests, combine, export headers, environment variables, bench settings, 10x and HDF5 files):
each is refused in one line that says what to do, before any work, with nothing overwritten."""

from __future__ import annotations

import io
import json
import re
import tarfile
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pytest
import scipy.sparse as sp

from cellmodel import io as cio
from cellmodel.mtx import read_10x_mtx
from genekb.build import build
from genekb.compare import compare
from genekb.errors import GenekbError, UsageError
from genekb.settings import env_number
from genekb.sources import load_source
from genekb.store.store import Store
from tests.conftest import blobs, make_genes, one_line_error, run_cellmodel, run_genekb
from tests.test_hostile_files import _tenx

GENES = [f"GENE{i}" for i in range(40)]


@pytest.fixture
def store_root(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    build(Store.open(root, create=True), model="fake", gene_table=make_genes())
    return root


def test_a_source_option_the_source_does_not_take_is_named(tmp_path):
    result = run_genekb("build", "-m", "fake", "--source-opt", "foo=bar", "--root", str(tmp_path))
    line = one_line_error(result, 2)  # was "unexpected TypeError: _bundled() got an unexpected…"
    assert "source 'bundled' has no option 'foo'; it takes none" in line
    with pytest.raises(UsageError, match="'refseq' has no option 'gene_info'; it takes base"):
        load_source("refseq", "human", gene_info="x")  # its base, bundled, takes none either
    with pytest.raises(GenekbError, match="gene_info file x does not exist"):
        load_source("refseq", "human", base="ncbi", gene_info="x")  # a base's option passes


def test_a_manifest_that_is_not_json_says_how_to_repair_it(store_root):
    text = next((store_root / "texts").iterdir())
    (text / "manifest.json").write_text("{not json")
    line = one_line_error(run_genekb("info", text.name, "--root", str(store_root)))
    assert "corrupt manifest (not valid JSON); this version is damaged" in line  # was the
    assert "genekb import --replace-damaged" in line  # exception's class name and no way out
    result = run_genekb("sql", "SELECT 1 AS one", "--root", str(store_root))
    assert result.exit_code == 0, result.output
    assert result.stderr.count(f"{text.name}/manifest.json") == 1  # once, not once per reader


def test_combine_moves_a_tag_holding_more_genes_only_with_force(tmp_path):
    store = Store.open(tmp_path, create=True)
    for tag, genes, template in (
        ("a", None, "ncbi-card"),
        ("b", None, "kv"),
        ("few-a", GENES[:3], "ncbi-card"),
        ("few-b", GENES[:3], "kv"),
    ):
        build(store, model="fake", gene_table=make_genes(), genes=genes, template=template,
              tag=tag)  # fmt: skip
    root = ["--root", str(tmp_path)]
    assert run_genekb("combine", "a", "b", "--tag", "both", *root).exit_code == 0
    held = store.tags()["both"]
    line = one_line_error(run_genekb("combine", "few-a", "few-b", "--tag", "both", *root))
    assert re.search(r"holds \d+ gene\(s\) this build lacks; pass --force to move it", line)
    assert store.tags()["both"] == held  # was moved to the 3-gene version without a word
    moved = run_genekb("combine", "few-a", "few-b", "--tag", "both", "--force", *root)
    assert moved.exit_code == 0 and store.tags()["both"] != held


def _rewrite_header(sent: Path, forged: Path, change) -> Path:
    with tarfile.open(sent) as tar:
        members = [(m, tar.extractfile(m).read() if m.isfile() else None) for m in tar]
    with tarfile.open(forged, "w") as tar:
        for member, data in members:
            if member.name == "genekb-export.json":
                header = json.loads(data)
                change(header)
                data = json.dumps(header).encode()
                member.size = len(data)
            tar.addfile(member, io.BytesIO(data) if data is not None else None)
    return forged


@pytest.mark.parametrize("versions", [5, None, [1, 2]])
def test_an_export_header_without_its_version_list_is_refused(store_root, tmp_path, versions):
    sent = tmp_path / "sent.tar"
    assert run_genekb("export", "human/ncbi-card/fake", str(sent), "--root", str(store_root))
    forged = _rewrite_header(sent, tmp_path / "forged.tar", lambda h: h.update(versions=versions))
    line = one_line_error(run_genekb("import", str(forged), "--root", str(tmp_path / "new")))
    assert "its header does not list its versions" in line  # was "unexpected TypeError"
    assert not (tmp_path / "new").exists()
    untagged = _rewrite_header(sent, tmp_path / "untagged.tar", lambda h: h.pop("tags"))
    result = run_genekb("import", str(untagged), "--root", str(tmp_path / "new"))
    assert result.exit_code == 0, result.output  # was "unexpected KeyError: 'tags'"


def test_environment_numbers_are_checked_by_name(tmp_path, monkeypatch):
    monkeypatch.setenv("GENEKB_PROGRESS_SECONDS", "abc")
    line = one_line_error(run_genekb("build", "-m", "fake", "--root", str(tmp_path / "s")), 2)
    assert "GENEKB_PROGRESS_SECONDS='abc' must be a number" in line  # was "unexpected ValueError"
    assert not (tmp_path / "s").exists()  # refused before the text version was written
    from genekb.encoders.runtime import configure_threads

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    for value in ("abc", "-2", "1.5", "1e6", "1e12"):  # 1e6: a million threads; 1e12: overflow
        monkeypatch.setenv("GENEKB_THREADS", value)
        with pytest.raises(UsageError, match=r"GENEKB_THREADS=.* must be a whole number"):
            configure_threads()  # was ValueError, or torch's RuntimeError for -2
    monkeypatch.setenv("GENEKB_THREADS", "nan")
    with pytest.raises(UsageError):
        env_number("GENEKB_THREADS", 0)
    monkeypatch.setenv("GENEKB_THREADS", " ")
    assert env_number("GENEKB_THREADS", 3, whole=True) == 3


@pytest.mark.parametrize(
    ("flags", "code", "says"),
    [
        (["-m", "nosuch"], 2, "--model 'nosuch' is neither an encoder nor a tag"),
        (["--device", "tpu"], 2, "unknown device 'tpu'"),
    ],
)
def test_bench_refuses_a_bad_model_or_device_before_any_run(tmp_path, flags, code, says):
    out = tmp_path / "bench"
    result = run_cellmodel("bench", "--datasets", "synthetic-60", "--methods", "pca-kmeans",
                           "--seeds", "1", "--out", str(out), "--root", str(tmp_path / "s"),
                           *flags)  # fmt: skip
    assert result.exit_code == code, result.output
    assert says in result.stderr and "Traceback" not in result.output
    assert not out.exists()  # was one failed process per method, and a table of failures


def test_a_gzipped_10x_matrix_that_is_no_gzip_names_the_file(tmp_path):
    folder = _tenx(tmp_path / "tenx")
    (folder / "matrix.mtx").unlink()
    (folder / "matrix.mtx.gz").write_bytes(b"not gzip at all")
    # was "Not a gzipped file (b'no')", naming no file; read by its bytes (not gzip), it is
    # named as the matrix it is not
    with pytest.raises(GenekbError, match=r"matrix\.mtx\.gz is not a MatrixMarket file"):
        read_10x_mtx(folder)


@pytest.mark.filterwarnings("ignore:Element .* was written without encoding metadata")
def test_an_hdf5_file_cut_short_or_under_another_suffix_says_so(tmp_path):
    adata = blobs(30, dim=12, counts=True)
    adata.write_h5ad(tmp_path / "cells.h5ad")
    data = (tmp_path / "cells.h5ad").read_bytes()
    (tmp_path / "cut.h5ad").write_bytes(data[: len(data) // 2])
    (tmp_path / "cut.loom").write_bytes(data[: len(data) // 2])
    for name in ("cut.h5ad", "cut.loom"):
        with pytest.raises(GenekbError, match=rf"{name} is cut short \(.* bytes\); copy it again"):
            cio.read(tmp_path / name)
    with h5py.File(tmp_path / "loom.h5ad", "w") as f:
        f["matrix"] = np.ones((5, 4), np.float32)
        f.create_group("row_attrs")["Gene"] = np.array([f"G{i}" for i in range(5)], dtype="S")
        f.create_group("col_attrs")["CellID"] = np.array([f"c{i}" for i in range(4)], dtype="S")
    loom = r"holds a loom file, not an AnnData file; name it \.loom"
    with pytest.raises(GenekbError, match=loom):
        cio.read(tmp_path / "loom.h5ad")  # was anndata's "unexpected keyword 'col_attrs'"
    assert isinstance(cio.read(tmp_path / "cells.h5ad"), ad.AnnData)


def test_a_separator_for_a_file_that_is_no_table_is_refused(tmp_path):
    blobs(30, dim=12, counts=True).write_h5ad(tmp_path / "cells.h5ad")
    with pytest.raises(UsageError, match="sep= reads CSV/TSV tables"):
        cio.read(tmp_path / "cells.h5ad", sep=";")  # was silently ignored


def test_compare_says_what_to_change(tmp_path):
    store = Store.open(tmp_path, create=True)
    a = build(store, model="fake", gene_table=make_genes(), genes=GENES[:20])["embedding_id"]
    b = build(store, model="fake", gene_table=make_genes(), genes=GENES[20:], tag="b")
    c = build(store, model="fake", gene_table=make_genes(), genes=GENES[:20], template="kv",
              tag="c")  # fmt: skip
    va, vb, vc = (store.embedding(r) for r in (a, b["embedding_id"], c["embedding_id"]))
    with pytest.raises(UsageError, match="at least two"):
        compare([va])
    with pytest.raises(UsageError, match="k=0 must be a whole number"):
        compare([va, vc], k=0)
    with pytest.raises(GenekbError, match="share no gene"):
        compare([va, vb])
    with pytest.raises(GenekbError, match=r"share \d+ genes; need more than k=25: give a k below"):
        compare([va, vc], k=25)
    line = one_line_error(run_genekb("compare", a, "--root", str(tmp_path)), 2)
    assert "at least two" in line  # a usage error: was exit 1


def _corrupt_chunk(path: Path, key: str) -> None:
    """Overwrite the middle stored chunk of dataset `key` with bytes gzip cannot decode."""
    with h5py.File(path, "r") as f:
        dataset = f[key]
        middle = dataset.id.get_num_chunks() // 2
        chunk = dataset.id.get_chunk_info(middle)
    with open(path, "r+b") as fh:
        fh.seek(chunk.byte_offset)
        fh.write(b"\xff" * chunk.size)


@pytest.mark.filterwarnings("ignore:Element .* was written without encoding metadata")
def test_the_chunked_reader_names_a_damaged_or_foreign_file(tmp_path):
    from cellmodel.chunked.h5 import ChunkReader, pick, read_frame

    adata = blobs(100, dim=60, counts=True)  # 300 cells
    adata.X = sp.csr_matrix(adata.X)
    adata.write_h5ad(tmp_path / "cells.h5ad", compression="gzip")
    _corrupt_chunk(tmp_path / "cells.h5ad", "X/data")
    damaged = r"\(rows 0–299\) cannot be read .*copy it again"
    with (
        ChunkReader(pick(tmp_path / "cells.h5ad", None)) as reader,
        pytest.raises(GenekbError, match=damaged),
    ):
        reader.rows(0, 300)  # was h5py's OSError, printed without the file's name
    with h5py.File(tmp_path / "loom.h5ad", "w") as f:
        f["matrix"] = np.ones((5, 4), np.float32)
        f.create_group("row_attrs")["Gene"] = np.array([f"G{i}" for i in range(5)], dtype="S")
        f.create_group("col_attrs")["CellID"] = np.array([f"c{i}" for i in range(4)], dtype="S")
    with pytest.raises(GenekbError, match="holds a loom file"):
        pick(tmp_path / "loom.h5ad", None)  # was "layer 'X' is not in …; matrices present: none"
    adata.obs["note"] = [f"cell {i} " * 50 for i in range(adata.n_obs)]
    adata.write_h5ad(tmp_path / "obs.h5ad", compression="gzip")
    _corrupt_chunk(tmp_path / "obs.h5ad", "obs/note")
    with pytest.raises(GenekbError, match=r"a damaged obs .*write or copy the file again"):
        read_frame(tmp_path / "obs.h5ad", "obs")


def test_a_text_version_where_vectors_are_read_is_named_as_such(store_root):
    text = next((store_root / "texts").iterdir()).name
    line = one_line_error(
        run_genekb("similar", "GENE3", "--ref", text[:9], "--root", str(store_root))
    )
    assert f"{text} is a text version (gene texts, no vectors)" in line  # was "no embedding …"
    assert run_genekb("info", text[:9], "--root", str(store_root)).exit_code == 0  # still a version


def test_genes_from_a_file_that_is_no_h5ad_says_what_to_give(tmp_path):
    blobs(30, dim=12, counts=True).write_h5ad(tmp_path / "cells.h5ad")
    data = (tmp_path / "cells.h5ad").read_bytes()
    (tmp_path / "cut.h5ad").write_bytes(data[: len(data) // 2])
    (tmp_path / "cells.csv").write_text("cell,GENE1\nc1,3\n")
    for name, says in (("cut.h5ad", "truncated file"), ("cells.csv", "file signature not found")):
        args = ["build", "-m", "fake", "--genes-from", str(tmp_path / name)]
        line = one_line_error(run_genekb(*args, "--root", str(tmp_path / "s")))
        assert says in line and "one per line with --genes" in line  # was "(OSError)" alone


def test_build_refuses_an_unknown_device_even_when_everything_is_reused(store_root):
    root = ["--root", str(store_root)]
    line = one_line_error(run_genekb("build", "-m", "fake", "--device", "tpu", *root), 2)
    assert "unknown device 'tpu'" in line  # was accepted: nothing needed embedding


def test_a_run_record_edited_into_another_kind_is_named(tmp_path):
    import pandas as pd

    adata = blobs(30, dim=12, counts=True)
    adata.obs["cellmodel_cluster"] = pd.Categorical(np.arange(adata.n_obs) % 3)
    adata.uns["cellmodel"] = {"embedding_id": "emb-0123456789abcdef", "input": 5}
    adata.write_h5ad(tmp_path / "edited.h5ad")
    line = one_line_error(run_cellmodel("explain", str(tmp_path / "edited.h5ad")))
    assert "uns['cellmodel']['input'] holds a int, not the record cellmodel writes" in line


def test_a_vector_of_zeros_is_reported_as_such_not_as_a_repeat(tmp_path):
    (tmp_path / "v.csv").write_text("gene,d0,d1\nCD3E,0,0\nCD4,0.3,0.1\n")
    result = run_genekb("import-vectors", str(tmp_path / "v.csv"), "-m", "x", "--root",
                        str(tmp_path / "s"), "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    mapping = json.loads(result.stdout)["mapping"]
    assert mapping["zero_vectors"] == 1 and mapping["duplicates"] == 0  # was counted as both


def test_a_vector_table_with_a_header_only_says_it_has_no_rows(tmp_path):
    (tmp_path / "v.csv").write_text("gene,d0,d1\n")
    args = ["import-vectors", str(tmp_path / "v.csv"), "-m", "x", "--root", str(tmp_path / "s")]
    line = one_line_error(run_genekb(*args))
    assert "holds a header but no rows" in line  # was "column(s) ['d0', 'd1'] are not numbers"
