"""Hostile inputs, CLI contract (11): options that cannot act are refused, cheap refusals come
before the expensive work, the out-of-core classify warns of unseen classes, gene-vector tables
without information are refused, and matrix layouts the readers do not take are named."""

from __future__ import annotations

import anndata as ad
import pytest

from tests.conftest import one_line_error, run_genekb
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
