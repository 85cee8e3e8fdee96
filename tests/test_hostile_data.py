"""Inputs whose shape is fine but whose content gives a method nothing to work with: one line,
the right exit code, nothing written."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest

from cellmodel import io as cio
from cellmodel.annotate.ontology import from_user, parse_candidates
from cellmodel.classify.labels import split
from genekb.build import build
from genekb.errors import GenekbError, UsageError
from genekb.store.store import Store
from tests.conftest import feed_fifo, make_genes, one_line_error, run_cellmodel


def _constant_file(path):
    ad.AnnData(X=np.ones((60, 40), np.float32)).write_h5ad(path)
    return path


def test_a_matrix_where_no_gene_varies_is_refused_in_memory(tmp_path):
    source = _constant_file(tmp_path / "flat.h5ad")
    out = tmp_path / "out.h5ad"
    line = one_line_error(
        run_cellmodel("cluster", str(source), "-k", "3", "--no-semantic", "-o", str(out))
    )
    assert "no gene varies" in line
    assert not out.exists()


def test_a_matrix_where_no_gene_varies_is_refused_out_of_core(tmp_path):
    source = _constant_file(tmp_path / "flat.h5ad")
    out = tmp_path / "out.h5ad"
    result = run_cellmodel("cluster", str(source), "-k", "3", "--chunk-size", "20", "-o", str(out))
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "no gene varies" in errors[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flat.h5ad"]


def test_tfidf_lsa_on_too_few_genes_is_a_usage_error(tmp_path):
    store = Store.open(tmp_path / "store", create=True)
    with pytest.raises(UsageError, match=r"needs at least .* 2 given"):
        build(store, model="tfidf-lsa", gene_table=make_genes(2))
    assert not list((tmp_path / "store").glob("embeddings/emb-*"))


def test_comma_separated_candidates_are_told_to_use_semicolons():
    with pytest.raises(UsageError, match="separate labels with ';'"):
        from_user(parse_candidates("T cell,B cell,monocyte"))
    assert len(from_user(parse_candidates("T cell;B cell;monocyte"))) == 3


def test_classify_without_a_split_names_the_three_ways_to_give_one():
    from cli.common import as_flags

    with pytest.raises(UsageError, match=r"train_fraction=.*per_class=.*train_mask=") as caught:
        split(np.array(["a", "b"] * 10))
    # The command line names the same three as its flags.
    assert "(--train-fraction), a per-class count (--per-class) or a train mask (--train-mask)" in (
        as_flags(str(caught.value))
    )


def test_an_h5ad_through_a_pipe_is_named_as_such(tmp_path):
    source = tmp_path / "cells.h5ad"
    ad.AnnData(X=np.ones((4, 3), np.float32)).write_h5ad(source)
    with pytest.raises(GenekbError, match=r"HDF5 .* cannot be read from a pipe"):
        cio.read(feed_fifo(tmp_path / "pipe", source.read_bytes()))


def test_empty_gene_names_are_named_as_empty(tmp_path):
    adata = ad.AnnData(X=np.ones((4, 3), np.float32))
    adata.var_names = ["", "", ""]
    with pytest.raises(GenekbError, match="3 of 3 gene names are empty"):
        cio.expression(adata)
