"""Defects found while reviewing the last rounds' work: each test fails without its fix."""

from __future__ import annotations

import json
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from cellmodel import bench
from genekb.errors import GenekbError
from genekb.store.store import Store
from tests.conftest import make_genes, run_genekb


def test_the_library_bench_keeps_a_finished_report_unless_forced(tmp_path: Path) -> None:
    # Only the CLI checked --out: a second run_bench into one folder replaced the first's
    # bench.json, bench.md and chart without a word.
    def config(**kw: object) -> bench.BenchConfig:
        return bench.BenchConfig(  # type: ignore[arg-type]
            bench.parse_datasets("synthetic-40"), methods=["pca-kmeans"], seeds=[0],
            out=tmp_path / "out", warm=False, preload=False, model=None, **kw,
        )  # fmt: skip

    bench.run_bench(config(), log=lambda _: None)
    first = (tmp_path / "out" / "bench.json").read_bytes()
    with pytest.raises(GenekbError, match=r"bench\.json exists"):
        bench.run_bench(config(), log=lambda _: None)
    assert (tmp_path / "out" / "bench.json").read_bytes() == first
    bench.run_bench(config(force=True), log=lambda _: None)
    assert (tmp_path / "out" / "bench.json").read_bytes() != first


def test_list_json_gives_each_versions_tags_as_a_list(tmp_path: Path) -> None:
    # `genekb list --json` gave "tags": "a,b" (a string to split) where `remote list --json`
    # gives a list; the SQL catalog keeps one text column.
    from genekb.build import build
    from genekb.store.catalog import query

    root = tmp_path / "store"
    vid = build(Store.open(root, create=True), model="fake", gene_table=make_genes())
    vid = vid["embedding_id"]
    for tag in ("zeta", "alpha"):
        assert run_genekb("tag", tag, vid, "--root", str(root)).exit_code == 0
    listed = json.loads(run_genekb("list", "--json", "--root", str(root)).stdout)["versions"]
    tags = ["alpha", "human/ncbi-card/fake", "zeta"]  # the build tags it too
    assert [v["tags"] for v in listed if v["id"] == vid] == [tags]
    assert ",".join(tags) in run_genekb("list", "--root", str(root)).stdout
    sql = f"SELECT tags FROM versions WHERE id = '{vid}'"
    assert query(Store.open(root), sql)["tags"].tolist() == [",".join(tags)]


def test_out_of_core_reads_scaled_without_centring_as_in_memory(tmp_path: Path) -> None:
    # sc.pp.scale(zero_center=False) leaves no negative value: in memory it is refused (or .raw
    # read), but the out-of-core path took it as log values and clustered it as such.
    import scanpy as sc

    from cellmodel.chunked import h5
    from cellmodel.chunked.embed import value_kind
    from tests.conftest import three_groups

    adata = three_groups(90)
    sc.pp.normalize_total(adata)
    sc.pp.log1p(adata)
    scaled = sc.pp.scale(adata, zero_center=False, max_value=10, copy=True)
    scaled.write_h5ad(tmp_path / "scaled.h5ad")
    with pytest.raises(GenekbError, match=r"holds scaled values \(sc.pp.scale"):
        value_kind(h5.pick(tmp_path / "scaled.h5ad", None), None)
    scaled.raw = adata
    scaled.write_h5ad(tmp_path / "with_raw.h5ad")
    ref, kind, notes = value_kind(h5.pick(tmp_path / "with_raw.h5ad", None), None)
    assert (ref.source, kind) == ("raw", "log") and "used .raw instead" in notes[0]
    adata.write_h5ad(tmp_path / "log.h5ad")  # no scanpy record: read as it is, as before
    assert value_kind(h5.pick(tmp_path / "log.h5ad", None), None)[1:] == ("log", [])


def test_a_lock_holders_card_hides_a_urls_token(monkeypatch: pytest.MonkeyPatch) -> None:
    # The card beside a held lock wrote the command line as given, so a pull's token
    # (https://TOKEN@host/…, ?sig=…) sat in a file every user of a shared store can read.
    from genekb.store import locks

    argv = ["/usr/bin/genekb", "pull", "https://ghp_secret@lab.example/store?sig=abc"]
    monkeypatch.setattr("sys.argv", argv)
    line = locks._command()
    assert line.startswith("genekb pull https://***@lab.example/store?sig=***")
    assert "secret" not in line and "abc" not in line


def test_an_unmeasured_kind_is_not_entered_past_a_sibling_expressed_above_the_median() -> None:
    # pbmc68k's 8 naive CD4 T cells (hematopoietic signature 0.27, under the 0.3 that tells
    # signed kinds apart) entered the epithelial kind, which 765 genes give no signature, and
    # were named a fallopian tube secretory epithelial cell.
    from cellmodel.annotate.gates import gated

    inside = {"hematopoietic": np.array([0]), "myeloid": np.array([1]), "epithelial": np.array([2])}
    signed = {"hematopoietic": 0.27, "myeloid": 0.05}
    assert set(gated(inside, signed)) == {"hematopoietic", "myeloid"}  # signed ones not told apart
    assert set(gated(inside, {"hematopoietic": -0.1})) == set(inside)  # no case for any kind


def test_rm_drops_the_catalog_only_when_it_could_not_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `rm` dropped the catalog (and went on) on any error of its rewrite, and read the reason
    # back out of the message's text; only a write that failed (a full disk) is a reason to.
    from genekb.build import build
    from genekb.store import catalog

    root = tmp_path / "store"
    vid = build(Store.open(root, create=True), model="fake", gene_table=make_genes())
    vid = vid["embedding_id"]
    assert run_genekb("reindex", "--root", str(root)).exit_code == 0
    before = (root / "catalog.duckdb").read_bytes()

    def other_failure(*_: object, **__: object) -> None:
        raise GenekbError("the store's tags cannot be read")

    monkeypatch.setattr(catalog, "rebuild", other_failure)
    result = run_genekb("rm", vid, "--force", "--root", str(root))
    assert result.exit_code == 1 and "tags cannot be read" in result.stderr, result.stderr
    assert (root / "catalog.duckdb").read_bytes() == before  # kept, and the version too
    assert (root / "embeddings" / vid).is_dir()

    def full_disk(*_: object, **__: object) -> None:
        raise catalog.CatalogWriteError("cannot write the catalog …", reason="No space left")

    monkeypatch.setattr(catalog, "rebuild", full_disk)
    result = run_genekb("rm", vid, "--force", "--root", str(root))
    assert result.exit_code == 0 and "(No space left)" in result.stderr, result.stderr
    assert not (root / "catalog.duckdb").exists() and not (root / "embeddings" / vid).exists()


def test_out_of_core_reads_a_file_whose_var_index_is_a_categorical_column(tmp_path: Path) -> None:
    # CELLxGENE's files (Tabula Sapiens among them) name a categorical column, `feature_name`,
    # as var's index: the out-of-core reader took its group for an array and called the file
    # damaged ("'Group' object has no attribute 'shape'").
    import h5py

    from cellmodel.datasets.synthetic import write_synthetic_h5ad
    from tests.conftest import run_cellmodel

    path = write_synthetic_h5ad(tmp_path / "cells.h5ad", 60, n_genes=40, n_groups=2, seed=0)
    adata = ad.read_h5ad(path)
    adata.var["feature_name"] = pd.Categorical(adata.var_names)
    adata.write_h5ad(path)
    with h5py.File(path, "r+") as f:  # as CELLxGENE writes it: the column is the index
        index = f["var"].attrs["_index"]
        del f["var"][index]
        f["var"].attrs["_index"] = "feature_name"
    assert ad.read_h5ad(path).var_names.tolist() == adata.var_names.tolist()
    result = run_cellmodel(
        "embed", str(path), "-o", str(tmp_path / "out.h5ad"), "--chunk-size", "20",
        "--workers", "1", "--model", "fake", "--root", str(tmp_path / "store"),
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert ad.read_h5ad(tmp_path / "out.h5ad").n_vars == 40
