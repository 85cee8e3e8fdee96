"""Hostile input to `annotate` (the third sweep): a key_added that names the cells' index, an
obsolete CL id or an id given as the tissue word, many groups left unnamed at once, and a group
whose only higher genes are mitochondrial."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import pytest

from cellmodel.annotate import annotate
from cellmodel.annotate.ontology import from_ontology, from_user
from genekb.errors import GenekbError, UsageError
from tests.test_annotate import ALPHA, BETA, DELTA, _islets, _planted, _TextEncoder

pytestmark = pytest.mark.filterwarnings(
    "ignore::cellmodel.annotate.signatures.UncheckedLineageWarning"
)
CANDIDATES = ["CL:0000169", "CL:0000171", "CL:0000173"]


def _annotate(adata: ad.AnnData, fake_spec: object, **extra: object) -> ad.AnnData:
    return annotate(
        adata, _planted(fake_spec), groupby="kind", candidates=[BETA, ALPHA, DELTA],
        n_markers=5, top_k=2, n_background=200, load_encoder=_TextEncoder, model="fake", **extra,
    )  # fmt: skip


@pytest.mark.parametrize(("index_name", "key"), [("cell_id", "cell_id"), (None, "_index")])
def test_a_key_added_naming_the_cells_index_is_refused_before_any_work(
    fake_spec: object, tmp_path: Path, index_name: str | None, key: str
) -> None:
    # In memory the whole run went through, then writing the file failed ("unexpected
    # ValueError"); out of core the written file's cell names were replaced by the labels.
    adata = _islets()
    adata.obs.index.name = index_name
    with pytest.raises(UsageError, match=f"key_added='{key}' would write obs"):
        _annotate(adata, fake_spec, key_added=key)
    pytest.importorskip("dask")
    from cellmodel.chunked.annotate import annotate_h5ad

    source, output = tmp_path / "cells.h5ad", tmp_path / "out.h5ad"
    adata.write_h5ad(source)
    with pytest.raises(UsageError, match="the name under which the file keeps the cell names"):
        annotate_h5ad(
            source, _planted(fake_spec), output=output, groupby="kind", candidates=CANDIDATES,
            key_added=key, model="fake", load_encoder=_TextEncoder, chunk_size=30, workers=1,
        )  # fmt: skip
    assert not output.exists()


@pytest.mark.parametrize(
    ("subtree", "says"),
    [("CL:0000003", r"'CL:0000003' is obsolete in CL v[\d-]+ \(replaced by CL:0000000 cell\)"),
     ("CL:0000004", r"'CL:0000004' is obsolete in CL v[\d-]+; give a live CL id")],
)  # fmt: skip
def test_an_obsolete_subtree_is_named_obsolete(subtree: str, says: str) -> None:
    # was "'CL:0000003' names no Cell Ontology term; give a CL id or an exact label": it is one
    with pytest.raises(UsageError, match=says):
        from_ontology(subtree=subtree)
    with pytest.raises(GenekbError, match=says.split(";")[0]):
        from_user([subtree, "B cell", "T cell"])


@pytest.mark.parametrize("tissue", ["CL:0000169", "UBERON:0001264", "uberon_0001264"])
def test_an_id_given_as_the_tissue_word_says_what_tissue_takes(tissue: str) -> None:
    # was "the Cell Ontology restriction (tissue=...) leaves 0 term(s); widen it"
    with pytest.raises(UsageError, match="is an id; tissue= takes a word of the terms' text"):
        from_ontology(tissue=tissue)
