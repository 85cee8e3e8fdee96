"""A hostile user's round on per-cell naming and out-of-core annotate/classify: a key_added that
names the query's own labels, per_cell out of core, a file annotated before, a call with no
signature genes, and the Markdown under another key_added."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest

from genekb.errors import UsageError
from tests.fakes import FakeEmbedding

pytest.importorskip("dask")


@pytest.fixture(scope="module")
def query(tmp_path_factory):
    """A small file embedded out of core, its fake gene vectors, and its counts."""
    from cellmodel.chunked import embed_h5ad
    from cellmodel.datasets.synthetic import write_synthetic_h5ad

    folder = tmp_path_factory.mktemp("hostile_per_cell")
    counts = write_synthetic_h5ad(folder / "cells.h5ad", 120, n_genes=60, seed=3)
    full = ad.read_h5ad(counts)
    ev = FakeEmbedding(folder, list(full.var_names), dim=16)
    path = folder / "query.h5ad"
    embed_h5ad(counts, ev, output=path, chunk_size=50, n_hvg=30)
    return path, ev, full


@pytest.mark.parametrize("key", ["group", "cellmodel_cluster", "", "a/b"])
def test_chunked_classify_refuses_a_key_added_that_overwrites_the_query(query, tmp_path, key):
    """key_added="group" with label_key="group" replaced the query's own labels in the output,
    key_added="a/b" wrote a nested group, "" failed with a TypeError: now refused as in memory,
    before the reference is embedded, and nothing is written."""
    from cellmodel.chunked.classify import classify_h5ad

    path, ev, full = query
    out = tmp_path / "pred.h5ad"
    with pytest.raises(UsageError, match=r"key_added|obs\['group'\]"):
        classify_h5ad(
            path, full[:60].copy(), output=out, reference_label_key="group", label_key="group",
            store=ev, chunk_size=50, workers=1, key_added=key,
        )  # fmt: skip
    assert not out.exists() and not list(tmp_path.iterdir())


def test_chunked_classify_runs_again_under_its_own_key(query, tmp_path):
    """Its own columns (a run's output classified again) are replaced, as a second run should."""
    from cellmodel.chunked.classify import classify_h5ad

    path, ev, full = query
    kw = dict(reference_label_key="group", store=ev, chunk_size=50, workers=1)
    first, second = tmp_path / "one.h5ad", tmp_path / "two.h5ad"
    classify_h5ad(path, full[:60].copy(), output=first, **kw)
    classify_h5ad(first, full[:60].copy(), output=second, **kw)
    assert ad.read_h5ad(second).obs["cellmodel_pred"].notna().all()


def test_chunked_annotate_over_a_per_cell_run_drops_its_stale_cell_calls(fake_spec, tmp_path):
    """A file annotated with per_cell, annotated again out of core with other candidates, kept
    the old per-cell calls (a type no longer among the candidates) beside the new names; now
    they go, as in memory."""
    from cellmodel.annotate import annotate
    from cellmodel.chunked.annotate import annotate_h5ad
    from tests.test_annotate import ALPHA, BETA, DELTA, _islets, _planted, _TextEncoder

    store = _planted(fake_spec)
    kw = dict(groupby="kind", n_markers=5, top_k=2, n_background=200, model="fake")
    data = annotate(
        _islets(), store, candidates=[BETA, ALPHA, DELTA], per_cell=True,
        load_encoder=_TextEncoder, **kw,
    )  # fmt: skip
    assert "cellmodel_annotation_cell" in data.obs
    path, out = tmp_path / "annotated.h5ad", tmp_path / "again.h5ad"
    data.write_h5ad(path)
    annotate_h5ad(
        path, store, output=out, candidates=[BETA, ALPHA], load_encoder=_TextEncoder,
        chunk_size=40, workers=1, **kw,
    )  # fmt: skip
    result = ad.read_h5ad(out)
    assert not {"cellmodel_annotation_cell", "cellmodel_annotation_cell_score"} & set(result.obs)
    assert list(result.obs.columns) == ["kind", "truth", "cellmodel_annotation"]
    names = {"type B pancreatic cell", "pancreatic A cell", "unassigned"}  # the ids' CL labels
    assert set(result.obs["cellmodel_annotation"].astype(str)) <= names


def test_chunked_annotate_refuses_per_cell_in_a_line(fake_spec, tmp_path):
    """annotate_h5ad(per_cell=True) failed with a TypeError naming an internal class
    (AnnotateParams); it is now refused as the command line refuses --per-cell --chunk-size."""
    from cellmodel.chunked.annotate import annotate_h5ad
    from tests.test_annotate import _islets, _planted

    path, out = tmp_path / "cells.h5ad", tmp_path / "out.h5ad"
    _islets().write_h5ad(path)
    with pytest.raises(UsageError, match="per_cell reads every cell in memory"):
        annotate_h5ad(path, _planted(fake_spec), output=out, groupby="kind", per_cell=True)
    assert not out.exists()


def test_a_call_without_signature_keeps_its_cells_instead_of_losing_them_all():
    """A named group whose call has no signature genes could not score its own call, so every
    one of its cells went to another group's call (even on a score below its own): now they
    keep their group's call, unscored, and the summary says which calls had no signature."""
    from cellmodel.annotate.cells import call_cells

    rng = np.random.default_rng(0)
    X = np.log1p(rng.poisson(2.0, (20, 30)).astype(float))
    X[10:, 0] += 3.0  # the second group's signature gene
    genes = [f"g{i}" for i in range(30)]
    report = {
        "groups": [
            {"label": "L1", "signature_data_names": []},
            {"label": "L2", "signature_data_names": ["g0"]},
        ]
    }
    calls, best, summary = call_cells(X, genes, report, np.repeat([0, 1], 10))
    assert list(calls[:10]) == ["L1"] * 10 and list(calls[10:]) == ["L2"] * 10
    assert np.isnan(best[:10]).all() and np.isfinite(best[10:]).all()
    assert summary["n_cells_differing_from_group"] == 0
    assert summary["calls_without_signature"] == ["L1"]


def test_the_markdown_names_the_per_cell_column_of_the_key_added(fake_spec):
    """With key_added='mine' the report sent the reader to obs['cellmodel_annotation_cell'],
    which the run never wrote; it names obs['mine_cell'] now."""
    from cellmodel.annotate import annotate, report_of, to_markdown
    from tests.test_annotate import ALPHA, BETA, DELTA, _islets, _planted, _TextEncoder

    out = annotate(
        _islets(), _planted(fake_spec), groupby="kind", candidates=[BETA, ALPHA, DELTA],
        n_markers=5, top_k=2, n_background=200, load_encoder=_TextEncoder, model="fake",
        per_cell=True, key_added="mine",
    )  # fmt: skip
    assert "mine_cell" in out.obs and "cellmodel_annotation_cell" not in out.obs
    text = to_markdown(report_of(out, "mine"))
    assert "obs['mine_cell']" in text and "cellmodel_annotation_cell" not in text
