"""classify --reference out of core: the query's view read in chunks, voting against an in-memory
reference, equals the in-memory unrefined kNN transfer."""

from __future__ import annotations

import json

import anndata as ad
import numpy as np
import pytest

from cellmodel.classify import transfer, with_options
from genekb.errors import GenekbError, UsageError
from tests.conftest import one_line_error, run_cellmodel
from tests.fakes import FakeEmbedding

pytest.importorskip("dask")

N_CELLS, N_GENES, N_REF, CHUNK = 2503, 200, 600, 700


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    """A synthetic file embedded out of core, its fake gene vectors, and a reference slice."""
    from cellmodel.chunked import embed_h5ad
    from cellmodel.datasets.synthetic import write_synthetic_h5ad

    folder = tmp_path_factory.mktemp("chunked_classify")
    counts = write_synthetic_h5ad(folder / "cells.h5ad", N_CELLS, n_genes=N_GENES, seed=3)
    genes = list(ad.read_h5ad(counts, backed="r").var_names)
    ev = FakeEmbedding(folder, genes, dim=32)
    query = folder / "query.h5ad"
    embed_h5ad(counts, ev, output=query, chunk_size=CHUNK, n_hvg=80)
    reference = ad.read_h5ad(counts)[:N_REF].copy()
    return query, ev, reference


@pytest.mark.parametrize("vote", ["frequency", "mass"])
def test_chunked_transfer_equals_in_memory(embedded, tmp_path, vote):
    from cellmodel.chunked.classify import classify_h5ad

    query, ev, reference = embedded
    reference = reference.copy()  # the fixture's stays without a view
    out = tmp_path / "pred.h5ad"
    opts = with_options(vote=vote)
    record = classify_h5ad(
        query, reference.copy(), output=out, reference_label_key="group", label_key="group",
        store=ev, options=opts, chunk_size=CHUNK, workers=2,
    )  # fmt: skip
    assert record["chunked"]["n_chunks"] == 4 and record["params"]["n_query"] == N_CELLS
    # In memory: the reference embedded with the query's parameters and genes, the whole query
    # view at once.
    from cellmodel.embed import embed

    result = ad.read_h5ad(out)
    genes = result.uns["cellmodel"]["reference_genes"]["gene_ids"]
    embed(reference, ev, sentence_top_n=0, n_hvg=80, reference_genes=genes)
    expected = transfer(
        reference.obsm["X_semantic_w"], reference.obs["group"], result.obsm["X_semantic_w"],
        query_labels=result.obs["group"], refine_view=False, compare=False,
        options=with_options(opts, n_markers=0),
    )  # fmt: skip
    predicted = result.obs["cellmodel_pred"].astype(str).to_numpy()
    assert np.array_equal(predicted, expected.predictions.astype(str))
    assert np.allclose(result.obs["cellmodel_pred_confidence"], expected.confidence, atol=1e-6)
    assert record["scores"]["accuracy"] == pytest.approx(expected.scores.accuracy)
    assert not result.uns["cellmodel_classify"]["params"]["refine_view"]
    assert "group" in result.obs and result.n_obs == N_CELLS  # the input's obs kept


def test_the_reference_is_embedded_in_the_querys_space(embedded, tmp_path):
    # The reference's cells are the query file's first cells: in one space their two views agree.
    # Each file's own variable genes fit each its own post-processing, and the views then share
    # little (out of core the kNN across them scored 0.14 accuracy on Baron human, 0.92 in one).
    from cellmodel.chunked.classify import reference_view
    from cellmodel.embed import embed

    query, ev, reference = embedded
    whole = ad.read_h5ad(query)
    same_cells = whole.obsm["X_semantic_w"][:N_REF]
    record = dict(whole.uns["cellmodel"])
    pinned = reference_view(reference.copy(), record, ev)
    own = embed(reference.copy(), ev, sentence_top_n=0, n_hvg=80).obsm["X_semantic_w"]
    assert own.shape == pinned.shape == same_cells.shape

    def agreement(view):
        return float(np.mean(np.sum(view * same_cells, axis=1)))  # mean cosine (unit rows)

    assert agreement(pinned) > 0.9 > agreement(own) + 0.2
    # A reference holding its own view, fitted on other genes, is embedded again, not trusted.
    held = reference.copy()
    held.obsm["X_semantic_w"], held.uns["cellmodel"] = own, {"reference_genes": {"sha256": "x"}}
    assert np.allclose(reference_view(held, record, ev), pinned, atol=1e-5)
    with pytest.raises(UsageError, match="fitted on other genes"):
        reference_view(held, record, None)
    with pytest.raises(GenekbError, match="share no gene"):
        embed(reference.copy(), ev, sentence_top_n=0, reference_genes=[10**9])


def test_in_memory_transfer_embeds_the_reference_in_the_querys_space(embedded, monkeypatch):
    from cellmodel.classify import classify_cells, pipeline
    from cellmodel.embed import embed

    # The fake vectors have no sentence encoder: the weighted path alone.
    monkeypatch.setattr(pipeline, "embed", lambda *a, **k: embed(*a, **k, sentence_top_n=0))
    query, ev, reference = embedded
    cells = ad.read_h5ad(query)[N_REF:].copy()
    del cells.obsm["X_semantic_w"], cells.uns["cellmodel"]
    ref = reference.copy()
    classify_cells(
        cells, reference=ref, label_key="group", view="semantic", store=ev, refine_view=False
    )
    genes = ref.uns["cellmodel"]["reference_genes"]
    assert genes["rule"] == "given"
    assert genes["sha256"] == cells.uns["cellmodel"]["reference_genes"]["sha256"]


def test_chunked_transfer_refuses_what_it_cannot_use(embedded, tmp_path):
    from cellmodel.chunked.classify import classify_h5ad

    query, ev, reference = embedded
    reference = reference.copy()
    out = tmp_path / "pred.h5ad"
    with pytest.raises(GenekbError, match="reference_label_key"):
        classify_h5ad(query, reference, output=out, reference_label_key="nope", store=ev)
    with pytest.raises(UsageError, match="store"):
        classify_h5ad(query, reference, output=out, reference_label_key="group")
    bare = tmp_path / "bare.h5ad"
    reference.write_h5ad(bare)
    with pytest.raises(GenekbError, match="--chunk-size"):
        classify_h5ad(bare, reference, output=out, reference_label_key="group", store=ev)
    assert not out.exists() and not list(tmp_path.glob(".*tmp*"))


def test_cli_chunked_classify(embedded, tmp_path):
    query, ev, reference = embedded
    reference = reference.copy()
    ref_path = tmp_path / "ref.h5ad"
    from cellmodel.embed import embed

    genes = ad.read_h5ad(query).uns["cellmodel"]["reference_genes"]["gene_ids"]
    embed(reference, ev, sentence_top_n=0, n_hvg=80, reference_genes=genes)  # the query's space
    reference.write_h5ad(ref_path)
    out = tmp_path / "cli.h5ad"
    args = ["classify", str(query), "--reference", str(ref_path), "--label-key", "group"]
    result = run_cellmodel(
        *args, "--view", "semantic", "--chunk-size", "1000", "-o", str(out), "--json"
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["chunked"]["n_chunks"] == 3 and report["params"]["refine_view"] is False
    assert ad.read_h5ad(out).obs["cellmodel_pred"].notna().all()
    other = str(tmp_path / "other.h5ad")
    line = one_line_error(run_cellmodel(*args, "--chunk-size", "1000", "-o", other), code=2)
    assert "--view semantic" in line
    line = one_line_error(run_cellmodel("classify", str(query), "--chunk-size", "10"), code=2)
    assert "--reference" in line
